import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CLONE_NEWPID, CLONE_NEWUTS, SyscallError, cloneFlagNames, findExecutable, spawnInNamespaces } from '../src/index';
import { rootTest } from '../src/testing';

function finished(child: ReturnType<typeof spawnInNamespaces>): Promise<string> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(output));
  });
}

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

test('findExecutable searches PATH and reports ENOENT or EACCES', (t) => {
  t.is(findExecutable('sh', '/nonexistent:/bin'), '/bin/sh');
  t.is(findExecutable('/bin/sh', ''), '/bin/sh');
  const missing = t.throws(() => findExecutable('no-such-command-here', '/bin:/usr/bin'), { instanceOf: SyscallError });
  t.is(missing.code, 'ENOENT');
  t.is(missing.path, 'no-such-command-here');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-'));
  try {
    fs.writeFileSync(path.join(dir, 'script'), '#!/bin/sh\n', { mode: 0o644 });
    // root may execute nothing without an x bit either, so this holds for root too
    const denied = t.throws(() => findExecutable('script', dir), { instanceOf: SyscallError });
    t.is(denied.code, 'EACCES');
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

const execFixture = path.join(__dirname, 'fixtures', 'exec.ts');
function execThroughNode(command: string, options: { input?: string } = {}) {
  return spawnSync(process.execPath, ['--require', 'tsx/cjs', execFixture, 'sh', '-c', command], {
    encoding: 'utf8',
    cwd: path.join(__dirname, '..'),
    timeout: 20_000,
    ...options,
  });
}

test('exec: the command keeps stdin, stdout and stderr, through pipes', (t) => {
  const result = execThroughNode('wc -l; echo to-stderr >&2', { input: 'a\nb\n' });
  t.is(result.stdout.trim(), '2');
  t.is(result.stderr.trim(), 'to-stderr');
  t.is(result.status, 0);
});

test('exec: no fd of the runtime reaches the command', (t) => {
  // ls opens the directory itself as fd 3; nothing else may be there.
  const result = execThroughNode('ls /proc/self/fd');
  t.deepEqual(result.stdout.trim().split('\n'), ['0', '1', '2', '3']);
});

test('exec: every signal is back to its default and none is blocked', (t) => {
  const result = execThroughNode('grep -E "^Sig(Ign|Blk)" /proc/self/status');
  t.is(result.stdout, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  // With SIGPIPE ignored, yes would run until killed; with the default it ends at once.
  const pipe = execThroughNode(`bash -c 'yes | head -1; echo "\${PIPESTATUS[0]}"'`);
  t.is(pipe.stdout, 'y\n141\n', 'yes ends with SIGPIPE (128+13) as soon as head is done');
});

test('exec: the exit status and death by signal are the command own', (t) => {
  t.is(execThroughNode('exit 42').status, 42);
  t.is(execThroughNode('kill -TERM $$').signal, 'SIGTERM');
});

test('exec: a missing command throws ENOENT before anything is changed', (t) => {
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', execFixture, 'no-such-command-here'], {
    encoding: 'utf8',
    cwd: path.join(__dirname, '..'),
  });
  t.not(result.status, 0);
  t.regex(result.stderr, /ENOENT: no such file or directory, execve 'no-such-command-here'/);
});

rootTest('spawnInNamespaces with CLONE_NEWNS: the runtime keeps its working directory and root', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-cwd-'));
  const script = `
    const { CLONE_NEWNS, spawnInNamespaces } = require('./src/index.ts');
    process.chdir(${JSON.stringify(dir)});
    const child = spawnInNamespaces('true', [], CLONE_NEWNS, { stdio: 'inherit' });
    child.on('exit', () => console.log(require('fs').readlinkSync('/proc/self/cwd'), require('fs').readlinkSync('/proc/self/root')));
  `;
  try {
    const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8', cwd: path.join(__dirname, '..') });
    t.is(result.stdout.trim(), `${dir} /`);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
