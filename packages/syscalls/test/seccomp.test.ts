import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JUMP, BPF_K, BPF_LD, BPF_RET, BPF_STMT, BPF_W, SECCOMP_RET_ALLOW, encodeSockFilters } from '../src/index';

test('struct sock_filter is 8 bytes: u16 code, u8 jt, u8 jf, u32 k', (t) => {
  const program = [BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)];
  t.is(encodeSockFilters(program).toString('hex'), ['2000000004000000', '15000102' + '3e0000c0', '060000000000ff7f'].join(''));
});

// getpriority(2) is a call Node makes only when asked (os.getPriority): refuse it, then ask.
const SYS_getpriority: Partial<Record<string, number>> = { x64: 140, arm64: 141 };

test('a filter installed with seccomp(2) refuses a call on the main thread, with the errno it returns', (t) => {
  const nr = SYS_getpriority[process.arch];
  if (nr === undefined) return t.pass(`no getpriority number for ${process.arch}`);
  const index = JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'));
  const script = `
    const s = require(${index});
    const EOPNOTSUPP = 95;
    // Without CAP_SYS_ADMIN a filter needs no_new_privs: set it either way, as a container does.
    s.prctl(s.PR_SET_NO_NEW_PRIVS, 1);
    s.seccomp(s.SECCOMP_SET_MODE_FILTER, 0, [
      s.BPF_STMT(s.BPF_LD | s.BPF_W | s.BPF_ABS, s.SeccompData.nr),
      s.BPF_JUMP(s.BPF_JMP | s.BPF_JEQ | s.BPF_K, ${nr}, 0, 1),
      s.BPF_STMT(s.BPF_RET | s.BPF_K, s.SECCOMP_RET_ERRNO | EOPNOTSUPP),
      s.BPF_STMT(s.BPF_RET | s.BPF_K, s.SECCOMP_RET_ALLOW),
    ]);
    console.log(/Seccomp:\\s*(\\d)/.exec(require('fs').readFileSync('/proc/thread-self/status', 'utf8'))[1]);
    try { require('os').getPriority(); console.log('allowed'); } catch (error) { console.log(error.info.code); }
  `;
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(result.stderr, '');
  t.is(result.stdout, '2\nENOTSUP\n');
});
