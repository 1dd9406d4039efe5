import fs from 'node:fs';
import test from 'ava';
import {
  BPF_EXIT_INSN,
  BPF_JMP_IMM,
  BPF_JNE,
  BPF_LDX_MEM,
  BPF_MOV32_IMM,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  BPF_REG_0,
  BPF_REG_1,
  BPF_REG_2,
  BPF_W,
  SyscallError,
  bpf_prog_load,
  encodeBpfInsns,
} from '../src/index';
import { rootTest } from '@samples/testing';

test('struct bpf_insn is 8 bytes: code, dst in the low nibble, src in the high one, s16 off, s32 imm', (t) => {
  t.is(encodeBpfInsns([BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, 4)]).toString('hex'), '6112040000000000');
  t.is(encodeBpfInsns([BPF_JMP_IMM(BPF_JNE, BPF_REG_2, -1, -2)]).toString('hex'), '5502feffffffffff');
  t.is(encodeBpfInsns([BPF_MOV32_IMM(BPF_REG_0, 1), BPF_EXIT_INSN()]).toString('hex'), 'b400000001000000' + '9500000000000000');
});

rootTest('bpf_prog_load loads a device program and returns its fd', (t) => {
  const fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, 'GPL', [BPF_MOV32_IMM(BPF_REG_0, 1), BPF_EXIT_INSN()]);
  t.teardown(() => fs.closeSync(fd));
  t.regex(fs.readlinkSync(`/proc/self/fd/${fd}`), /^anon_inode:bpf-prog$/);
});

rootTest('a program the verifier refuses: the error says why', (t) => {
  const error = t.throws(() => bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, 'GPL', [BPF_MOV32_IMM(BPF_REG_0, 1)]), { instanceOf: SyscallError });
  t.is(error.code, 'EINVAL');
  t.regex(error.hint ?? '', /last insn is not an exit or jmp/);
});
