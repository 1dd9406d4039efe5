// Importing layered images the tests make themselves (image-builder.ts): what is stored,
// in which form, how often; and every bad file refused in one line, nothing left behind.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { getxattr } from '@samples/syscalls';
import { rootTest as test } from '@samples/testing';
import { cli, entries } from './helpers';
import { type ImageSpec, type Layer, layerOf, sha256, tarEntry, writeDockerSave, writeOciArchive, writeOciLayout } from './image-builder';

const directory = (name: string) => tarEntry({ path: `${name}/`, type: 'Directory', mode: 0o755 });
const base = layerOf([
  directory('etc'),
  tarEntry({ path: 'etc/doomed' }, 'doomed\n'),
  tarEntry({ path: 'etc/kept' }, 'kept\n'),
  directory('opt'),
  directory('opt/config'),
  tarEntry({ path: 'opt/config/a' }, 'a\n'),
  tarEntry({ path: 'opt/config/b' }, 'b\n'),
]);
// The opaque marker comes after the folder's new file: the spec says it applies all the same.
const change = layerOf([
  directory('etc'),
  tarEntry({ path: 'etc/.wh.doomed' }),
  directory('opt/config'),
  tarEntry({ path: 'opt/config/c' }, 'c\n'),
  tarEntry({ path: 'opt/config/.wh..wh..opq' }),
]);
const other = layerOf([directory('srv'), tarEntry({ path: 'srv/three' }, '3\n')]);

const layerDir = (store: string, layer: Layer) => path.join(store, 'layers', 'sha256', layer.diffId.slice(7), 'diff');

/** A store of its own (SAMPLES_ROOTFS_DIR = <dir>/images), removed after the test. */
function store(t: { teardown: (fn: () => void) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rootfs-oci-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, images: path.join(dir, 'images') };
}

test('the whiteouts of a layer are stored in overlayfs form: a 0/0 character device, an opaque folder', (t) => {
  const { dir, images } = store(t);
  const image = path.join(dir, 'two');
  writeOciLayout(image, { layers: [base, change], config: { Cmd: ['sh'] } });
  const result = cli(images, ['import', image, 'two']);
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^imported "two" \(oci-layout, linux\/\w+\) in [\d.]+ s: 2 layers \(2 new\), 5 files, /);
  const top = layerDir(dir, change);
  const whiteout = fs.lstatSync(path.join(top, 'etc/doomed'));
  t.true(whiteout.isCharacterDevice());
  t.is(whiteout.rdev, 0);
  t.is(getxattr(path.join(top, 'opt/config'), 'trusted.overlay.opaque').toString(), 'y');
  t.deepEqual(entries(path.join(top, 'opt/config')), ['c'], 'the marker itself is not stored');
  t.deepEqual(entries(path.join(layerDir(dir, base), 'opt/config')), ['a', 'b'], 'the layer below is as its tar says');
});

test('a layer two images share is stored once, whatever the format and compression; remove keeps it for the other', (t) => {
  const { dir, images } = store(t);
  writeOciLayout(path.join(dir, 'two'), { layers: [base, change], compression: 'gzip' });
  writeDockerSave(path.join(dir, 'three.tar'), { layers: [base, other] });
  t.is(cli(images, ['import', path.join(dir, 'two'), 'two']).status, 0);
  const three = cli(images, ['import', path.join(dir, 'three.tar'), 'three']);
  t.regex(three.stdout, /^imported "three" \(docker-save, .*: 2 layers \(1 new, 1 stored already\)/);
  const stored = entries(path.join(dir, 'layers', 'sha256'));
  t.deepEqual(stored, [base, change, other].map((layer) => layer.diffId.slice(7)).sort());
  const list = cli(images, ['list']).stdout;
  t.regex(list, new RegExp(`bottom ${base.diffId.slice(7, 19)} .* shared with two\\n`));
  t.regex(list, /^layers: 3 stored once each in /m);
  t.is(cli(images, ['remove', 'two']).stdout, 'removed "two", and 1 layers no other image uses\n');
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), [base, other].map((layer) => layer.diffId.slice(7)).sort());
});

test('an OCI archive, and docker save piped through gzip, import too', (t) => {
  const { dir, images } = store(t);
  writeOciArchive(path.join(dir, 'oci.tar'), { layers: [base, change] });
  writeDockerSave(path.join(dir, 'saved.tar'), { layers: [base, other] });
  fs.writeFileSync(path.join(dir, 'saved.tar.gz'), zlib.gzipSync(fs.readFileSync(path.join(dir, 'saved.tar'))));
  t.is(cli(images, ['import', path.join(dir, 'oci.tar'), 'oci']).status, 0);
  const gz = cli(images, ['import', path.join(dir, 'saved.tar.gz'), 'saved']);
  t.is(gz.status, 0, gz.stderr);
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), [base, change, other].map((layer) => layer.diffId.slice(7)).sort());
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')).filter((name) => name.startsWith('.')), [], 'no temporary file left');
});

test('stages 3 to 8 refuse a layered image in one line that names stage 9', (t) => {
  const { dir, images } = store(t);
  writeOciLayout(path.join(dir, 'two'), { layers: [base, change] });
  t.is(cli(images, ['import', path.join(dir, 'two'), 'two']).status, 0);
  const resolve = spawnSync(
    process.execPath,
    ['--require', 'tsx/cjs', '-e', 'require("./src/resolve").resolveRootfs("two")'],
    { cwd: path.join(__dirname, '..'), encoding: 'utf8', env: { ...process.env, SAMPLES_ROOTFS_DIR: images } },
  );
  t.regex(resolve.stderr, /the root filesystem "two" is a layered image \(2 layers\), which stages 3 to 8 cannot run in: run it with stage 9/);
});

/** Each bad image: how it is made from a good one, and the one line it gets. */
const badImages: { title: string; make: (dir: string) => string; says: RegExp }[] = [
  {
    title: 'a tarball with image files but neither index.json nor manifest.json',
    make: (dir) => {
      const file = path.join(dir, 'half.tar');
      fs.writeFileSync(file, Buffer.concat([tarEntry({ path: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}'), Buffer.alloc(1024)]));
      return file;
    },
    says: /half\.tar is neither a root filesystem nor an image: it has image files .* but no index\.json or manifest\.json; nothing was imported$/,
  },
  {
    title: 'a manifest.json that is not JSON',
    make: (dir) => {
      const file = path.join(dir, 'garbled.tar');
      fs.writeFileSync(file, Buffer.concat([tarEntry({ path: 'manifest.json' }, '[{"Config": '), Buffer.alloc(1024)]));
      return file;
    },
    says: /garbled\.tar is not a valid image: manifest\.json is not JSON; nothing was imported$/,
  },
  {
    title: 'a layer whose bytes do not match its digest',
    make: (dir) => {
      const image = path.join(dir, 'damaged');
      writeOciLayout(image, { layers: [base, change], compression: 'none' });
      const blob = path.join(image, 'blobs', 'sha256', change.diffId.slice(7));
      const bytes = fs.readFileSync(blob);
      // opt/config/c's content, 'c' to 'C': still a valid tar, not the one the digest names.
      bytes[bytes.lastIndexOf(Buffer.from('c\n'))] = 'C'.charCodeAt(0);
      fs.writeFileSync(blob, bytes);
      return image;
    },
    says: /damaged: a layer sha256:\w+ does not match its digest \(got sha256:\w+\): the file is damaged; nothing was imported$/,
  },
  {
    title: 'a manifest naming a layer the file lacks',
    make: (dir) => {
      const image = path.join(dir, 'incomplete');
      writeOciLayout(image, { layers: [base, change], compression: 'none' });
      fs.rmSync(path.join(image, 'blobs', 'sha256', change.diffId.slice(7)));
      return image;
    },
    says: /incomplete: the image names a layer sha256:\w+, which is not in the file: it is incomplete; nothing was imported$/,
  },
  {
    title: 'an image for another architecture',
    make: (dir) => {
      const image = path.join(dir, 'foreign');
      writeOciLayout(image, { layers: [base], architecture: process.arch === 's390x' ? 'riscv64' : 's390x' });
      return image;
    },
    says: /foreign holds an image for linux\/(s390x|riscv64), not for this machine's linux\/\w+: save one made for \w+ .*; nothing was imported$/,
  },
  {
    title: 'a whiteout of ".."',
    make: (dir) => {
      const image = path.join(dir, 'dots');
      writeOciLayout(image, { layers: [base, layerOf([directory('etc'), tarEntry({ path: 'etc/.wh...' })])] });
      return image;
    },
    says: /dots: "etc\/\.wh\.\.\." is a whiteout of "\.\.", which names nothing to delete; nothing was imported$/,
  },
];

test('a whiteout under a symlink the layer makes after it is refused: nothing is written where the link points', (t) => {
  const { dir, images } = store(t);
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(path.join(outside, 'victim'), { recursive: true });
  const image = path.join(dir, 'sneaky');
  const sneaky = layerOf([
    tarEntry({ path: 'link/victim/.wh..wh..opq' }),
    tarEntry({ path: 'link/.wh.new' }),
    tarEntry({ path: 'link', type: 'SymbolicLink', linkpath: outside }),
  ]);
  writeOciLayout(image, { layers: [sneaky] });
  const result = cli(images, ['import', image, 'sneaky']);
  t.is(result.status, 125);
  t.regex(result.stderr, /sneaky: the whiteout in "link(\/victim)?" goes through "link", which is not a folder in the layer; nothing was imported\n$/);
  t.deepEqual(entries(outside), ['victim']);
  t.throws(() => getxattr(path.join(outside, 'victim'), 'trusted.overlay.opaque'), { code: 'ENODATA' });
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), []);
});

for (const { title, make, says } of badImages) {
  test(`${title}: one line, status 125, nothing registered or left`, (t) => {
    const { dir, images } = store(t);
    // A good image first: a failed import must not touch what is there.
    writeOciLayout(path.join(dir, 'good'), { layers: [other] });
    t.is(cli(images, ['import', path.join(dir, 'good'), 'good']).status, 0);
    const before = entries(path.join(dir, 'layers', 'sha256'));
    const result = cli(images, ['import', make(dir), 'bad']);
    t.is(result.status, 125);
    t.regex(result.stderr.trimEnd(), says);
    t.is(result.stderr.split('\n').length, 2, 'one line');
    t.deepEqual(entries(images), ['good']);
    t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), before, 'no layer stored, no partial folder left');
  });
}

const zstdOnNode20: ImageSpec = { layers: [base, change], compression: 'zstd' };
test('zstd layers: imported where Node has zstd, else refused in one line', (t) => {
  const { dir, images } = store(t);
  writeOciLayout(path.join(dir, 'zstd'), zstdOnNode20);
  const result = cli(images, ['import', path.join(dir, 'zstd'), 'zstd']);
  if ('createZstdDecompress' in zlib) {
    t.is(result.status, 0, result.stderr);
    return;
  }
  t.is(result.status, 125);
  t.regex(
    result.stderr,
    /^rootfs: \S+zstd: layer sha256:\w+ is zstd-compressed, which Node v20\.\S+ cannot decompress \(Node 22\.15 or later can\): run the import with a newer Node, or save the image with gzip layers; nothing was imported\n$/,
  );
  t.deepEqual(entries(images), []);
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), []);
});

test('the blob digests the layout names are the ones the builder computed (the test images are well formed)', (t) => {
  const { dir } = store(t);
  writeOciLayout(path.join(dir, 'plain'), { layers: [base], compression: 'none' });
  t.true(fs.existsSync(path.join(dir, 'plain', 'blobs', 'sha256', base.diffId.slice(7))));
  t.is(sha256(fs.readFileSync(path.join(dir, 'plain', 'blobs', 'sha256', base.diffId.slice(7)))), base.diffId);
});
