// The handshake between the runtime and its child, over the child's fd 3 (a socket).
// The child says "ready" once Node has started; the runtime does what must be done
// before the command's first instruction (join the cgroup) and answers "go". exec()
// marks fd 3 close-on-exec, so the runtime sees the socket close the moment the
// command starts: that is when signals can reach it (see waitForExit).
//
// A later stage whose child has more to ask before the command runs (stage 8: the
// number of its terminal) goes on talking after "go", in lines: see `converse` and
// the child's tellRuntime and askRuntime. Stages 5 to 7 send the same bytes as ever.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { ExitStatus } from '@samples/runtime';

/** The child's end of the socket. */
export const SYNC_FD = 3;

/**
 * The child's stdio: the runtime's own 0-2, and the socket as fd 3. `stdin: 'ignore'`
 * for a child that gets a terminal of its own (stage 8), so that its command never
 * holds the runtime's.
 */
export function stdioWithSync(stdin: 'inherit' | 'ignore' = 'inherit'): StdioOptions {
  return [stdin, 'inherit', 'inherit', 'pipe'];
}

// #region runtime
/**
 * The runtime's side. When the child is ready, runs `prepare` and lets the child go on.
 * Resolves once the command runs (or the child is gone: its status says why); rejects
 * with `prepare`'s error, after killing the child.
 *
 * With `converse`, the socket stays open both ways after "go", and `converse` talks
 * with the child in lines until it resolves; then, and once the command runs, this
 * resolves. Its error is handled as `prepare`'s.
 */
export function releaseWhenReady(
  child: ChildProcess,
  prepare: () => void,
  converse?: (conversation: Conversation) => Promise<void>,
): Promise<void> {
  const sync = child.stdio[SYNC_FD] as Duplex;
  return new Promise((resolve, reject) => {
    const fail = (error: unknown) => {
      child.kill('SIGKILL');
      reject(error);
    };
    let conversation = Promise.resolve();
    sync.once('data', () => {
      try {
        prepare();
        if (converse === undefined) sync.end('go');
        else {
          sync.write('go');
          conversation = converse(linesOver(sync)).then(() => void sync.end(), fail);
        }
      } catch (error) {
        fail(error);
      }
    });
    sync.once('end', () => void conversation.then(() => resolve()));
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

// #region conversation
// What follows "go" when the runtime passed `converse`: lines, both ways.

/** The lines the runtime and its child exchange after "go" (releaseWhenReady's `converse`). */
export interface Conversation {
  /** The child's next line; undefined once the child has closed its end (it exec'd, or died). */
  receive(): Promise<string | undefined>;
  /** Sends the child one line. */
  send(line: string): void;
}

/** The socket, read and written in lines. */
function linesOver(sync: Duplex): Conversation {
  // Loaded here, on first use: only stage 8's runtime talks on after "go", and readline
  // costs each Node start that loads it ~1 ms (the container's child too).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const readline = require('node:readline') as typeof import('node:readline');
  const lines = readline.createInterface({ input: sync, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return {
    receive: async () => {
      const { done, value } = await lines.next();
      return done ? undefined : value;
    },
    send: (line) => void sync.write(`${line}\n`),
  };
}

/** The child's side: tells the runtime one line. */
export function tellRuntime(program: string, message: string): void {
  try {
    retryOnInterrupt(() => fs.writeSync(SYNC_FD, `${message}\n`));
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EPIPE' || code === 'ECONNRESET') runtimeGone(program);
    throw error;
  }
}

/** Tells the runtime `question` (one line) and waits for its one-line answer. */
export function askRuntime(program: string, question: string): string {
  tellRuntime(program, question);
  // A byte at a time: whatever follows the answer is not this question's to read.
  const byte = Buffer.alloc(1);
  let answer = '';
  for (;;) {
    let count: number;
    try {
      count = retryOnInterrupt(() => fs.readSync(SYNC_FD, byte, 0, 1, null));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') runtimeGone(program);
      throw error;
    }
    if (count === 0) runtimeGone(program);
    if (byte[0] === 0x0a) return answer;
    answer += byte.toString('latin1');
  }
}
// #endregion
