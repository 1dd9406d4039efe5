// The container's pseudo-terminal: a devpts filesystem of its own, a pty made in it,
// the master side held by the runtime, the other side the command's controlling
// terminal and its stdin, stdout and stderr. Each function says which process calls it.
import fs from 'node:fs';
import { isatty } from 'node:tty';
import { CliError } from '@samples/runtime';
import {
  FD_CLOEXEC,
  F_SETFD,
  FilesystemMagic,
  MS_NOEXEC,
  MS_NOSUID,
  TIOCSCTTY,
  dup2,
  fcntl,
  fstatfsType,
  ioctl,
  mount,
  ptsNumber,
  setsid,
  statfsType,
  unlockpt,
} from '@samples/syscalls';

const { O_RDWR, O_NOCTTY, O_NOFOLLOW } = fs.constants;

// #region devpts
/**
 * The child, in its own mount namespace: mounts a devpts instance of the container's
 * own on `dev`/pts and points `dev`/ptmx into it. Its ptys are numbered from 0 and
 * the host's are not in it. ptmxmode=0666: anyone in the container may make a pty
 * (the ptmx node of a new instance is 0000 otherwise); mode and gid are what a
 * slave gets, as on a host (group 5 is "tty" in most images).
 */
export function mountDevpts(dev: string): void {
  fs.mkdirSync(`${dev}/pts`, { recursive: true });
  mount('devpts', `${dev}/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  // /dev/ptmx must open the container's instance: since Linux 4.7 it opens the "pts"
  // beside it, and a link makes that explicit on any kernel.
  fs.symlinkSync('pts/ptmx', `${dev}/ptmx`);
}
// #endregion

// #region master
/**
 * The runtime (host root), once the child has mounted its devpts and before the
 * command runs: opens a new pty in the container's devpts through
 * /proc/<pid>/root, unlocks its other side and returns the master (close-on-exec)
 * and the N of the container's /dev/pts/N.
 *
 * The path is walked while the container holds nothing but what the child made
 * (its /dev is the child's tmpfs, /dev/pts the child's devpts), and the open is
 * checked: O_NOFOLLOW, and the file must be on a devpts filesystem other than the
 * host's. The child is waiting for the answer, so its pid cannot be reused meanwhile.
 */
export function openMaster(containerPid: number): { master: number; index: number } {
  const ptmx = `/proc/${containerPid}/root/dev/pts/ptmx`;
  let master: number;
  try {
    master = fs.openSync(ptmx, O_RDWR | O_NOCTTY | O_NOFOLLOW); // libuv adds O_CLOEXEC
  } catch (error) {
    // No ptmx in a devpts the child did mount: a kernel whose devpts has no instances.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(`/proc/${containerPid}/root/dev/pts`)) {
      throw noInstances();
    }
    throw error;
  }
  try {
    if (fstatfsType(master) !== FilesystemMagic.DEVPTS_SUPER_MAGIC || fs.fstatSync(master).dev === hostDevptsDevice()) {
      throw noInstances();
    }
    unlockpt(master);
    return { master, index: ptsNumber(master) };
  } catch (error) {
    fs.closeSync(master);
    throw error;
  }
}

/** The device number of the host's devpts, if it has one mounted on /dev/pts. */
function hostDevptsDevice(): number | undefined {
  try {
    return statfsType('/dev/pts') === FilesystemMagic.DEVPTS_SUPER_MAGIC ? fs.statSync('/dev/pts').dev : undefined;
  } catch {
    return undefined;
  }
}

function noInstances(): CliError {
  return new CliError(
    'this kernel gives a container no devpts of its own (needs Linux 4.7+, or CONFIG_DEVPTS_MULTIPLE_INSTANCES): run without a terminal, with --no-tty',
  );
}
// #endregion

// #region attach
/**
 * The child, last thing before exec: makes the pty's `slave` (/dev/pts/N in the
 * container) its controlling terminal and its stdin, stdout and stderr.
 * setsid first: only a session leader without a terminal can take one (TIOCSCTTY),
 * and the new session's only process group becomes the terminal's foreground group,
 * so the command's shell can hand the terminal to its jobs. (setsid fails in a process
 * group leader: the child must not be spawned `detached`, which makes it one.) Opened
 * with O_NOCTTY, the terminal is taken by TIOCSCTTY, in plain sight, rather than as a
 * side effect of open. With `owner` (--user), the slave becomes that user's, as a login
 * makes the terminal the user's: a program that opens its terminal again by name
 * (/dev/pts/N, mode 0620) could not otherwise, once the command runs as that user.
 */
export function attachTerminal(slave: string, owner?: { readonly uid: number }): void {
  const nodesCopies = terminalCopies();
  // #region take-terminal
  setsid();
  const fd = fs.openSync(slave, O_RDWR | O_NOCTTY);
  ioctl(fd, TIOCSCTTY, 0);
  for (const stdio of [0, 1, 2]) dup2(fd, stdio); // dup2's copies are not close-on-exec
  // #endregion
  if (owner !== undefined) fs.fchownSync(fd, owner.uid, -1); // the group stays "tty" (gid=5, the mount's)
  // What this process itself writes from now on (--verbose's steps, an error) goes where
  // the command's output will, through the pty: not to the runtime's terminal, raw by now.
  for (const copy of nodesCopies) {
    dup2(fd, copy);
    fcntl(copy, F_SETFD, FD_CLOEXEC);
  }
  fs.closeSync(fd);
}

/**
 * The descriptors Node writes stdout and stderr through when they are a terminal: libuv
 * opens the terminal again by name (so that making it non-blocking touches nobody
 * else's open file), and writes to that copy, not to fd 1 or 2. Replacing fds 1 and 2
 * does not reach them: they are found by the terminal they are open on.
 */
function terminalCopies(): number[] {
  const devices = new Set([1, 2].flatMap((fd) => (isatty(fd) ? [fs.fstatSync(fd).rdev] : [])));
  if (devices.size === 0) return [];
  return fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => {
      if (fd <= 2) return false;
      try {
        const stat = fs.fstatSync(fd);
        return stat.isCharacterDevice() && devices.has(stat.rdev);
      } catch {
        return false; // the folder's own descriptor, closed by now
      }
    });
}
// #endregion
