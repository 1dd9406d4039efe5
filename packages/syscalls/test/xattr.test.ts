import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootTest } from '@samples/testing';
import test from 'ava';
import { XATTR_CREATE, getxattr, lgetxattr, lsetxattr, setxattr } from '../src/index';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'syscalls-xattr-'));
test.after.always('remove the temp folder', () => fs.rmSync(work, { recursive: true, force: true }));

test('setxattr then getxattr gives the value back; a missing one is ENODATA; XATTR_CREATE refuses to overwrite', (t) => {
  const file = path.join(work, 'file');
  fs.writeFileSync(file, '');
  setxattr(file, 'user.greeting', 'hello');
  t.is(getxattr(file, 'user.greeting').toString(), 'hello');
  t.throws(() => getxattr(file, 'user.none'), { code: 'ENODATA', message: /^ENODATA: .*, getxattr '.+file'$/ });
  t.throws(() => setxattr(file, 'user.greeting', 'again', XATTR_CREATE), { code: 'EEXIST' });
});

rootTest('trusted.* attributes (root only), on a directory and on a symlink itself', (t) => {
  const dir = path.join(work, 'opaque');
  fs.mkdirSync(dir);
  setxattr(dir, 'trusted.overlay.opaque', 'y');
  t.is(getxattr(dir, 'trusted.overlay.opaque').toString(), 'y');
  const link = path.join(work, 'link');
  fs.symlinkSync('opaque', link);
  lsetxattr(link, 'trusted.samples', 'on the link');
  t.is(lgetxattr(link, 'trusted.samples').toString(), 'on the link');
  t.throws(() => getxattr(link, 'trusted.samples'), { code: 'ENODATA' }, 'getxattr follows the link to the directory');
});
