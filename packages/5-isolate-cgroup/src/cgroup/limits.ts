// Resource limits as people write them (--memory 100m, --pids 64, --cpus 0.5).
import os from 'node:os';
import { CliError, ExitStatus, type OptionSpec } from '@samples/runtime';

export interface Limits {
  /** Bytes of memory (RAM; swap is not allowed on top). */
  readonly memory: number;
  /** Processes and threads, or undefined for no limit. */
  readonly pids?: number;
  /** CPUs' worth of time (0.5 = half of one CPU), or undefined for no limit. */
  readonly cpus?: number;
}

/** The options that set them, as every stage from 5 on has them. */
export const limitOptions = {
  memory: { value: 'SIZE', description: 'memory limit, like 100m or 1g', default: '256m' },
  pids: { value: 'N', description: 'most processes and threads at once (default: no limit)' },
  cpus: { value: 'N', description: 'CPU time, in CPUs: 0.5 is half of one (default: no limit)' },
} satisfies Record<string, OptionSpec>;

/** The limits those options ask for; one line and status 2 for a value that makes no sense. */
export function parseLimits(options: { memory: string; pids?: string | undefined; cpus?: string | undefined }): Limits {
  return {
    memory: parseSize(options.memory),
    ...(options.pids !== undefined && { pids: parseCount(options.pids) }),
    ...(options.cpus !== undefined && { cpus: parseCpus(options.cpus) }),
  };
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

export function parseCpus(text: string, available = os.availableParallelism()): number {
  const cpus = Number(text);
  // As Docker: more CPUs than the machine has would be no limit at all.
  if (!/^\d*\.?\d+$/.test(text) || !(cpus >= 0.01) || cpus > available) {
    throw new CliError(`--cpus ${text}: give a number of CPUs from 0.01 to ${available} (this machine has ${available}), like 0.5`, ExitStatus.USAGE);
  }
  return cpus;
}

/** CFS bandwidth: the container may run `quota` µs in every `period` µs. */
export const CPU_PERIOD_US = 100_000;
export function cpuQuota(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}
