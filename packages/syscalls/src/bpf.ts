// <linux/bpf.h>: eBPF programs, loaded into the kernel with bpf(2) and attached to a
// hook (here: a cgroup's device access check). https://man7.org/linux/man-pages/man2/bpf.2.html
// The instruction set: https://docs.kernel.org/bpf/standardization/instruction-set.html
import { BPF_ALU, BPF_JMP, BPF_K, BPF_LDX, BPF_MEM, BPF_X } from './bpf-common';
import { SyscallError, check } from './errno';
import { declare, ffi } from './libc';

/** The bpf(2) commands this package uses. */
export const BpfCommand = {
  BPF_PROG_LOAD: 5,
  BPF_PROG_ATTACH: 8,
  BPF_PROG_DETACH: 9,
  BPF_PROG_QUERY: 16,
} as const;
export const { BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH, BPF_PROG_QUERY } = BpfCommand;

/** Program types (enum bpf_prog_type): what a program is run for. */
export const BpfProgType = {
  BPF_PROG_TYPE_CGROUP_SKB: 8,
  BPF_PROG_TYPE_CGROUP_SOCK: 9,
  BPF_PROG_TYPE_CGROUP_DEVICE: 15,
} as const;
export const { BPF_PROG_TYPE_CGROUP_SKB, BPF_PROG_TYPE_CGROUP_SOCK, BPF_PROG_TYPE_CGROUP_DEVICE } = BpfProgType;

/** Attach types (enum bpf_attach_type): which hook of a cgroup a program goes on. */
export const BpfAttachType = {
  BPF_CGROUP_INET_INGRESS: 0,
  BPF_CGROUP_INET_EGRESS: 1,
  BPF_CGROUP_DEVICE: 6,
} as const;
export const { BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS, BPF_CGROUP_DEVICE } = BpfAttachType;

/** Flags of BPF_PROG_ATTACH to a cgroup. */
export const BpfAttachFlag = {
  /** A cgroup below may attach a program that replaces this one. */
  BPF_F_ALLOW_OVERRIDE: 1,
  /** Programs stack: this cgroup's and every ancestor's run, and all must allow. */
  BPF_F_ALLOW_MULTI: 2,
} as const;
export const { BPF_F_ALLOW_OVERRIDE, BPF_F_ALLOW_MULTI } = BpfAttachFlag;

/**
 * The input of a BPF_PROG_TYPE_CGROUP_DEVICE program, struct bpf_cgroup_dev_ctx:
 * { u32 access_type; u32 major; u32 minor; }, access_type being
 * (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*. The program returns 1 to allow, 0 to refuse (EPERM).
 */
export const BpfCgroupDevCtx = { access_type: 0, major: 4, minor: 8 } as const;
export const BpfDevcgAccess = { BPF_DEVCG_ACC_MKNOD: 1, BPF_DEVCG_ACC_READ: 2, BPF_DEVCG_ACC_WRITE: 4 } as const;
export const { BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE } = BpfDevcgAccess;
export const BpfDevcgDevice = { BPF_DEVCG_DEV_BLOCK: 1, BPF_DEVCG_DEV_CHAR: 2 } as const;
export const { BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR } = BpfDevcgDevice;

/** eBPF's opcode parts beyond <linux/bpf_common.h>'s (which it shares with classic BPF). */
export const EbpfCode = {
  /** Jumps comparing 32-bit halves. */
  BPF_JMP32: 0x06,
  /** 64-bit arithmetic (BPF_ALU is 32-bit, zeroing the upper half). */
  BPF_ALU64: 0x07,
  /** Double-word (64-bit) load or store size. */
  BPF_DW: 0x18,
  BPF_MOV: 0xb0,
  BPF_ARSH: 0xc0,
  BPF_JNE: 0x50,
  BPF_JSGT: 0x60,
  BPF_JSGE: 0x70,
  BPF_CALL: 0x80,
  BPF_EXIT: 0x90,
  BPF_JLT: 0xa0,
  BPF_JLE: 0xb0,
} as const;
export const { BPF_JMP32, BPF_ALU64, BPF_DW, BPF_MOV, BPF_ARSH, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_CALL, BPF_EXIT, BPF_JLT, BPF_JLE } =
  EbpfCode;

/** The eleven registers: R0 holds the result, R1 the context (the program's input), R10 the frame pointer. */
export const BpfReg = {
  BPF_REG_0: 0,
  BPF_REG_1: 1,
  BPF_REG_2: 2,
  BPF_REG_3: 3,
  BPF_REG_4: 4,
  BPF_REG_5: 5,
  BPF_REG_6: 6,
  BPF_REG_7: 7,
  BPF_REG_8: 8,
  BPF_REG_9: 9,
  BPF_REG_10: 10,
} as const;
export const { BPF_REG_0, BPF_REG_1, BPF_REG_2, BPF_REG_3, BPF_REG_4, BPF_REG_5, BPF_REG_6, BPF_REG_7, BPF_REG_8, BPF_REG_9, BPF_REG_10 } =
  BpfReg;

/** One eBPF instruction: struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }. */
export interface BpfInsn {
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  /** A jump's distance in instructions (from the next one), or a memory offset. */
  readonly off: number;
  readonly imm: number;
}

const BPF_INSN_SIZE = 8;

/** The program as the kernel reads it, 8 bytes per instruction. */
export function encodeBpfInsns(program: readonly BpfInsn[]): Buffer {
  const buffer = Buffer.alloc(program.length * BPF_INSN_SIZE);
  program.forEach(({ code, dst, src, off, imm }, index) => {
    const offset = index * BPF_INSN_SIZE;
    buffer.writeUInt8(code, offset);
    // dst_reg is the low nibble on little-endian machines.
    buffer.writeUInt8((src << 4) | dst, offset + 1);
    buffer.writeInt16LE(off, offset + 2);
    buffer.writeInt32LE(imm | 0, offset + 4);
  });
  return buffer;
}

// The instruction builders of the kernel's include/linux/filter.h (not part of its
// uapi, but what its samples and selftests write programs with), same names.

/** dst = *(size *)(src + off) */
export function BPF_LDX_MEM(size: number, dst: number, src: number, off: number): BpfInsn {
  return { code: BPF_LDX | size | BPF_MEM, dst, src, off, imm: 0 };
}

/** dst = dst OP imm, on the low 32 bits (the upper 32 become zero). */
export function BPF_ALU32_IMM(op: number, dst: number, imm: number): BpfInsn {
  return { code: BPF_ALU | op | BPF_K, dst, src: 0, off: 0, imm };
}

/** dst = src, on the low 32 bits. */
export function BPF_MOV32_REG(dst: number, src: number): BpfInsn {
  return { code: BPF_ALU | BPF_MOV | BPF_X, dst, src, off: 0, imm: 0 };
}

/** dst = imm, on the low 32 bits. */
export function BPF_MOV32_IMM(dst: number, imm: number): BpfInsn {
  return BPF_ALU32_IMM(BPF_MOV, dst, imm);
}

/** if (dst OP imm) skip `off` instructions. */
export function BPF_JMP_IMM(op: number, dst: number, imm: number, off: number): BpfInsn {
  return { code: BPF_JMP | op | BPF_K, dst, src: 0, off, imm };
}

/** if (dst OP src) skip `off` instructions. */
export function BPF_JMP_REG(op: number, dst: number, src: number, off: number): BpfInsn {
  return { code: BPF_JMP | op | BPF_X, dst, src, off, imm: 0 };
}

/** return R0 */
export function BPF_EXIT_INSN(): BpfInsn {
  return { code: BPF_JMP | BPF_EXIT, dst: 0, src: 0, off: 0, imm: 0 };
}

const syscall_ = declare('long syscall(long number, ...)');

// bpf has no glibc wrapper: it is called by number.
const SYS_bpf: Partial<Record<string, number>> = { x64: 321, arm64: 280, riscv64: 280, loong64: 280 };

/**
 * union bpf_attr is large and grows with each kernel; a command reads its own
 * prefix. The kernel accepts a smaller size than its own, and refuses (E2BIG) one
 * whose bytes past what it knows are not zero: pass zeros.
 */
const BPF_ATTR_SIZE = 128;

/**
 * bpf(2): runs `command` with `attr` (a union bpf_attr in a Buffer).
 * https://man7.org/linux/man-pages/man2/bpf.2.html Returns what the command returns (a new fd for BPF_PROG_LOAD).
 */
export function bpf(command: number, attr: Buffer): number {
  const number = SYS_bpf[process.arch];
  if (number === undefined) throw new Error(`bpf: no syscall number known for ${process.arch}`);
  return check(syscall_(number, 'int', command, 'void *', attr, 'unsigned int', attr.length), 'bpf');
}

export interface ProgLoadOptions {
  /** Some program types need it at load time (not the device programs). */
  readonly expectedAttachType?: number;
  /** How much of the verifier's explanation to keep when it refuses the program. */
  readonly logSize?: number;
}

/** How many times bpf_prog_load tries, as libbpf's PROG_LOAD_ATTEMPTS. */
const PROG_LOAD_ATTEMPTS = 5;

/**
 * Loads `program` into the kernel (bpf(BPF_PROG_LOAD)), as libbpf's bpf_prog_load, and
 * returns its fd. The verifier checks it first; when it refuses, the error's hint
 * holds the verifier's reasons. The verifier gives up with EAGAIN when a signal is
 * pending for the caller (under Node 24 it did, now and then, in stage 7's tests): the
 * load is tried again then, as libbpf does.
 */
export function bpf_prog_load(progType: number, license: string, program: readonly BpfInsn[], options: ProgLoadOptions = {}): number {
  const insns = encodeBpfInsns(program);
  const licenseBuffer = Buffer.from(`${license}\0`);
  const log = Buffer.alloc(options.logSize ?? 64 * 1024);
  const address = (buffer: Buffer) => ffi().address(buffer);
  const attr = Buffer.alloc(BPF_ATTR_SIZE);
  attr.writeUInt32LE(progType, 0); // prog_type
  attr.writeUInt32LE(program.length, 4); // insn_cnt
  attr.writeBigUInt64LE(address(insns), 8); // insns
  attr.writeBigUInt64LE(address(licenseBuffer), 16); // license
  attr.writeUInt32LE(1, 24); // log_level: explain a refusal
  attr.writeUInt32LE(log.length, 28); // log_size
  attr.writeBigUInt64LE(address(log), 32); // log_buf
  attr.writeUInt32LE(options.expectedAttachType ?? 0, 68); // expected_attach_type
  for (let attempt = 1; ; attempt++) {
    try {
      return bpf(BPF_PROG_LOAD, attr);
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      if (error.code === 'EAGAIN' && attempt < PROG_LOAD_ATTEMPTS) continue;
      throw withReasons(error, log);
    }
  }
}

/** The error of a refused load, with the verifier's reasons from `log` as its hint when it gave any. */
function withReasons(error: SyscallError, log: Buffer): SyscallError {
  const end = log.indexOf(0);
  const reasons = log.toString('utf8', 0, end === -1 ? log.length : end).trim();
  return reasons ? new SyscallError(-error.errno, 'bpf', undefined, `the verifier said: ${reasons}`) : error;
}

/**
 * Attaches a loaded program to `targetFd` (a cgroup directory's fd) at `attachType`
 * (bpf(BPF_PROG_ATTACH)), as libbpf's bpf_prog_attach. The cgroup holds the program
 * from then on: closing its fd does not detach it; removing the cgroup does.
 */
export function bpf_prog_attach(progFd: number, targetFd: number, attachType: number, flags: number): void {
  const attr = Buffer.alloc(BPF_ATTR_SIZE);
  attr.writeUInt32LE(targetFd, 0); // target_fd
  attr.writeUInt32LE(progFd, 4); // attach_bpf_fd
  attr.writeUInt32LE(attachType, 8); // attach_type
  attr.writeUInt32LE(flags, 12); // attach_flags
  bpf(BPF_PROG_ATTACH, attr);
}

/**
 * The ids of the programs attached to `targetFd` at `attachType` (bpf(BPF_PROG_QUERY)),
 * as libbpf's bpf_prog_query: this cgroup's own, not its ancestors'.
 */
export function bpf_prog_query(targetFd: number, attachType: number, maxPrograms = 64): number[] {
  const ids = Buffer.alloc(4 * maxPrograms);
  const attr = Buffer.alloc(BPF_ATTR_SIZE);
  attr.writeUInt32LE(targetFd, 0); // target_fd
  attr.writeUInt32LE(attachType, 4); // attach_type
  attr.writeBigUInt64LE(ffi().address(ids), 16); // prog_ids
  attr.writeUInt32LE(maxPrograms, 24); // prog_cnt: room in, count out
  bpf(BPF_PROG_QUERY, attr);
  const count = attr.readUInt32LE(24);
  return Array.from({ length: count }, (_, index) => ids.readUInt32LE(4 * index));
}
