import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { CLONE_NEWUSER, SyscallError, chroot, errnoName, umount2, unshare } from '../src/index';
import { isRoot, learnerEnvironment } from '@samples/testing';

test('ENOENT is reported like a Node system error, with the path', (t) => {
  const error = t.throws(() => chroot('/nonexistent/rootfs'), { instanceOf: SyscallError });
  t.is(error.code, 'ENOENT');
  t.is(error.errno, -2);
  t.is(error.syscall, 'chroot');
  t.is(error.path, '/nonexistent/rootfs');
  t.is(error.message, "ENOENT: no such file or directory, chroot '/nonexistent/rootfs'");
  t.is(error.hint, undefined);
});

test('EINVAL: invalid flags to umount2', (t) => {
  const error = t.throws(() => umount2('/nonexistent', 0x7fff0000), { instanceOf: SyscallError });
  t.is(error.code, 'EINVAL');
  t.is(error.errno, -22);
  t.is(error.message, "EINVAL: invalid argument, umount2 '/nonexistent'");
});

test('EINVAL: a user namespace cannot be made by a multi-threaded process (Node)', (t) => {
  const error = t.throws(() => unshare(CLONE_NEWUSER), { instanceOf: SyscallError });
  t.is(error.code, 'EINVAL');
  t.is(error.message, 'EINVAL: invalid argument, unshare');
});

test('errno names come from Node own table', (t) => {
  t.is(errnoName(1), 'EPERM');
  t.is(errnoName(13), 'EACCES');
  t.is(errnoName(9999), 'E9999');
});

// Dropping privileges needs them first.
(isRoot ? test : test.skip)('EPERM carries a hint that says to run as root', (t) => {
  const script = path.join(__dirname, 'fixtures', 'sethostname.ts');
  const result = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--require', 'tsx/cjs', script],
    { encoding: 'utf8', cwd: path.join(__dirname, '..'), env: learnerEnvironment({ HOME: '/tmp' }) },
  );
  t.is(result.stderr, '');
  const reported = JSON.parse(result.stdout) as Record<string, string>;
  t.is(reported.code, 'EPERM');
  t.is(reported.errno, '-1');
  t.is(reported.message, "EPERM: operation not permitted, sethostname 'not-allowed'");
  t.regex(reported.hint ?? '', /needs root \(CAP_SYS_ADMIN\)/);
});
