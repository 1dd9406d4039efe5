import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs';
import { mountsUnder, parseMountinfo } from '@samples/runtime';
import {
  canCompileStatic,
  collectOutput,
  compileStatic,
  describeMounts,
  isRoot,
  rootTest as test,
  runStage,
  runStageUnprivileged,
  stageCommand,
  startStageUntilReady,
  testCommonBehaviour,
  testRootfsCommandLookup,
  testIf,
} from '@samples/testing';

const stage = path.join(__dirname, '..');
// Built on first use: only where the tests that use it run.
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
/** The host's mounts where this stage's containers mount: a learner may mount elsewhere meanwhile. */
const hostMounts = () => describeMounts(mountsUnder(rootfs));

// The escape is a small C program (escape/chroot-escape.c), compiled by the test.
const escapeTest = testIf(canCompileStatic(), 'needs cc and a static libc: apt-get install gcc libc6-dev', test);

testCommonBehaviour(stage);
testRootfsCommandLookup(stage);

test('ps inside sees only the container processes; the command is PID 1', (t) => {
  // At most 500 looks for sleep in /proc: a /proc that is not the container's may never show it.
  const wait = 'i=0; until grep -q sleep /proc/$!/comm || [ $i -gt 500 ]; do i=$((i + 1)); done';
  const result = runStage(stage, ['sh', '-c', `sleep 30 & ${wait}; ps -e -o pid=,comm=; kill $!`]);
  const processes = result.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
  t.deepEqual(processes.map(([, comm]) => comm ?? '').sort(), ['ps', 'sh', 'sleep']);
  t.is(processes.find(([, comm]) => comm === 'sh')?.[0], '1');
});

test('/ inside is the root filesystem', (t) => {
  const result = runStage(stage, ['ls', '-a', '/']);
  const inside = result.stdout.trim().split('\n').filter((name) => name !== '.' && name !== '..');
  t.deepEqual(inside.sort(), fs.readdirSync(rootfs).sort());
});

test('the container has its own mounts: proc, a minimal /dev, a tmpfs on /newtemp, nothing of the host', (t) => {
  const mounts = describeMounts(parseMountinfo(runStage(stage, ['cat', '/proc/self/mountinfo']).stdout));
  t.true(mounts.includes('/proc proc'));
  t.true(mounts.includes('/dev tmpfs'));
  t.true(mounts.includes('/newtemp tmpfs'));
  t.false(mounts.some((mount) => mount.startsWith('/sys')), 'no host mount is left inside (the old root was detached)');
});

test('/dev works for a user who is not root, inside: its nodes are 0666', (t) => {
  // setpriv (util-linux, in the default root filesystem) runs the check as nobody.
  const check = 'stat -c "%a %n" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; id -u; ' +
    'echo gone > /dev/null && head -c 3 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c && { echo x > /dev/full || echo full; }';
  const result = runStage(stage, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', check]);
  t.is(result.status, 0, result.stderr);
  t.deepEqual(result.stdout.trim().split('\n'), [
    ...['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((name) => `666 /dev/${name}`),
    '65534',
    '3',
    '3',
    'full',
  ]);
});

test('/newtemp is a 64 MiB tmpfs: df inside shows its size, not the host memory', (t) => {
  const [, line] = runStage(stage, ['df', '-k', '/newtemp']).stdout.trim().split('\n');
  const [source, kilobytes, , , , mountPoint] = line!.trim().split(/\s+/);
  t.deepEqual([source, Number(kilobytes), mountPoint], ['tmpfs', 64 * 1024, '/newtemp']);
});

test('/dev has null, zero, full, random, urandom and tty, and they work', (t) => {
  const result = runStage(stage, [
    'sh',
    '-c',
    'ls /dev; echo gone > /dev/null; head -c 5 /dev/zero | wc -c; head -c 7 /dev/urandom | wc -c; echo x > /dev/full || echo full',
  ]);
  const lines = result.stdout.trim().split('\n');
  for (const device of ['full', 'null', 'random', 'tty', 'urandom', 'zero']) t.true(lines.includes(device), device);
  t.deepEqual(lines.slice(-3), ['5', '7', 'full']);
});

test('the host mount table is unchanged while the container runs, and after', async (t) => {
  const before = hostMounts();
  const { runtime, exited } = await startStageUntilReady(stage, ['sh', '-c', 'echo x > /newtemp/file; echo ready; sleep 30']);
  t.deepEqual(hostMounts(), before, 'during');
  t.deepEqual(fs.readdirSync(path.join(rootfs, 'newtemp')), [], 'the tmpfs write is invisible to the host');
  runtime.kill('SIGTERM');
  await exited;
  t.deepEqual(hostMounts(), before, 'after');
});

test('even where / is a shared mount (systemd hosts), nothing propagates to the host', async (t) => {
  // A scratch mount namespace, private from the real host, whose / is then made shared
  // like a systemd host's: its own mount table stands for "the host" here.
  const [node, argv] = stageCommand(stage, ['sh', '-c', 'echo ready; sleep 1']);
  const script = `
    mount --make-rshared /
    # The premise: a plain new mount namespace would leak its mounts back here.
    unshare --mount --propagation unchanged mount -t tmpfs premise "$ROOTFS/newtemp"
    echo "premise: $(grep -c -F "$ROOTFS/newtemp" /proc/self/mountinfo)"
    umount "$ROOTFS/newtemp"
    "$@" > "$STAGE_OUT" &
    # At most 30 s for the container to say it is up (if it never does, say so and stop it).
    tries=0
    until grep -q ready "$STAGE_OUT"; do
      tries=$((tries + 1))
      if [ $tries -gt 600 ]; then echo "timed out after 30 s waiting for the container to print ready"; kill $!; exit 1; fi
      sleep 0.05
    done
    echo "leaked: $(grep -c -F "$ROOTFS" /proc/self/mountinfo)"
    wait
  `;
  const out = path.join(os.tmpdir(), `stage4-${randomBytes(4).toString('hex')}`);
  t.teardown(() => fs.rmSync(out, { force: true }));
  const child = spawn('unshare', ['--mount', 'sh', '-c', script, 'sh', node, ...argv], {
    cwd: stage,
    env: { ...process.env, STAGE_OUT: out, ROOTFS: rootfs },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const output = collectOutput(child);
  const status = await new Promise((resolve) => child.once('exit', resolve));
  t.is(status, 0, output.text);
  t.regex(output.text, /premise: 1\n/, 'without MS_PRIVATE the mount would have reached the host');
  t.regex(output.text, /leaked: 0\n/);
});

escapeTest('the chroot escape that works in stage 3 fails here: there is no host root to climb to', (t) => {
  const secret = randomBytes(8).toString('hex');
  const hostFile = path.join(os.tmpdir(), `host-secret-${secret}`);
  const escape = path.join(rootfs, 'tmp', `chroot-escape-${secret}`);
  fs.writeFileSync(hostFile, secret);
  try {
    compileStatic(path.join(stage, '..', '3-isolate-root-fs', 'escape', 'chroot-escape.c'), escape);
    const result = runStage(stage, [`/tmp/${path.basename(escape)}`, '/bin/sh', '-c', `cat ${hostFile}; ls /`]);
    t.false(result.stdout.includes(secret));
    t.regex(result.stderr, /No such file or directory/);
  } finally {
    fs.rmSync(hostFile, { force: true });
    fs.rmSync(escape, { force: true });
    fs.rmSync(path.join(rootfs, '.escape'), { recursive: true, force: true });
    fs.rmSync(path.join(rootfs, 'tmp', '.escape'), { recursive: true, force: true });
  }
});

test('the host hostname is unchanged; the container is "container"', (t) => {
  const before = os.hostname();
  t.is(runStage(stage, ['hostname']).stdout, 'container\n');
  t.is(os.hostname(), before);
});

test('a failure half-way through setup is one line and leaves nothing', (t) => {
  const before = hostMounts();
  // A "root filesystem" without /proc: the proc mount fails inside the child.
  const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'broken-rootfs-'));
  try {
    const result = runStage(stage, ['--rootfs', broken, 'true']);
    t.not(result.status, 0);
    t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    t.deepEqual(hostMounts(), before);
  } finally {
    fs.rmSync(broken, { recursive: true });
  }
});

test('a failure inside the child, after its mounts, is one line and leaves nothing', (t) => {
  const before = hostMounts();
  // In the tree, executable, but no program: the runtime's lookup lets it through, and
  // the child's execve fails (ENOEXEC) once every mount is made.
  const name = `not-a-program-${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(path.join(rootfs, 'tmp', name), 'neither ELF nor #!\n', { mode: 0o755 });
  t.teardown(() => fs.rmSync(path.join(rootfs, 'tmp', name), { force: true }));
  const result = runStage(stage, [`/tmp/${name}`]);
  t.is(result.status, 126);
  t.is(result.stderr, `4-isolate-mount: cannot run /tmp/${name}: it is not a program this kernel can run (exec format error)\n`);
  t.deepEqual(hostMounts(), before);
});

test('without root: one line, status 125', (t) => {
  const result = runStageUnprivileged(stage, ['true']);
  t.is(result.status, 125);
  t.regex(result.stderr, /^4-isolate-mount: creating namespaces needs root/);
});
