// Which device files the container may open. CAP_MKNOD lets it make any device node,
// and a node is a door to the driver behind it: a disk's node opens the host's disk.
// The kernel asks the container's cgroup on every open (and mknod) of a device. On
// cgroup v1 the devices controller holds the rules as text; on cgroup v2 there is no
// such file: a small eBPF program attached to the cgroup answers instead.
import fs from 'node:fs';
import path from 'node:path';
import type { Cgroup } from '5-isolate-cgroup/cgroup';
import { step } from '@samples/runtime';
import {
  BPF_ALU64,
  BPF_AND,
  BPF_CGROUP_DEVICE,
  BPF_DEVCG_ACC_MKNOD,
  BPF_DEVCG_ACC_READ,
  BPF_DEVCG_ACC_WRITE,
  BPF_DEVCG_DEV_BLOCK,
  BPF_DEVCG_DEV_CHAR,
  BPF_EXIT,
  BPF_F_ALLOW_MULTI,
  BPF_JMP,
  BPF_JNE,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  BPF_REG_0,
  BPF_REG_1,
  BPF_REG_2,
  BPF_REG_3,
  BPF_REG_4,
  BPF_REG_5,
  BPF_RSH,
  BPF_W,
  BpfCgroupDevCtx,
  type BpfInsn,
  BPF_ALU32_IMM,
  BPF_EXIT_INSN,
  BPF_JMP_IMM,
  BPF_LDX_MEM,
  BPF_MOV32_IMM,
  BPF_MOV32_REG,
  bpf_prog_attach,
  bpf_prog_load,
} from '@samples/syscalls';

/** One rule, as cgroup v1's devices.allow takes it: `c 1:3 rwm`. */
export interface DeviceRule {
  /** c: character device, b: block device, a: both. */
  readonly type: 'c' | 'b' | 'a';
  readonly major: number | '*';
  readonly minor: number | '*';
  /** r: open for reading, w: for writing, m: mknod. */
  readonly access: string;
}

// #region rules
/**
 * What a container may open, all else being refused: runc's default rules
 * (libcontainer/specconv AllowedDevices). Making any node is allowed: opening it is what counts.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { type: 'c', major: '*', minor: '*', access: 'm' },
  { type: 'b', major: '*', minor: '*', access: 'm' },
  { type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { type: 'c', major: 136, minor: '*', access: 'rwm' }, // /dev/pts/*
  { type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];
// #endregion

/** A rule as devices.allow and devices.list write it. */
export function formatRule({ type, major, minor, access }: DeviceRule): string {
  return `${type} ${major}:${minor} ${access}`;
}

// #region v1
/** cgroup v1: deny everything, then allow each rule, in the container's devices cgroup `dir`. */
export function writeV1DeviceRules(dir: string, rules: readonly DeviceRule[] = DEFAULT_DEVICE_RULES): void {
  // "a" denies all devices, all access; only a cgroup without children takes it.
  fs.writeFileSync(path.join(dir, 'devices.deny'), 'a');
  for (const rule of rules) fs.writeFileSync(path.join(dir, 'devices.allow'), formatRule(rule));
}
// #endregion

const ACCESS_BITS: Record<string, number> = { r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE, m: BPF_DEVCG_ACC_MKNOD };
const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
const TYPE_BITS = { c: BPF_DEVCG_DEV_CHAR, b: BPF_DEVCG_DEV_BLOCK } as const;

/** An instruction, and what it does in words (the listing the docs show). */
interface Commented {
  readonly insn: BpfInsn;
  readonly comment: string;
}

// #region v2
/**
 * cgroup v2: the rules as an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE. For
 * each access the kernel runs it with R1 pointing at { access_type, major, minor }
 * and allows the access if it returns 1. The program tries each rule in turn; a
 * rule that does not match jumps over the rest of its block to the next one.
 */
export function deviceProgram(rules: readonly DeviceRule[] = DEFAULT_DEVICE_RULES): Commented[] {
  const program: Commented[] = [
    { insn: BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, BpfCgroupDevCtx.access_type), comment: 'ctx->access_type: (access << 16) | type' },
    { insn: BPF_ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff), comment: 'the type: 1 block, 2 char' },
    { insn: BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_1, BpfCgroupDevCtx.access_type), comment: 'ctx->access_type again' },
    { insn: BPF_ALU32_IMM(BPF_RSH, BPF_REG_3, 16), comment: 'the access: 1 mknod, 2 read, 4 write (or-ed)' },
    { insn: BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_1, BpfCgroupDevCtx.major), comment: 'ctx->major' },
    { insn: BPF_LDX_MEM(BPF_W, BPF_REG_5, BPF_REG_1, BpfCgroupDevCtx.minor), comment: 'ctx->minor' },
  ];
  for (const rule of rules) program.push(...ruleBlock(rule));
  program.push(
    { insn: BPF_MOV32_IMM(BPF_REG_0, 0), comment: 'no rule allowed it: 0, the access fails with EPERM' },
    { insn: BPF_EXIT_INSN(), comment: 'return r0' },
  );
  return program;
}

/** A rule's block: each test, when it fails, jumps past the rest of the block to the next rule. */
function ruleBlock(rule: DeviceRule): Commented[] {
  const access = rule.access.split('').reduce((bits, letter) => bits | (ACCESS_BITS[letter] ?? 0), 0);
  // A test is a jump whose distance is known only once the block is: "next" stands for the next rule.
  type Part = Commented | { jumpIfNot: (skip: number) => BpfInsn; comment: string };
  const parts: Part[] = [];
  if (rule.type !== 'a') {
    const type = TYPE_BITS[rule.type];
    parts.push({ jumpIfNot: (skip) => BPF_JMP_IMM(BPF_JNE, BPF_REG_2, type, skip), comment: `type ${rule.type}?` });
  }
  if (access !== ALL_ACCESS) {
    // Allowed only if every access asked for is in the rule: (asked & ~allowed) == 0.
    parts.push(
      { insn: BPF_MOV32_REG(BPF_REG_1, BPF_REG_3), comment: 'the access asked for' },
      { insn: BPF_ALU32_IMM(BPF_AND, BPF_REG_1, ALL_ACCESS & ~access), comment: `keep what "${rule.access}" does not allow` },
      { jumpIfNot: (skip) => BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, skip), comment: 'nothing of that asked?' },
    );
  }
  if (rule.major !== '*') {
    const major = rule.major;
    parts.push({ jumpIfNot: (skip) => BPF_JMP_IMM(BPF_JNE, BPF_REG_4, major, skip), comment: `major ${major}?` });
  }
  if (rule.minor !== '*') {
    const minor = rule.minor;
    parts.push({ jumpIfNot: (skip) => BPF_JMP_IMM(BPF_JNE, BPF_REG_5, minor, skip), comment: `minor ${minor}?` });
  }
  parts.push(
    { insn: BPF_MOV32_IMM(BPF_REG_0, 1), comment: `${formatRule(rule)} allows it: 1` },
    { insn: BPF_EXIT_INSN(), comment: 'return r0' },
  );
  return parts.map((part, index) =>
    'insn' in part ? part : { insn: part.jumpIfNot(parts.length - index - 1), comment: `${part.comment} else next rule` },
  );
}

/** The program as `bpftool prog dump xlated` prints one, with what each line does. */
export function listDeviceProgram(program: readonly Commented[]): string {
  const reg = (n: number) => `r${n}`;
  return program
    .map(({ insn, comment }, index) => {
      const { code, dst, src, off, imm } = insn;
      const cls = code & 0x07;
      const op = code & 0xf0;
      let text: string;
      if (cls === 0x01) text = `${reg(dst)} = *(u32 *)(${reg(src)} + ${off})`;
      else if (code === (BPF_JMP | BPF_EXIT)) text = 'exit';
      else if (cls === BPF_JMP) text = `if ${reg(dst)} != ${imm} goto pc+${off}`;
      else {
        const symbol = ({ 0x50: '&=', 0x70: '>>=', 0xb0: '=' } as Record<number, string>)[op] ?? `op${op}=`;
        const width = cls === BPF_ALU64 ? 'r' : 'w';
        const operand = code & 0x08 ? `${width}${src}` : imm >>> 0 < 4096 ? String(imm) : `0x${(imm >>> 0).toString(16)}`;
        text = `${width}${dst} ${symbol} ${operand}`;
      }
      return `${String(index).padStart(3)}: ${text.padEnd(32)} ; ${comment}`;
    })
    .join('\n');
}
// #endregion

/**
 * Loads the program for `rules` and attaches it to the cgroup v2 directory `dir`.
 * BPF_F_ALLOW_MULTI: a program the host's manager (systemd) attached higher up keeps
 * running too; an access must pass both. The cgroup holds the program from now on,
 * and drops it when it is removed.
 */
export function attachDeviceProgram(dir: string, rules: readonly DeviceRule[] = DEFAULT_DEVICE_RULES): void {
  const program = deviceProgram(rules).map(({ insn }) => insn);
  const progFd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, 'GPL', program);
  try {
    const cgroupFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      bpf_prog_attach(progFd, cgroupFd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
    } finally {
      fs.closeSync(cgroupFd);
    }
  } finally {
    fs.closeSync(progFd);
  }
}

// #region restrict
/**
 * Puts the rules on the container's cgroup before any process is in it, so that they
 * bind from the child's first open: on v1 in its devices directory (make the cgroup
 * with `alsoIn: ['devices']`), on v2 as a program attached to its one directory.
 */
export function restrictDevices(cgroup: Cgroup, rules: readonly DeviceRule[] = DEFAULT_DEVICE_RULES): void {
  const dir = cgroup.pathOf('devices');
  if (dir === undefined) throw new Error("restrictDevices: the cgroup has no devices directory: create it with alsoIn: ['devices']");
  if (cgroup.version === 1) {
    step(`device rules: "a" to devices.deny, then ${rules.length} rules to devices.allow`, () => writeV1DeviceRules(dir, rules));
  } else {
    step(`device rules: an eBPF program of ${rules.length} rules, attached to the cgroup (BPF_PROG_LOAD, BPF_PROG_ATTACH)`, () =>
      attachDeviceProgram(dir, rules),
    );
  }
}
// #endregion
