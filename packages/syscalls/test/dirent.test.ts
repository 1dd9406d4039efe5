import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DT_CHR, DT_DIR, DT_LNK, DT_REG, S_IFCHR, WHITEOUT_DEV, closedir, mknod, opendir, readdir } from '../src/index';
import { rootTest } from '@samples/testing';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'syscalls-dirent-'));
test.after.always('remove the temp folder', () => fs.rmSync(work, { recursive: true, force: true }));

rootTest('readdir gives the type each entry has, a 0/0 character device (an overlay whiteout) included', (t) => {
  const dir = path.join(work, 'types');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'file'), '');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('file', path.join(dir, 'link'));
  mknod(path.join(dir, 'gone'), S_IFCHR, WHITEOUT_DEV);
  t.is(fs.statSync(path.join(dir, 'gone')).rdev, 0);
  const handle = opendir(dir);
  const types: Record<string, number> = {};
  try {
    for (let entry = readdir(handle); entry; entry = readdir(handle)) types[entry.d_name] = entry.d_type;
  } finally {
    closedir(handle);
  }
  t.deepEqual(types, { '.': DT_DIR, '..': DT_DIR, file: DT_REG, sub: DT_DIR, link: DT_LNK, gone: DT_CHR });
  t.throws(() => opendir(path.join(dir, 'none')), { code: 'ENOENT', message: /opendir/ });
});
