// The runtime's part of the container's terminal: whether there is one (the options),
// the handshake that makes it (on stage 5's fd-3 socket, after "go"), and the relay
// that runs while the container does. The child's part is in main.ts, step by step,
// with the pieces of pty.ts.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import type { Conversation } from '5-isolate-cgroup/sync';
import { CliError, ExitStatus, type OptionSpec, step, trace } from '@samples/runtime';
import { tcgetwinsize, tcsetwinsize } from '@samples/syscalls';
import { openMaster } from './pty';
import { followWindowSize, makeRaw, relay } from './relay';

export const terminalOptions = {
  tty: { short: 't', description: 'give the container a terminal of its own (the default when stdin is a terminal)' },
  'no-tty': { description: 'pass stdin, stdout and stderr through as they are, even from a terminal' },
} satisfies Record<string, OptionSpec>;

// #region choose
/**
 * Whether the container gets a terminal of its own: when stdin is a terminal, unless
 * --no-tty. --tty asks for one, and without a terminal on stdin there is nothing to
 * relay: refused in one line, as `docker run -it` from a pipe is
 * ("the input device is not a TTY"; Docker refuses -t only together with -i).
 */
export function wantsTerminal(options: { tty: boolean; 'no-tty': boolean }, stdinIsTerminal = process.stdin.isTTY === true): boolean {
  if (options.tty && options['no-tty']) throw new CliError('--tty and --no-tty: choose one', ExitStatus.USAGE);
  if (options.tty && !stdinIsTerminal) {
    throw new CliError('--tty needs a terminal on stdin: run it from a terminal, or drop --tty to pass pipes through', ExitStatus.USAGE);
  }
  return stdinIsTerminal && !options['no-tty'];
}
// #endregion

// #region connect
/**
 * The runtime's half of the terminal's handshake, after "go". When the child has
 * mounted its devpts ("devpts"): opens a pty there (the master stays here), gives it
 * this terminal's size, tells the child its number, and waits until the child has made
 * the other side its terminal ("attached"). Returns the master, or undefined if the
 * child ended before (its exit status says why).
 */
export async function connectTerminal(conversation: Conversation, pid: number): Promise<number | undefined> {
  if ((await conversation.receive()) !== 'devpts') return undefined;
  const { master, index } = step(`open /proc/${pid}/root/dev/pts/ptmx, unlock it, TIOCGPTN`, () => openMaster(pid));
  try {
    step('TIOCSWINSZ: the size of this terminal', () => tcsetwinsize(master, tcgetwinsize(0)));
    conversation.send(String(index));
    // Only once the child holds the other side will the master say EIO when it is closed.
    if ((await conversation.receive()) === 'attached') return master;
  } catch (error) {
    fs.closeSync(master);
    throw error;
  }
  fs.closeSync(master);
  return undefined;
}
// #endregion

// #region relay-terminal
/**
 * While the container runs: this terminal raw, the pty following its size, bytes both
 * ways until the pty says EIO (the container's last process holding it is gone, and
 * all it wrote is out); then this terminal's modes back. Takes `master` over.
 */
export async function relayTerminal(master: number, container: ChildProcess): Promise<void> {
  trace('raw mode on; relaying until the pty says EIO');
  const gone = container.exitCode !== null || container.signalCode !== null ? Promise.resolve() : once(container, 'exit');
  const restore = makeRaw(0);
  const unfollow = followWindowSize(0, master);
  try {
    await relay(master, { input: process.stdin, output: process.stdout }, gone);
  } finally {
    unfollow();
    restore();
  }
}
// #endregion

/**
 * How a line of the runtime's own ends on stderr (stage 5's OOM report): "\r\n" when
 * the container has a terminal and stderr is one. While the relay runs the terminal is
 * raw, and a bare "\n" would go down a line without going back to its start; before
 * and after, cooked, "\r\n" shows the same as "\n".
 */
export function lineEnd(withTerminal: boolean): string {
  return withTerminal && process.stderr.isTTY ? '\r\n' : '\n';
}
