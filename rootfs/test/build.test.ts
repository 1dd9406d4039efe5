// The default root filesystem: built on first use, it runs the stages' demo in a chroot;
// and what check, list and resolve say about trees, good and bad.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '@samples/runtime';
import { isRoot, rootTest as test } from '@samples/testing';
import anyTest, { type ExecutionContext } from 'ava';
import { checkRootfs, imagesDir, listRootfs, MARKER, REQUIRED_FOLDERS, resolveRootfs, TOP_FOLDERS } from '../src';
import { cli, entries, packageDir, tempDir } from './helpers';

const images = tempDir('rootfs-images');
process.env.SAMPLES_ROOTFS_DIR = images.dir;
const tree = path.join(images.dir, 'default');

interface Resolved {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A stage's first step, in its own process: resolveRootfs(ARG). */
function resolveInStage(args: string[]): Promise<Resolved> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(packageDir, 'test/fixtures/resolve.ts'), ...args], {
    cwd: packageDir,
    env: process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** Runs `script` with bash in the tree, as PID 1 of new PID and mount namespaces, with /proc and the host's /dev mounted. */
function inTree(script: string) {
  const setup = 'mount --rbind /dev "$0/dev" && exec chroot "$0" /bin/bash -c "$1"';
  return spawnSync('unshare', ['--mount', '--pid', '--fork', `--mount-proc=${tree}/proc`, 'sh', '-c', setup, tree, script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

let firstUse: Resolved[];

anyTest.before('two stages start at once with no root filesystem yet', async () => {
  if (isRoot) firstUse = await Promise.all([resolveInStage([]), resolveInStage([])]);
});

anyTest.after.always('remove the trees', () => images.remove());

test('each says in one line that it builds the default, and where', (t) => {
  for (const { status, stdout, stderr } of firstUse) {
    t.is(status, 0, stderr);
    t.is(stdout, `${tree}\n`);
    t.regex(stderr, /^building the default root filesystem in \S+ \(once; rebuild: pnpm rootfs build --force\)\n$/);
    t.true(stderr.includes(tree));
  }
});

test('one complete tree is left, nothing half-made beside it', (t) => {
  t.deepEqual(entries(images.dir), ['default']);
  const marker = JSON.parse(fs.readFileSync(path.join(tree, MARKER), 'utf8'));
  t.is(marker.name, 'default');
  t.true(marker.files > 20, `${marker.files} files`);
  for (const [name, mode] of Object.entries(TOP_FOLDERS)) t.is(fs.lstatSync(path.join(tree, name)).mode & 0o7777, mode, name);
  t.is(TOP_FOLDERS.tmp, 0o1777);
});

test('once built, a stage uses it and says nothing', async (t) => {
  const again = await resolveInStage(['default']);
  t.is(again.status, 0);
  t.is(again.stdout, `${tree}\n`);
  t.is(again.stderr, '');
});

test('the headline demo runs in it: bash is PID 1, ps sees only the container', (t) => {
  const result = inTree(
    'echo "$$"; ps -e -o pid=,comm=; ls /; mount; id -un; hostname >/dev/null && echo hostname-ok; cat /proc/self/cgroup | wc -l',
  );
  t.is(result.status, 0, result.stderr);
  const [pid, ps1, ps2, ...rest] = result.stdout.split('\n');
  t.is(pid, '1');
  t.regex(ps1!, /^\s*1 bash$/);
  t.regex(ps2!, /^\s*\d+ ps$/);
  const visible = fs.readdirSync(tree).filter((name) => !name.startsWith('.'));
  t.deepEqual(rest.slice(0, visible.length), visible.sort());
  const after = rest.slice(visible.length).join('\n');
  t.regex(after, /^proc on \/proc type proc /m);
  t.regex(after, /^root\nhostname-ok\n[1-9]\d*\n$/m);
});

test('an interactive bash gets the prompt root@HOST:DIR#', (t) => {
  const result = inTree('cd /tmp && HOME=/root bash -i -c \'echo "${PS1@P}"\' 2>/dev/null');
  t.is(result.stdout, `root@${os.hostname().split('.')[0]}:/tmp# \n`);
});

test('the memory hog of the stage-5 demo allocates what it reads, past a limit', (t) => {
  // tail keeps its input's last "line" whole; /dev/zero has no newline.
  const hog = (size: string) => inTree(`ulimit -v 200000; head -c ${size} /dev/zero | tail > /dev/null; echo "\${PIPESTATUS[1]}"`);
  t.is(hog('50M').stdout, '0\n', 'within the limit');
  const past = hog('300M');
  t.is(past.stdout, '1\n', 'past the limit');
  t.regex(past.stderr, /tail: memory exhausted/);
});

test('every command the stages tests use is there when the host has it', (t) => {
  const used = ['sh', 'bash', 'cat', 'ls', 'ps', 'mount', 'hostname', 'sleep', 'seq', 'wc', 'yes', 'head', 'grep', 'env', 'id'];
  used.push('readlink', 'kill', 'touch', 'mkdir', 'rm', 'stat', 'df', 'true', 'false', 'printf', 'echo', 'test', 'sed');
  used.push('tr', 'uname', 'cut', 'sort', 'tail', 'nproc', 'free', 'top');
  const onHost = used.filter((name) => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((dir) => fs.existsSync(path.join(dir, name))));
  t.true(onHost.length > 30, 'the host has most of them');
  for (const name of onHost) t.deepEqual(checkRootfs(tree, name), [], name);
  const found = inTree(`for c in ${onHost.join(' ')}; do command -v $c >/dev/null || echo "missing $c"; done`);
  t.is(found.stdout, '');
});

test('build says when the default is there, rebuilds it with --force', (t) => {
  const own = tempDir('rootfs-build');
  t.teardown(own.remove);
  t.is(cli(own.dir, ['build']).status, 0);
  const before = fs.statSync(path.join(own.dir, 'default', MARKER)).ino;
  const again = cli(own.dir, ['build']);
  t.regex(again.stdout, /is in \S+ already .*: rebuild it with --force\n$/);
  const forced = cli(own.dir, ['build', '--force']);
  t.is(forced.status, 0, forced.stderr);
  t.regex(forced.stdout, /^built the default root filesystem in \S+: \d+ files, [\d.]+ MiB, in [\d.]+ s\n$/);
  t.not(fs.statSync(path.join(own.dir, 'default', MARKER)).ino, before);
  t.deepEqual(entries(own.dir), ['default']);
});

test('a default tree built from an older recipe is built again when a stage uses it, and said so; a current one is left alone', async (t) => {
  const own = tempDir('rootfs-recipe');
  t.teardown(own.remove);
  t.is(cli(own.dir, ['build']).status, 0);
  const markerFile = path.join(own.dir, 'default', MARKER);
  const resolveIn = (dir: string) => {
    const saved = process.env.SAMPLES_ROOTFS_DIR;
    process.env.SAMPLES_ROOTFS_DIR = dir;
    try {
      return resolveInStage([]);
    } finally {
      process.env.SAMPLES_ROOTFS_DIR = saved;
    }
  };
  const current = fs.statSync(markerFile).ino;
  t.is((await resolveIn(own.dir)).stderr, '', 'built from the current recipe: used as it is');
  t.is(fs.statSync(markerFile).ino, current);
  // As a tree built before a tool was added to the recipe would look:
  const marker = JSON.parse(fs.readFileSync(markerFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(markerFile, JSON.stringify({ ...marker, recipe: 'older' }));
  const resolved = await resolveIn(own.dir);
  t.regex(resolved.stderr, /^rebuilding the default root filesystem in \S+: its recipe changed since it was built\n$/);
  t.not(JSON.parse(fs.readFileSync(markerFile, 'utf8')).recipe, 'older');
  t.deepEqual(entries(own.dir), ['default'], 'one tree, nothing half-made beside it');
});

/** A tree by hand: the mount points, and /bin/ls copied in without its libraries. */
function handMadeTree(): { dir: string; remove: () => void } {
  const made = tempDir('rootfs-hand');
  for (const name of REQUIRED_FOLDERS) fs.mkdirSync(path.join(made.dir, name));
  fs.mkdirSync(path.join(made.dir, 'bin'));
  fs.copyFileSync('/bin/ls', path.join(made.dir, 'bin/ls'));
  fs.chmodSync(path.join(made.dir, 'bin/ls'), 0o755);
  fs.writeFileSync(path.join(made.dir, 'bin/script'), '#!/bin/nosuch-shell\n', { mode: 0o755 });
  fs.writeFileSync(path.join(made.dir, 'bin/data'), 'no x bit\n', { mode: 0o644 });
  return made;
}

test('check: each problem with its fix', (t) => {
  const made = handMadeTree();
  t.teardown(made.remove);
  t.deepEqual(checkRootfs(made.dir), []);
  fs.rmdirSync(path.join(made.dir, 'newtemp'));
  fs.rmdirSync(path.join(made.dir, 'proc'));
  fs.symlinkSync('/proc', path.join(made.dir, 'proc'));
  t.deepEqual(checkRootfs(made.dir), [
    { problem: '/proc in the tree is a symlink', fix: `rm ${made.dir}/proc && mkdir ${made.dir}/proc` },
    { problem: 'no /newtemp in the tree', fix: `mkdir ${made.dir}/newtemp` },
  ]);
  const [loader] = checkRootfs(made.dir, '/bin/ls').slice(2);
  t.regex(loader!.problem, /^\/bin\/ls needs \/\S*ld\S+, which the tree lacks/);
  t.regex(checkRootfs(made.dir, '/bin/script')[2]!.problem, /needs \/bin\/nosuch-shell, which the tree lacks/);
  t.regex(checkRootfs(made.dir, '/bin/data')[2]!.problem, /is not an executable file/);
  t.regex(checkRootfs(made.dir, 'nosuch')[2]!.problem, /^no nosuch in the tree's PATH/);
  t.deepEqual(
    checkRootfs(path.join(made.dir, 'missing')).map((p) => p.problem),
    [`${made.dir}/missing does not exist`],
  );
});

test.serial('list: complete trees and incomplete ones, which the CLI says how to remove', (t) => {
  fs.mkdirSync(path.join(imagesDir(), 'half'));
  t.teardown(() => fs.rmdirSync(path.join(imagesDir(), 'half')));
  t.deepEqual(
    listRootfs().map(({ name, marker }) => [name, marker?.name]),
    [
      ['default', 'default'],
      ['half', undefined],
    ],
  );
  const listed = cli(images.dir, ['list']);
  t.regex(listed.stdout, /^half +incomplete .* pnpm rootfs remove half$/m);
  t.regex(listed.stdout, /^default +ok +\d+ /m);
  const checked = cli(images.dir, ['check', 'half']);
  t.is(checked.status, 1);
  t.regex(checked.stdout, /it is incomplete .*; fix: pnpm rootfs remove half/);
});

/** What resolveRootfs throws, as the stage would print it. */
function resolveError(t: ExecutionContext, nameOrPath: string): string {
  const error = t.throws<CliError>(() => resolveRootfs(nameOrPath, { quiet: true }), { instanceOf: CliError });
  t.is(error.exitStatus, 125);
  t.false(error.message.includes('\n'), 'one line');
  return error.message;
}

test.serial('resolve: an unknown name, a missing path, an incomplete tree, each in one line', (t) => {
  t.regex(resolveError(t, 'nope'), /^no root filesystem named "nope": `pnpm rootfs list` .* `pnpm rootfs import FILE nope`/);
  t.regex(resolveError(t, '/no/such/tree'), /^root filesystem \/no\/such\/tree: \/no\/such\/tree does not exist/);
  t.regex(resolveError(t, 'bad name'), /not a root filesystem's name; a path needs a '\/'/);
  fs.mkdirSync(path.join(imagesDir(), 'partial'));
  t.teardown(() => fs.rmdirSync(path.join(imagesDir(), 'partial')));
  t.regex(resolveError(t, 'partial'), /"partial" is incomplete .*pnpm rootfs remove partial/);
});

test('resolve: an empty folder gets every problem at once, and one command that fixes them all', (t) => {
  const empty = tempDir('rootfs-empty');
  t.teardown(empty.remove);
  const d = empty.dir;
  const message = resolveError(t, d);
  t.is(
    message,
    `root filesystem ${d}: no /proc in the tree; no /dev in the tree; no /tmp in the tree; no /newtemp in the tree: ` +
      `mkdir ${d}/proc ${d}/dev ${d}/newtemp && mkdir -m 1777 ${d}/tmp`,
  );
  const fix = message.slice(message.lastIndexOf(': ') + 2);
  t.is(spawnSync('sh', ['-c', fix]).status, 0);
  t.is(resolveRootfs(d), d, 'the command given fixed every problem');
  t.is(fs.statSync(path.join(d, 'tmp')).mode & 0o7777, 0o1777);
  t.false(fs.existsSync(path.join(d, 'sys')), 'no /sys needed: nothing is mounted there before stage 7');
});

test('resolve: a path (even through a symlink) gives the real folder, once it has its mount points', (t) => {
  const made = handMadeTree();
  t.teardown(made.remove);
  const link = `${made.dir}-link`;
  fs.symlinkSync(made.dir, link);
  t.teardown(() => fs.unlinkSync(link));
  t.is(resolveRootfs(link), made.dir);
  fs.rmdirSync(path.join(made.dir, 'dev'));
  t.regex(resolveError(t, made.dir), /: no \/dev in the tree: mkdir \S+\/dev$/);
});

anyTest('`pnpm rootfs` (with -s or not) prints only what the command prints, and keeps its status', (t) => {
  for (const args of [['rootfs', 'nosuch'], ['-s', 'rootfs', 'nosuch']]) {
    const result = spawnSync('pnpm', args, { cwd: path.join(packageDir, '..'), encoding: 'utf8', env: process.env });
    t.is(result.status, 2, args.join(' '));
    t.is(result.stdout, '');
    t.is(result.stderr, 'rootfs: unknown command "nosuch": see `pnpm rootfs --help`\n', 'no `$ node ...`, no [ELIFECYCLE]');
  }
});
