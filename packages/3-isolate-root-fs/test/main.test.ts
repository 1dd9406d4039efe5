import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs';
import { mountsUnder } from '@samples/runtime';
import { LOCK_EX, LOCK_NB, flock } from '@samples/syscalls';
import {
  canCompileStatic,
  compileStatic,
  containerPid,
  describeMounts,
  isRoot,
  rootTest,
  runStage,
  runStageUnprivileged,
  startStageUntilReady,
  testCommonBehaviour,
  testRootfsCommandLookup,
  testIf,
  waitFor,
} from '@samples/testing';

// The proc mount of a stage-3 container is in the host's mount table while it runs:
// tests that compare the host's table before and after must not overlap.
const test = rootTest.serial;
const stage = path.join(__dirname, '..');
// Built on first use: only where the tests that use it run.
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
/** The host's mounts where this stage's containers mount: a learner may mount elsewhere meanwhile. */
const hostMounts = () => describeMounts(mountsUnder(rootfs));
const procMount = path.join(rootfs, 'proc');
const isProcMounted = () => hostMounts().includes(`${procMount} proc`);

// The escape is a small C program (escape/chroot-escape.c), compiled by the test.
const escapeTest = testIf(canCompileStatic(), 'needs cc and a static libc: apt-get install gcc libc6-dev', test);

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

test('ps inside sees only the container processes', (t) => {
  // At most 500 looks for sleep in /proc: a /proc that is not the container's may never show it.
  const wait = 'i=0; until grep -q sleep /proc/$!/comm || [ $i -gt 500 ]; do i=$((i + 1)); done';
  const result = runStage(stage, ['sh', '-c', `sleep 30 & ${wait}; ps -e -o pid=,comm=; kill $!`]);
  const processes = result.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
  t.deepEqual(processes.map(([, comm]) => comm ?? '').sort(), ['ps', 'sh', 'sleep']);
  t.deepEqual(processes.find(([, comm]) => comm === 'sh')?.[0], '1');
});

test('/ inside is the root filesystem, and the working directory is in it', (t) => {
  const result = runStage(stage, ['sh', '-c', 'ls -a /; echo cwd=$(readlink /proc/self/cwd)']);
  const lines = result.stdout.trim().split('\n');
  t.is(lines.pop(), 'cwd=/', 'chdir("/") after chroot, not chdir(rootfs) as the Go original');
  t.deepEqual(lines.filter((name) => name !== '.' && name !== '..').sort(), fs.readdirSync(rootfs).sort());
});

test('the host hostname is unchanged; the container is "container"', (t) => {
  const before = os.hostname();
  t.is(runStage(stage, ['hostname']).stdout, 'container\n');
  t.is(os.hostname(), before);
});

test('proc is mounted on the rootfs while it runs (no mount namespace), and gone afterwards', async (t) => {
  const before = hostMounts();
  const { runtime, exited } = await startStageUntilReady(stage, ['sh', '-c', 'echo ready; sleep 30']);
  t.true(isProcMounted(), 'without a mount namespace, the host sees the container proc');
  runtime.kill('SIGTERM'); // the runtime stops the container and cleans up
  await exited;
  t.deepEqual(hostMounts(), before);
});

test('after the command is killed, nothing is left mounted', (t) => {
  const before = hostMounts();
  t.is(runStage(stage, ['sh', '-c', 'kill -KILL $$; sleep 1; exit 3']).status, 3, 'PID 1 ignores its own SIGKILL');
  t.is(runStage(stage, ['no-such-command']).status, 127);
  t.deepEqual(hostMounts(), before);
});

test('a runtime killed with SIGKILL leaves its proc mount; the next run takes it down', async (t) => {
  const before = hostMounts();
  const { runtime, exited } = await startStageUntilReady(stage, ['sh', '-c', 'echo ready; sleep 30']);
  const container = containerPid(runtime);
  runtime.kill('SIGKILL');
  await exited;
  process.kill(container, 'SIGKILL'); // the container outlives a SIGKILLed runtime: end it
  await waitFor('the container to die', () => !fs.existsSync(`/proc/${container}`));
  t.true(isProcMounted(), 'nothing can clean up after SIGKILL');
  t.is(runStage(stage, ['true']).status, 0);
  t.deepEqual(hostMounts(), before);
});

test('a second container on the same root filesystem is refused while the first runs', async (t) => {
  const { runtime, exited } = await startStageUntilReady(stage, ['sh', '-c', 'echo ready; sleep 30']);
  const second = runStage(stage, ['true']);
  t.is(second.status, 125);
  t.regex(second.stderr, /^3-isolate-root-fs: the root filesystem .* is in use by another stage-3 container/);
  t.true(fs.readdirSync(procMount).includes('1'), "the first container's /proc is still there");
  runtime.kill('SIGTERM');
  await exited;
  t.false(isProcMounted());
});

test('a runtime that holds the root filesystem is respected before its container has mounted anything (two started at once)', (t) => {
  const before = hostMounts();
  // As a runtime that started a moment earlier holds it: its lock taken, nothing mounted yet.
  const held = fs.openSync(rootfs, 'r');
  try {
    flock(held, LOCK_EX | LOCK_NB);
    const second = runStage(stage, ['true']);
    t.is(second.status, 125);
    t.regex(second.stderr, /^3-isolate-root-fs: the root filesystem .* is in use by another stage-3 container/);
    t.deepEqual(hostMounts(), before, 'it mounted nothing, and took down nothing');
  } finally {
    fs.closeSync(held);
  }
  t.is(runStage(stage, ['true']).status, 0, 'free again once the lock is dropped');
});

escapeTest('the classic chroot escape works here: a root process climbs out of its chroot', (t) => {
  // A file on the host, outside the root filesystem.
  const secret = randomBytes(8).toString('hex');
  const hostFile = path.join(os.tmpdir(), `host-secret-${secret}`);
  const escape = path.join(rootfs, 'tmp', `chroot-escape-${secret}`);
  fs.writeFileSync(hostFile, secret);
  try {
    compileStatic(path.join(stage, 'escape', 'chroot-escape.c'), escape);
    const inside = runStage(stage, ['cat', hostFile]);
    t.not(inside.status, 0, 'the host file is not visible from inside the chroot');
    const escaped = runStage(stage, [`/tmp/${path.basename(escape)}`, '/bin/cat', hostFile]);
    t.is(escaped.stdout, secret, 'after the escape, the host file is readable');
  } finally {
    fs.rmSync(hostFile, { force: true });
    fs.rmSync(escape, { force: true });
    fs.rmSync(path.join(rootfs, '.escape'), { recursive: true, force: true });
  }
});

test('an unknown root filesystem: one line, status 125, nothing mounted', (t) => {
  const before = hostMounts();
  const result = runStage(stage, ['--rootfs', 'no-such-rootfs', 'true']);
  t.is(result.status, 125);
  t.is(result.stderr.trim().split('\n').length, 1);
  t.regex(result.stderr, /^3-isolate-root-fs: .*no-such-rootfs/);
  t.deepEqual(hostMounts(), before);
});

test('without root: one line, status 125', (t) => {
  const result = runStageUnprivileged(stage, ['true']);
  t.is(result.status, 125);
  t.regex(result.stderr, /^3-isolate-root-fs: creating namespaces needs root/);
});
