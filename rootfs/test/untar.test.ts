// The extractor (untar.ts) against GNU tar: the same archive, made by GNU tar in each of
// its formats, extracted by both, gives the same tree (modes, owners, types, link
// targets, link counts, sizes, contents, mtimes). Then what it refuses, and how.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { rootTest as test } from '@samples/testing';
import anyTest from 'ava';
import { type TarEntry, TarFormatError, Untar } from '../src/untar';
import { tempDir } from './helpers';

const work = tempDir('rootfs-untar');
anyTest.after.always('remove the trees', () => work.remove());

/** A fixed moment, in whole seconds, and the ones after it. */
const T = 1_700_000_000;

/** What GNU tar must hold: every mode bit, owners, links of both kinds, long names, an empty file. */
function makeSource(dir: string): void {
  const file = (name: string, content: string | Buffer, mode: number, owner: [number, number] = [0, 0]) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
    fs.chownSync(path.join(dir, name), ...owner);
    fs.chmodSync(path.join(dir, name), mode); // after chown, which clears set-user-ID
  };
  file('bin/hello', '#!/bin/sh\necho hello\n', 0o755);
  file('bin/su', 'pretend\n', 0o4755, [1000, 1000]);
  file('bin/wall', 'pretend\n', 0o2755, [0, 5]);
  file('etc/shadow', 'root:*:1::::::\n', 0o640, [0, 42]);
  file('etc/empty', '', 0o644);
  file('var/big', randomBytes(100_000), 0o600, [1234, 5678]);
  // Names past ustar's 100 bytes (a GNU long name, a pax path, or prefix/name) and past its 255.
  const long = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
  file(`${long}/${'f'.repeat(120)}`, 'deep\n', 0o644);
  file(`${long}/${'g'.repeat(60)}/${'h'.repeat(60)}`, 'deeper\n', 0o644);
  fs.symlinkSync('/bin/hello', path.join(dir, 'bin/absolute'));
  fs.symlinkSync('hello', path.join(dir, 'bin/relative'));
  fs.symlinkSync('nowhere', path.join(dir, 'bin/dangling'));
  fs.symlinkSync(`../${long}/${'f'.repeat(120)}`, path.join(dir, 'bin/long-target'));
  fs.lchownSync(path.join(dir, 'bin/relative'), 1000, 1000);
  fs.linkSync(path.join(dir, 'bin/hello'), path.join(dir, 'bin/hard'));
  fs.linkSync(path.join(dir, 'bin/su'), path.join(dir, 'etc/su-too'));
  fs.linkSync(path.join(dir, 'etc/empty'), path.join(dir, long, 'i'.repeat(110)));
  for (const [folder, mode] of [['tmp', 0o1777], ['srv/readonly', 0o555], ['root', 0o700], ['srv/shared', 0o2775]] as const) {
    fs.mkdirSync(path.join(dir, folder), { recursive: true });
    fs.chmodSync(path.join(dir, folder), mode);
  }
  fs.chownSync(path.join(dir, 'srv/shared'), 0, 100);
  // Times last, deepest first, so that making one thing does not change its folder's.
  const all = spawnSync('find', ['.', '-depth'], { cwd: dir, encoding: 'utf8' }).stdout.trim().split('\n');
  all.forEach((name, index) => fs.lutimesSync(path.join(dir, name), T + index, T + index));
}

/** One line per file, as find prints them; a folder's size (blocks the file system chose) left out. */
function listing(tree: string): string[] {
  const printed = spawnSync('find', ['.', '-printf', '%p|%m|%U:%G|%y|%l|%n|%s|%T@\\n'], { cwd: tree, encoding: 'utf8' }).stdout;
  return printed
    .trim()
    .split('\n')
    .map((line) => {
      const fields = line.split('|');
      if (fields[3] === 'd') fields[6] = '-';
      return fields.join('|');
    })
    .sort();
}

/** The contents of the regular files, by name. */
function contents(tree: string): Record<string, string> {
  const files = spawnSync('find', ['.', '-type', 'f'], { cwd: tree, encoding: 'utf8' }).stdout.trim().split('\n');
  return Object.fromEntries(files.sort().map((file) => [file, fs.readFileSync(path.join(tree, file)).toString('base64')]));
}

/** Feeds the archive to an Untar in chunks of an awkward size, so that headers and data straddle them. */
function extract(archive: string, tree: string, options: Partial<ConstructorParameters<typeof Untar>[1]> = {}): TarEntry[] {
  const seen: TarEntry[] = [];
  const untar = new Untar(tree, {
    preserveOwner: true,
    filter: (entry) => (seen.push(entry), true),
    onUnsupported: (entry) => {
      throw new Error(`unsupported ${entry.type}: ${entry.path}`);
    },
    ...options,
  });
  const data = fs.readFileSync(archive);
  for (let at = 0; at < data.length; at += 7919) untar.write(data.subarray(at, at + 7919));
  untar.end();
  return seen;
}

const source = path.join(work.dir, 'source');

for (const format of ['gnu', 'oldgnu', 'pax'] as const) {
  test(`a ${format} archive made by GNU tar comes out as GNU tar extracts it`, (t) => {
    if (!fs.existsSync(source)) makeSource(source);
    const archive = path.join(work.dir, `${format}.tar`);
    const made = spawnSync('tar', [`--format=${format}`, '-cf', archive, '-C', source, '.'], { encoding: 'utf8' });
    t.is(made.status, 0, made.stderr);
    const byTar = path.join(work.dir, `${format}-by-tar`);
    const byUs = path.join(work.dir, `${format}-by-us`);
    fs.mkdirSync(byTar);
    fs.mkdirSync(byUs);
    // Owners by number: a container's /etc/passwd is the image's, not the host's, which
    // GNU tar would otherwise look names up in.
    const extracted = spawnSync('tar', ['--numeric-owner', '-xpf', archive, '-C', byTar], { encoding: 'utf8' });
    t.is(extracted.status, 0, extracted.stderr);
    const entries = extract(archive, byUs);
    t.true(entries.some((entry) => entry.path.length > 255), 'a name past 255 bytes was in it');
    t.deepEqual(listing(byUs), listing(byTar));
    t.deepEqual(contents(byUs), contents(byTar));
    const su = `./bin/su|4755|1000:1000|f||2|8|${fs.lstatSync(path.join(source, 'bin/su')).mtimeMs / 1000}.0000000000`;
    t.true(listing(byUs).includes(su), `the listing compares what it should: ${su}`);
  });
}

test('an archive cut short, or damaged, is told apart; what was being written is closed', (t) => {
  if (!fs.existsSync(source)) makeSource(source);
  const archive = path.join(work.dir, 'for-damage.tar');
  t.is(spawnSync('tar', ['--format=gnu', '-cf', archive, '-C', source, '.']).status, 0);
  const data = fs.readFileSync(archive);
  const cut = path.join(work.dir, 'cut.tar');
  // Inside var/big's data: a file is open when the input ends.
  fs.writeFileSync(cut, data.subarray(0, data.indexOf(Buffer.from('./var/big\0')) + 512 + 50_000));
  const into = (name: string) => fs.mkdtempSync(path.join(work.dir, `${name}-`));
  const openFiles = () => fs.readdirSync('/proc/self/fd').length;
  const before = openFiles();
  const truncated = t.throws(() => extract(cut, into('cut')), { instanceOf: TarFormatError });
  t.true(truncated.truncated);
  t.is(openFiles(), before, 'var/big, half written, was closed');
  const damaged = Buffer.from(data);
  const mode = damaged.indexOf(Buffer.from('./etc/shadow\0')) + 100;
  damaged[mode] = damaged[mode]! ^ 0x01; // a digit of its mode: the checksum fails
  fs.writeFileSync(path.join(work.dir, 'damaged.tar'), damaged);
  const refused = t.throws(() => extract(path.join(work.dir, 'damaged.tar'), into('damaged')), { instanceOf: TarFormatError });
  t.false(refused.truncated);
  t.regex(refused.message, /checksum/);
});

test('a GNU sparse file, in the gnu and in the pax format, is an entry it cannot make', (t) => {
  const dir = path.join(work.dir, 'sparse-source');
  fs.mkdirSync(dir);
  const fd = fs.openSync(path.join(dir, 'holes'), 'w');
  fs.writeSync(fd, 'end', 4 << 20);
  fs.closeSync(fd);
  for (const format of ['gnu', 'pax']) {
    const archive = path.join(work.dir, `sparse-${format}.tar`);
    t.is(spawnSync('tar', ['--sparse', `--format=${format}`, '-cf', archive, '-C', dir, 'holes']).status, 0);
    const unsupported: TarEntry[] = [];
    extract(archive, fs.mkdtempSync(path.join(work.dir, 'sparse-')), { onUnsupported: (entry) => void unsupported.push(entry) });
    t.deepEqual(
      unsupported.map((entry) => [entry.type, path.basename(entry.path)]),
      [['SparseFile', 'holes']],
      format,
    );
  }
});
