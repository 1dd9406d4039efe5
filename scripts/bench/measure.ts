// Running one command once, and what is measured of it: wall-clock time as the
// benchmark sees it (spawn to exit), and peak memory as GNU time reports it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** A command that failed: its status and the end of what it said on stderr. */
export class CommandFailed extends Error {
  constructor(command: Command, status: string, stderr: string) {
    const said = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`\`${[command.file, ...command.args].join(' ')}\` ${status}${said ? `: ${said}` : ''}`);
    this.name = 'CommandFailed';
  }
}

/** The clock shared with the probe: milliseconds since the epoch, to the microsecond. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Runs `command` to its end with stdin and stdout on /dev/null. Returns when it
 * started and ended on the clock above; throws CommandFailed unless it exits 0.
 */
export function runOnce(command: Command): Promise<{ start: number; end: number }> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const start = now();
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const end = now();
      if (code === 0) resolve({ start, end });
      else reject(new CommandFailed(command, signal ? `was killed by ${signal}` : `exited with ${code}`, stderr));
    });
  });
}

export const GNU_TIME = '/usr/bin/time';

/**
 * Peak resident memory of `command`, in KiB: GNU time's %M, which is wait4's ru_maxrss.
 * That is the largest peak of any one process of the tree (each reaped child's own
 * high-water mark), not the sum of processes that were alive at the same time.
 */
export async function peakRss(command: Command): Promise<number> {
  const output = path.join(os.tmpdir(), `samples-bench-rss-${process.pid}`);
  try {
    await runOnce({ ...command, file: GNU_TIME, args: ['-f', '%M', '-o', output, command.file, ...command.args] });
    return Number(fs.readFileSync(output, 'utf8').trim().split('\n').pop());
  } finally {
    fs.rmSync(output, { force: true });
  }
}

export interface Spread {
  readonly median: number;
  readonly p10: number;
  readonly p90: number;
  readonly count: number;
}

/** The q-quantile of `values`, interpolated between the two nearest ranks. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q;
  const below = Math.floor(rank);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (rank - below);
}

export function spread(values: readonly number[]): Spread {
  return { median: quantile(values, 0.5), p10: quantile(values, 0.1), p90: quantile(values, 0.9), count: values.length };
}
