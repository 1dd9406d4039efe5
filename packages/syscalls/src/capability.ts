// <linux/capability.h>: the root privileges, split into capabilities.
// https://man7.org/linux/man-pages/man7/capabilities.7.html
import fs from 'node:fs';
import { check } from './errno';
import { declare } from './libc';

/** The capabilities by the kernel's numbers (include/uapi/linux/capability.h). */
export const Capability = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
} as const;
export type CapabilityName = keyof typeof Capability;
export const {
  CAP_CHOWN,
  CAP_DAC_OVERRIDE,
  CAP_DAC_READ_SEARCH,
  CAP_FOWNER,
  CAP_FSETID,
  CAP_KILL,
  CAP_SETGID,
  CAP_SETUID,
  CAP_SETPCAP,
  CAP_LINUX_IMMUTABLE,
  CAP_NET_BIND_SERVICE,
  CAP_NET_BROADCAST,
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  CAP_IPC_LOCK,
  CAP_IPC_OWNER,
  CAP_SYS_MODULE,
  CAP_SYS_RAWIO,
  CAP_SYS_CHROOT,
  CAP_SYS_PTRACE,
  CAP_SYS_PACCT,
  CAP_SYS_ADMIN,
  CAP_SYS_BOOT,
  CAP_SYS_NICE,
  CAP_SYS_RESOURCE,
  CAP_SYS_TIME,
  CAP_SYS_TTY_CONFIG,
  CAP_MKNOD,
  CAP_LEASE,
  CAP_AUDIT_WRITE,
  CAP_AUDIT_CONTROL,
  CAP_SETFCAP,
  CAP_MAC_OVERRIDE,
  CAP_MAC_ADMIN,
  CAP_SYSLOG,
  CAP_WAKE_ALARM,
  CAP_BLOCK_SUSPEND,
  CAP_AUDIT_READ,
  CAP_PERFMON,
  CAP_BPF,
  CAP_CHECKPOINT_RESTORE,
} = Capability;

/** The version of the capget/capset structs with 64-bit sets (two 32-bit halves). */
export const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** A thread's three capability sets, as 64-bit masks: bit N is capability N. */
export interface CapabilitySets {
  readonly effective: bigint;
  readonly permitted: bigint;
  readonly inheritable: bigint;
}

/** A mask with the bits of `capabilities` set: [CAP_CHOWN, CAP_KILL] -> 0x21n. */
export function capabilityMask(capabilities: Iterable<number>): bigint {
  let mask = 0n;
  for (const capability of capabilities) mask |= 1n << BigInt(capability);
  return mask;
}

/**
 * The highest capability number the running kernel knows (40 on 5.9 and later). A
 * kernel newer than this table may know more: ask it, so that no capability is left
 * in a bounding set because it had no name here.
 */
export function lastCapability(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
}

const capget_ = declare('int capget(_Inout_ uint8_t *hdrp, _Out_ uint8_t *datap)');
const capset_ = declare('int capset(_Inout_ uint8_t *hdrp, const uint8_t *datap)');

// struct __user_cap_header_struct { __u32 version; int pid; }
function capHeader(pid: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(_LINUX_CAPABILITY_VERSION_3, 0);
  header.writeInt32LE(pid, 4);
  return header;
}

// Version 3 takes two struct __user_cap_data_struct { __u32 effective, permitted,
// inheritable; }: the first holds capabilities 0-31, the second 32-63.
const CAP_DATA_SIZE = 12;
const LOW_32_BITS = 0xffffffffn;

/** The capability sets of thread `pid` (0: the calling thread). https://man7.org/linux/man-pages/man2/capget.2.html */
export function capget(pid = 0): CapabilitySets {
  const data = Buffer.alloc(2 * CAP_DATA_SIZE);
  check(capget_(capHeader(pid), data), 'capget');
  const set = (offset: number) =>
    BigInt(data.readUInt32LE(offset)) | (BigInt(data.readUInt32LE(CAP_DATA_SIZE + offset)) << 32n);
  return { effective: set(0), permitted: set(4), inheritable: set(8) };
}

/**
 * Sets the calling thread's capability sets. https://man7.org/linux/man-pages/man2/capset.2.html
 * Only the calling thread changes: in Node, call it on the main thread, the one that
 * will call execve. Permitted can only shrink; effective and inheritable must stay
 * within permitted (inheritable also within the bounding set, unless CAP_SETPCAP).
 */
export function capset(sets: CapabilitySets): void {
  const data = Buffer.alloc(2 * CAP_DATA_SIZE);
  for (const [offset, mask] of [
    [0, sets.effective],
    [4, sets.permitted],
    [8, sets.inheritable],
  ] as const) {
    data.writeUInt32LE(Number(mask & LOW_32_BITS), offset);
    data.writeUInt32LE(Number((mask >> 32n) & LOW_32_BITS), CAP_DATA_SIZE + offset);
  }
  check(capset_(capHeader(0), data), 'capset');
}
