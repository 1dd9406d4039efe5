// Stage 3: the command gets its own root filesystem and its own /proc. The child
// chroots into a root filesystem and mounts a proc there, so `ps` shows only the
// container's processes. There is no mount namespace yet: that proc mount is made in
// the host's mount table, so the runtime must take it down on every way out (stage 4
// makes this unnecessary). Likewise the small /dev it makes.
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs';
import { containerEnvironment, makeDev } from './container';
import {
  CLONE_NEWPID,
  CLONE_NEWUTS,
  MNT_DETACH,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  SyscallError,
  chdir,
  chroot,
  exec,
  mount,
  sethostname,
  spawnInNamespaces,
  umount2,
} from '@samples/syscalls';
import {
  main,
  parseArgs,
  requireContainerInit,
  requireSysAdmin,
  selfCommand,
  setTracePrefix,
  step,
  trace,
  waitForExit,
} from '@samples/syscalls/cli';

const program = {
  name: '3-isolate-root-fs',
  summary: 'run a command chrooted into its own root filesystem, with its own /proc',
  options: {
    rootfs: { value: 'NAME|PATH', description: 'the root filesystem (see `pnpm rootfs list`)', default: 'default' },
  },
};

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options } = parseArgs(program, argv);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs);
  // A run killed with SIGKILL cannot clean up after itself: the next one does.
  unmountContainerMounts(rootfs, 'left by an earlier run');
  // The child gets the resolved path: names are resolved once, here.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  try {
    const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
      spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'inherit' }),
    );
    return await waitForExit(container);
  } finally {
    unmountContainerMounts(rootfs, 'the container is gone');
  }
}

/** Takes down the container's /proc and /dev, which (no mount namespace yet) the host sees too. */
function unmountContainerMounts(rootfs: string, why: string): void {
  for (const mountPoint of ['proc', 'dev'].map((name) => path.join(rootfs, name))) {
    try {
      step(`umount2("${mountPoint}", MNT_DETACH): ${why}`, () => umount2(mountPoint, MNT_DETACH));
    } catch (error) {
      if (!(error instanceof SyscallError && error.code === 'EINVAL')) throw error; // EINVAL: nothing mounted there
    }
  }
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  step('sethostname("container")', () => sethostname('container'));
  step(`chroot("${rootfs}")`, () => chroot(rootfs));
  // The Go original called chdir(rootfs) here: the cwd stayed in the host's tree.
  step('chdir("/")', () => chdir('/'));
  step('mount("proc", "/proc", "proc")', () => mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC));
  step('mount tmpfs on /dev, with null, zero, full, random, urandom, tty', () => makeDev('/dev'));
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
