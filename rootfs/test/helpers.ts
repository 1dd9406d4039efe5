// What the tests share: a throw-away images folder, and the CLI run as `pnpm rootfs` runs it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Header, type HeaderData } from 'tar';

export const packageDir = path.join(__dirname, '..');
const cliFile = path.join(packageDir, 'src', 'cli.ts');

/**
 * A new empty folder in the system's temporary folder, removed by `remove`, or when the
 * test process exits (ava runs no hooks in a file whose tests were all skipped).
 */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  return { dir, remove };
}

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `pnpm rootfs ARGS` with the root filesystems in `images`. */
export function cli(images: string, args: readonly string[]): CliResult {
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', cliFile, ...args], {
    cwd: packageDir,
    encoding: 'utf8',
    env: { ...process.env, SAMPLES_ROOTFS_DIR: images },
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same, started in the background (to interrupt it). */
export function startCli(images: string, args: readonly string[]) {
  return spawn(process.execPath, ['--require', 'tsx/cjs', cliFile, ...args], {
    cwd: packageDir,
    env: { ...process.env, SAMPLES_ROOTFS_DIR: images },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** One tar entry, header and content, encoded by node-tar's own Header. */
export function tarEntry(header: HeaderData, content: string | Buffer = ''): Buffer {
  const data = Buffer.from(content);
  const block = Buffer.alloc(512);
  new Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(), size: data.length, type: 'File', ...header }).encode(block, 0);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([block, data, padding]);
}

/** A whole tarball: the entries, then the two zero blocks that end one. */
export function tarball(entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

/** What is in `dir`, hidden folders included, for "nothing was left behind". */
export function entries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}
