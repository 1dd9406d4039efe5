// Stage 3: the command gets its own root filesystem and its own /proc. The child
// chroots into a root filesystem and mounts a proc there, so `ps` shows only the
// container's processes. There is no mount namespace yet: that proc mount is made in
// the host's mount table, so the runtime must take it down on every way out (stage 4
// makes this unnecessary). Likewise the small /dev it makes.
import fs from 'node:fs';
import path from 'node:path';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { containerEnvironment, makeDev } from './container';
import {
  CLONE_NEWPID,
  CLONE_NEWUTS,
  LOCK_EX,
  LOCK_NB,
  MNT_DETACH,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  SyscallError,
  chdir,
  chroot,
  flock,
  mount,
  sethostname,
  umount2,
} from '@samples/syscalls';
import {
  CliError,
  exec,
  isMountPoint,
  main,
  parseArgs,
  requireContainerInit,
  requireSysAdmin,
  selfCommand,
  setTracePrefix,
  spawnInNamespaces,
  step,
  trace,
  waitForExit,
} from '@samples/runtime';

const program = {
  name: '3-isolate-root-fs',
  summary: 'run a command chrooted into its own root filesystem, with its own /proc',
  options: {
    rootfs: rootfsOption,
  },
};

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options, command: [file] } = parseArgs(program, argv);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs);
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  const lock = lockRootfs(rootfs);
  // A run killed with SIGKILL cannot clean up after itself: the next one does.
  takeDownStaleMounts(rootfs);
  // The child gets the resolved path: names are resolved once, here.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  try {
    const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
      spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'inherit' }),
    );
    return await waitForExit(container);
  } finally {
    unmount(containerMounts(rootfs), 'the container is gone');
    fs.closeSync(lock);
  }
}

/**
 * One stage-3 container per root filesystem. Without a mount namespace, two would mount
 * their /proc and /dev on the same folders of the host, and each would take down the
 * other's. The lock is on the folder itself, from before the sweep until the runtime has
 * unmounted: two runtimes that start at the same moment cannot both pass the check. The
 * kernel drops it when the runtime ends, even by SIGKILL, so the next run can sweep.
 */
function lockRootfs(rootfs: string): number {
  const fd = fs.openSync(rootfs, 'r');
  try {
    step(`flock("${rootfs}", LOCK_EX | LOCK_NB)`, () => flock(fd, LOCK_EX | LOCK_NB));
    return fd;
  } catch (error) {
    fs.closeSync(fd);
    if (error instanceof SyscallError && error.code === 'EAGAIN') throw inUse(rootfs);
    throw error;
  }
}

function inUse(rootfs: string): CliError {
  return new CliError(`the root filesystem ${rootfs} is in use by another stage-3 container: stop it, or use another --rootfs`);
}

/** The container's /proc and /dev that are mounted now: no mount namespace yet, so the host sees them too. */
function containerMounts(rootfs: string): string[] {
  return ['proc', 'dev'].map((name) => path.join(rootfs, name)).filter((dir) => isMountPoint(dir));
}

function unmount(mountPoints: string[], why: string): void {
  for (const mountPoint of mountPoints) {
    step(`umount2("${mountPoint}", MNT_DETACH): ${why}`, () => umount2(mountPoint, MNT_DETACH));
  }
}

/**
 * Unmounts what an earlier run left on this root filesystem, unless a container still
 * runs in it: its /proc then lists processes, and a second container would mount over it.
 */
function takeDownStaleMounts(rootfs: string): void {
  const left = containerMounts(rootfs);
  if (left.length === 0) return;
  const proc = path.join(rootfs, 'proc');
  if (left.includes(proc) && fs.readdirSync(proc).some((entry) => /^\d+$/.test(entry))) {
    throw inUse(rootfs);
  }
  unmount(left, 'left by an earlier run');
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  step('sethostname("container")', () => sethostname('container'));
  // #region root
  step(`chroot("${rootfs}")`, () => chroot(rootfs));
  // The Go original called chdir(rootfs) here: the cwd stayed in the host's tree.
  step('chdir("/")', () => chdir('/'));
  step('mount("proc", "/proc", "proc")', () => mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC));
  step('mount tmpfs on /dev, with null, zero, full, random, urandom, tty', () => makeDev('/dev'));
  // #endregion
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
