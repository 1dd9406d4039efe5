// The two process primitives Node lacks, built from the wrappers above:
// starting a child in new namespaces (Go's SysProcAttr.Cloneflags), and replacing
// the current process with a command (Go's syscall.Exec), cleanly.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_NONBLOCK, fcntl } from './fcntl';
import { SyscallError } from './errno';
import { CLONE_NEWNS, CloneFlags, namespaceFiles, setns, unshare } from './sched';
import { NSIG, signalDefault, unblockAllSignals } from './signal';
import { CLOSE_RANGE_CLOEXEC, MAX_FD, chroot, close_range, execve, fchdir } from './unistd';

const SIGKILL = 9;
const SIGSTOP = 19;

/** The CLONE_* names set in `flags`: 0x24000000 -> ['CLONE_NEWUTS', 'CLONE_NEWPID']. */
export function cloneFlagNames(flags: number): (keyof typeof CloneFlags)[] {
  return (Object.keys(CloneFlags) as (keyof typeof CloneFlags)[]).filter((name) => flags & CloneFlags[name]);
}

// #region spawnInNamespaces
/**
 * Spawns `command` in new namespaces: the counterpart of Go's
 * `cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}`.
 *
 * Node cannot pass clone flags to fork, but libuv forks from the main thread, and a
 * child inherits that thread's namespaces. So: remember the main thread's current
 * namespaces, unshare into new ones, spawn, and go back. Only the child stays inside.
 * (A new PID namespace is entered by the *next* child only, and only once: after its
 * first process exits, forking into it fails, which is one more reason to go back.)
 */
export function spawnInNamespaces(
  command: string,
  args: readonly string[],
  flags: number,
  options: SpawnOptions = {},
): ChildProcess {
  const saved = cloneFlagNames(flags).map((name) => ({
    nstype: CloneFlags[name],
    fd: fs.openSync(`/proc/self/ns/${namespaceFiles[name]}`, 'r'),
  }));
  // Going back into a mount namespace also moves the thread's root and working
  // directory to that namespace's root: keep both, to return exactly where we were
  // (the working directory matters always; the root when the runtime is chrooted).
  const where = flags & CLONE_NEWNS ? { root: fs.openSync('/', 'r'), cwd: fs.openSync('.', 'r') } : undefined;
  try {
    unshare(flags);
    return spawn(command, args, options);
  } finally {
    for (const { nstype, fd } of saved) {
      setns(fd, nstype);
      fs.closeSync(fd);
    }
    if (where) {
      fchdir(where.root);
      chroot('.');
      fchdir(where.cwd);
      fs.closeSync(where.root);
      fs.closeSync(where.cwd);
    }
  }
}
// #endregion

/**
 * Finds `file` the way a shell would: as given if it holds a slash, else in `PATH`.
 * Throws SyscallError ENOENT (or EACCES for a file found but not executable).
 */
export function findExecutable(file: string, searchPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string {
  const candidates = file.includes('/') ? [file] : searchPath.split(':').map((dir) => path.join(dir || '.', file));
  let denied: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') denied ??= candidate;
    }
  }
  if (denied !== undefined) throw new SyscallError(13 /* EACCES */, 'execve', denied);
  throw new SyscallError(2 /* ENOENT */, 'execve', file);
}

// #region exec
/**
 * Replaces the current process with `file` (searched in PATH), as Go's syscall.Exec.
 * The command becomes this process: same pid (PID 1 in a new PID namespace), same
 * namespaces, root and cgroup. Before execve it undoes what Node did to the process,
 * each of which would make the command behave unlike it does from a shell:
 * 1. Node marks fds 0-2 close-on-exec and may make them non-blocking: clear both,
 *    or the command starts without stdio.
 * 2. Node's own fds (epoll, eventfd, pipes) would leak into the command: mark every
 *    fd from 3 up close-on-exec.
 * 3. Node ignores SIGPIPE, and ignored signals stay ignored across execve (then
 *    `yes | head -1` never ends): reset every signal to its default, unblock all.
 * Returns only by throwing (ENOENT: no such command; EACCES: not executable).
 */
export function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): never {
  const resolved = findExecutable(file, env.PATH);
  for (const fd of [0, 1, 2]) {
    fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) & ~FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  close_range(3, MAX_FD, CLOSE_RANGE_CLOEXEC);
  for (let signum = 1; signum < NSIG; signum++) {
    if (signum === SIGKILL || signum === SIGSTOP || (signum > 31 && signum < 34)) continue; // 32, 33: glibc's own
    signalDefault(signum);
  }
  unblockAllSignals();
  const envp = Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
  return execve(resolved, [file, ...args], envp);
}
// #endregion
