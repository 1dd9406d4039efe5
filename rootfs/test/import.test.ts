// Importing tarballs the tests make themselves: what is kept, what is refused, and that
// a failed or interrupted import leaves nothing registered.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, rootTest as test } from '@samples/testing';
import anyTest from 'ava';
import { create } from 'tar';
import { cli, entries, startCli, tarball, tarEntry, tempDir } from './helpers';

const work = tempDir('rootfs-import');
const images = path.join(work.dir, 'images');
const good = path.join(work.dir, 'good.tar');

anyTest.before('a tarball with an executable, a set-user-ID file, a read-only folder, symlinks and a hard link', async () => {
  if (!isRoot) return;
  const source = path.join(work.dir, 'source');
  fs.mkdirSync(path.join(source, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(source, 'bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  fs.writeFileSync(path.join(source, 'bin/su'), 'pretend\n');
  fs.chownSync(path.join(source, 'bin/su'), 1000, 1000);
  fs.chmodSync(path.join(source, 'bin/su'), 0o4755);
  fs.symlinkSync('/bin/hello', path.join(source, 'bin/absolute'));
  fs.symlinkSync('hello', path.join(source, 'bin/relative'));
  fs.linkSync(path.join(source, 'bin/hello'), path.join(source, 'bin/hard'));
  fs.mkdirSync(path.join(source, 'readonly'));
  fs.writeFileSync(path.join(source, 'readonly/file'), 'inside\n');
  fs.chmodSync(path.join(source, 'readonly'), 0o555);
  await create({ file: good, cwd: source, portable: false }, ['.']);
});

anyTest.after.always('remove the tarballs and trees', () => work.remove());

test('an import keeps modes, owners, symlinks and hard links, and adds the top folders with their modes', (t) => {
  const result = cli(images, ['import', good, 'good']);
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^imported "good" in [\d.]+ s: 3 files, 36 bytes; use it with --rootfs good\n$/);
  const tree = path.join(images, 'good');
  const stat = (file: string) => fs.lstatSync(path.join(tree, file));
  t.is(stat('bin/hello').mode & 0o7777, 0o755);
  t.deepEqual([stat('bin/su').mode & 0o7777, stat('bin/su').uid, stat('bin/su').gid], [0o4755, 1000, 1000]);
  t.is(stat('readonly').mode & 0o7777, 0o555);
  t.is(fs.readlinkSync(path.join(tree, 'bin/absolute')), '/bin/hello', 'an absolute target stays absolute');
  t.is(fs.readlinkSync(path.join(tree, 'bin/relative')), 'hello');
  t.is(stat('bin/hard').ino, stat('bin/hello').ino, 'one file, two names');
  // The tarball has none of them: each is made with Debian's mode (/tmp is 1777, not 0755).
  for (const [dir, mode] of Object.entries({ proc: 0o555, sys: 0o555, dev: 0o755, tmp: 0o1777, newtemp: 0o755 })) {
    t.true(stat(dir).isDirectory(), dir);
    t.is(stat(dir).mode & 0o7777, mode, dir);
  }
  const listed = cli(images, ['list']);
  t.regex(listed.stdout, /^good +ok +3 /m);
});

test('the same tarball compressed with gzip or xz imports the same tree', (t) => {
  const listing = (tree: string) =>
    spawnSync('find', ['.', '-mindepth', '1', '-not', '-name', '.samples-rootfs.json', '-printf', '%p %m %U:%G %y %l %n %s\\n'], {
      cwd: tree,
      encoding: 'utf8',
    })
      .stdout.split('\n')
      .sort();
  const own = path.join(work.dir, 'compressed-images');
  t.is(cli(own, ['import', good, 'tar']).status, 0);
  for (const compressor of ['gzip', 'xz']) {
    const compressed = `${good}.${compressor}`;
    fs.writeFileSync(compressed, spawnSync(compressor, ['-c', good]).stdout);
    const result = cli(own, ['import', compressed, compressor]);
    t.is(result.status, 0, result.stderr);
    t.deepEqual(listing(path.join(own, compressor)), listing(path.join(own, 'tar')), compressor);
  }
});

/** Archives that try to write outside the tree; `outside` is a folder beyond the images folder. */
const escapes = [
  {
    title: "a '..' path",
    entries: () => [tarEntry({ path: 'ok.txt' }, 'fine'), tarEntry({ path: '../escape' }, 'out')],
    refused: /"\.\.\/escape": contains '\.\.'/,
  },
  { title: 'an absolute path', entries: () => [tarEntry({ path: '/escape' }, 'out')], refused: /"\/escape": is an absolute path/ },
  {
    title: 'a write through a symlink',
    entries: (outside: string) => [
      tarEntry({ path: 'link', type: 'SymbolicLink', linkpath: outside }),
      tarEntry({ path: 'link/escape' }, 'out'),
    ],
    refused: /"link\/escape": goes through the symlink link/,
  },
  {
    title: "a hard link to '..'",
    entries: () => [tarEntry({ path: 'hard', type: 'Link', linkpath: '../escape' })],
    refused: /"hard": its hard link target contains '\.\.'/,
  },
];

for (const { title, entries: archive, refused } of escapes) {
  test(`${title} is refused: nothing written outside, nothing registered`, (t) => {
    const own = tempDir('rootfs-escape');
    t.teardown(own.remove);
    const file = path.join(own.dir, 'evil.tar');
    fs.writeFileSync(file, tarball(archive(own.dir)));
    const ownImages = path.join(own.dir, 'images');
    const result = cli(ownImages, ['import', file, 'evil']);
    t.is(result.status, 125);
    t.regex(result.stderr, refused);
    t.regex(result.stderr, /^rootfs: \S+evil\.tar: refused the entry .* outside the tree; nothing was imported\n$/);
    t.deepEqual(entries(own.dir), ['evil.tar', 'images']);
    t.deepEqual(entries(ownImages), []);
    t.false(fs.existsSync('/escape'));
  });
}

test('a file that is not a tarball, or one cut short: one line, nothing registered', (t) => {
  const text = path.join(work.dir, 'notes.txt');
  fs.writeFileSync(text, 'hello\n'.repeat(200));
  const own = path.join(work.dir, 'bad-images');
  const notTar = cli(own, ['import', text, 'notes']);
  t.is(notTar.status, 125);
  t.is(notTar.stderr, `rootfs: ${text} is not a tarball (.tar, .tar.gz or .tar.xz), or is damaged: nothing was imported\n`);
  const cut = path.join(work.dir, 'cut.tar');
  fs.writeFileSync(cut, fs.readFileSync(good).subarray(0, 2000));
  const truncated = cli(own, ['import', cut, 'cut']);
  t.is(truncated.status, 125);
  t.regex(truncated.stderr, /^rootfs: \S+cut\.tar ends too early .*: get it again; nothing was imported\n$/);
  const missing = cli(own, ['import', path.join(work.dir, 'nope.tar'), 'nope']);
  t.regex(missing.stderr, /^rootfs: no such file: \S+nope\.tar\n$/);
  t.is(cli(own, ['import', good]).status, 2, 'usage');
  t.deepEqual(entries(own), []);
});

test('a .tar.xz or .tar.gz cut short or damaged in the middle leaves nothing behind, not even its hidden work folder', async (t) => {
  const own = tempDir('rootfs-cut');
  t.teardown(own.remove);
  // Hundreds of folders of incompressible files: when the data fails, node-tar still has
  // folders to make and files to write for the entries it has read so far.
  const source = path.join(own.dir, 'source');
  for (let i = 0; i < 400; i++) {
    fs.mkdirSync(path.join(source, `d${i}`, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(source, `d${i}`, 'sub', 'file'), randomBytes(20_000));
  }
  const tar = path.join(own.dir, 'many.tar');
  await create({ file: tar, cwd: source, portable: true }, ['.']);
  const ownImages = path.join(own.dir, 'images');
  for (const compressor of ['xz', 'gzip']) {
    const compressed = spawnSync(compressor, ['-1', '-c', tar], { maxBuffer: 64 << 20 }).stdout;
    const middle = Math.floor(compressed.length / 2);
    const damaged = Buffer.from(compressed);
    damaged.fill(0xff, middle, middle + 8);
    for (const [kind, bytes, said] of [
      ['cut short', compressed.subarray(0, middle), /ends too early/],
      ['damaged', damaged, /is not a tarball .*, or is damaged/],
    ] as const) {
      const file = path.join(own.dir, `${kind.replace(' ', '-')}.tar.${compressor}`);
      fs.writeFileSync(file, bytes);
      const result = cli(ownImages, ['import', file, 'broken']);
      t.is(result.status, 125, `${compressor}, ${kind}`);
      t.regex(result.stderr, said, `${compressor}, ${kind}`);
      t.deepEqual(entries(ownImages), [], `${compressor}, ${kind}: nothing left in the images folder`);
    }
  }
});

test('device nodes are left to the runtime; an entry of a type it cannot make stops the import', (t) => {
  const own = tempDir('rootfs-types');
  t.teardown(own.remove);
  const devices = path.join(own.dir, 'devices.tar');
  const dev = (name: string, type: 'CharacterDevice' | 'FIFO') => tarEntry({ path: `dev/${name}`, type, devmaj: 1, devmin: 3 });
  fs.writeFileSync(devices, tarball([tarEntry({ path: 'etc/hostname' }, 'box\n'), dev('null', 'CharacterDevice'), dev('initctl', 'FIFO')]));
  const ownImages = path.join(own.dir, 'images');
  const imported = cli(ownImages, ['import', devices, 'devices']);
  t.regex(imported.stdout, /: 1 files, .*\(skipped 2 device nodes and FIFOs: the runtime makes \/dev\)/);
  t.deepEqual(entries(path.join(ownImages, 'devices', 'dev')), []);
  const sparse = path.join(own.dir, 'sparse.tar');
  fs.writeFileSync(
    sparse,
    tarball([tarEntry({ path: 'etc/hostname' }, 'box\n'), tarEntry({ path: 'var/big', type: 'SparseFile' }, 'data')]),
  );
  const refused = cli(ownImages, ['import', sparse, 'sparse']);
  t.is(refused.status, 125);
  t.regex(
    refused.stderr,
    /^rootfs: \S+sparse\.tar: "var\/big" is a SparseFile entry, which this import cannot make; nothing was imported\n$/,
  );
  t.deepEqual(entries(ownImages), ['devices']);
});

/** A plain tarball big enough to take a while: `count` files of 1 MiB. */
function bigTarball(file: string, count: number): void {
  const fd = fs.openSync(file, 'w');
  const content = Buffer.alloc(1 << 20, 'x').toString();
  for (let i = 0; i < count; i++) fs.writeSync(fd, tarEntry({ path: `file-${i}` }, content));
  fs.writeSync(fd, Buffer.alloc(1024));
  fs.closeSync(fd);
}

for (const signal of ['SIGINT', 'SIGKILL'] as const) {
  // Serial: the other tests' spawnSync would block this one's polling until the import is done.
  test.serial(`an import stopped by ${signal} leaves nothing that looks complete`, async (t) => {
    const own = tempDir(`rootfs-${signal}`);
    t.teardown(own.remove);
    const big = path.join(own.dir, 'big.tar');
    bigTarball(big, 200);
    const ownImages = path.join(own.dir, 'images');
    const importing = startCli(ownImages, ['import', big, 'big']);
    let stderr = '';
    importing.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => importing.on('exit', (code) => resolve(code)));
    // Stop it once files are landing in its hidden folder.
    const partial = path.join(ownImages, `.big.partial-${importing.pid}`);
    while (entries(partial).length < 5 && importing.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 10));
    importing.kill(signal);
    const status = await exited;
    if (signal === 'SIGINT') {
      t.is(status, 130);
      t.is(stderr, 'rootfs: import interrupted by SIGINT: nothing was imported\n');
      t.deepEqual(entries(ownImages), []);
    } else {
      // Nothing can run on SIGKILL: the hidden folder stays, unlisted, until the next import.
      t.deepEqual(entries(ownImages), [path.basename(partial)]);
      t.regex(cli(ownImages, ['list']).stdout, /^no root filesystems in /);
      t.regex(cli(ownImages, ['check', 'big']).stderr, /no root filesystem named "big"/);
      t.is(cli(ownImages, ['import', good, 'small']).status, 0);
      t.deepEqual(entries(ownImages), ['small']);
    }
  });
}

test('a full disk: one line, nothing left', (t) => {
  const own = tempDir('rootfs-full');
  t.teardown(own.remove);
  const big = path.join(own.dir, 'big.tar');
  bigTarball(big, 8);
  const ownImages = path.join(own.dir, 'images');
  fs.mkdirSync(ownImages);
  // A 4 MiB tmpfs, in a mount namespace of its own: the host never sees it.
  const script = 'mount -t tmpfs -o size=4m tmpfs "$1" && "$0" --require tsx/cjs src/cli.ts import "$2" big; echo "status $?"; ls -A "$1"';
  const result = spawnSync('unshare', ['--mount', 'sh', '-c', script, process.execPath, ownImages, big], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    env: { ...process.env, SAMPLES_ROOTFS_DIR: ownImages },
  });
  t.is(result.stdout, 'status 125\n', 'nothing listed after the status');
  t.regex(result.stderr, /^rootfs: no space left on the device while importing \S+: free some space \(df -h \S+\), then try again\n$/);
});

test('remove: refused while something is mounted in the tree; gone from the list; an unknown name is one line', (t) => {
  const own = path.join(work.dir, 'remove-images');
  t.is(cli(own, ['import', good, 'gone']).status, 0);
  // As a stage-3 container would have it: proc mounted in the tree (in a namespace of its own here).
  const script = 'mount -t proc proc "$1/gone/proc" && "$0" --require tsx/cjs src/cli.ts remove gone';
  const mounted = spawnSync('unshare', ['--mount', 'sh', '-c', script, process.execPath, own], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    env: { ...process.env, SAMPLES_ROOTFS_DIR: own },
  });
  t.is(mounted.status, 125);
  t.regex(
    mounted.stderr,
    /^rootfs: \S+gone is in use: \S+gone\/proc is mounted there; stop the container using it \(or umount it\) first\n$/,
  );
  t.deepEqual(entries(own), ['gone']);
  const removed = cli(own, ['remove', 'gone']);
  t.is(removed.stdout, 'removed "gone"\n');
  t.deepEqual(entries(own), []);
  const unknown = cli(own, ['remove', 'gone']);
  t.is(unknown.status, 125);
  t.is(unknown.stderr, 'rootfs: no root filesystem named "gone": `pnpm rootfs list` shows the ones there are\n');
});
