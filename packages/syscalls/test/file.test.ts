import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { LOCK_EX, LOCK_NB, LOCK_UN, SyscallError, flock } from '../src/index';
import { waitFor } from '@samples/testing';

function lockFile(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'lock');
}

const tryLock = (fd: number) => {
  try {
    flock(fd, LOCK_EX | LOCK_NB);
    return true;
  } catch (error) {
    if (error instanceof SyscallError && error.errno === -11) return false; // EWOULDBLOCK
    throw error;
  }
};

test('flock: another process cannot take a lock this one holds, until it is released', (t) => {
  const file = lockFile(t);
  const fd = fs.openSync(file, 'w');
  t.teardown(() => fs.closeSync(fd));
  flock(fd, LOCK_EX);
  t.is(spawnSync('flock', ['--nonblock', file, 'true']).status, 1, 'held');
  flock(fd, LOCK_UN);
  t.is(spawnSync('flock', ['--nonblock', file, 'true']).status, 0, 'released');
});

test('flock: a holder killed with SIGKILL leaves the lock free', async (t) => {
  const file = lockFile(t);
  // One process holds it: the shell takes the lock on its fd 9, then becomes sleep.
  const holder = spawn('sh', ['-c', 'exec 9>"$0"; flock 9; echo locked; exec sleep 60', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  let output = '';
  holder.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('flock(1) to take the lock', () => output.includes('locked'), 5000);
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  t.false(tryLock(fd), 'held by the other process');
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  t.true(tryLock(fd), 'free once its holder is gone');
});
