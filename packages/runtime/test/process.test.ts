import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, NetlinkSocket, SyscallError, listLinks, setLinkUp } from '@samples/syscalls';
import { isRoot, learnerEnvironment, rootTest, startNamespaceHolder, testIf } from '@samples/testing';
import { cloneFlagNames, findExecutable, spawnInNamespaces, withNamespace } from '../src/index';

const packageDir = path.join(__dirname, '..');
const fixture = (name: string) => path.join(__dirname, 'fixtures', `${name}.ts`);

function finished(child: ReturnType<typeof spawnInNamespaces>): Promise<string> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(output));
  });
}

/** Runs a fixture (a TypeScript file) with tsx, optionally as the unprivileged user nobody. */
function runFixture(name: string, args: string[] = [], options: { input?: string; unprivileged?: boolean } = {}) {
  const node = [process.execPath, '--require', 'tsx/cjs', fixture(name), ...args];
  const [file, ...argv] = options.unprivileged
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', ...node]
    : node;
  return spawnSync(file!, argv, {
    encoding: 'utf8',
    cwd: packageDir,
    timeout: 20_000,
    env: learnerEnvironment({ HOME: os.tmpdir() }),
    ...(options.input !== undefined && { input: options.input }),
  });
}

test('exitNow says why and ends with its status, even once io_uring is refused (Node 22 and later abort at their next poll)', (t) => {
  const result = runFixture('exit-now');
  t.is(result.stderr, 'exit-now: failed after the filter\n');
  t.is(result.status, 42);
});

const ownNamespace = (name: string) => fs.readlinkSync(`/proc/self/ns/${name}`);

test('cloneFlagNames names the flags set', (t) => {
  t.deepEqual(cloneFlagNames(CLONE_NEWUTS | CLONE_NEWPID), ['CLONE_NEWUTS', 'CLONE_NEWPID']);
  t.deepEqual(cloneFlagNames(0), []);
});

rootTest('spawnInNamespaces: only the child is in the new namespaces, and spawning goes on working', async (t) => {
  const before = { uts: ownNamespace('uts'), pid: ownNamespace('pid_for_children') };
  const script = 'echo $$; readlink /proc/self/ns/uts';
  const inside = await finished(spawnInNamespaces('sh', ['-c', script], CLONE_NEWUTS | CLONE_NEWPID, { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [pid, uts] = inside.trim().split('\n');
  t.is(pid, '1', 'the child is PID 1 of a new PID namespace');
  t.not(uts, before.uts, 'the child has a new UTS namespace');
  t.deepEqual({ uts: ownNamespace('uts'), pid: ownNamespace('pid_for_children') }, before, 'the runtime went back');
  // After the PID namespace's init exits, forking into it fails (ENOMEM): we must not be there.
  const again = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  t.not(again.stdout.trim(), '1');
  t.is(again.status, 0);
});

test('spawnInNamespaces refuses CLONE_NEWNS, which would split the runtime from its own threads', (t) => {
  const error = t.throws(() => spawnInNamespaces('true', [], CLONE_NEWUTS | CLONE_NEWNS));
  t.regex(error.message, /CLONE_NEWNS would split the runtime from its own threads; call unshare\(CLONE_NEWNS\) in the child/);
});

rootTest('after spawnInNamespaces the main thread and the thread pool still agree about the working directory', async (t) => {
  // Had the runtime unshared a mount namespace (and with it CLONE_FS), process.chdir
  // would move the main thread only, and fs.promises (libuv's threads) would lag behind.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-cwd-'));
  const cwd = process.cwd();
  t.teardown(() => {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await finished(spawnInNamespaces('true', [], CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'ignore' }));
  process.chdir(dir);
  t.is(await fs.promises.realpath('.'), fs.realpathSync(dir));
});

testIf(isRoot, 'needs root', test)('spawnInNamespaces, unprivileged: the error is that of unshare, the call that failed, and no fd is left open', (t) => {
  const result = runFixture('spawn-unprivileged', [], { unprivileged: true });
  t.is(result.stderr, '');
  t.deepEqual(JSON.parse(result.stdout), { syscall: 'unshare', code: 'EPERM', namespaceFdsLeft: 0 });
});

rootTest('spawnInNamespaces that cannot go back: the error is setns, the child it spawned is killed, no fd is left open', (t) => {
  const result = runFixture('spawn-setns-refused');
  t.is(result.stderr, '');
  t.deepEqual(JSON.parse(result.stdout), { syscall: 'setns', code: 'EPERM', namespaceFdsLeft: 0, childAlive: false });
});

rootTest('spawnInNamespaces goes back to the calling thread own namespaces, not the main thread', async (t) => {
  // A worker thread with a UTS namespace of its own calls it: it must come back there.
  const load = (name: string) => JSON.stringify(require.resolve(name, { paths: [packageDir] }));
  const code = `
    require(${load('tsx/cjs')});
    const { parentPort } = require('node:worker_threads');
    const { CLONE_NEWUTS, unshare, sethostname, gethostname } = require(${load('@samples/syscalls')});
    const { spawnInNamespaces } = require(${JSON.stringify(path.join(packageDir, 'src', 'index.ts'))});
    unshare(CLONE_NEWUTS);
    sethostname('worker-own');
    const child = spawnInNamespaces('true', [], CLONE_NEWUTS, { stdio: 'ignore' });
    child.on('exit', () => parentPort.postMessage(gethostname()));
  `;
  const worker = new Worker(code, { eval: true });
  const hostname = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await worker.terminate();
  t.is(hostname, 'worker-own');
  t.is(os.hostname(), fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(), 'the main thread never left the host');
});

rootTest('withNamespace: a socket opened inside stays there; the thread comes back, even when the action threw', async (t) => {
  const holder = await startNamespaceHolder(t);
  const own = ownNamespace('net');
  const inside = withNamespace(holder.netns, CLONE_NEWNET, () => NetlinkSocket.open());
  t.teardown(() => inside.close());
  t.is(ownNamespace('net'), own, 'the main thread is back');
  t.deepEqual(listLinks(inside).map((link) => link.name), ['lo'], 'the socket sees the other namespace: lo only');
  setLinkUp(inside, 'lo');
  t.regex(holder.run('ip', ['-br', 'link', 'show', 'lo']).stdout, /^lo +UNKNOWN /, 'lo is up over there');
  t.throws(() => withNamespace(holder.netns, CLONE_NEWNET, () => {
    throw new Error('inside');
  }), { message: 'inside' });
  t.is(ownNamespace('net'), own, 'back after the action threw');
});

test('withNamespace takes one namespace type, not a mount namespace', (t) => {
  t.throws(() => withNamespace('/proc/self/ns/net', CLONE_NEWNET | CLONE_NEWUTS, () => 0), { message: /takes one namespace type/ });
  t.throws(() => withNamespace('/proc/self/ns/mnt', CLONE_NEWNS, () => 0), { message: /not CLONE_NEWNS: CLONE_NEWNS/ });
});

test('findExecutable searches PATH and reports ENOENT, EISDIR or EACCES', (t) => {
  t.is(findExecutable('sh', '/nonexistent:/bin'), '/bin/sh');
  t.is(findExecutable('/bin/sh', ''), '/bin/sh');
  const missing = t.throws(() => findExecutable('no-such-command-here', '/bin:/usr/bin'), { instanceOf: SyscallError });
  t.is(missing.code, 'ENOENT');
  t.is(missing.path, 'no-such-command-here');
  const directory = t.throws(() => findExecutable('/tmp'), { instanceOf: SyscallError });
  t.is(directory.code, 'EISDIR');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  fs.writeFileSync(path.join(dir, 'script'), '#!/bin/sh\n', { mode: 0o644 });
  // root may execute nothing without an x bit either, so this holds for root too
  const denied = t.throws(() => findExecutable('script', dir), { instanceOf: SyscallError });
  t.is(denied.code, 'EACCES');
  fs.mkdirSync(path.join(dir, 'sub', 'true'), { recursive: true });
  t.is(findExecutable('true', `${path.join(dir, 'sub')}:/bin`), '/bin/true', 'a folder on PATH with the name is passed over');
});

test('exec: the command keeps stdin, stdout and stderr, through pipes', (t) => {
  const result = runFixture('exec', ['sh', '-c', 'wc -l; echo to-stderr >&2'], { input: 'a\nb\n' });
  t.is(result.stdout.trim(), '2');
  t.is(result.stderr.trim(), 'to-stderr');
  t.is(result.status, 0);
});

test('exec: stdio is blocking again, so a read waits for input that comes later', async (t) => {
  // Left non-blocking, cat's first read would fail at once with EAGAIN.
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', fixture('exec'), 'sh', '-c', 'grep -E "^flags" /proc/self/fdinfo/0; cat'], {
    cwd: packageDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: learnerEnvironment(),
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  setTimeout(() => child.stdin.end('later\n'), 500);
  // 'close', not 'exit': on a busy machine the exit may come before the last of the output is read.
  const status = await new Promise((resolve) => child.once('close', resolve));
  const [flags, ...rest] = output.trim().split('\n');
  t.is(Number.parseInt(flags!.split(/\s+/)[1]!, 8) & 0o4000, 0, `O_NONBLOCK is off on fd 0: ${flags}`);
  t.deepEqual(rest, ['later']);
  t.is(status, 0);
});

test('exec: no fd of the runtime reaches the command', (t) => {
  // ls opens the directory itself as fd 3; nothing else may be there.
  const result = runFixture('exec', ['ls', '/proc/self/fd']);
  t.deepEqual(result.stdout.trim().split('\n'), ['0', '1', '2', '3']);
});

test('exec: every signal is back to its default and none is blocked', (t) => {
  // The fixture blocked SIGUSR1 and ignored SIGUSR2 (Node itself ignores SIGPIPE).
  const result = runFixture('exec', ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status']);
  t.is(result.stdout, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  // With SIGPIPE ignored, yes would run until killed; with the default it ends at once.
  const pipe = runFixture('exec', ['bash', '-c', 'yes | head -1; echo "${PIPESTATUS[0]}"']);
  t.is(pipe.stdout, 'y\n141\n', 'yes ends with SIGPIPE (128+13) as soon as head is done');
});

test('exec: the exit status and death by signal are the command own', (t) => {
  t.is(runFixture('exec', ['sh', '-c', 'exit 42']).status, 42);
  t.is(runFixture('exec', ['sh', '-c', 'kill -TERM $$']).signal, 'SIGTERM');
});

test('exec: a missing command throws ENOENT before anything is changed', (t) => {
  const result = runFixture('exec', ['no-such-command-here']);
  t.deepEqual(JSON.parse(result.stdout), {
    code: 'ENOENT',
    sigpipeIgnored: true,
    sigusr2Ignored: true,
    sigusr1Blocked: true,
    stdoutNonBlocking: true,
  });
});

test('exec: when execve itself fails (not a program), everything is put back as Node had it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-noexec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true }));
  const notAProgram = path.join(dir, 'not-a-program');
  fs.writeFileSync(notAProgram, 'neither ELF nor #!\n', { mode: 0o755 });
  const result = runFixture('exec', [notAProgram]);
  // SIGPIPE ignored again: the runtime can report the error even to a closed pipe.
  t.deepEqual(JSON.parse(result.stdout), {
    code: 'ENOEXEC',
    sigpipeIgnored: true,
    sigusr2Ignored: true,
    sigusr1Blocked: true,
    stdoutNonBlocking: true,
  });
  t.is(result.status, 126);
});
