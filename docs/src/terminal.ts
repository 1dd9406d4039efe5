// A real terminal for the transcripts: each command line runs on a pseudo-terminal of its
// own (util-linux's `script` makes one), as in the learner's terminal emulator. Then a
// shell is interactive, job control is on, programs see a terminal on stdin, stdout and
// stderr, and what the page shows is what a terminal showed: nothing that only happens
// on a real terminal can hide from the pages.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';

/** The terminal's size, fixed: `ls` and `ps` lay their output out to the width. */
export const COLUMNS = 120;
const ROWS = 40;

/** Stands for "the line is erased": a carriage return followed by erase-line (CSI K). */
const ERASED = '\u0000';

/** What the terminal showed: the bytes, less colours, cursor moves and carriage returns. */
export function screenText(output: string): string {
  const text = output
    // Escape sequences are control characters by definition: matching them is the point.
    // eslint-disable-next-line no-control-regex
    .replace(/\r\x1b\[[02]?K/g, `\r${ERASED}`)
    // CSI sequences (colours, bracketed paste on and off, clearing a line), OSC (a title), and the short ones.
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g, '')
    .replace(/\r+\n/g, '\n');
  // A carriage return alone starts the line again: what follows is written over it.
  return text
    .split('\n')
    .map((line) => {
      if (!line.includes('\r')) return line;
      let shown: string[] = [];
      for (const part of line.split('\r')) {
        if (part.startsWith(ERASED)) shown = [];
        // One code point, one column, as the terminal placed them (the transcripts hold no emoji).
        // eslint-disable-next-line typescript/no-misused-spread
        [...part.replace(ERASED, '')].forEach((char, column) => (shown[column] = char));
      }
      return shown.join('');
    })
    .join('\n');
}

/** A command line (run by bash) on a pseudo-terminal of its own, in `cwd`. */
export class TerminalProcess {
  private readonly process: ChildProcessByStdio<Writable, Readable, null>;
  private raw = '';
  /** Whether the command has ended and all it showed has been read. */
  finished = false;

  constructor(command: string, cwd: string) {
    // script runs the command with $SHELL -c on a new pseudo-terminal, copies what we
    // write to it as typed keys, and what appears on it to stdout. Its own echo of the
    // input is off (-E never would turn the terminal's off too: readline then echoes nothing).
    const line = `stty cols ${COLUMNS} rows ${ROWS}; ${command}`;
    this.process = spawn('script', ['--quiet', '--flush', '--command', line, '/dev/null'], {
      cwd,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, SHELL: '/bin/bash', TERM: 'xterm' },
      // Its own process group: abandon() reaches script, which takes the command with it.
      detached: true,
    });
    this.process.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.raw += chunk));
    this.process.once('close', () => (this.finished = true));
  }

  /** Everything the terminal has shown so far, as text. */
  get text(): string {
    return screenText(this.raw);
  }

  /** Keys, as a learner types them ("\r" is Enter). */
  type(keys: string): void {
    this.process.stdin.write(keys);
  }

  /**
   * Whether a program reads a terminal key by key, with a line editor of its own: bash's
   * (readline) turns canonical mode off while it waits for a line, and on again while a
   * command runs; it leaves signals on. The terminal looked at is whichever the command's
   * processes read: this one, or, when a runtime relays it to a container's terminal of
   * its own (stage 8), the container's. The relaying runtime's own is raw, signals off
   * too: that is not a shell waiting for a line.
   */
  readsKeys(): boolean {
    const terminals = new Map<string, string>();
    for (const pid of descendants(this.process.pid!)) {
      const stdin = `/proc/${pid}/fd/0`;
      try {
        const stat = fs.statSync(stdin);
        if (stat.isCharacterDevice() && !terminals.has(`${stat.dev}:${stat.rdev}`)) terminals.set(`${stat.dev}:${stat.rdev}`, stdin);
      } catch {
        // gone, or not open
      }
    }
    return [...terminals.values()].some((stdin) => {
      const settings = spawnSync('stty', ['-F', stdin, '-a'], { encoding: 'utf8' }).stdout ?? '';
      return /(^|\s)-icanon(\s|$)/.test(settings) && !/(^|\s)-isig(\s|$)/.test(settings);
    });
  }

  /** Once the command has ended: no more keys. */
  endInput(): void {
    this.process.stdin.end();
  }

  abandon(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) process.kill(-this.process.pid!, 'SIGTERM');
  }
}

/**
 * Every process below `pid`, children first. A child is listed under the thread that
 * made it: pnpm starts its scripts from a thread other than its main one.
 */
function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((task) => readChildren(`/proc/${pid}/task/${task}/children`));
  } catch {
    return []; // gone
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function readChildren(file: string): number[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // the thread is gone
  }
}
