// Stage 5 from the host's side, against the machine's real cgroups (v1 or v2; the
// cgroup v2 VM runs this same file).
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import {
  containerPid,
  hostMounts,
  rootTest,
  runStage,
  runStageUnprivileged,
  startStageUntilReady,
  testCommonBehaviour,
  waitFor,
} from '@samples/syscalls/testing';
import { CGROUP_ROOT, detectLayout, parseProcCgroup } from '../src/cgroup';

// One container at a time: the fork bomb and OOM tests load the machine, and the
// cgroup checks read machine-wide state.
const test = rootTest.serial;
const stage = path.join(__dirname, '..');
const layout = detectLayout();
const MiB = 1024 ** 2;

/** Every container cgroup where this runtime would make one (on v1: below our own memory cgroup, and in pids and cpu). */
function containerCgroups(): string[] {
  if (layout === 'v2') return findContainerCgroups(CGROUP_ROOT);
  const ownMemory = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')).find((entry) =>
    entry.controllers.includes('memory'),
  )!.path;
  return [path.join(CGROUP_ROOT, 'memory', ownMemory), path.join(CGROUP_ROOT, 'pids'), path.join(CGROUP_ROOT, 'cpu')].flatMap(
    (dir) => findContainerCgroups(dir),
  );
}

function findContainerCgroups(dir: string, depth = 0): string[] {
  if (depth > 8) return [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const child = path.join(dir, entry.name);
      return /^container-[0-9a-f]{8}$/.test(entry.name) ? [child] : findContainerCgroups(child, depth + 1);
    });
}

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

const cgroupsBefore = containerCgroups();
anyTest.after.always('no container cgroup is left behind by any test', (t) => {
  t.deepEqual(
    containerCgroups().filter((dir) => !cgroupsBefore.includes(dir)),
    [],
  );
});

testCommonBehaviour(stage, test);

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

test('a runtime killed with SIGKILL takes the container with it (its empty cgroup stays)', async (t) => {
  const { runtime, exited, dirs } = await startWaiting([]);
  const container = containerPid(runtime);
  runtime.kill('SIGKILL');
  await exited;
  await waitFor(() => !fs.existsSync(`/proc/${container}`));
  t.pass('the container died with its runtime');
  // Nothing is left to remove the cgroup: the test does what a later run cannot know to do.
  for (const dir of new Set(Object.values(dirs))) {
    if (/^container-/.test(path.basename(dir)) && fs.existsSync(dir)) fs.rmdirSync(dir);
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
