// <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>: system call filters, written
// as classic BPF programs. https://man7.org/linux/man-pages/man2/seccomp.2.html
// How a filter is written: https://docs.kernel.org/userspace-api/seccomp_filter.html
import { check } from './errno';
import { declare, ffi } from './libc';

/** One classic BPF instruction: struct sock_filter. */
export interface SockFilter {
  /** The opcode: class | size | mode, or class | op | source. */
  readonly code: number;
  /** Instructions to skip when a jump's comparison is true. */
  readonly jt: number;
  /** Instructions to skip when it is false. */
  readonly jf: number;
  /** The constant operand. */
  readonly k: number;
}

/** An instruction that is not a conditional jump, as <linux/filter.h>'s BPF_STMT. */
export function BPF_STMT(code: number, k: number): SockFilter {
  return { code, jt: 0, jf: 0, k };
}

/** A conditional jump, as <linux/filter.h>'s BPF_JUMP. */
export function BPF_JUMP(code: number, k: number, jt: number, jf: number): SockFilter {
  return { code, jt, jf, k };
}

/** BPF_RET of the accumulator instead of k (<linux/filter.h>). */
export const BPF_A = 0x10;

/** The most instructions a classic BPF program may have (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
const SOCK_FILTER_SIZE = 8;

/** The program as the kernel reads it: an array of struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }. */
export function encodeSockFilters(program: readonly SockFilter[]): Buffer {
  const buffer = Buffer.alloc(program.length * SOCK_FILTER_SIZE);
  program.forEach(({ code, jt, jf, k }, index) => {
    const offset = index * SOCK_FILTER_SIZE;
    buffer.writeUInt16LE(code, offset);
    buffer.writeUInt8(jt, offset + 2);
    buffer.writeUInt8(jf, offset + 3);
    buffer.writeUInt32LE(k >>> 0, offset + 4);
  });
  return buffer;
}

/** What a filter returns: the action in the high 16 bits, its data (an errno) in the low 16. */
export const SeccompRet = {
  SECCOMP_RET_KILL_PROCESS: 0x80000000,
  SECCOMP_RET_KILL_THREAD: 0x00000000,
  SECCOMP_RET_TRAP: 0x00030000,
  SECCOMP_RET_ERRNO: 0x00050000,
  SECCOMP_RET_USER_NOTIF: 0x7fc00000,
  SECCOMP_RET_TRACE: 0x7ff00000,
  SECCOMP_RET_LOG: 0x7ffc0000,
  SECCOMP_RET_ALLOW: 0x7fff0000,
  SECCOMP_RET_ACTION_FULL: 0xffff0000,
  SECCOMP_RET_DATA: 0x0000ffff,
} as const;
export const {
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_LOG,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_DATA,
} = SeccompRet;

/** Operations of seccomp(2), and the flags of SECCOMP_SET_MODE_FILTER. */
export const SeccompOperation = {
  SECCOMP_SET_MODE_STRICT: 0,
  SECCOMP_SET_MODE_FILTER: 1,
  SECCOMP_GET_ACTION_AVAIL: 2,
} as const;
export const { SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_GET_ACTION_AVAIL } = SeccompOperation;
export const SeccompFilterFlag = {
  /** Put the filter on every thread of the process, not only the caller. */
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  /** Log every action but SECCOMP_RET_ALLOW to the audit log. */
  SECCOMP_FILTER_FLAG_LOG: 2,
} as const;
export const { SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG } = SeccompFilterFlag;

/** The second argument of prctl(PR_SET_SECCOMP) and the value PR_GET_SECCOMP returns. */
export const SECCOMP_MODE_FILTER = 2;

/**
 * Where each field of struct seccomp_data is, the input of a filter:
 * { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }.
 */
export const SeccompData = {
  nr: 0,
  arch: 4,
  instruction_pointer: 8,
  /** args[i] is 8 bytes at args + 8 * i; a BPF_W load reads 32 bits, the low half at +0 (little-endian). */
  args: 16,
} as const;

/** The architecture a system call was made with, as seccomp_data.arch says it (<linux/audit.h>). */
export const AuditArch = {
  AUDIT_ARCH_X86_64: 0xc000003e,
  AUDIT_ARCH_I386: 0x40000003,
  AUDIT_ARCH_AARCH64: 0xc00000b7,
  AUDIT_ARCH_ARM: 0x40000028,
} as const;
export const { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM } = AuditArch;

/**
 * x86_64 only: the bit set in nr by a call through the x32 ABI, which shares
 * AUDIT_ARCH_X86_64 with the native one but numbers its calls otherwise.
 */
export const __X32_SYSCALL_BIT = 0x40000000;

const syscall_ = declare('long syscall(long number, ...)');

// seccomp has no glibc wrapper before glibc 2.41: it is called by number.
const SYS_seccomp: Partial<Record<string, number>> = { x64: 317, arm64: 277, riscv64: 277, loong64: 277 };

/**
 * Installs `program` as a seccomp filter on the calling thread (on every thread with
 * SECCOMP_FILTER_FLAG_TSYNC). https://man7.org/linux/man-pages/man2/seccomp.2.html
 * Needs no_new_privs set, or CAP_SYS_ADMIN (else EACCES). Filters stack and can never
 * be removed; they pass to children and across execve.
 */
export function seccomp(operation: number, flags: number, program: readonly SockFilter[]): void {
  const number = SYS_seccomp[process.arch];
  if (number === undefined) throw new Error(`seccomp: no syscall number known for ${process.arch}`);
  const filters = encodeSockFilters(program);
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 bytes, the pointer at 8.
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(program.length, 0);
  fprog.writeBigUInt64LE(ffi().address(filters), 8);
  check(syscall_(number, 'unsigned int', operation, 'unsigned int', flags, 'void *', fprog), 'seccomp');
}
