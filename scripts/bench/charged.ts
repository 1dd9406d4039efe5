// The memory our runtime charges to the container's cgroup, seen from outside: a
// container runs `sleep`, and once sleep runs (the runtime's part is over) the host
// reads the peak of the cgroup sleep is in. The same is read of a cgroup made by hand
// in which only `sleep` (from the same root filesystem) ever ran; the difference is
// what the runtime charged. The child joins the cgroup only once Node has started,
// so Node's start-up is not in it; what it does after (mounts, exec) is.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cgroupfs, parseProcCgroup, removeDirectory } from '../../packages/5-isolate-cgroup/src/cgroup/files';
import type { Command } from './measure';

const SLEEP_SECONDS = '0.5';

export interface Charged {
  /** Peak of the container's cgroup, bytes, per run. */
  readonly container: number[];
  /** Peak of a hand-made cgroup where only sleep ran, bytes, per run. */
  readonly sleepAlone: number[];
  /** Which file the peaks are from. */
  readonly file: string;
}

interface MemoryHierarchy {
  readonly root: string;
  readonly peakFile: string;
  readonly v1: boolean;
}

function memoryHierarchy(): MemoryHierarchy {
  return fs.existsSync('/sys/fs/cgroup/memory/memory.max_usage_in_bytes') || fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs')
    ? { root: '/sys/fs/cgroup/memory', peakFile: 'memory.max_usage_in_bytes', v1: true }
    : { root: '/sys/fs/cgroup', peakFile: 'memory.peak', v1: false };
}

/** The memory cgroup directory `pid` is in. */
function memoryCgroupOf(pid: number | 'self', hierarchy: MemoryHierarchy): string {
  const entries = parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  const entry = hierarchy.v1 ? entries.find((e) => e.controllers.includes('memory')) : entries.find((e) => e.controllers.length === 0);
  if (!entry) throw new Error(`no memory cgroup for process ${pid}`);
  return path.join(hierarchy.root, entry.path);
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `command` (its last argument is replaced by `sleep`), waits until a
 * descendant named sleep is running, and reads that process's cgroup's peak.
 */
async function peakWhileSleeping(command: Command, hierarchy: MemoryHierarchy): Promise<number> {
  const runtime = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => runtime.once('exit', resolve));
  let peak: number | undefined;
  let failure: unknown;
  try {
    const deadline = Date.now() + 10_000;
    while (peak === undefined) {
      const sleeper = [runtime.pid!, ...descendants(runtime.pid!)].find((pid) => comm(pid) === 'sleep');
      if (sleeper !== undefined) {
        peak = Number(fs.readFileSync(path.join(memoryCgroupOf(sleeper, hierarchy), hierarchy.peakFile), 'utf8'));
        continue;
      }
      if (runtime.exitCode !== null || Date.now() > deadline) throw new Error(`\`${command.args.join(' ')}\` ended before sleep ran`);
      await pause(2);
    }
  } catch (error) {
    failure = error;
  }
  // Whatever happened, the runtime is waited for; its failure to start comes first.
  const status = await exited;
  if (failure !== undefined) throw failure;
  if (status !== 0) throw new Error(`\`${command.file} ${command.args.join(' ')}\` exited with ${status}`);
  return peak!;
}

function descendants(pid: number): number[] {
  return children(pid).flatMap((child) => [child, ...descendants(child)]);
}

export async function chargedWhileSleeping(stage: Command, rootfs: string, runs: number): Promise<Charged> {
  const hierarchy = memoryHierarchy();
  const own = memoryCgroupOf('self', hierarchy);
  const container: number[] = [];
  const sleepAlone: number[] = [];
  for (let run = 0; run < runs; run++) {
    container.push(await peakWhileSleeping({ ...stage, args: [...stage.args.slice(0, -1), 'sleep', SLEEP_SECONDS] }, hierarchy));
    const dir = path.join(own, `samples-bench-sleep-${process.pid}-${run}`);
    fs.mkdirSync(dir);
    try {
      sleepAlone.push(
        await peakWhileSleeping(
          { file: 'sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec chroot "$1" /bin/sleep "$2"', dir, rootfs, SLEEP_SECONDS], env: stage.env },
          hierarchy,
        ),
      );
    } finally {
      removeDirectory(cgroupfs, dir);
    }
  }
  return { container, sleepAlone, file: hierarchy.peakFile };
}
