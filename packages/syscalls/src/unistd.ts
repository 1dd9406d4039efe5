// <unistd.h> and friends: identity, hostname, root directory, exec.
import { check } from './errno';
import { declare } from './libc';

const sethostname_ = declare('int sethostname(const char *name, size_t len)');
const gethostname_ = declare('int gethostname(_Out_ uint8_t *name, size_t len)');
const chroot_ = declare('int chroot(const char *path)');
const chdir_ = declare('int chdir(const char *path)');
const fchdir_ = declare('int fchdir(int fd)');
const getpid_ = declare('int getpid(void)');
const geteuid_ = declare('uint32_t geteuid(void)');
const setgroups_ = declare('int setgroups(size_t size, const uint32_t *list)');
const setgid_ = declare('int setgid(uint32_t gid)');
const setuid_ = declare('int setuid(uint32_t uid)');
const close_ = declare('int close(int fd)');
const dup2_ = declare('int dup2(int oldfd, int newfd)');
const setsid_ = declare('int setsid(void)');
const closeRange_ = declare('int close_range(uint32_t first, uint32_t last, int flags)');
const execve_ = declare('int execve(const char *path, const char **argv, const char **envp)');
const exit_ = declare('void _exit(int status)');
const syscall_ = declare('long syscall(long number, ...)');

/** Sets the hostname of the caller's UTS namespace. https://man7.org/linux/man-pages/man2/sethostname.2.html */
export function sethostname(name: string): void {
  check(sethostname_(name, Buffer.byteLength(name)), 'sethostname', name);
}

/** The hostname of the caller's UTS namespace. https://man7.org/linux/man-pages/man2/gethostname.2.html */
export function gethostname(): string {
  const buf = Buffer.alloc(256);
  check(gethostname_(buf, buf.length), 'gethostname');
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end === -1 ? buf.length : end);
}

/** Changes the root directory of the calling thread. https://man7.org/linux/man-pages/man2/chroot.2.html */
export function chroot(path: string): void {
  check(chroot_(path), 'chroot', path);
}

/**
 * Changes the working directory of the calling thread. https://man7.org/linux/man-pages/man2/chdir.2.html
 * Unlike `process.chdir`, it takes effect even where Node's cached cwd disagrees
 * (after chroot or pivot_root).
 */
export function chdir(path: string): void {
  check(chdir_(path), 'chdir', path);
}

/** Changes the working directory of the calling thread to the directory `fd` is open on. https://man7.org/linux/man-pages/man2/fchdir.2.html */
export function fchdir(fd: number): void {
  check(fchdir_(fd), 'fchdir');
}

/** The caller's process id, as its own PID namespace numbers it. https://man7.org/linux/man-pages/man2/getpid.2.html */
export function getpid(): number {
  return getpid_();
}

/** The caller's effective user id. https://man7.org/linux/man-pages/man2/geteuid.2.html */
export function geteuid(): number {
  return geteuid_();
}

/**
 * Sets the supplementary group ids of the caller. https://man7.org/linux/man-pages/man2/setgroups.2.html
 * The kernel's call changes one thread; glibc's wrapper (this one) changes every thread
 * of the process, as POSIX wants. Needs CAP_SETGID.
 */
export function setgroups(gids: readonly number[]): void {
  const list = Buffer.from(Uint32Array.from(gids).buffer); // gid_t is 32-bit
  check(setgroups_(gids.length, list), 'setgroups');
}

/**
 * Sets the real, effective and saved group ids (when privileged). https://man7.org/linux/man-pages/man2/setgid.2.html
 * glibc changes every thread of the process. Needs CAP_SETGID to change to another group.
 */
export function setgid(gid: number): void {
  check(setgid_(gid), 'setgid');
}

/**
 * Sets the real, effective and saved user ids (when privileged). https://man7.org/linux/man-pages/man2/setuid.2.html
 * glibc changes every thread of the process. Needs CAP_SETUID. Going from uid 0 to
 * another clears the permitted and effective capabilities, unless PR_SET_KEEPCAPS
 * was set, which keeps permitted (effective is cleared all the same).
 */
export function setuid(uid: number): void {
  check(setuid_(uid), 'setuid');
}

/** Closes a file descriptor. https://man7.org/linux/man-pages/man2/close.2.html */
export function close(fd: number): void {
  check(close_(fd), 'close');
}

/**
 * Makes `newfd` a copy of `oldfd` (closing what `newfd` was open on); the copy is not
 * close-on-exec. https://man7.org/linux/man-pages/man2/dup2.2.html
 */
export function dup2(oldfd: number, newfd: number): void {
  check(dup2_(oldfd, newfd), 'dup2');
}

/**
 * Starts a new session, the caller its leader and the only member of a new process
 * group, with no controlling terminal; returns the session id. Fails with EPERM in a
 * process group leader. https://man7.org/linux/man-pages/man2/setsid.2.html
 */
export function setsid(): number {
  return check(setsid_(), 'setsid');
}

/** Flag for close_range: mark close-on-exec instead of closing now. */
export const CLOSE_RANGE_CLOEXEC = 1 << 2;
/** The largest file descriptor number, as close_range's "to the end". */
export const MAX_FD = 0xffffffff;

/** Closes (or marks close-on-exec) every fd in [first, last]. https://man7.org/linux/man-pages/man2/close_range.2.html */
export function close_range(first: number, last: number, flags: number): void {
  check(closeRange_(first, last, flags), 'close_range');
}

/**
 * Replaces the calling process with `path`. Returns only by throwing.
 * https://man7.org/linux/man-pages/man2/execve.2.html
 * Prefer `exec` from this package, which first undoes what Node did to the process.
 */
export function execve(path: string, argv: readonly string[], envp: readonly string[]): never {
  // koffi passes a JS array as a C array; C wants both NULL-terminated.
  check(execve_(path, [...argv, null], [...envp, null]), 'execve', path);
  throw new Error('execve returned without an error'); // unreachable: execve returns only on failure
}

/**
 * Ends the calling process at once with `status`: no exit handlers, nothing of Node's
 * own way out. https://man7.org/linux/man-pages/man2/_exit.2.html
 */
export function _exit(status: number): never {
  exit_(status);
  throw new Error('_exit returned'); // unreachable
}

// #region pivot_root
// pivot_root has no glibc wrapper: it is called by number, which differs per architecture.
const SYS_pivot_root: Partial<Record<string, number>> = { x64: 155, arm64: 41, riscv64: 41, loong64: 41 };

/**
 * Makes `newRoot` the root mount of the caller's mount namespace and moves the old
 * root to `putOld` (which must be at or under `newRoot`). https://man7.org/linux/man-pages/man2/pivot_root.2.html
 */
export function pivot_root(newRoot: string, putOld: string): void {
  const number = SYS_pivot_root[process.arch];
  if (number === undefined) throw new Error(`pivot_root: no syscall number known for ${process.arch}`);
  check(syscall_(number, 'const char *', newRoot, 'const char *', putOld), 'pivot_root', newRoot);
}
// #endregion
