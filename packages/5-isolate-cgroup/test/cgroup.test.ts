// The cgroup module against fake cgroup trees in a temp folder, for both layouts:
// which files it writes, with which values, and where.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CliError, formatBytes } from '@samples/runtime';
import { waitFor } from '@samples/testing';
import { type CgroupFiles, createCgroup, parseProcCgroup } from '../src/cgroup';
import { cpuQuota, parseCount, parseCpus, parseSize } from '../src/cgroup/limits';

/** A fake cgroup tree in a temp folder, removed after the test whatever its outcome. */
function fakeTree(t: ExecutionContext, files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-cgroup-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  }
  return root;
}

const read = (root: string, file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/**
 * cgroupfs, imitated over a real folder: mkdir brings a new cgroup's files along (those
 * named in `newCgroupFiles`), rmdir takes them away, and `removed` lists what rmdir was
 * given, with the content of cgroup.kill at that moment.
 */
function imitateCgroupfs(newCgroupFiles: Record<string, string> = {}) {
  const removed: { dir: string; kill: string | undefined }[] = [];
  const files: CgroupFiles = {
    mkdir(dir) {
      fs.mkdirSync(dir);
      for (const [name, content] of Object.entries({ 'cgroup.procs': '', ...newCgroupFiles })) fs.writeFileSync(path.join(dir, name), content);
    },
    rmdir(dir) {
      const kill = path.join(dir, 'cgroup.kill');
      removed.push({ dir, kill: fs.existsSync(kill) ? fs.readFileSync(kill, 'utf8') : undefined });
      for (const entry of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, entry));
      fs.rmdirSync(dir);
    },
    read: (file) => fs.readFileSync(file, 'utf8'),
    write: (file, text) => fs.writeFileSync(file, text),
    exists: (file) => fs.existsSync(file),
  };
  return { files, removed };
}

const v1Self = '12:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/user.slice\n0::/\n';

test('v1: a directory per controller, below the runtime own cgroup, with the limits written', (t) => {
  const root = fakeTree(t, { 'memory/process_api/abc/cgroup.procs': '', 'pids/cgroup.procs': '', 'cpu/user.slice/cgroup.procs': '' });
  const { files, removed } = imitateCgroupfs({ 'memory.max_usage_in_bytes': '0\n' });
  const cgroup = createCgroup({
    name: 'container-1',
    limits: { memory: 100 * 1024 ** 2, pids: 64, cpus: 0.5 },
    root,
    layout: 'hybrid',
    selfCgroup: v1Self,
    files,
  });
  t.is(cgroup.version, 1);
  t.deepEqual(cgroup.paths, [
    path.join(root, 'memory/process_api/abc/container-1'),
    path.join(root, 'pids/container-1'),
    path.join(root, 'cpu/user.slice/container-1'),
  ]);
  t.is(read(root, 'memory/process_api/abc/container-1/memory.limit_in_bytes'), '104857600');
  t.is(read(root, 'pids/container-1/pids.max'), '64');
  t.is(read(root, 'cpu/user.slice/container-1/cpu.cfs_period_us'), '100000');
  t.is(read(root, 'cpu/user.slice/container-1/cpu.cfs_quota_us'), '50000');

  cgroup.add(4242);
  for (const dir of cgroup.paths) t.is(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8'), '4242');

  const memory = cgroup.paths[0]!;
  fs.writeFileSync(path.join(memory, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  fs.writeFileSync(path.join(memory, 'memory.max_usage_in_bytes'), `${50 * 1024 ** 2}\n`);
  t.deepEqual(cgroup.memoryEvents(), { limitReached: 0, oomKills: 2 }, 'below the limit');
  fs.writeFileSync(path.join(memory, 'memory.max_usage_in_bytes'), `${100 * 1024 ** 2}\n`);
  t.deepEqual(cgroup.memoryEvents(), { limitReached: 1, oomKills: 2 }, 'the high-water mark at the limit');
  t.is(read(root, 'memory/process_api/abc/container-1/memory.max_usage_in_bytes'), '0', 'and reset, for the next reading');

  for (const dir of cgroup.paths) fs.writeFileSync(path.join(dir, 'cgroup.procs'), ''); // the processes are gone
  cgroup.destroy();
  t.deepEqual(removed.map(({ dir }) => dir), [...cgroup.paths].reverse(), 'the last made is removed first');
  for (const dir of cgroup.paths) t.false(fs.existsSync(dir));
});

test('v1: one directory that cannot be removed does not keep the others', (t) => {
  const root = fakeTree(t, { 'memory/cgroup.procs': '', 'pids/cgroup.procs': '' });
  const { files } = imitateCgroupfs();
  const stuck = path.join(root, 'pids/c7');
  const refusing: CgroupFiles = {
    ...files,
    rmdir: (dir) => {
      if (dir === stuck) throw Object.assign(new Error(`EACCES: permission denied, rmdir '${dir}'`), { code: 'EACCES' });
      files.rmdir(dir);
    },
  };
  const cgroup = createCgroup({ name: 'c7', limits: { memory: 1 << 20, pids: 8 }, root, layout: 'v1', selfCgroup: '4:memory:/\n', files: refusing });
  t.throws(() => cgroup.destroy(), { message: /EACCES/ }, 'the failure is reported');
  t.false(fs.existsSync(path.join(root, 'memory/c7')), 'and the memory directory went, though pids (removed first) failed');
});

test('v1: swap is capped at the memory limit where swap accounting exists', (t) => {
  const root = fakeTree(t, { 'memory/cgroup.procs': '' });
  // A real cgroup has the file from its creation: the imitation's mkdir brings it along.
  const { files } = imitateCgroupfs({ 'memory.memsw.limit_in_bytes': '' });
  createCgroup({ name: 'container-2', limits: { memory: 64 * 1024 ** 2 }, root, layout: 'v1', selfCgroup: '4:memory:/\n', files });
  t.is(read(root, 'memory/container-2/memory.memsw.limit_in_bytes'), String(64 * 1024 ** 2));
});

test('v1: only memory is made when no pids or cpu limit is asked for', (t) => {
  const root = fakeTree(t, { 'memory/cgroup.procs': '' });
  const { files } = imitateCgroupfs();
  const cgroup = createCgroup({ name: 'c', limits: { memory: 1 << 20 }, root, layout: 'v1', selfCgroup: '4:memory:/\n', files });
  t.deepEqual(cgroup.paths, [path.join(root, 'memory/c')]);
  t.false(fs.existsSync(path.join(root, 'pids/c')));
});

test('v1: alsoIn puts the container in more hierarchies, with no limit written there; pathOf names each directory', (t) => {
  const root = fakeTree(t, { 'memory/cgroup.procs': '', 'devices/system.slice/cgroup.procs': '' });
  const { files, removed } = imitateCgroupfs();
  const selfCgroup = '4:memory:/\n7:devices:/system.slice\n';
  const cgroup = createCgroup({ name: 'c8', limits: { memory: 1 << 20 }, root, layout: 'v1', selfCgroup, files, alsoIn: ['devices'] });
  const devices = path.join(root, 'devices/system.slice/c8');
  t.deepEqual(cgroup.paths, [path.join(root, 'memory/c8'), devices]);
  t.is(cgroup.pathOf('devices'), devices);
  t.is(cgroup.pathOf('pids'), undefined, 'no pids limit: no directory there');
  t.deepEqual(fs.readdirSync(devices), ['cgroup.procs'], 'nothing written but what mkdir brought');
  cgroup.add(4242);
  t.is(read(root, 'devices/system.slice/c8/cgroup.procs'), '4242');
  fs.writeFileSync(path.join(devices, 'cgroup.procs'), '');
  fs.writeFileSync(path.join(root, 'memory/c8/cgroup.procs'), '');
  cgroup.destroy();
  t.deepEqual(removed.map(({ dir }) => dir), [devices, path.join(root, 'memory/c8')]);
});

const v2Controllers = 'cpuset cpu io memory hugetlb pids rdma misc\n';

test('v2: below the runtime own cgroup when that one can delegate', (t) => {
  const root = fakeTree(t, {
    'cgroup.controllers': v2Controllers,
    'cgroup.subtree_control': 'memory pids cpu\n',
    'runtime/cgroup.controllers': 'cpu memory pids\n',
    'runtime/cgroup.subtree_control': 'memory pids cpu\n',
    'runtime/cgroup.procs': '', // empty: it may hand controllers down
  });
  const cgroup = createCgroup({
    name: 'container-3',
    limits: { memory: 256 * 1024 ** 2, pids: 100, cpus: 1.5 },
    root,
    layout: 'v2',
    selfCgroup: '0::/runtime\n',
    files: imitateCgroupfs().files,
  });
  t.deepEqual(cgroup.paths, [path.join(root, 'runtime/container-3')]);
  t.is(cgroup.pathOf('memory'), cgroup.pathOf('devices'), 'one directory for every controller');
  t.is(read(root, 'runtime/container-3/memory.max'), String(256 * 1024 ** 2));
  t.is(read(root, 'runtime/container-3/pids.max'), '100');
  t.is(read(root, 'runtime/container-3/cpu.max'), '150000 100000');
  t.is(read(root, 'runtime/cgroup.subtree_control'), 'memory pids cpu\n', 'nothing to enable: left as it was');
});

test('v2: the no-internal-processes rule: a cgroup holding processes is passed over for its nearest ancestor', (t) => {
  const messages: string[] = [];
  const root = fakeTree(t, {
    'cgroup.controllers': v2Controllers,
    'cgroup.subtree_control': '',
    'user.slice/cgroup.controllers': 'cpu memory pids\n', // what the kernel shows once the root hands them down
    'user.slice/cgroup.subtree_control': '',
    'user.slice/cgroup.procs': '',
    'user.slice/session-1.scope/cgroup.procs': '1234\n5678\n', // the runtime and its shell
  });
  const cgroup = createCgroup({
    name: 'container-4',
    limits: { memory: 64 * 1024 ** 2, pids: 10 },
    root,
    layout: 'v2',
    selfCgroup: '0::/user.slice/session-1.scope\n',
    trace: (message) => messages.push(message),
    files: imitateCgroupfs().files,
  });
  t.deepEqual(cgroup.paths, [path.join(root, 'user.slice/container-4')]);
  // The controllers are handed down from the root to the chosen parent.
  t.is(read(root, 'cgroup.subtree_control'), '+memory +pids');
  t.is(read(root, 'user.slice/cgroup.subtree_control'), '+memory +pids');
  t.regex(messages.join('\n'), /\/user\.slice\/session-1\.scope holds processes, .*"no internal processes".*; using \/user\.slice\n/);
});

test('v2: OOM kills and the own limit are read from memory.events; destroy uses cgroup.kill', (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': v2Controllers, 'cgroup.subtree_control': 'memory\n' });
  const { files, removed } = imitateCgroupfs({ 'cgroup.kill': '' });
  const cgroup = createCgroup({ name: 'c5', limits: { memory: 1 << 20 }, root, layout: 'v2', selfCgroup: '0::/\n', files });
  const dir = cgroup.paths[0]!;
  fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 1\noom_group_kill 0\n');
  t.deepEqual(cgroup.memoryEvents(), { limitReached: 3, oomKills: 1 });
  cgroup.destroy();
  t.deepEqual(removed, [{ dir, kill: '1' }], 'everything inside was killed before the rmdir');
  t.false(fs.existsSync(dir));
});

test('v2: a controller that cannot be enabled is one line, not a stack trace', (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': v2Controllers, 'cgroup.subtree_control': '' });
  const { files } = imitateCgroupfs();
  // As the kernel answers a cgroup that holds processes: EBUSY on subtree_control.
  const busy: CgroupFiles = {
    ...files,
    write: (file, text) => {
      if (file.endsWith('cgroup.subtree_control')) throw Object.assign(new Error(`EBUSY: resource busy or locked, write`), { code: 'EBUSY' });
      files.write(file, text);
    },
  };
  const error = t.throws(() => createCgroup({ name: 'c9', limits: { memory: 1 << 20 }, root, layout: 'v2', selfCgroup: '0::/\n', files: busy }), {
    instanceOf: CliError,
  });
  t.regex(error.message, /^cgroup v2: cannot enable memory in .*cgroup\.subtree_control \(EBUSY\): .*systemd-run --scope\)$/);
  t.false(fs.existsSync(path.join(root, 'c9')));
});

test('v2: a controller the parent lacks is one clear error, and nothing is made', (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': 'cpu memory\n', 'cgroup.subtree_control': '' });
  const error = t.throws(() =>
    createCgroup({ name: 'c6', limits: { memory: 1 << 20, pids: 5 }, root, layout: 'v2', selfCgroup: '0::/\n', files: imitateCgroupfs().files }),
    { instanceOf: CliError },
  );
  t.regex(error.message, /the pids controller is not available/);
  t.false(fs.existsSync(path.join(root, 'c6')));
});

/** `files`, with every write also noted as "FILE TEXT", FILE relative to `root`. */
function recordingWrites(root: string, files: CgroupFiles): { files: CgroupFiles; writes: string[] } {
  const writes: string[] = [];
  return {
    files: { ...files, write: (file, text) => (writes.push(`${path.relative(root, file)} ${text}`), files.write(file, text)) },
    writes,
  };
}

test('until the container joins, the runtime moves itself into its own cgroup (a move that changes nothing, to warm the kernel lock), then stops', async (t) => {
  const root = fakeTree(t, { 'memory/process_api/abc/cgroup.procs': '' });
  const { files, writes } = recordingWrites(root, imitateCgroupfs().files);
  const cgroup = createCgroup({ name: 'container-7', limits: { memory: 1 << 20 }, root, layout: 'hybrid', selfCgroup: v1Self, files });
  t.teardown(() => cgroup.destroy());
  const touch = `memory/process_api/abc/cgroup.procs ${process.pid}`;
  t.false(writes.includes(touch), 'not while the runtime is still on its way to the spawn');
  await waitFor('the first move of the runtime into its own cgroup', () => writes.includes(touch));
  await waitFor('a second one, 8 ms on', () => writes.filter((write) => write === touch).length >= 2);
  cgroup.add(4242);
  t.true(writes.includes('memory/process_api/abc/container-7/cgroup.procs 4242'));
  const touches = writes.filter((write) => write === touch).length;
  await new Promise((resolve) => setTimeout(resolve, 50)); // six periods of the timer
  t.is(writes.filter((write) => write === touch).length, touches, 'none after the join');
});

test('v2: a move the kernel refuses (the runtime own cgroup hands controllers down) does no harm', async (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': v2Controllers, 'cgroup.subtree_control': 'memory\n' });
  const { files: plain } = imitateCgroupfs();
  const refused: string[] = [];
  const files: CgroupFiles = {
    ...plain,
    write: (file, text) => {
      if (file === path.join(root, 'cgroup.procs')) {
        refused.push(text);
        throw Object.assign(new Error('EBUSY: resource busy or locked, write'), { code: 'EBUSY' });
      }
      plain.write(file, text);
    },
  };
  const cgroup = createCgroup({ name: 'c8', limits: { memory: 1 << 20 }, root, layout: 'v2', selfCgroup: '0::/\n', files });
  await waitFor('the runtime to try a move into its own cgroup', () => refused.length >= 2);
  t.deepEqual(new Set(refused), new Set([String(process.pid)]));
  cgroup.add(4242);
  t.is(read(root, 'c8/cgroup.procs'), '4242');
  cgroup.destroy();
  t.false(fs.existsSync(path.join(root, 'c8')));
});

test('parseProcCgroup reads v1 and v2 lines', (t) => {
  t.deepEqual(parseProcCgroup(v1Self), [
    { controllers: ['pids'], path: '/' },
    { controllers: ['memory'], path: '/process_api/abc' },
    { controllers: ['cpu', 'cpuacct'], path: '/user.slice' },
    { controllers: [], path: '/' },
  ]);
});

test('sizes, counts and CPUs as people write them', (t) => {
  t.is(parseSize('100m'), 100 * 1024 ** 2);
  t.is(parseSize('1G'), 1024 ** 3);
  t.is(parseSize('512MiB'), 512 * 1024 ** 2);
  t.is(parseSize('2097152'), 2 * 1024 ** 2);
  t.is(parseSize('1.5g'), 1.5 * 1024 ** 3);
  for (const bad of ['', 'lots', '-5m', '100x', '10k']) t.throws(() => parseSize(bad), { instanceOf: CliError });
  t.is(parseCount('64'), 64);
  for (const bad of ['0', '1.5', 'x']) t.throws(() => parseCount(bad), { instanceOf: CliError });
  t.is(parseCpus('0.5'), 0.5);
  t.is(cpuQuota(0.5), 50_000);
  for (const bad of ['0', 'half', '-1']) t.throws(() => parseCpus(bad), { instanceOf: CliError });
  // As Docker: no more CPUs than the machine has.
  t.is(parseCpus('2', 2), 2);
  t.throws(() => parseCpus('64', 2), { instanceOf: CliError, message: '--cpus 64: give a number of CPUs from 0.01 to 2 (this machine has 2), like 0.5' });
  t.is(formatBytes(100 * 1024 ** 2), '100 MiB');
  t.is(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
});
