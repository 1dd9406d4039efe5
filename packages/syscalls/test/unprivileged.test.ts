// The wrappers any user may call, called: fcntl, flock, the signal mask and dispositions,
// close and close_range, geteuid, makedev, statfs, execve, and declare itself.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  CLOSE_RANGE_CLOEXEC,
  FD_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FilesystemMagic,
  LOCK_EX,
  LOCK_NB,
  LOCK_UN,
  O_NONBLOCK,
  SIG_BLOCK,
  SIG_SETMASK,
  SIZEOF_SIGACTION,
  SIZEOF_SIGSET_T,
  SyscallError,
  close,
  close_range,
  defaultAction,
  fcntl,
  flock,
  geteuid,
  makedev,
  sigaction,
  sigprocmask,
  sigset,
  statfsType,
} from '../src/index';
import { declare } from '../src/libc';

const SIGUSR2 = 12;
const scratchFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syscalls-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'file');
  fs.writeFileSync(file, '');
  return file;
};

/** A field of the calling thread's status: the mask and dispositions are per thread. */
const threadStatus = (field: string) =>
  BigInt(`0x${new RegExp(`^${field}:\\s*(\\w+)$`, 'm').exec(fs.readFileSync('/proc/thread-self/status', 'utf8'))![1]}`);
const bit = (signum: number) => 1n << BigInt(signum - 1);

test('declare: a C prototype in, a function out', (t) => {
  const getppid = declare('int getppid(void)');
  t.is(getppid(), process.ppid);
});

test('fcntl: the close-on-exec and non-blocking flags, set and read back; EBADF on a closed fd', (t) => {
  const fd = fs.openSync(scratchFile(), 'r');
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  t.is(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  t.is(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  fs.closeSync(fd);
  t.is(t.throws(() => fcntl(fd, F_GETFD), { instanceOf: SyscallError }).code, 'EBADF');
});

test('flock: an exclusive lock keeps a second one out until it is dropped', (t) => {
  const file = scratchFile();
  const [first, second] = [fs.openSync(file, 'r'), fs.openSync(file, 'r')];
  flock(first, LOCK_EX | LOCK_NB);
  t.is(t.throws(() => flock(second, LOCK_EX | LOCK_NB), { instanceOf: SyscallError }).code, 'EAGAIN');
  flock(first, LOCK_UN);
  t.notThrows(() => flock(second, LOCK_EX | LOCK_NB));
  fs.closeSync(first);
  fs.closeSync(second);
});

test('sigprocmask, sigset: a signal blocked and unblocked', (t) => {
  const old = Buffer.alloc(SIZEOF_SIGSET_T);
  sigprocmask(SIG_BLOCK, sigset(SIGUSR2), old);
  t.is(threadStatus('SigBlk') & bit(SIGUSR2), bit(SIGUSR2));
  sigprocmask(SIG_SETMASK, old, null);
  t.is(threadStatus('SigBlk') & bit(SIGUSR2), 0n);
});

test('sigaction, defaultAction: a signal ignored, then back to its default', (t) => {
  const ignore = Buffer.alloc(SIZEOF_SIGACTION);
  ignore.writeBigUInt64LE(1n, 0); // SIG_IGN
  const old = Buffer.alloc(SIZEOF_SIGACTION);
  sigaction(SIGUSR2, ignore, old);
  t.is(threadStatus('SigIgn') & bit(SIGUSR2), bit(SIGUSR2));
  sigaction(SIGUSR2, defaultAction(), null);
  t.is(threadStatus('SigIgn') & bit(SIGUSR2), 0n);
  sigaction(SIGUSR2, old, null);
});

test('close and close_range: one fd closed, a range marked close-on-exec', (t) => {
  const file = scratchFile();
  const closed = fs.openSync(file, 'r');
  close(closed);
  t.is(t.throws(() => fs.fstatSync(closed)).message.split(':')[0], 'EBADF');
  const [a, b] = [fs.openSync(file, 'r'), fs.openSync(file, 'r')];
  close_range(Math.min(a, b), Math.max(a, b), CLOSE_RANGE_CLOEXEC);
  t.deepEqual([a, b].map((fd) => fcntl(fd, F_GETFD) & FD_CLOEXEC), [FD_CLOEXEC, FD_CLOEXEC]);
  fs.closeSync(a);
  fs.closeSync(b);
});

test('geteuid, makedev, statfsType: as the kernel and glibc say', (t) => {
  t.is(geteuid(), process.geteuid!());
  const glibc = declare('uint64_t gnu_dev_makedev(unsigned int major, unsigned int minor)');
  for (const [major, minor] of [[1, 3], [259, 70_000], [4095, 1_048_575]] as const) {
    t.is(makedev(major, minor), BigInt(glibc(major, minor)), `${major}:${minor}`);
  }
  t.is(statfsType('/proc'), FilesystemMagic.PROC_SUPER_MAGIC);
});

test('execve: the process becomes the program, with its exit status', (t) => {
  // Only the exit status: Node marks fds 0-2 close-on-exec, which exec() in @samples/runtime undoes.
  const script = "require('./src/index.ts').execve('/bin/sh', ['sh', '-c', 'exit 7'], [])";
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '..') });
  t.is(result.status, 7);
});
