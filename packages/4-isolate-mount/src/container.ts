// The inside of a container, as the child sets it up in its new mount namespace.
// Each step is one line, in the order the kernel needs them; stage 5 reuses all of it.
// The /dev it makes and the environment come from stage 3.
import path from 'node:path';
import { makeDev } from '3-isolate-root-fs/container';
import {
  CLONE_NEWNS,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_REC,
  chdir,
  mount,
  pivot_root,
  sethostname,
  umount2,
  unshare,
} from '@samples/syscalls';
import { step } from '@samples/runtime';

export { containerEnvironment } from '3-isolate-root-fs/container';

/**
 * The size of the tmpfs on /newtemp. A tmpfs without one may grow to half the host's
 * memory, which is what df inside would show. Its files live in memory, so a container's
 * scratch space gets a bound, one it can see: df shows 64M. (In stage 5 the pages also
 * count against the container's memory limit.)
 */
export const NEWTEMP_SIZE = '64m';

// #region enter
/**
 * Gives the calling thread a mount namespace of its own, rooted at `rootfs`: the two
 * halves below, one after the other. Stage 9 calls them itself, with the overlay it
 * mounts between them.
 */
export function enterContainer(rootfs: string): void {
  enterMountNamespace();
  enterRoot(rootfs);
}

/** Gives the calling thread a mount namespace of its own, whose mounts never reach the host's. */
export function enterMountNamespace(): void {
  // #region mount-namespace
  // The child makes its own mount namespace, not the runtime: unsharing one also gives
  // the calling thread a root and working directory of its own (CLONE_FS), for good.
  // Here that is what we want: this thread is about to become the command.
  step('unshare(CLONE_NEWNS): a mount table of its own', () => unshare(CLONE_NEWNS));
  // On a host where / is shared (every systemd host), mounts made below would
  // propagate back to the host; made private, recursively, nothing crosses over.
  step('mount("/", MS_REC|MS_PRIVATE): stop mount propagation to and from the host', () =>
    mount('', '/', '', MS_REC | MS_PRIVATE),
  );
  // #endregion
}

/**
 * In the mount namespace enterMountNamespace made: names the host "container", and makes
 * `rootfs` the root, with proc, /dev and /newtemp in it and no way back to the host's files.
 */
export function enterRoot(rootfs: string): void {
  // #region root
  step('sethostname("container")', () => sethostname('container'));
  // pivot_root wants the new root to be a mount point: bind it onto itself.
  step(`mount("${rootfs}", MS_BIND|MS_REC)`, () => mount(rootfs, rootfs, '', MS_BIND | MS_REC));
  step('mount proc on /proc', () => mount('proc', path.join(rootfs, 'proc'), 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC));
  step('mount tmpfs on /dev, with null, zero, full, random, urandom, tty', () => makeDev(path.join(rootfs, 'dev')));
  step(`mount tmpfs on /newtemp, size=${NEWTEMP_SIZE}`, () =>
    mount('tmpfs', path.join(rootfs, 'newtemp'), 'tmpfs', MS_NOSUID | MS_NODEV, `size=${NEWTEMP_SIZE}`),
  );
  // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
  // no path back to the host's files (a chroot leaves the whole host tree mounted).
  step(`chdir("${rootfs}")`, () => chdir(rootfs));
  step('pivot_root(".", ".")', () => pivot_root('.', '.'));
  step('umount2(".", MNT_DETACH): detach the old root', () => umount2('.', MNT_DETACH));
  step('chdir("/")', () => chdir('/'));
  // #endregion
}
// #endregion
