// Resource limits (ulimit): per process, inherited across fork and execve. Node
// raises its own soft limit on open files to the hard limit at start-up, so without
// this the command inherits whatever the host's hard limit is (often a million)
// instead of the 1024 programs expect (select(2) cannot see an fd above 1023).
import { RLIM_INFINITY, Rlimit, type RlimitName, type RlimitValue, setrlimit } from '@samples/syscalls';
import { CliError, ExitStatus } from '@samples/runtime';

export interface ResourceLimit extends RlimitValue {
  readonly resource: RlimitName;
}

/** runc's default (its example spec): 1024 open files, soft and hard. */
export const DEFAULT_RLIMITS: readonly ResourceLimit[] = [{ resource: 'RLIMIT_NOFILE', soft: 1024n, hard: 1024n }];

/**
 * `--ulimit nofile=1024:4096,nproc=64`, as Docker's --ulimit: NAME=SOFT[:HARD], -1 for
 * no limit. A resource not named keeps the default.
 */
export function parseUlimits(text: string, defaults: readonly ResourceLimit[] = DEFAULT_RLIMITS): ResourceLimit[] {
  const limits = new Map(defaults.map((limit) => [limit.resource, limit]));
  for (const item of text.split(',').filter(Boolean)) {
    const match = /^([a-z]+)=(-1|\d+)(?::(-1|\d+))?$/.exec(item.trim());
    const resource = match && (`RLIMIT_${match[1]!.toUpperCase()}` as RlimitName);
    if (!match || !resource || !(resource in Rlimit)) {
      throw new CliError(`--ulimit takes NAME=SOFT[:HARD] (e.g. nofile=1024:4096): not "${item}"`, ExitStatus.USAGE);
    }
    const value = (text: string) => (text === '-1' ? RLIM_INFINITY : BigInt(text));
    const soft = value(match[2]!);
    const hard = match[3] === undefined ? soft : value(match[3]);
    if (soft > hard) throw new CliError(`--ulimit ${item}: the soft limit is above the hard one`, ExitStatus.USAGE);
    limits.set(resource, { resource, soft, hard });
  }
  return [...limits.values()];
}

/**
 * Sets each limit on this process (every thread: limits are per process). Raising a
 * hard limit needs CAP_SYS_RESOURCE: before the capabilities are cut.
 */
export function applyRlimits(limits: readonly ResourceLimit[]): void {
  for (const { resource, soft, hard } of limits) setrlimit(Rlimit[resource], { soft, hard });
}
