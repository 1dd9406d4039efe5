// The cgroup module against fake cgroup trees in a temp folder, for both layouts:
// which files it writes, with which values, and where.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { createCgroup, parseProcCgroup } from '../src/cgroup';
import { CliError } from '@samples/syscalls/cli';
import { cpuQuota, formatSize, parseCount, parseCpus, parseSize } from '../src/cgroup/limits';

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

/** cgroupfs removes a cgroup's files with it: make rmdir on the fake tree do the same. */
function rmdirLikeTheKernel(t: ExecutionContext, cgroups: readonly string[], onRemove: () => void = () => {}): void {
  const realRmdir = fs.rmdirSync;
  fs.rmdirSync = ((dir: string, options?: fs.RmDirOptions) => {
    if (cgroups.includes(dir)) {
      onRemove();
      for (const entry of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, entry));
    }
    realRmdir(dir, options);
  }) as typeof fs.rmdirSync;
  t.teardown(() => {
    fs.rmdirSync = realRmdir;
  });
}

const v1Self = '12:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/user.slice\n0::/\n';

test.serial('v1: a directory per controller, below the runtime own cgroup, with the limits written', (t) => {
  const root = fakeTree(t, { 'memory/process_api/abc/cgroup.procs': '', 'pids/cgroup.procs': '', 'cpu/user.slice/cgroup.procs': '' });
  const cgroup = createCgroup({
    name: 'container-1',
    limits: { memory: 100 * 1024 ** 2, pids: 64, cpus: 0.5 },
    root,
    layout: 'hybrid',
    selfCgroup: v1Self,
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

  fs.writeFileSync(path.join(cgroup.paths[0]!, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  t.is(cgroup.oomKills(), 2);

  for (const dir of cgroup.paths) fs.writeFileSync(path.join(dir, 'cgroup.procs'), ''); // the processes are gone
  rmdirLikeTheKernel(t, cgroup.paths);
  cgroup.destroy();
  for (const dir of cgroup.paths) t.false(fs.existsSync(dir));
});

test.serial('v1: swap is capped at the memory limit where swap accounting exists', (t) => {
  const root = fakeTree(t, { 'memory/memory.memsw.limit_in_bytes': '' });
  // A real cgroup has the file from its creation; make mkdir bring it along.
  const cgroupDir = path.join(root, 'memory', 'container-2');
  const mkdir = fs.mkdirSync;
  t.teardown(() => {
    fs.mkdirSync = mkdir;
  });
  fs.mkdirSync = ((dir: fs.PathLike, options?: fs.MakeDirectoryOptions) => {
    const made = mkdir(dir, options);
    if (dir === cgroupDir) fs.writeFileSync(path.join(cgroupDir, 'memory.memsw.limit_in_bytes'), '');
    return made;
  }) as typeof fs.mkdirSync;
  createCgroup({ name: 'container-2', limits: { memory: 64 * 1024 ** 2 }, root, layout: 'v1', selfCgroup: '4:memory:/\n' });
  t.is(read(root, 'memory/container-2/memory.memsw.limit_in_bytes'), String(64 * 1024 ** 2));
});

test('v1: only memory is made when no pids or cpu limit is asked for', (t) => {
  const root = fakeTree(t, { 'memory/cgroup.procs': '' });
  const cgroup = createCgroup({ name: 'c', limits: { memory: 1 << 20 }, root, layout: 'v1', selfCgroup: '4:memory:/\n' });
  t.deepEqual(cgroup.paths, [path.join(root, 'memory/c')]);
  t.false(fs.existsSync(path.join(root, 'pids/c')));
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
  });
  t.deepEqual(cgroup.paths, [path.join(root, 'runtime/container-3')]);
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
  });
  t.deepEqual(cgroup.paths, [path.join(root, 'user.slice/container-4')]);
  // The controllers are handed down from the root to the chosen parent.
  t.is(read(root, 'cgroup.subtree_control'), '+memory +pids');
  t.is(read(root, 'user.slice/cgroup.subtree_control'), '+memory +pids');
  t.regex(messages.join('\n'), /\/user\.slice\/session-1\.scope holds processes, .*"no internal processes".*; using \/user\.slice\n/);
});

test.serial('v2: OOM kills are read from memory.events; destroy uses cgroup.kill', (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': v2Controllers, 'cgroup.subtree_control': 'memory\n' });
  const cgroup = createCgroup({ name: 'c5', limits: { memory: 1 << 20 }, root, layout: 'v2', selfCgroup: '0::/\n' });
  const dir = cgroup.paths[0]!;
  fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 1\noom_group_kill 0\n');
  t.is(cgroup.oomKills(), 1);
  fs.writeFileSync(path.join(dir, 'cgroup.kill'), '');
  let killedBeforeRemoval = '';
  rmdirLikeTheKernel(t, cgroup.paths, () => (killedBeforeRemoval = fs.readFileSync(path.join(dir, 'cgroup.kill'), 'utf8')));
  cgroup.destroy();
  t.is(killedBeforeRemoval, '1');
  t.false(fs.existsSync(dir));
});

test('v2: a controller the parent lacks is one clear error, and nothing is made', (t) => {
  const root = fakeTree(t, { 'cgroup.controllers': 'cpu memory\n', 'cgroup.subtree_control': '' });
  const error = t.throws(() =>
    createCgroup({ name: 'c6', limits: { memory: 1 << 20, pids: 5 }, root, layout: 'v2', selfCgroup: '0::/\n' }),
  );
  t.regex(error.message, /the pids controller is not available/);
  t.false(fs.existsSync(path.join(root, 'c6')));
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
  t.is(formatSize(100 * 1024 ** 2), '100 MiB');
  t.is(formatSize(1.5 * 1024 ** 3), '1.5 GiB');
});
