// Resource limits as people write them (--memory 100m, --pids 64, --cpus 0.5).
import { CliError, ExitStatus } from '@samples/syscalls/cli';

export interface Limits {
  /** Bytes of memory (RAM; swap is not allowed on top). */
  readonly memory: number;
  /** Processes and threads, or undefined for no limit. */
  readonly pids?: number;
  /** CPUs' worth of time (0.5 = half of one CPU), or undefined for no limit. */
  readonly cpus?: number;
}

const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** '100m' -> 104857600. Suffixes k, m, g (powers of 1024), optionally followed by 'b' or 'ib'. */
export function parseSize(text: string, option = 'memory'): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = match ? Math.floor(Number(match[1]) * units[match[2]!.toLowerCase()]!) : NaN;
  if (!(bytes >= 1024 * 1024)) {
    throw new CliError(`--${option} ${text}: give a size of at least 1m, like 100m or 1g`, ExitStatus.USAGE);
  }
  return bytes;
}

export function parseCount(text: string, option = 'pids'): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new CliError(`--${option} ${text}: give a whole number of at least 1, like 64`, ExitStatus.USAGE);
  }
  return Number(text);
}

export function parseCpus(text: string): number {
  const cpus = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(cpus >= 0.01)) {
    throw new CliError(`--cpus ${text}: give a number of CPUs of at least 0.01, like 0.5 or 2`, ExitStatus.USAGE);
  }
  return cpus;
}

/** 104857600 -> '100 MiB', for messages. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** CFS bandwidth: the container may run `quota` µs in every `period` µs. */
export const CPU_PERIOD_US = 100_000;
export function cpuQuota(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}
