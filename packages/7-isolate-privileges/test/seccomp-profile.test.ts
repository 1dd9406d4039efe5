import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  BPF_ABS,
  BPF_JEQ,
  BPF_JGE,
  BPF_JSET,
  BPF_LD,
  BPF_RET,
  BPF_W,
  type CapabilityName,
  type SockFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
} from '@samples/syscalls';
import { canCompileStatic, rootTest, testIf } from '@samples/testing';
import { capabilityNames, resolveCapabilities } from '../src/capabilities';
import { type Architecture, assembleFilter, refusals, refusalsFor } from '../src/seccomp-profile';
import { compileInto, contain, fixtures, securityFields, temporaryDirectory } from './helpers';

const DEFAULT = new Set<CapabilityName>(capabilityNames(resolveCapabilities()));
const EPERM = SECCOMP_RET_ERRNO | 1;
const ENOSYS = SECCOMP_RET_ERRNO | 38;
const ARCH = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 } as const;

/** The kernel's classic BPF interpreter, for the instructions the assembler emits, over a seccomp_data. */
function runFilter(filter: readonly SockFilter[], data: { nr: number; arch: number; args?: number[] }): number {
  const word = (offset: number) => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return data.arch >>> 0;
    const arg = (offset - 16) / 8;
    return (data.args?.[arg] ?? 0) >>> 0; // the low half of args[arg]
  };
  let a = 0;
  for (let pc = 0; pc < filter.length; pc++) {
    const { code, jt, jf, k } = filter[pc]!;
    if (code === (BPF_LD | BPF_W | BPF_ABS)) a = word(k);
    else if ((code & 0x07) === BPF_RET) return k >>> 0;
    else {
      const op = code & 0xf0;
      const taken = op === BPF_JEQ ? a === k >>> 0 : op === BPF_JGE ? a >= k >>> 0 : op === BPF_JSET ? (a & k) !== 0 : undefined;
      if (taken === undefined) throw new Error(`unexpected opcode ${code}`);
      pc += taken ? jt : jf;
    }
  }
  throw new Error('fell off the end of the program');
}

test('the table: one line of reason per call, no call twice, a number on at least one architecture', (t) => {
  const names = refusals.map(({ syscall }) => syscall);
  t.is(new Set(names).size, names.length);
  for (const { syscall, reason, x86_64, aarch64 } of refusals) {
    t.true(reason.length > 0 && !reason.includes('\n'), syscall);
    t.true(x86_64 !== undefined || aarch64 !== undefined, syscall);
  }
});

// The kernel's own headers number the calls: check the table against them where they are installed.
const headers = {
  x86_64: '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
  aarch64: '/usr/include/asm-generic/unistd.h', // aarch64 uses the generic table
} as const;
for (const arch of ['x86_64', 'aarch64'] as const) {
  testIf(fs.existsSync(headers[arch]), `no ${headers[arch]}: apt-get install linux-libc-dev`, test)(
    `the ${arch} numbers are the kernel headers' (${headers[arch]})`,
    (t) => {
      const text = fs.readFileSync(headers[arch], 'utf8');
      const numbers = new Map([...text.matchAll(/#define __NR(?:3264)?_(\w+)\s+(\d+)/g)].map(([, name, nr]) => [name!, Number(nr)]));
      for (const refusal of refusals) {
        const header = numbers.get(refusal.syscall);
        // Calls in the generic header that aarch64 lacks (iopl, uselib...) are absent from it.
        if (header !== undefined || refusal[arch] !== undefined) t.is(refusal[arch], header, `${refusal.syscall} on ${arch}`);
      }
    },
  );
}

for (const arch of ['x86_64', 'aarch64'] as const satisfies Architecture[]) {
  test(`${arch}: each call in the table is refused, as the table says; other calls pass`, (t) => {
    const { filter } = assembleFilter(refusalsFor(DEFAULT), arch);
    for (const refusal of refusalsFor(DEFAULT)) {
      const nr = refusal[arch];
      if (nr === undefined || refusal.when) continue;
      t.is(runFilter(filter, { nr, arch: ARCH[arch] }), refusal.errno === 'ENOSYS' ? ENOSYS : EPERM, refusal.syscall);
    }
    const read = 0 as number; // read is 0 on x86_64, io_setup on aarch64: allowed either way
    t.is(runFilter(filter, { nr: read, arch: ARCH[arch] }), SECCOMP_RET_ALLOW);
    const execve = arch === 'x86_64' ? 59 : 221;
    t.is(runFilter(filter, { nr: execve, arch: ARCH[arch] }), SECCOMP_RET_ALLOW);
    const ptrace = arch === 'x86_64' ? 101 : 117;
    t.is(runFilter(filter, { nr: ptrace, arch: ARCH[arch] }), SECCOMP_RET_ALLOW, 'ptrace: allowed, as Docker does on kernels since 4.8');
  });

  test(`${arch}: clone, personality and socket are refused for some arguments only`, (t) => {
    const { filter } = assembleFilter(refusalsFor(DEFAULT), arch);
    const nr = (syscall: string) => refusals.find((refusal) => refusal.syscall === syscall)![arch]!;
    const call = (syscall: string, args: number[]) => runFilter(filter, { nr: nr(syscall), arch: ARCH[arch], args });
    const CLONE_THREAD_FLAGS = 0x003d0f00; // what pthread_create passes
    t.is(call('clone', [CLONE_THREAD_FLAGS]), SECCOMP_RET_ALLOW);
    t.is(call('clone', [0x11 /* SIGCHLD: fork */]), SECCOMP_RET_ALLOW);
    t.is(call('clone', [0x10000000 /* CLONE_NEWUSER */ | 0x11]), EPERM);
    t.is(call('clone', [0x40000000 /* CLONE_NEWNET */]), EPERM);
    for (const persona of [0, 8, 0x20000, 0x20008, 0xffffffff]) t.is(call('personality', [persona]), SECCOMP_RET_ALLOW, `personality ${persona}`);
    t.is(call('personality', [0x0040000 /* ADDR_NO_RANDOMIZE */]), EPERM);
    t.is(call('socket', [2 /* AF_INET */]), SECCOMP_RET_ALLOW);
    t.is(call('socket', [40 /* AF_VSOCK */]), EPERM);
    t.is(call('socket', [38 /* AF_ALG */]), EPERM);
  });
}

test('another architecture, and the x32 ABI, kill the process', (t) => {
  const { filter } = assembleFilter(refusalsFor(DEFAULT), 'x86_64');
  t.is(runFilter(filter, { nr: 0, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_KILL_PROCESS);
  t.is(runFilter(filter, { nr: 0x40000000 + 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
  t.is(runFilter(assembleFilter(refusalsFor(DEFAULT), 'aarch64').filter, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
});

test('a capability lifts its rules, as in Docker: CAP_SYS_ADMIN lets mount and clone with namespaces pass', (t) => {
  const withAdmin = assembleFilter(refusalsFor(new Set([...DEFAULT, 'CAP_SYS_ADMIN'])), 'x86_64').filter;
  t.is(runFilter(withAdmin, { nr: 165 /* mount */, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
  t.is(runFilter(withAdmin, { nr: 56 /* clone */, arch: AUDIT_ARCH_X86_64, args: [0x10000000] }), SECCOMP_RET_ALLOW);
  t.is(runFilter(withAdmin, { nr: 246 /* kexec_load */, arch: AUDIT_ARCH_X86_64 }), EPERM, 'kexec_load needs CAP_SYS_BOOT');
  const withoutChroot = assembleFilter(refusalsFor(new Set([...DEFAULT].filter((name) => name !== 'CAP_SYS_CHROOT'))), 'x86_64').filter;
  t.is(runFilter(withoutChroot, { nr: 161 /* chroot */, arch: AUDIT_ARCH_X86_64 }), EPERM);
});

test('the listing shows one line per instruction, in the order the kernel runs them', (t) => {
  const { filter, listing } = assembleFilter(refusalsFor(DEFAULT), 'x86_64');
  const lines = listing.split('\n');
  t.is(lines.length, filter.length);
  t.is(lines[0], '(000) ld   [4]                             ; A = seccomp_data.arch');
  t.regex(lines[1]!, /^\(001\) jeq  #0xc000003e  jt 2   jf \d+\s+; x86_64\?$/);
  t.regex(lines.at(-1)!, /ret  #0x80000000 +; KILL_PROCESS$/);
});

// #region probe
// The probe (fixtures/seccomp-probe.c) makes each refused call with harmless arguments.
const probeTest = testIf(canCompileStatic(), 'needs cc and a static libc: apt-get install gcc libc6-dev', rootTest);

function probeResults(output: string): Map<string, string> {
  return new Map(output.trim().split('\n').map((line) => line.split(' ') as [string, string]));
}

probeTest('with every capability, the filter alone refuses each call with EPERM (clone3: ENOSYS); without it, the kernel answers', (t) => {
  const probe = compileInto(t, path.join(fixtures, 'seccomp-probe.c'), temporaryDirectory(t, 'seccomp-probe-'));
  const unfiltered = probeResults(contain({}, [probe]).stdout);
  // Every capability, and the filter Docker's defaults get: what is refused, the filter refused.
  const filtered = contain({ privileges: { capAdd: ['ALL'], seccomp: 'default' } }, [probe]);
  t.like(securityFields(contain({ privileges: { capAdd: ['ALL'], seccomp: 'default' } }, ['cat', '/proc/self/status']).stdout), { Seccomp: '2' });
  const results = probeResults(filtered.stdout);
  for (const refusal of refusalsFor(DEFAULT)) {
    const names = refusal.syscall === 'socket' ? ['socket-vsock', 'socket-alg'] : [refusal.syscall];
    for (const name of names) {
      if (!results.has(name)) continue; // not on this architecture
      t.is(results.get(name), refusal.errno ?? 'EPERM', `${name} under the filter`);
      t.not(unfiltered.get(name), 'EPERM', `${name} without the filter: the kernel, not the filter, answers`);
    }
  }
  t.is(results.get('chroot'), 'ENOENT', 'chroot: allowed, CAP_SYS_CHROOT being a default');
  for (const allowed of ['personality-query', 'socket-unix', 'fork']) t.is(results.get(allowed), 'ok', allowed);
});
// #endregion

rootTest('ordinary programs run under the filter: a shell pipeline, ls, cat, and Node itself (threads: clone3 falls back to clone)', (t) => {
  const script = 'ls / | head -1 >/dev/null && cat /proc/self/status | grep -E "^(Seccomp|NoNewPrivs):" && node -e "require(\'fs\').readFile(\'/proc/self/status\', (e, s) => console.log(\'node\', /Seccomp:\\s*(\\d)/.exec(s)[1]))"';
  const result = contain({ privileges: {} }, ['sh', '-c', script]);
  t.is(result.stderr, '');
  t.is(result.stdout, 'NoNewPrivs:\t1\nSeccomp:\t2\nnode 2\n');
});
