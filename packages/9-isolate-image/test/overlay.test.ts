// Stage 9's root, seen from the host's side: images the tests make with node-tar,
// imported by `pnpm rootfs import`, run by the stage as a learner runs it (with
// --network none: no bridge is needed here). The image's files must come out of every
// run as they went in, and nothing of a container may be left but what --keep keeps.
import { type SpawnSyncOptions, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildDefaultRootfs } from '@samples/rootfs';
import { type Layer, layerFromFolder, layerOf, tarEntry, writeDockerSave, writeOciLayout } from '@samples/rootfs/testing';
import { getxattr } from '@samples/syscalls';
import { isAlive, leases, mountsUnder } from '@samples/runtime';
import { collectOutput, describeMounts, isRoot, learnerEnvironment, ownTempFolder, rootTest as test, runStage, stageCommand, waitFor } from '@samples/testing';
import anyTest, { type ExecutionContext } from 'ava';
import { snapshot } from './helpers';

const packageDir = path.join(__dirname, '..');
// Found as the stage finds @samples/rootfs: a learner's copy of the stage (pnpm workshop) may be elsewhere.
const rootfsCli = path.join(path.dirname(require.resolve('@samples/rootfs')), 'cli.ts');

// The test's own folder (~60 MiB of images); one a killed run left goes at the next. (A
// workshop check gives its tests a temporary folder of their own, and removes it.)
const work = ownTempFolder('samples-image-test-');
const images = path.join(work, 'images');
const layers = path.join(work, 'layers');
/** Where an overlay would show on the host had it leaked: the containers' folders are all in `work`. */
const hostMounts = () => describeMounts(mountsUnder(work));

const directory = (name: string) => tarEntry({ path: `${name}/`, type: 'Directory', mode: 0o755 });
let base: Layer;
let change: Layer;
let three: Layer;
/** What `pnpm rootfs import` said for "three", and the layer folders right after both imports. */
let importedThree = '';
let storedAfterImports: string[] = [];

anyTest.before('two images: "two" (OCI layout, gzip) deletes a file and replaces a folder of its base; "three" (docker save) shares that base', async () => {
  if (!isRoot) return;
  // The base: the default root filesystem (sh, ls, rm, id...), plus what the next layer deletes.
  const tree = path.join(work, 'base-tree');
  buildDefaultRootfs(tree);
  fs.writeFileSync(path.join(tree, 'etc/doomed'), 'doomed\n');
  fs.mkdirSync(path.join(tree, 'opt/config'), { recursive: true });
  for (const name of ['a', 'b']) fs.writeFileSync(path.join(tree, 'opt/config', name), `${name}\n`);
  base = await layerFromFolder(tree);
  fs.rmSync(tree, { recursive: true });
  change = layerOf([
    directory('etc'),
    tarEntry({ path: 'etc/.wh.doomed' }),
    directory('opt/config'),
    tarEntry({ path: 'opt/config/.wh..wh..opq' }),
    tarEntry({ path: 'opt/config/c' }, 'c\n'),
    directory('srv'),
    directory('srv/app'),
    tarEntry({ path: 'srv/app/hello.txt' }, 'hello\n'),
  ]);
  three = layerOf([directory('srv'), tarEntry({ path: 'srv/three' }, '3\n')]);
  writeOciLayout(path.join(work, 'two'), {
    layers: [base, change],
    compression: 'gzip',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from the image'],
      Cmd: ['sh', '-c', 'echo "default command in $(pwd): $GREETING"'],
      WorkingDir: '/srv/app',
    },
  });
  writeDockerSave(path.join(work, 'three.tar'), { layers: [base, three], config: { User: 'nobody', Cmd: ['id', '-u'] } });
  for (const [file, name] of [
    ['two', 'two'],
    ['three.tar', 'three'],
  ] as const) {
    const imported = spawnSync(process.execPath, ['--require', 'tsx/cjs', rootfsCli, 'import', path.join(work, file), name], {
      cwd: packageDir,
      encoding: 'utf8',
      env: { ...process.env, SAMPLES_ROOTFS_DIR: images },
    });
    if (imported.status !== 0) throw new Error(`import ${file}: ${imported.stderr}`);
    importedThree = imported.stdout;
  }
  storedAfterImports = fs.readdirSync(path.join(layers, 'sha256')).sort();
});

/** A containers folder of the test's own: tests run at once, and some count what is in it. */
function containersFolder(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(work, 'containers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The stage's arguments for a container of `image` (a name in the test's images) running `command`. */
const inImage = (image: string, ...command: string[]) => ['--network', 'none', '--rootfs', image, ...command];

/** The environment of a run: the test's images and containers folder. */
const storeEnvironment = (containers: string) => learnerEnvironment({ SAMPLES_ROOTFS_DIR: images, SAMPLES_CONTAINERS_DIR: containers });

/** Runs the stage (`pnpm start ARGS`, without pnpm), with the test's images and containers folder. */
function container(containers: string, args: readonly string[], options: SpawnSyncOptions = {}) {
  return runStage(packageDir, args, { timeout: 30_000, ...options, env: { ...storeEnvironment(containers), ...options.env } });
}

test('inside, the file the top layer deleted is gone and the folder it replaced holds only its files', (t) => {
  const result = container(containersFolder(t), inImage('two', 'sh', '-c', 'ls /etc/doomed 2>&1; ls /opt/config; cat /srv/app/hello.txt'));
  t.is(result.stdout, "ls: cannot access '/etc/doomed': No such file or directory\nc\nhello\n", result.stderr);
});

test("the image's config: Cmd is the default command, in WorkingDir, with Env; User, which --user replaces", (t) => {
  const containers = containersFolder(t);
  t.is(container(containers, inImage('two')).stdout, 'default command in /srv/app: hello from the image\n');
  t.is(container(containers, inImage('two', 'sh', '-c', 'echo $GREETING')).stdout, 'hello from the image\n', 'a command replaces Cmd only');
  t.is(container(containers, inImage('three')).stdout, '65534\n', 'User nobody');
  t.is(container(containers, ['--user', '0', ...inImage('three')]).stdout, '0\n', '--user replaces it');
  t.is(container(containers, inImage('three', 'sh', '-c', 'echo $HOME; grep CapEff /proc/self/status')).stdout, '/nonexistent\nCapEff:\t0000000000000000\n');
});

test('the layer both images have is stored once; the top layers are stored as overlayfs reads them', (t) => {
  t.regex(importedThree, /: 2 layers \(1 new, 1 stored already\)/);
  t.deepEqual(storedAfterImports, [base, change, three].map((layer) => layer.diffId.slice(7)).sort());
  const top = path.join(layers, 'sha256', change.diffId.slice(7), 'diff');
  t.is(fs.lstatSync(path.join(top, 'etc/doomed')).rdev, 0);
  t.true(fs.lstatSync(path.join(top, 'etc/doomed')).isCharacterDevice());
  t.is(getxattr(path.join(top, 'opt/config'), 'trusted.overlay.opaque').toString(), 'y');
  t.true(fs.existsSync(path.join(layers, 'sha256', base.diffId.slice(7), 'diff', 'usr')));
});

test.serial("after one container deletes /usr/bin and another writes a file, the image's files are byte for byte what they were, and a third sees neither", (t) => {
  const containers = containersFolder(t);
  // The layers of "two" (other tests import more layers meanwhile), and the mount points below them.
  const imageLayers = () => [base, change].map((layer) => path.join(layers, 'sha256', layer.diffId.slice(7))).concat(path.join(layers, 'mount-points'));
  t.is(container(containers, inImage('two', 'true')).status, 0, 'a first run makes the mount points');
  const before = imageLayers().flatMap(snapshot);
  const baseTree = path.join(layers, 'sha256', base.diffId.slice(7), 'diff');
  // ls is in /usr/bin: after the rm, only the shell's own echo is left to list with.
  const removed = container(containers, inImage('two', 'sh', '-c', 'rm -rf /usr/bin; echo /usr/*'));
  const usr = fs.readdirSync(path.join(baseTree, 'usr')).filter((name) => name !== 'bin').sort();
  t.is(removed.stdout, `${usr.map((name) => `/usr/${name}`).join(' ')}\n`, removed.stderr);
  t.is(container(containers, inImage('two', 'sh', '-c', 'echo new > /root/new-file')).status, 0);
  t.deepEqual(imageLayers().flatMap(snapshot), before);
  const third = container(containers, inImage('two', 'sh', '-c', 'ls /usr/bin | wc -l; ls -A /root'));
  const usrBin = fs.readdirSync(path.join(baseTree, 'usr', 'bin')).length;
  const root = fs.readdirSync(path.join(baseTree, 'root')).sort();
  t.is(third.stdout, `${usrBin}\n${root.map((name) => `${name}\n`).join('')}`);
  t.deepEqual(fs.readdirSync(containers), [], '--rm (the default) leaves nothing');
});

test("a plain tree (the default) is one lower layer: a container's writes never reach it", (t) => {
  const containers = containersFolder(t);
  // The first run builds the default; the snapshot is taken after.
  t.is(container(containers, inImage('default', 'true')).status, 0);
  const before = snapshot(path.join(images, 'default'));
  const result = container(containers, inImage('default', 'sh', '-c', 'rm -rf /usr/bin/ls /etc; echo x > /newfile; cat /newfile'));
  t.is(result.stdout, 'x\n', result.stderr);
  t.deepEqual(snapshot(path.join(images, 'default')), before);
});

test('--keep: the upper layer holds exactly the changes, and one line says where and how to remove it', (t) => {
  const containers = containersFolder(t);
  const result = container(containers, ['--keep', ...inImage('two', 'sh', '-c', 'rm /etc/hostname; echo x > /root/file; mkdir /srv/app/new')]);
  t.is(result.status, 0, result.stderr);
  const [, upper, folder] = /^9-isolate-image: the container's changes are kept in (\S+) \(whiteouts are 0\/0 character devices\); remove them with: rm -rf (\S+)\n$/.exec(result.stderr) ?? [];
  t.truthy(upper, result.stderr);
  const listing = spawnSync('find', ['.', '-mindepth', '1', '-printf', '%p %y %m %U\\n'], { cwd: upper!, encoding: 'utf8' }).stdout.trim().split('\n').sort();
  t.deepEqual(listing, ['./etc d 755 0', './etc/hostname c 0 0', './root d 700 0', './root/file f 644 0', './srv d 755 0', './srv/app d 755 0', './srv/app/new d 755 0']);
  t.is(fs.statSync(path.join(upper!, 'etc/hostname')).rdev, 0);
  t.is(spawnSync('sh', ['-c', `rm -rf ${folder}`]).status, 0);
  t.deepEqual(fs.readdirSync(containers), []);
});

test.serial("a runtime killed with SIGKILL leaves its folder, held by a lease whose owner is gone; the next run sweeps it; the host never sees the overlay", async (t) => {
  const containers = containersFolder(t);
  const mountsBefore = hostMounts();
  const runtime = spawn(...stageCommand(packageDir, inImage('two', 'sh', '-c', 'echo ready; exec sleep 60')), {
    cwd: packageDir,
    env: storeEnvironment(containers),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => runtime.once('exit', resolve));
  const output = collectOutput(runtime);
  await waitFor('the container to print "ready"', () => output.text.includes('ready'), 30_000, () => output.text);
  t.deepEqual(hostMounts(), mountsBefore, 'the overlay is mounted in the container only');
  const [folder] = fs.readdirSync(containers);
  t.truthy(folder);
  const sleeper = Number(fs.readFileSync(`/proc/${runtime.pid}/task/${runtime.pid}/children`, 'utf8').trim());
  runtime.kill('SIGKILL');
  await exited;
  // The container dies with its runtime (PR_SET_PDEATHSIG): wait for it, up to 10 s.
  await waitFor(`the container (pid ${sleeper}) to die with its runtime`, () => !fs.existsSync(`/proc/${sleeper}`), 10_000);
  // Any stage-9 runtime that starts meanwhile (another test's, another worktree's) may
  // sweep it first: until then, its lease names it, with an owner that is gone.
  const lease = leases<{ dir: string }>('container-layers').find(({ id }) => id === folder);
  if (lease !== undefined) {
    t.is(lease.data.dir, path.join(containers, folder!));
    t.false(isAlive(lease.owner));
  } else t.false(fs.existsSync(path.join(containers, folder!)), 'no lease: swept already, folder and all');
  t.is(container(containers, inImage('two', 'true')).status, 0);
  t.deepEqual(fs.readdirSync(containers), [], 'swept by the next run');
  t.deepEqual(hostMounts(), mountsBefore);
});

test('a folder no lease names (left before a reboot emptied /run), or the probe of a runtime killed while it looked at the filesystem, is swept by the next run; one kept with --keep is not', (t) => {
  const containers = containersFolder(t);
  const gone = spawnSync('true').pid;
  fs.mkdirSync(path.join(containers, `.probe-${gone}`));
  for (const [id, kept] of [
    ['0123456789ab', false],
    ['ba9876543210', true],
  ] as const) {
    fs.mkdirSync(path.join(containers, id, 'upper'), { recursive: true });
    if (kept) fs.writeFileSync(path.join(containers, id, 'keep'), '');
  }
  fs.mkdirSync(path.join(containers, 'not-a-container'));
  t.is(container(containers, inImage('two', 'true')).status, 0);
  t.deepEqual(fs.readdirSync(containers).sort(), ['ba9876543210', 'not-a-container']);
});

test('an image of 100 layers mounts (lowerdir stays within a page), the top layer first', async (t) => {
  const many = path.join(work, 'many');
  const stack = [base, ...Array.from({ length: 99 }, (_, index) => layerOf([tarEntry({ path: 'layer' }, `${index + 1}\n`), tarEntry({ path: `n-${index + 1}` })]))];
  writeOciLayout(many, { layers: stack, compression: 'none' });
  const imported = spawnSync(process.execPath, ['--require', 'tsx/cjs', rootfsCli, 'import', many, 'many'], {
    cwd: packageDir,
    encoding: 'utf8',
    env: { ...process.env, SAMPLES_ROOTFS_DIR: images },
  });
  t.is(imported.status, 0, imported.stderr);
  const result = container(containersFolder(t), inImage('many', 'sh', '-c', 'cat /layer; ls / | grep -c "^n-"; grep -o "lowerdir=[^,]*" /proc/self/mountinfo | head -1'));
  const [top, count, lowerdir] = result.stdout.trim().split('\n');
  t.is(top, '99', result.stderr);
  t.is(count, '99');
  t.regex(lowerdir!, /^lowerdir=lower\/0:lower\/1:.*:lower\/100$/, '99 layers, the base, and the mount points at the bottom');
});

/** Runs the stage in a mount namespace of its own after `setup` (sh), which the host never sees. */
function containerAfter(setup: string, containers: string, args: readonly string[]) {
  const [node, argv] = stageCommand(packageDir, ['--verbose', ...args]);
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${setup} && exec "$@"`, 'sh', node, ...argv], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 30_000,
    env: storeEnvironment(containers),
  });
  if (result.error) throw result.error;
  return result;
}

for (const { fs: filesystem, mount, says } of [
  {
    fs: 'an overlay',
    mount: (dir: string) => `mkdir -p ${dir}/l ${dir}/u ${dir}/w ${dir}/m && mount -t overlay overlay -o lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w ${dir}/m`,
    says: /^9-isolate-image: \S+ is on overlay, which cannot hold a container's upper layer \(an overlay cannot be the upper layer of another\): set SAMPLES_CONTAINERS_DIR to a folder on ext4, xfs, btrfs or tmpfs\n$/,
  },
  {
    fs: 'ramfs',
    mount: (dir: string) => `mkdir -p ${dir}/m && mount -t ramfs ramfs ${dir}/m`,
    says: /^9-isolate-image: \S+ is on ramfs, which cannot hold a container's upper layer \(no trusted\.\* xattrs\): set SAMPLES_CONTAINERS_DIR to .*\n$/,
  },
]) {
  test(`a containers folder on ${filesystem}: one line, status 125, nothing left`, (t) => {
    const scratch = containersFolder(t);
    const containers = path.join(scratch, 'm', 'containers');
    const result = containerAfter(mount(scratch), containers, inImage('two', 'true'));
    t.is(result.status, 125);
    t.regex(result.stderr, says, 'one line, and no step taken (--verbose)');
    // What was written on the overlay is in its upper folder, which the host sees.
    if (fs.existsSync(path.join(scratch, 'u'))) t.deepEqual(fs.readdirSync(path.join(scratch, 'u')), []);
  });
}

test('a kernel without overlayfs: one line, status 125, nothing left', (t) => {
  const containers = containersFolder(t);
  const fake = path.join(containers, 'filesystems');
  fs.writeFileSync(fake, fs.readFileSync('/proc/filesystems', 'utf8').replace(/^nodev\toverlay\n/m, ''));
  const result = containerAfter(`mount --bind ${fake} /proc/filesystems`, containers, inImage('two', 'true'));
  t.is(result.status, 125);
  t.is(result.stderr, '9-isolate-image: this kernel has no overlayfs ("overlay" is not in /proc/filesystems): load it (modprobe overlay), or use a kernel built with CONFIG_OVERLAY_FS\n');
  t.deepEqual(fs.readdirSync(containers), ['filesystems']);
});

/** `pnpm rootfs import FILE NAME` into the store whose images folder is `store`. */
function importInto(store: string, file: string, name: string) {
  return spawnSync(process.execPath, ['--require', 'tsx/cjs', rootfsCli, 'import', file, name], {
    cwd: packageDir,
    encoding: 'utf8',
    env: { ...process.env, SAMPLES_ROOTFS_DIR: store },
  });
}

test('what the import refuses, the stage cannot run: one line from each, status 125, nothing registered, stored or made', (t) => {
  // A store of its own: other tests import into the shared one meanwhile.
  const dir = fs.mkdtempSync(path.join(work, 'refused-'));
  const store = path.join(dir, 'images');
  const containers = containersFolder(t);
  const bad: Record<string, () => string> = {
    'neither a root filesystem nor an image': () => {
      const file = path.join(dir, 'half.tar');
      fs.writeFileSync(file, Buffer.concat([tarEntry({ path: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}'), Buffer.alloc(1024)]));
      return file;
    },
    'a layer whose digest does not match': () => {
      const image = path.join(dir, 'damaged');
      writeOciLayout(image, { layers: [change], compression: 'none' });
      const blob = path.join(image, 'blobs', 'sha256', change.diffId.slice(7));
      const bytes = fs.readFileSync(blob);
      bytes[bytes.lastIndexOf(Buffer.from('hello\n'))] = 'H'.charCodeAt(0);
      fs.writeFileSync(blob, bytes);
      return image;
    },
    'a manifest naming a missing layer': () => {
      const image = path.join(dir, 'incomplete');
      writeOciLayout(image, { layers: [change], compression: 'none' });
      fs.rmSync(path.join(image, 'blobs', 'sha256', change.diffId.slice(7)));
      return image;
    },
    'an image for another architecture': () => {
      const image = path.join(dir, 'foreign');
      writeOciLayout(image, { layers: [change], architecture: process.arch === 's390x' ? 'riscv64' : 's390x' });
      return image;
    },
  };
  for (const [what, make] of Object.entries(bad)) {
    const imported = importInto(store, make(), 'bad');
    t.is(imported.status, 125, `${what}: ${imported.stderr}`);
    t.regex(imported.stderr, /^rootfs: [^\n]*; nothing was imported\n$/, what);
    const result = container(containers, ['--verbose', '--network', 'none', '--rootfs', 'bad', 'true'], { env: { SAMPLES_ROOTFS_DIR: store } });
    t.is(result.status, 125, what);
    t.regex(result.stderr, /^9-isolate-image: no root filesystem named "bad": `pnpm rootfs list` shows the ones there are; /, what);
    t.is(result.stderr.split('\n').length, 2, `${what}: one line, no step`);
  }
  // (A folder the import made on its way may be there, empty.)
  const entries = (folder: string) => (fs.existsSync(folder) ? fs.readdirSync(folder) : []);
  t.deepEqual(entries(store), [], 'nothing registered');
  t.deepEqual(entries(path.join(dir, 'layers', 'sha256')), [], 'no layer stored');
  t.deepEqual(fs.readdirSync(containers), [], 'no folder made');
});

test("a layer removed from the store by hand: one line that says what to do, status 125, nothing made", (t) => {
  const dir = fs.mkdtempSync(path.join(work, 'lacking-'));
  const store = path.join(dir, 'images');
  const containers = containersFolder(t);
  writeOciLayout(path.join(dir, 'image'), { layers: [base, change] });
  t.is(importInto(store, path.join(dir, 'image'), 'lacking').status, 0);
  fs.rmSync(path.join(dir, 'layers', 'sha256', change.diffId.slice(7)), { recursive: true });
  const result = container(containers, ['--verbose', ...inImage('lacking', 'true')], { env: { SAMPLES_ROOTFS_DIR: store } });
  t.is(result.status, 125);
  t.is(
    result.stderr,
    `9-isolate-image: the image "lacking" lacks its layer ${change.diffId} (removed by hand?): pnpm rootfs remove lacking, then import it again\n`,
  );
  t.deepEqual(fs.readdirSync(containers), []);
});

test('a command a layered image lacks: found missing inside, where its files are merged: one line, status 127; the folder goes', (t) => {
  const containers = containersFolder(t);
  const result = container(containers, inImage('two', 'no-such-command', '--flag'));
  t.is(result.status, 127);
  t.is(result.stderr, '9-isolate-image: command not found: no-such-command\n');
  t.deepEqual(fs.readdirSync(containers), []);
});
