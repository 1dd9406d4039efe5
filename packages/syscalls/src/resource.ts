// <sys/resource.h>: resource limits. https://man7.org/linux/man-pages/man2/getrlimit.2.html
import { check } from './errno';
import { declare } from './libc';

/** The resources a limit can be set on (the same numbers on x86_64, arm64 and riscv64). */
export const Rlimit = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
} as const;
export type RlimitName = keyof typeof Rlimit;
export const {
  RLIMIT_CPU,
  RLIMIT_FSIZE,
  RLIMIT_DATA,
  RLIMIT_STACK,
  RLIMIT_CORE,
  RLIMIT_RSS,
  RLIMIT_NPROC,
  RLIMIT_NOFILE,
  RLIMIT_MEMLOCK,
  RLIMIT_AS,
  RLIMIT_LOCKS,
  RLIMIT_SIGPENDING,
  RLIMIT_MSGQUEUE,
  RLIMIT_NICE,
  RLIMIT_RTPRIO,
  RLIMIT_RTTIME,
} = Rlimit;

/** No limit. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

/** struct rlimit: the soft limit (what binds) and the hard one (the most the soft may be raised to). */
export interface RlimitValue {
  readonly soft: bigint;
  readonly hard: bigint;
}

const getrlimit_ = declare('int getrlimit(int resource, _Out_ uint8_t *rlim)');
const setrlimit_ = declare('int setrlimit(int resource, const uint8_t *rlim)');

/** The calling process's limit on `resource`. https://man7.org/linux/man-pages/man2/getrlimit.2.html */
export function getrlimit(resource: number): RlimitValue {
  // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }, rlim_t being 64-bit.
  const rlim = Buffer.alloc(16);
  check(getrlimit_(resource, rlim), 'getrlimit');
  return { soft: rlim.readBigUInt64LE(0), hard: rlim.readBigUInt64LE(8) };
}

/**
 * Sets the calling process's limit on `resource` (all its threads: limits are per
 * process), kept across execve. https://man7.org/linux/man-pages/man2/setrlimit.2.html
 * Raising a hard limit needs CAP_SYS_RESOURCE; lowering it never comes back.
 */
export function setrlimit(resource: number, { soft, hard }: RlimitValue): void {
  const rlim = Buffer.alloc(16);
  rlim.writeBigUInt64LE(soft, 0);
  rlim.writeBigUInt64LE(hard, 8);
  check(setrlimit_(resource, rlim), 'setrlimit');
}
