// The two process primitives Node lacks, built from @samples/syscalls: starting a child
// in new namespaces (Go's SysProcAttr.Cloneflags), and replacing the current process
// with a command (Go's syscall.Exec), cleanly.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  CLONE_NEWNS,
  CLOSE_RANGE_CLOEXEC,
  CloneFlags,
  FD_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  MAX_FD,
  NSIG,
  O_NONBLOCK,
  SIG_SETMASK,
  SIZEOF_SIGACTION,
  SIZEOF_SIGSET_T,
  SyscallError,
  _exit,
  close_range,
  defaultAction,
  execve,
  fcntl,
  namespaceFiles,
  setns,
  sigaction,
  sigprocmask,
  unshare,
} from '@samples/syscalls';

const SIGKILL = 9;
const SIGSTOP = 19;

/** The CLONE_* names set in `flags`: 0x24000000 -> ['CLONE_NEWUTS', 'CLONE_NEWPID']. */
export function cloneFlagNames(flags: number): (keyof typeof CloneFlags)[] {
  return (Object.keys(CloneFlags) as (keyof typeof CloneFlags)[]).filter((name) => flags & CloneFlags[name]);
}

/**
 * child_process.spawn, loaded on first use: child_process (with the net and stream
 * modules it brings) costs a Node start ~2.5 ms, and a stage's container child, which
 * runs the same bundle as its runtime, never spawns.
 */
function spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:child_process') as typeof import('node:child_process')).spawn(command, args, options);
}

// #region spawnInNamespaces
/**
 * Spawns `command` in new namespaces: the counterpart of Go's
 * `cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}`.
 *
 * Node cannot pass clone flags to fork, but libuv forks from the main thread, and a
 * child inherits that thread's namespaces. So: remember the thread's current
 * namespaces, unshare into new ones, spawn, and go back. Only the child stays inside.
 * (A new PID namespace is entered by the *next* child only, and only once: after its
 * first process exits, forking into it fails, which is one more reason to go back.)
 *
 * Not CLONE_NEWNS: unsharing a mount namespace also unshares the thread's root and
 * working directory from the other threads (CLONE_FS), for good, and the runtime would
 * go on with a main thread that disagrees with its thread pool about where `.` is.
 * The child makes its own mount namespace instead, as its first step.
 */
export function spawnInNamespaces(
  command: string,
  args: readonly string[],
  flags: number,
  options: SpawnOptions = {},
): ChildProcess {
  if (flags & CLONE_NEWNS) {
    throw new Error('spawnInNamespaces: CLONE_NEWNS would split the runtime from its own threads; call unshare(CLONE_NEWNS) in the child');
  }
  const saved: { nstype: number; fd: number }[] = [];
  try {
    // The calling thread's own namespaces (/proc/self/ns would name the main thread's).
    for (const name of cloneFlagNames(flags)) {
      saved.push({ nstype: CloneFlags[name], fd: fs.openSync(`/proc/thread-self/ns/${namespaceFiles[name]}`, 'r') });
    }
    unshare(flags); // if this fails, nothing has changed yet
    let child: ChildProcess;
    try {
      child = spawn(command, args, options);
    } catch (error) {
      goBack(saved);
      throw error;
    }
    try {
      goBack(saved);
    } catch (error) {
      // The runtime could not return, so it cannot go on: neither may the child.
      child.kill('SIGKILL');
      throw error;
    }
    return child;
  } finally {
    for (const { fd } of saved) fs.closeSync(fd);
  }
}

function goBack(saved: readonly { nstype: number; fd: number }[]): void {
  for (const { nstype, fd } of saved) setns(fd, nstype);
}
// #endregion

// #region withNamespace
/**
 * Runs `action` with the calling thread inside the namespace `nsFile` names (such as
 * `/proc/PID/ns/net`), then moves the thread back where it was, even if `action` threw.
 *
 * What `action` creates keeps the namespace it was created in: a socket opened inside
 * a network namespace stays there, so the runtime can configure a container's network
 * from the outside through it. Only the calling thread moves (namespaces are per
 * thread), so `action` must be synchronous: libuv's thread pool stays behind. For
 * network, UTS and IPC namespaces; not mount (see spawnInNamespaces).
 */
export function withNamespace<T>(nsFile: string, nstype: number, action: () => T): T {
  const [name, ...others] = cloneFlagNames(nstype);
  if (name === undefined || others.length > 0 || nstype === CLONE_NEWNS) {
    throw new Error(`withNamespace takes one namespace type, and not CLONE_NEWNS: ${cloneFlagNames(nstype).join('|') || nstype}`);
  }
  const target = fs.openSync(nsFile, 'r');
  try {
    const saved = fs.openSync(`/proc/thread-self/ns/${namespaceFiles[name]}`, 'r');
    try {
      setns(target, nstype);
      try {
        return action();
      } finally {
        setns(saved, nstype);
      }
    } finally {
      fs.closeSync(saved);
    }
  } finally {
    fs.closeSync(target);
  }
}
// #endregion

/**
 * Finds `file` the way a shell would: as given if it holds a slash, else in `PATH`.
 * Throws SyscallError ENOENT, EISDIR (a directory given by its path) or EACCES (a file
 * found but not executable).
 */
export function findExecutable(file: string, searchPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string {
  const candidates = file.includes('/') ? [file] : searchPath.split(':').map((dir) => path.join(dir || '.', file));
  let refused: SyscallError | undefined;
  for (const candidate of candidates) {
    const stat = fs.statSync(candidate, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    // A folder on PATH with the command's name is passed over, as a shell does.
    if (stat.isDirectory()) {
      if (file.includes('/')) refused ??= new SyscallError(21 /* EISDIR */, 'execve', candidate);
      continue;
    }
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') refused ??= new SyscallError(13 /* EACCES */, 'execve', candidate);
    }
  }
  throw refused ?? new SyscallError(2 /* ENOENT */, 'execve', file);
}

// #region exec
/**
 * Replaces the current process with `file` (searched in PATH), as Go's syscall.Exec.
 * The command becomes this process: same pid (PID 1 in a new PID namespace), same
 * namespaces, root and cgroup. Before execve it undoes what Node did to the process,
 * each of which would make the command behave unlike it does from a shell:
 * 1. Node marks fds 0-2 close-on-exec and may make them non-blocking: clear both,
 *    or the command starts without stdio, or its reads fail with EAGAIN.
 * 2. Node's own fds (epoll, eventfd, pipes) would leak into the command: mark every
 *    fd from 3 up close-on-exec.
 * 3. Node ignores SIGPIPE, and ignored signals stay ignored across execve (then
 *    `yes | head -1` never ends): reset every signal to its default, unblock all.
 * Should execve fail (ENOEXEC: not a program; ETXTBSY), all of that is put back as it
 * was, so that the runtime can go on and report it as before.
 * Returns only by throwing (ENOENT: no such command; EACCES: not executable).
 */
export function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): never {
  const resolved = findExecutable(file, env.PATH);
  const envp = Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
  const undo = prepareForExec();
  try {
    return execve(resolved, [file, ...args], envp);
  } catch (error) {
    undo();
    throw error;
  }
}

/** The three steps above; returns what puts the process back as it was. */
function prepareForExec(): () => void {
  const stdio = [0, 1, 2].map((fd) => ({ fd, fdFlags: fcntl(fd, F_GETFD), statusFlags: fcntl(fd, F_GETFL) }));
  const mask = Buffer.alloc(SIZEOF_SIGSET_T);
  sigprocmask(SIG_SETMASK, null, mask);
  const actions = new Map<number, Buffer>();
  for (let signum = 1; signum < NSIG; signum++) {
    if (signum === SIGKILL || signum === SIGSTOP || signum === 32 || signum === 33) continue; // 32, 33: glibc's own
    const old = Buffer.alloc(SIZEOF_SIGACTION);
    sigaction(signum, null, old);
    actions.set(signum, old);
  }

  for (const { fd, fdFlags, statusFlags } of stdio) {
    fcntl(fd, F_SETFD, fdFlags & ~FD_CLOEXEC);
    fcntl(fd, F_SETFL, statusFlags & ~O_NONBLOCK);
  }
  close_range(3, MAX_FD, CLOSE_RANGE_CLOEXEC);
  const byDefault = defaultAction();
  for (const signum of actions.keys()) sigaction(signum, byDefault, null);
  sigprocmask(SIG_SETMASK, Buffer.alloc(SIZEOF_SIGSET_T), null);

  return () => {
    for (const [signum, old] of actions) sigaction(signum, old, null);
    sigprocmask(SIG_SETMASK, mask, null);
    for (const { fd, fdFlags, statusFlags } of stdio) {
      fcntl(fd, F_SETFD, fdFlags);
      fcntl(fd, F_SETFL, statusFlags);
    }
    // The fds from 3 up stay close-on-exec: the runtime execs nothing else.
  };
}
// #endregion

/**
 * Writes `line` to stderr and ends the process at once with `status` (libc's _exit), as
 * a C runtime's child does after a failed execve. The way out of a container's child:
 * once it has a seccomp filter that refuses io_uring, as Docker's does (stage 7), Node 22
 * and later abort at the next turn of their event loop, or on their way out (their libuv
 * batches epoll changes through an io_uring it sets up at start, whatever
 * UV_USE_IO_URING says), where Node 20 exits as asked.
 */
export function exitNow(status: number, line: string): never {
  try {
    fs.writeSync(2, line);
  } catch {
    // stderr is gone: the status says it all
  }
  return _exit(status);
}
