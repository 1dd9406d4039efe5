import test from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { CliError } from '@samples/runtime';
import { isRoot, rootTest } from '@samples/testing';
import { resolveUser } from '../src/user';
import { contain, securityFields } from './helpers';

const passwd = ['root:x:0:0:root:/root:/bin/bash', 'app:x:1000:1000:the app:/home/app:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false'].join('\n');
const group = ['root:x:0:', 'app:x:1000:', 'audio:x:29:app,other', 'video:x:44:app', 'nogroup:x:65534:'].join('\n');

test('a name: its uid, its group, and the groups that list it', (t) => {
  t.deepEqual(resolveUser('app', passwd, group), { uid: 1000, gid: 1000, groups: [29, 44], home: '/home/app' });
});

test('a number in /etc/passwd is that user; a number not in it gets group 0, as in Docker', (t) => {
  t.deepEqual(resolveUser('1000', passwd, group), { uid: 1000, gid: 1000, groups: [29, 44], home: '/home/app' });
  t.deepEqual(resolveUser('4242', passwd, group), { uid: 4242, gid: 0, groups: [], home: '/' });
});

test('USER:GROUP, names or numbers: that group, and no supplementary ones', (t) => {
  t.deepEqual(resolveUser('app:audio', passwd, group), { uid: 1000, gid: 29, groups: [], home: '/home/app' });
  t.deepEqual(resolveUser('4242:4343', passwd, group), { uid: 4242, gid: 4343, groups: [], home: '/' });
});

test('a name the image does not have, or a malformed spec: one line, status 2', (t) => {
  const user = t.throws(() => resolveUser('postgres', passwd, group), { instanceOf: CliError });
  t.is(user.message, `--user: no user "postgres" in the image's /etc/passwd: give a number, or a name it has`);
  t.is(user.exitStatus, 2);
  t.throws(() => resolveUser('app:wheel', passwd, group), { message: /no group "wheel" in the image's \/etc\/group/ });
  t.throws(() => resolveUser(':1000', passwd, group), { message: /--user takes USER\[:GROUP\]/ });
  t.throws(() => resolveUser('1000:', passwd, group), { message: /--user takes USER\[:GROUP\]/ });
});

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';

rootTest('--user nobody: the ids from the image, no capability left after exec, the bounding set still cut', (t) => {
  const result = contain({ rootfs, privileges: { user: 'nobody' } }, ['sh', '-c', 'id; cat /proc/self/status']);
  t.is(result.stderr, '');
  const [id, ...status] = result.stdout.split('\n');
  t.is(id, 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
  // For a non-root user execve keeps only ambient capabilities (none): as in Docker with --user.
  t.like(securityFields(status.join('\n')), { CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '00000000a80425fb', NoNewPrivs: '1', Seccomp: '2' });
});

rootTest('--user UID:GID by number, with the capability to switch users dropped: the switch comes first', (t) => {
  const result = contain({ rootfs, privileges: { user: '1000:1000', capDrop: ['CAP_SETUID', 'CAP_SETGID'] } }, ['id']);
  t.is(result.stderr, '');
  t.is(result.stdout, 'uid=1000 gid=1000 groups=1000\n');
});
