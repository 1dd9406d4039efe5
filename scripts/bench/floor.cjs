// The floor of the design the stages teach: two Node processes (the runtime, and itself
// re-executed as the container's child) doing stage 5's kernel steps, and nothing else:
// no stage code, no checks, no messages. pnpm bench runs it beside stage 5; what stage 5
// takes above it is the price of its code.
//
//   node scripts/bench/floor.cjs run ROOTFS     (as root, cgroup v1 or v2)
//
// The steps, in stage 5's order: koffi and libc (its native module, as the bundles load
// it); a memory cgroup below this process's own; unshare(UTS|PID), spawn of itself,
// setns back; the kernel's cgroup lock kept warm until the child says it is ready; the
// child's join; then, in the child: a private mount namespace, hostname, the root
// bind-mounted, proc, a tmpfs /dev and /newtemp, pivot_root (x86_64's syscall number),
// stdio and signals made ready, execve(/bin/true).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.join(__dirname, '..', '..');
// koffi's native module, as stage 5's bundle loads it: the bundle's record of its inputs
// names it (pnpm bench builds the bundle first). Not through koffi's own loader, which
// costs ~4 ms more per Node start.
const record = path.join(REPO, 'packages', '5-isolate-cgroup', 'node_modules', '.cache', 'samples', 'main.cjs.inputs.json');
const koffi = require(JSON.parse(fs.readFileSync(record, 'utf8')).inputs.find((file) => /[\\/]koffi\.node$/.test(file)));
const libc = koffi.load('libc.so.6');
const [, , role, rootfs] = process.argv;

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWPID = 0x20000000;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 0x40000;

/** The memory cgroup this process is in, as a directory: v1's memory hierarchy, or v2's one tree. */
function ownMemoryCgroup() {
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.find((line) => /^\d+:[^:]*\bmemory\b[^:]*:/.test(line));
  if (v1) return path.join('/sys/fs/cgroup/memory', v1.slice(v1.lastIndexOf(':') + 1));
  const v2 = lines.find((line) => line.startsWith('0::'));
  return path.join('/sys/fs/cgroup', v2.slice(3));
}

if (role === 'run') {
  const unshare = libc.func('int unshare(int)');
  const setns = libc.func('int setns(int, int)');
  const { spawn } = require('node:child_process');
  const own = ownMemoryCgroup();
  const dir = path.join(own, `floor-${process.pid}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, fs.existsSync(path.join(dir, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes'), String(256 << 20));
  const saved = ['uts', 'pid'].map((name) => fs.openSync(`/proc/thread-self/ns/${name}`, 'r'));
  unshare(CLONE_NEWUTS | CLONE_NEWPID);
  const child = spawn(process.execPath, [__filename, 'child', rootfs], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  for (const fd of saved) setns(fd, 0);
  const touch = () => {
    try {
      fs.writeFileSync(path.join(own, 'cgroup.procs'), String(process.pid));
    } catch {}
  };
  let warm;
  setImmediate(() => {
    touch();
    warm = setInterval(touch, 8);
  });
  child.stdio[3].once('data', () => {
    clearInterval(warm);
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
    child.stdio[3].end('go');
  });
  child.on('exit', (code) => {
    fs.rmdirSync(dir);
    process.exitCode = code ?? 1;
  });
} else {
  const mount = libc.func('int mount(const char *, const char *, const char *, unsigned long, const char *)');
  libc.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)')(1, 9, 0, 0, 0); // PR_SET_PDEATHSIG, SIGKILL
  fs.writeSync(3, 'ready');
  fs.readSync(3, Buffer.alloc(2), 0, 2, null);
  libc.func('int unshare(int)')(CLONE_NEWNS);
  mount(null, '/', null, MS_REC | MS_PRIVATE, null);
  libc.func('int sethostname(const char *, size_t)')('container', 9);
  mount(rootfs, rootfs, null, MS_BIND | MS_REC, null);
  mount('proc', `${rootfs}/proc`, 'proc', 0, null);
  mount('tmpfs', `${rootfs}/dev`, 'tmpfs', 0, 'mode=755');
  mount('tmpfs', `${rootfs}/newtemp`, 'tmpfs', 0, null);
  const chdir = libc.func('int chdir(const char *)');
  chdir(rootfs);
  libc.func('long syscall(long, ...)')(155, 'str', '.', 'str', '.'); // pivot_root, x86_64
  libc.func('int umount2(const char *, int)')('.', 2);
  chdir('/');
  const fcntl = libc.func('int fcntl(int, int, ...)');
  for (const fd of [0, 1, 2]) fcntl(fd, 2, 'int', 0); // F_SETFD: not close-on-exec
  libc.func('int close_range(unsigned int, unsigned int, int)')(3, ~0 >>> 0, 4); // CLOSE_RANGE_CLOEXEC
  const signal = libc.func('void *signal(int, void *)');
  for (let signum = 1; signum < 32; signum++) if (signum !== 9 && signum !== 19) signal(signum, null);
  libc.func('int execve(const char *, const char **, const char **)')('/bin/true', ['/bin/true', null], ['PATH=/bin', null]);
}
