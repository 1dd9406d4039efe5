// Stage 8 without a terminal, from the host's side: nothing changes from stage 7. Pipes
// pass through exactly (every stdio test of stages 0 to 7 holds), and the bad inputs
// of the terminal's options are one line each. Runtimes run in a scratch "host" network
// namespace, as stage 6's and 7's tests do: the default network's bridge is made there.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import anyTest from 'ava';
import { leases } from '@samples/runtime';
import { isRoot, learnerEnvironment, rootTest, runStage, startedRuntimes, testCommonBehaviour, testRootfsCommandLookup } from '@samples/testing';
import { enterScratchHost, leftovers } from '6-isolate-network/test/helpers';
import { stage } from './helpers';

const test = rootTest.serial;
if (isRoot) enterScratchHost();
const run = (args: readonly string[]) => runStage(stage, ['--network', 'none', ...args]);

anyTest.after.always('no runtime started here left a cgroup, an address or a bridge', (t) => {
  if (!isRoot) return t.pass();
  const cgroups = leases<{ paths: string[] }>('cgroups').filter((lease) => startedRuntimes.has(lease.owner.pid));
  t.deepEqual(cgroups, []);
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
});

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

test('without a terminal nothing changes: `seq 100000 | pnpm -s -C packages/8-isolate-terminal start wc -l` prints 100000; no pty inside', (t) => {
  const repo = path.join(stage, '..', '..');
  const piped = spawnSync('sh', ['-c', 'seq 100000 | pnpm -s -C packages/8-isolate-terminal start wc -l'], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 60_000,
    env: learnerEnvironment(),
  });
  t.is(piped.stdout, '100000\n', piped.stderr);
  t.is(piped.status, 0);
  const tty = run(['sh', '-c', 'tty; ls /dev/pts 2>/dev/null | wc -l']);
  t.is(tty.stdout, 'not a tty\n0\n', 'no pty, no /dev/pts without a terminal');
});

test('--tty without a terminal on stdin: one line, status 2, as docker run -t says', (t) => {
  for (const flag of ['--tty', '-t']) {
    const result = run(['--verbose', flag, 'true']);
    t.is(result.status, 2);
    t.is(result.stderr, '8-isolate-terminal: --tty needs a terminal on stdin: run it from a terminal, or drop --tty to pass pipes through\n');
  }
  const both = run(['--tty', '--no-tty', 'true']);
  t.is(both.status, 2);
  t.is(both.stderr, '8-isolate-terminal: --tty and --no-tty: choose one\n');
});

test("--no-tty without a terminal: the same pipes; stage 7's privileges hold", (t) => {
  const result = run(['--no-tty', 'sh', '-c', 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status']);
  t.is(result.stdout, 'CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n');
});
