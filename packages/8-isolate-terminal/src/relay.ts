// The runtime's side of the container's terminal. The runtime holds the pty's master;
// its own terminal goes raw, so that every key (Ctrl-C, Ctrl-Z, Ctrl-\ included) is a
// byte for the container's line discipline, and bytes are copied both ways until the
// container's side is closed. The runtime's terminal gets its modes back on every way
// out, and the container's pty follows the size of the runtime's terminal.
import fs from 'node:fs';
import os from 'node:os';
import tty from 'node:tty';
import {
  F_DUPFD_CLOEXEC,
  F_GETFL,
  F_SETFL,
  O_NONBLOCK,
  SIG_BLOCK,
  SIG_SETMASK,
  SIZEOF_SIGSET_T,
  TCSADRAIN,
  cfmakeraw,
  fcntl,
  sigprocmask,
  sigset,
  tcgetattr,
  tcgetwinsize,
  tcsetattr,
  tcsetwinsize,
} from '@samples/syscalls';

const { SIGTTOU } = os.constants.signals;

/** How long input waits before another try when the container's input queue is full. */
const INPUT_RETRY_MS = 10;

// #region raw
/**
 * Puts the terminal `fd` in raw mode (cfmakeraw: no echo, no line editing, no signals
 * from keys, no output processing). Returns the function that puts its modes back; it
 * runs once, from whichever way out comes first: the caller's `finally`, or the
 * process's 'exit' event (process.exit, an uncaught exception, the end of the loop).
 * (Node 20 also puts back, at exit, the modes fds 0-2 had when it started; it does not
 * when killed by a signal it has no handler for, such as SIGHUP: the runtime handles
 * SIGTERM and SIGHUP itself, and after SIGKILL only `reset` helps.)
 */
export function makeRaw(fd: number): () => void {
  const saved = tcgetattr(fd);
  // TCSADRAIN: what was written before (a trace line) still goes out with \n -> \r\n.
  tcsetattr(fd, TCSADRAIN, cfmakeraw(saved));
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    // A process outside the terminal's foreground group that changes its modes gets
    // SIGTTOU, which stops it: a runtime put in the background (`kill -STOP`, then `bg`)
    // would stop on its way out. Blocked, the change is made (Node does the same at exit).
    const mask = Buffer.alloc(SIZEOF_SIGSET_T);
    sigprocmask(SIG_BLOCK, sigset(SIGTTOU), mask);
    try {
      tcsetattr(fd, TCSADRAIN, saved);
    } catch {
      // The terminal is gone (hung up): there is nothing left to restore.
    } finally {
      sigprocmask(SIG_SETMASK, mask, null);
    }
  };
  process.on('exit', restore);
  return restore;
}
// #endregion

// #region window
/**
 * Gives the pty the window size of the terminal `from`, now and after every resize
 * (SIGWINCH). The kernel passes the change on to the container's foreground process
 * group as a SIGWINCH of its own. Returns the function that stops following.
 */
export function followWindowSize(from: number, master: number): () => void {
  const resize = () => {
    try {
      tcsetwinsize(master, tcgetwinsize(from));
    } catch {
      // The terminal or the pty is gone: the relay is ending.
    }
  };
  resize();
  process.on('SIGWINCH', resize);
  return () => process.off('SIGWINCH', resize);
}
// #endregion

export interface TerminalStreams {
  /** Where keys come from: the runtime's terminal, in raw mode. */
  readonly input: NodeJS.ReadStream;
  /** Where the container's output goes (a terminal, or a file or pipe with --tty). */
  readonly output: NodeJS.WriteStream;
}

// #region relay
/**
 * Copies `terminal.input` to the pty's `master` and the master to `terminal.output`
 * until the container's side is closed, then resolves once the last output is written.
 * Takes `master` over: it is closed at the end. `containerGone` resolves when the
 * container's last process has ended: what the pty holds then is all there will be.
 *
 * Reading: a tty.ReadStream on the master (libuv polls it). The master is made
 * non-blocking first (it is the runtime's own open file, shared with nobody), so a
 * read never stalls the event loop. When the last process holding the pty's other
 * side is gone, a read fails with EIO once everything written before was read: EIO is
 * the end of the output, not an error. (libuv may say EOF before that: see 'end'.)
 *
 * Writing: never a tty.WriteStream on the master (it makes the fd blocking again, and a
 * blocking write into a full input queue stops the event loop: nothing drains the
 * output, the container blocks writing it, and neither side moves again). Input is
 * written with non-blocking writes; when the queue is full (EAGAIN), the keyboard is
 * paused and the rest is tried again a moment later.
 */
export function relay(master: number, { input, output }: TerminalStreams, containerGone?: Promise<unknown>): Promise<void> {
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  // The stream gets a copy of the fd, and closes it when it ends; the relay keeps
  // `master` for the input, the window size and the last read.
  const containerOutput = new tty.ReadStream(fcntl(master, F_DUPFD_CLOEXEC, 3));
  const keys = relayInput(input, master);

  return new Promise((resolve, reject) => {
    // The runtime's terminal may go away (hangup) before the container ends: its output
    // is then dropped, so that the container never blocks on a pty nobody reads.
    let outputGone = false;
    const onOutputError = () => {
      outputGone = true;
      containerOutput.resume();
    };
    output.on('error', onOutputError);

    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      keys.stop();
      containerOutput.destroy();
      fs.closeSync(master);
      const done = () => {
        output.off('error', onOutputError);
        if (error) reject(error);
        else resolve();
      };
      // Done once every byte before it is written (at once on a terminal, where Node
      // writes synchronously; once a pipe has taken it otherwise).
      if (outputGone) done();
      else output.write('', done);
    };

    containerOutput.on('data', (chunk: Buffer) => {
      if (outputGone) return;
      if (!output.write(chunk)) {
        containerOutput.pause();
        output.once('drain', () => containerOutput.resume());
      }
    });
    // What is left in the kernel, read until EIO; then the end.
    const drainAndFinish = () => {
      if (settled) return; // `master` is closed: its number may be another file's by now
      try {
        for (const chunk of drain(master)) if (!outputGone) output.write(chunk);
      } catch (error) {
        finish(error as Error);
      }
      finish();
    };
    // libuv (1.46, in Node 20) ends a stream when the poll says "hung up" after a short
    // read; a pty master says so as soon as the container's side is closed, while up to
    // 64 KiB may still wait in the kernel (libuv issue 4992). So 'end' is not the end:
    // what is left is read here, until EIO.
    containerOutput.on('end', drainAndFinish);
    // Once the container is gone, nothing holds its side any more (the kernel ends every
    // process of a PID namespace before its first one is reaped): what is left is read
    // now. A master whose other side was never opened (the child died before) would
    // never say EIO, nor end.
    void containerGone?.then(drainAndFinish, drainAndFinish);
    containerOutput.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'EIO' ? undefined : error));
  });
}

/**
 * Reads what is left in the master once the container's side is closed. Never blocks:
 * with the other side closed, the kernel returns what it holds, then EIO (a read on a
 * master whose slave is still open would say EAGAIN, and ends the drain too).
 */
function* drain(master: number): Generator<Buffer> {
  const buffer = Buffer.alloc(65536);
  for (;;) {
    let count: number;
    try {
      count = fs.readSync(master, buffer);
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'EIO' || code === 'EAGAIN') return;
      throw error;
    }
    if (count === 0) return;
    yield Buffer.from(buffer.subarray(0, count));
  }
}

/** Writes what is typed into the master, without ever blocking; stops at stop() or when the pty is gone. */
function relayInput(input: NodeJS.ReadStream, master: number): { stop(): void } {
  const pending: Buffer[] = [];
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;

  const flush = () => {
    retry = undefined;
    while (pending.length > 0 && !stopped) {
      const chunk = pending[0]!;
      let written: number;
      try {
        written = fs.writeSync(master, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          input.pause();
          retry = setTimeout(flush, INPUT_RETRY_MS);
          return;
        }
        pending.length = 0; // EIO: the container's side is closed, its input goes nowhere
        return;
      }
      if (written < chunk.length) pending[0] = chunk.subarray(written);
      else pending.shift();
    }
    if (!stopped) input.resume();
  };
  const onData = (chunk: Buffer) => {
    pending.push(chunk);
    if (retry === undefined) flush();
  };
  input.on('data', onData);
  input.resume();

  return {
    stop() {
      stopped = true;
      clearTimeout(retry);
      input.off('data', onData);
      input.pause();
    },
  };
}
// #endregion
