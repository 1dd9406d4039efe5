// Stage 5 from the host's side, against the machine's real cgroups (v1 or v2; the
// cgroup v2 VM runs this same file).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { leases, mountsUnder } from '@samples/runtime';
import {
  containerPid,
  describeMounts,
  isRoot,
  rootTest,
  runStage,
  runStageUnprivileged,
  stageCommand,
  startStage,
  startStageUntilReady,
  startedRuntimes,
  testCommonBehaviour,
  testRootfsCommandLookup,
  waitFor,
} from '@samples/testing';
import { CGROUP_ROOT, detectLayout, parseProcCgroup } from '../src/cgroup';

// One container at a time: the fork bomb and OOM tests load the machine, and the
// cgroup checks read machine-wide state.
const test = rootTest.serial;
const stage = path.join(__dirname, '..');
const layout = isRoot ? detectLayout() : 'v1';
// Built on first use: only where the tests that use it run.
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
/** The host's mounts where this stage's containers mount: a learner may mount elsewhere meanwhile. */
const hostMounts = () => describeMounts(mountsUnder(rootfs));
const MiB = 1024 ** 2;

/** The cgroups leased by the runtimes this file started, as the leases in /run name them. */
function cgroupsOfOurRuntimes(): { id: string; paths: string[] }[] {
  return leases<{ paths: string[] }>('cgroups')
    .filter((lease) => startedRuntimes.has(lease.owner.pid))
    .map(({ id, data }) => ({ id, paths: data.paths }));
}

// Only what this file's own runtimes made: a learner may run a container meanwhile.
anyTest.after.always('no runtime started here left a cgroup, or a lease on one', (t) => {
  const left = cgroupsOfOurRuntimes();
  t.deepEqual(left, [], 'every runtime removed its cgroup and gave its lease back');
  t.deepEqual(
    left.flatMap(({ paths }) => paths).filter((dir) => fs.existsSync(dir)),
    [],
  );
});

/** The host directories of the cgroups a container's /proc/self/cgroup names, per controller. */
function cgroupDirs(procSelfCgroup: string): Record<'memory' | 'pids' | 'cpu', string> {
  const entries = parseProcCgroup(procSelfCgroup);
  const dirOf = (controller: string) => {
    if (layout === 'v2') return path.join(CGROUP_ROOT, entries.find((entry) => entry.controllers.length === 0)!.path);
    return path.join(CGROUP_ROOT, controller, entries.find((entry) => entry.controllers.includes(controller))!.path);
  };
  return { memory: dirOf('memory'), pids: dirOf('pids'), cpu: dirOf('cpu') };
}

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();

/** Starts a container that prints its /proc/self/cgroup, then waits; SIGTERM ends it at once. */
async function startWaiting(options: string[], script = 'trap "exit 143" TERM; cat /proc/self/cgroup; echo ready; sleep 30 & wait') {
  const { runtime, exited, output } = await startStageUntilReady(stage, [...options, 'sh', '-c', script]);
  return { runtime, exited, dirs: cgroupDirs(output.text.replace('ready\n', '')) };
}

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

test('the container runs in a cgroup of its own with the limits asked for, removed afterwards', async (t) => {
  const { runtime, exited, dirs } = await startWaiting(['--memory', '100m', '--pids', '64', '--cpus', '0.5']);
  for (const dir of Object.values(dirs)) t.regex(path.basename(dir), /^container-[0-9a-f]{8}$/);
  if (layout === 'v2') {
    t.is(read(dirs.memory, 'memory.max'), String(100 * MiB));
    t.is(read(dirs.pids, 'pids.max'), '64');
    t.is(read(dirs.cpu, 'cpu.max'), '50000 100000');
  } else {
    t.is(read(dirs.memory, 'memory.limit_in_bytes'), String(100 * MiB));
    t.is(read(dirs.pids, 'pids.max'), '64');
    t.is(read(dirs.cpu, 'cpu.cfs_quota_us'), '50000');
    t.is(read(dirs.cpu, 'cpu.cfs_period_us'), '100000');
    // Below the runtime's own memory cgroup, so that the caller's limit binds too.
    const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')).find((entry) =>
      entry.controllers.includes('memory'),
    )!.path;
    t.is(path.dirname(dirs.memory), path.join(CGROUP_ROOT, 'memory', own));
  }
  runtime.kill('SIGTERM');
  t.is(await exited, 143, 'the runtime passed SIGTERM on; the container exited with 128+15');
  for (const dir of Object.values(dirs)) t.false(fs.existsSync(dir), `${dir} removed`);
});

test('a container that ignores SIGTERM is killed after a grace period, and its cgroup removed', async (t) => {
  // PID 1 of a namespace gets no signal it has no handler for: sh without a trap ignores SIGTERM.
  const { runtime, exited, dirs } = await startWaiting([], 'cat /proc/self/cgroup; echo ready; sleep 30');
  runtime.kill('SIGTERM');
  t.is(await exited, 137);
  t.false(fs.existsSync(dirs.memory));
});

test('Ctrl-C to the runtime (no terminal): passed on to the container; a second one kills it; the cgroup goes', async (t) => {
  const once = await startWaiting([], 'trap "exit 130" INT; cat /proc/self/cgroup; echo ready; sleep 30 & wait');
  once.runtime.kill('SIGINT');
  t.is(await once.exited, 130, 'the container handled SIGINT itself');
  t.false(fs.existsSync(once.dirs.memory));

  const twice = await startWaiting([], 'trap "" INT; cat /proc/self/cgroup; echo ready; sleep 30 & wait');
  twice.runtime.kill('SIGINT');
  await new Promise((resolve) => setTimeout(resolve, 300));
  twice.runtime.kill('SIGINT');
  t.is(await twice.exited, 137, 'a container that ignores Ctrl-C is killed by the second');
  t.false(fs.existsSync(twice.dirs.memory));
});

test('the default memory limit is 256 MiB', async (t) => {
  const { runtime, exited, dirs } = await startWaiting([]);
  t.is(read(dirs.memory, layout === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(256 * MiB));
  runtime.kill('SIGTERM');
  await exited;
});

test('allocating twice the limit: killed, 137, reported in one line', (t) => {
  const result = runStage(stage, ['--memory', '32m', 'sh', '-c', 'head -c 64m /dev/zero | tail | wc -c']);
  t.is(result.status, 0, 'sh itself survives; tail was killed');
  // sh says "Killed" about tail; the runtime says why, once (which comes first is a race).
  t.deepEqual(result.stderr.trim().split('\n').sort(), [
    '5-isolate-cgroup: out of memory: the container exceeded its 32 MiB limit',
    'Killed',
  ]);
  const init = runStage(stage, ['--memory', '32m', 'tail', '/dev/zero']);
  t.is(init.status, 137, 'the command itself was killed: 128+SIGKILL');
  t.is(init.stderr, '5-isolate-cgroup: out of memory: the container exceeded its 32 MiB limit\n');
});

/**
 * A memory cgroup of the test's own with `limit`, and where to put a runtime in it: on
 * v1 the cgroup itself, on v2 a leaf below it ("no internal processes"). Removed after.
 */
function parentCgroupWithLimit(t: { teardown(fn: () => void): void }, limit: number): string {
  const name = `samples-test-${randomBytes(4).toString('hex')}`;
  const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const write = (dir: string, file: string, value: string) => fs.writeFileSync(path.join(dir, file), value);
  const made: string[] = [];
  t.teardown(() => {
    for (const dir of made.reverse()) {
      for (let attempt = 0; attempt < 50 && fs.existsSync(dir); attempt++) {
        try {
          fs.rmdirSync(dir);
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // EBUSY, just after the last exit
        }
      }
    }
  });
  if (layout !== 'v2') {
    const parent = path.join(CGROUP_ROOT, 'memory', own.find((entry) => entry.controllers.includes('memory'))!.path, name);
    fs.mkdirSync(parent);
    made.push(parent);
    write(parent, 'memory.limit_in_bytes', String(limit));
    return path.join(parent, 'cgroup.procs');
  }
  // Below the nearest ancestor that holds no process (this test's own cgroup holds it).
  let base = own.find((entry) => entry.controllers.length === 0)!.path;
  const holdsProcesses = (dir: string) => fs.readFileSync(path.join(CGROUP_ROOT, dir, 'cgroup.procs'), 'utf8').trim() !== '';
  while (base !== '/' && holdsProcesses(base)) base = path.posix.dirname(base);
  const parent = path.join(CGROUP_ROOT, base, name);
  fs.mkdirSync(parent);
  made.push(parent);
  write(parent, 'memory.max', String(limit));
  write(parent, 'cgroup.subtree_control', '+memory');
  const leaf = path.join(parent, 'runtime');
  fs.mkdirSync(leaf);
  made.push(leaf);
  return path.join(leaf, 'cgroup.procs');
}

test('a kill for a limit above the container own: reported as such, not as the container exceeding its limit', (t) => {
  // The runtime (and so the container, below it) in a cgroup of 192 MiB; the container
  // may have 1 GiB. tail grows until the 192 MiB run out: the kernel kills it, for the
  // parent's limit.
  const procs = parentCgroupWithLimit(t, 192 * MiB);
  const [node, argv] = stageCommand(stage, ['--memory', '1g', 'tail', '/dev/zero']);
  const result = spawnSync('sh', ['-c', 'echo $$ > "$0"; exec "$@"', procs, node, ...argv], {
    cwd: stage,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.pid) startedRuntimes.add(result.pid);
  t.is(result.status, 137);
  t.is(
    result.stderr,
    '5-isolate-cgroup: out of memory: the kernel killed a process of the container, but not for its 1 GiB limit: a cgroup above it, or the host, ran out of memory\n',
  );
});

test('allocating half the limit: it survives, nothing reported', (t) => {
  const result = runStage(stage, ['--memory', '64m', 'sh', '-c', 'head -c 32m /dev/zero | tail | wc -c']);
  t.is(result.status, 0);
  t.is(result.stdout.trim(), String(32 * MiB));
  t.is(result.stderr, '');
});

test('a fork bomb is held by the pids limit', (t) => {
  // An inner shell tries to start 50 sleeps and dies at the first fork that fails.
  // At the limit not even ps could start, so the outer shell counts with builtins only
  // (a glob over /proc), then kills them all.
  const script = 'sh -c "for i in \\$(seq 50); do sleep 5 & done" 2>/dev/null; set -- /proc/[0-9]*; echo $#; kill -9 -1';
  const result = runStage(stage, ['--pids', '16', 'sh', '-c', script], { timeout: 30_000 });
  const processes = Number(result.stdout.trim().split('\n').pop());
  t.true(processes <= 16, `${processes} processes`);
  t.true(processes >= 8, `${processes} processes: the limit was reached, not something else`);
});

test('after the command is killed from the host, the cgroup is removed', async (t) => {
  const { runtime, exited, dirs } = await startWaiting([]);
  const container = containerPid(runtime);
  process.kill(container, 'SIGKILL');
  t.is(await exited, 137);
  t.false(fs.existsSync(dirs.memory));
});

test('a runtime killed with SIGKILL takes the container with it; the next run removes the cgroup it left', async (t) => {
  const { runtime, exited, dirs } = await startWaiting([]);
  const container = containerPid(runtime);
  runtime.kill('SIGKILL');
  await exited;
  await waitFor('the container to die with its runtime (PR_SET_PDEATHSIG)', () => !fs.existsSync(`/proc/${container}`));
  // Nothing could remove the cgroup when the runtime died; but any runtime that starts
  // meanwhile sweeps it (a learner's, another test run's): then it is gone already.
  const left = fs.existsSync(dirs.memory);
  if (!left) t.log('another runtime swept the cgroup before this test could');
  const next = runStage(stage, ['--verbose', 'true']);
  t.is(next.status, 0);
  if (left) t.regex(next.stderr, new RegExp(`=> remove cgroup ${path.basename(dirs.memory)}, left by runtime ${runtime.pid}`), 'this run swept it');
  t.false(fs.existsSync(dirs.memory), 'the next run removed it');
  t.false(
    cgroupsOfOurRuntimes().some(({ paths }) => paths.includes(dirs.memory)),
    'and dropped the lease',
  );
});

test('a stop signal at any moment of the start-up leaves nothing behind', async (t) => {
  // From "Node is not yet listening" to "the command runs", in steps: before its
  // listeners exist the runtime dies at once (and has made nothing yet); after, it
  // passes the signal on once the command runs, which exits with 143, or, if the shell
  // had not set its trap yet (PID 1 without a handler: the kernel drops the signal),
  // is killed at the end of the grace period: 137.
  for (let delay = 0; delay <= 660; delay += 60) {
    const runtime = startStage(stage, ['sh', '-c', 'trap "exit 143" TERM; sleep 30 & wait']);
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => runtime.once('exit', (code, signal) => resolve([code, signal])));
    await new Promise((resolve) => setTimeout(resolve, delay));
    runtime.kill('SIGTERM');
    const [code, signal] = await exited;
    t.true(code === 143 || code === 137 || signal === 'SIGTERM', `after ${delay} ms: ${code ?? signal}`);
    const left = leases<{ paths: string[] }>('cgroups').filter((lease) => lease.owner.pid === runtime.pid);
    t.deepEqual(left, [], `after ${delay} ms: no cgroup lease left`);
  }
});

test('two containers at once get separate cgroups', async (t) => {
  const first = await startWaiting([]);
  const second = await startWaiting([]);
  t.not(first.dirs.memory, second.dirs.memory);
  t.true(fs.existsSync(first.dirs.memory) && fs.existsSync(second.dirs.memory));
  first.runtime.kill('SIGTERM');
  second.runtime.kill('SIGTERM');
  await Promise.all([first.exited, second.exited]);
  t.false(fs.existsSync(first.dirs.memory) || fs.existsSync(second.dirs.memory));
});

test('everything of stage 4 holds: PID 1, hostname, own mounts, host mount table unchanged', async (t) => {
  const before = hostMounts();
  const result = runStage(stage, ['sh', '-c', 'echo $$; hostname; grep -c " /newtemp " /proc/self/mountinfo']);
  t.is(result.stdout, '1\ncontainer\n1\n');
  t.deepEqual(hostMounts(), before);
});

test('bad limits: one line, status 2, nothing made', (t) => {
  for (const options of [['--memory', 'lots'], ['--pids', '0'], ['--cpus', 'half']]) {
    const result = runStage(stage, [...options, 'true']);
    t.is(result.status, 2);
    t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});

test('without root: one line, status 125', (t) => {
  const result = runStageUnprivileged(stage, ['true']);
  t.is(result.status, 125);
  t.regex(result.stderr, /^5-isolate-cgroup: creating namespaces needs root/);
});
