// Running the pieces of stage 7 from the host's side: fixtures/contain.ts applies some
// of them to a Node process, which then execs a probe; the test reads what the probe
// printed, or its /proc status.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { compileStatic } from '@samples/testing';
import { cgroupfs, parseProcCgroup, removeDirectory } from '5-isolate-cgroup/cgroup/files';
import type { Setup } from './fixtures/contain';

export const fixtures = path.join(__dirname, 'fixtures');
/** The stage, and the one before it, for the probes that must pass there. */
export const stage = path.join(__dirname, '..');
export const stage6 = path.join(__dirname, '..', '..', '6-isolate-network');

export interface Result {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command` after fixtures/contain.ts applied `setup`, and waits for it (20 s at
 * most). `launcher` starts Node (e.g. ['prlimit', '--nofile=1024:4096']).
 */
export function contain(setup: Setup, command: readonly string[], options: SpawnSyncOptions = {}, launcher: readonly string[] = []): Result {
  const node = [process.execPath, '--require', 'tsx/cjs', path.join(fixtures, 'contain.ts'), JSON.stringify(setup), ...command];
  const [file, ...args] = [...launcher, ...node] as [string, ...string[]];
  const result = spawnSync(file, args, {
    encoding: 'utf8',
    timeout: 20_000,
    ...options,
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The capability and security fields of a /proc/<pid>/status text. */
export function securityFields(status: string): Record<string, string> {
  const fields = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'];
  return Object.fromEntries(fields.map((field) => [field, new RegExp(`^${field}:\\s*(\\S+)$`, 'm').exec(status)?.[1] ?? '']));
}

/** A temporary directory, removed after the test whatever its outcome. */
export function temporaryDirectory(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Compiles a C program statically into `dir` (removed with it), for any root filesystem. */
export function compileInto(t: ExecutionContext, source: string, dir: string): string {
  const output = path.join(dir, `${path.basename(source, '.c')}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`);
  compileStatic(source, output);
  t.teardown(() => fs.rmSync(output, { force: true }));
  return output;
}

/** A unique name for what a test creates (cgroups), so that parallel runs never share one. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
}

/** Removes a cgroup once its processes are gone (stage 5's rmdir, retried while the kernel says EBUSY). */
export function removeCgroup(dir: string): void {
  removeDirectory(cgroupfs, dir);
}

/** This process's own cgroup in the hierarchy whose controllers include `controller` ('' for cgroup v2). */
export function ownCgroup(controller: string): string {
  const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')).find(({ controllers }) =>
    controller === '' ? controllers.length === 0 : controllers.includes(controller),
  );
  if (own === undefined) throw new Error(`no ${controller || 'cgroup v2'} hierarchy in /proc/self/cgroup`);
  return own.path;
}

/** A block device of this machine (its major:minor), to make a node of and try to open; undefined where there is none. */
export function someBlockDevice(): [number, number] | undefined {
  const [first] = fs.readdirSync('/sys/dev/block').sort();
  return first === undefined ? undefined : (first.split(':').map(Number) as [number, number]);
}
