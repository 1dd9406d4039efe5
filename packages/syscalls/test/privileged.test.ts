// The wrappers that need root: each in a process of its own, in a mount namespace of its
// own (unshare --mount, private), so that nothing they do reaches the host.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { learnerEnvironment, rootTest as test } from '@samples/testing';
import type { ExecutionContext } from 'ava';

/** Runs a case of fixtures/privileged.ts with a scratch folder; returns what it reported. */
function privileged(t: ExecutionContext, name: string): Record<string, unknown> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'syscalls-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const fixture = path.join(__dirname, 'fixtures', 'privileged.ts');
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, '--require', 'tsx/cjs', fixture, name, scratch], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 20_000,
    env: learnerEnvironment(),
  });
  t.is(result.stderr, '', name);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

test('unshare, sethostname, setns: a new UTS namespace with a name of its own, and back', (t) => {
  const before = os.hostname();
  t.deepEqual(privileged(t, 'uts'), { inside: 'inside-new-uts', back: true });
  t.is(os.hostname(), before);
});

test('mount, statfsType, umount2: a tmpfs mounted, seen, and gone', (t) => {
  t.deepEqual(privileged(t, 'mount'), { mounted: true, unmounted: true });
});

test('mknod, makedev: a character device for /dev/null', (t) => {
  t.deepEqual(privileged(t, 'mknod'), { characterDevice: true, rdev: fs.statSync('/dev/null').rdev });
});

test('fchdir, chdir, chroot: the working directory moves, and "/" becomes the folder', (t) => {
  t.deepEqual(privileged(t, 'directories'), { afterFchdir: true, afterChdir: '/', rootHolds: ['marker'] });
});

test('pivot_root: a tmpfs becomes "/", the old root under it until detached', (t) => {
  t.deepEqual(privileged(t, 'pivot_root'), { withOld: true, afterDetach: [] });
});
