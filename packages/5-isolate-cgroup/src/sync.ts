// The handshake between the runtime and its child, over the child's fd 3 (a socket).
// The child says "ready" once Node has started; the runtime does what must be done
// before the command's first instruction (join the cgroup) and answers "go". exec()
// marks fd 3 close-on-exec, so the runtime sees the socket close the moment the
// command starts: that is when signals can reach it (see waitForExit).
import type { ChildProcess, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { ExitStatus } from '@samples/runtime';

/** The child's end of the socket. */
export const SYNC_FD = 3;

/** The child's stdio: the runtime's own 0-2, and the socket as fd 3. */
export function stdioWithSync(): StdioOptions {
  return ['inherit', 'inherit', 'inherit', 'pipe'];
}

// #region runtime
/**
 * The runtime's side. When the child is ready, runs `prepare` and lets the child go on.
 * Resolves once the command runs (or the child is gone: its status says why); rejects
 * with `prepare`'s error, after killing the child.
 */
export function releaseWhenReady(child: ChildProcess, prepare: () => void): Promise<void> {
  const sync = child.stdio[SYNC_FD] as Duplex;
  return new Promise((resolve, reject) => {
    sync.once('data', () => {
      try {
        prepare();
        sync.end('go');
      } catch (error) {
        child.kill('SIGKILL');
        reject(error);
      }
    });
    sync.once('end', () => resolve());
    sync.on('error', () => {}); // the child is gone: waitForExit reports it
  });
}
// #endregion

// #region child
/**
 * The child's side: says it is ready and waits for the answer. Should the runtime be
 * gone (killed before it could answer), nobody waits for this container any more: it
 * says so where someone may still read it, and leaves.
 */
export function waitForRuntime(program: string): void {
  try {
    retryOnInterrupt(() => fs.writeSync(SYNC_FD, 'ready'));
    const reply = Buffer.alloc(2);
    for (let received = 0; received < reply.length; ) {
      const count = retryOnInterrupt(() => fs.readSync(SYNC_FD, reply, received, reply.length - received, null));
      if (count === 0) runtimeGone(program);
      received += count;
    }
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EPIPE' || code === 'ECONNRESET') runtimeGone(program);
    throw error;
  }
}

/** A signal may interrupt a blocking read or write (EINTR): it is then simply made again. */
function retryOnInterrupt<T>(call: () => T): T {
  for (;;) {
    try {
      return call();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINTR') throw error;
    }
  }
}

function runtimeGone(program: string): never {
  try {
    fs.writeSync(2, `${program}: the runtime went away before the container started\n`);
  } catch {
    // stderr went with it
  }
  process.exit(ExitStatus.RUNTIME);
}
// #endregion
