// A pty of the host's own (no root needed): unlocking it, its number, its filesystem,
// and taking it as a controlling terminal (setsid, TIOCSCTTY, dup2) in a child process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { rootTest } from '@samples/testing';
import { FD_CLOEXEC, F_DUPFD_CLOEXEC, F_GETFD, FilesystemMagic, fcntl, fstatfsType, ptsNumber, unlockpt } from '../src/index';

const { O_RDWR, O_NOCTTY } = fs.constants;
const index = JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'));

function openMaster(t: { teardown(fn: () => void): void }): number {
  const master = fs.openSync('/dev/ptmx', O_RDWR | O_NOCTTY);
  t.teardown(() => fs.closeSync(master));
  return master;
}

test('the other side of a new pty opens only after unlockpt; ptsNumber names it', (t) => {
  const master = openMaster(t);
  const slavePath = `/dev/pts/${ptsNumber(master)}`;
  t.true(fs.existsSync(slavePath));
  t.throws(() => fs.openSync(slavePath, O_RDWR | O_NOCTTY), { code: 'EIO' }, 'locked: a new pty is locked until unlockpt');
  unlockpt(master);
  fs.closeSync(fs.openSync(slavePath, O_RDWR | O_NOCTTY));
});

rootTest('fstatfsType: a master opened through devpts\'s own ptmx is on devpts, one opened through /dev/ptmx is not', (t) => {
  // (devpts's ptmx node is mode 0000 unless mounted with ptmxmode: root opens it all the same)
  const master = fs.openSync('/dev/pts/ptmx', O_RDWR | O_NOCTTY);
  t.teardown(() => fs.closeSync(master));
  t.is(fstatfsType(master), FilesystemMagic.DEVPTS_SUPER_MAGIC);
  t.not(fstatfsType(openMaster(t)), FilesystemMagic.DEVPTS_SUPER_MAGIC, "/dev/ptmx is a node of /dev's own filesystem");
});

test('F_DUPFD_CLOEXEC copies an fd at 3 or above, close-on-exec', (t) => {
  const master = openMaster(t);
  const copy = fcntl(master, F_DUPFD_CLOEXEC, 3);
  t.teardown(() => fs.closeSync(copy));
  t.true(copy >= 3 && copy !== master);
  t.is(fcntl(copy, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  t.is(ptsNumber(copy), ptsNumber(master), 'the same open file');
});

test('ioctl on a file that is no terminal: ENOTTY', (t) => {
  const fd = fs.openSync('/dev/null', 'r');
  t.teardown(() => fs.closeSync(fd));
  t.throws(() => ptsNumber(fd), { code: 'ENOTTY', message: /, ioctl$/ });
});

/** Runs `script` in a new Node process with the syscalls package as `s`; returns its stdout, stderr and status. */
function inChild(script: string, options: { detached?: boolean } = {}) {
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', `const s = require(${index});\n${script}`], {
    encoding: 'utf8',
    timeout: 20_000,
    ...options,
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

test('setsid, then TIOCSCTTY on a pty opened with O_NOCTTY: it becomes the controlling terminal; dup2 makes it stdin', (t) => {
  const master = openMaster(t);
  unlockpt(master);
  const slavePath = `/dev/pts/${ptsNumber(master)}`;
  const result = inChild(`
    const fs = require('fs');
    const stat = () => fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    const before = stat();
    const sid = s.setsid();
    const fd = fs.openSync(${JSON.stringify(slavePath)}, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    const opened = stat();
    s.ioctl(fd, s.TIOCSCTTY, 0);
    s.dup2(fd, 0);
    const after = stat();
    // stat fields after the name: state, ppid, pgrp, session, tty_nr, tpgid
    console.log(JSON.stringify({
      newSession: sid === process.pid && after[3] === String(process.pid) && before[3] !== after[3],
      noTerminalBeforeTiocsctty: opened[4] === '0',
      terminal: Number(after[4]) === fs.statSync(${JSON.stringify(slavePath)}).rdev,
      foreground: after[5] === String(process.pid),
      stdin: fs.readlinkSync('/proc/self/fd/0'),
    }));
  `);
  t.is(result.stderr, '');
  t.deepEqual(JSON.parse(result.stdout), {
    newSession: true,
    noTerminalBeforeTiocsctty: true,
    terminal: true,
    foreground: true,
    stdin: slavePath,
  });
});

test('setsid in a process group leader: EPERM', (t) => {
  // detached: Node's child is already the leader of a session and a group of its own.
  const result = inChild(`
    try { s.setsid(); console.log('no error'); } catch (error) { console.log(error.code, error.syscall); }
  `, { detached: true });
  t.is(result.stdout, 'EPERM setsid\n');
});
