// A host shell in a real terminal (tmux), from which the tests start the stage as a
// learner would, and read what the terminal shows. Every wait is bounded and, when it
// runs out, says what it waited for and shows the screen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs/resolve';
import { Terminal, stageCommand } from '@samples/testing';

/** The stage's folder. */
export const stage = path.join(__dirname, '..');

/**
 * The stage's command line as a shell would type it (`pnpm start` without pnpm), with
 * --network none: no test here needs a network, and a bridge would be made on the
 * real host otherwise (the terminal's shell runs there).
 */
export const stageLine = (() => {
  const [node, argv] = stageCommand(stage, ['--network', 'none']);
  return [node, ...argv].map((arg) => `'${arg}'`).join(' ');
})();

export interface HostShell {
  readonly terminal: Terminal;
  /** A folder of the test's own, gone at its end. */
  readonly scratch: string;
  /** Types `line` and Enter. */
  run(line: string): void;
  /** Pastes the contents of `file`, as a terminal does (bracketed paste if the program asked for it). */
  paste(file: string): void;
  /** Clears the screen and waits until only the prompt is left (keys typed meanwhile would be wiped with it). */
  clear(): Promise<void>;
  /** The pid of the program the host shell is running in the foreground: the runtime, while one runs. */
  runtimePid(): number;
}

/** A tmux window running a plain bash (prompt "host$ ") in the stage's folder, closed at the end of the test. */
export function hostShell(t: { teardown(fn: () => void): void }, { width = 100, height = 30 } = {}): HostShell {
  const terminal = new Terminal(`env PS1='host$ ' bash --norc --noprofile`, { cwd: stage, width, height });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `${terminal.session}-`));
  t.teardown(() => {
    terminal.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  return {
    terminal,
    scratch,
    run: (line) => terminal.type(line, 'Enter'),
    paste(file) {
      terminal.tmux('load-buffer', '-b', terminal.session, file);
      terminal.tmux('paste-buffer', '-d', '-b', terminal.session, '-t', terminal.session);
    },
    async clear() {
      terminal.type('clear', 'Enter');
      await terminal.waitFor('a cleared screen', (screen) => screen.trim().split('\n').length === 1 && !screen.includes('clear'));
    },
    runtimePid() {
      const shell = terminal.panePid();
      return Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(' ')[0]);
    },
  };
}

let rootfsChecked = false;

/** The default root filesystem has tty and stty since stage 8's tests: one built before lacks them. */
function checkRootfs(): void {
  if (rootfsChecked) return;
  const rootfs = resolveRootfs(undefined, { quiet: true });
  const missing = ['tty', 'stty'].filter((name) => !['usr/bin', 'bin'].some((dir) => fs.existsSync(path.join(rootfs, dir, name))));
  if (missing.length > 0) {
    throw new Error(`the default root filesystem lacks ${missing.join(' and ')} (built before they were added): pnpm rootfs build --force`);
  }
  rootfsChecked = true;
}

/**
 * Starts the stage with `command` (options first, if any) from the host shell, the host
 * terminal's modes (stty -g) saved before and after it, and waits for `prompt` (the
 * container's, or anything the command prints once it runs). `line`: the command line
 * that starts the stage, if not `stageLine`.
 */
export async function startContainer(shell: HostShell, command: string, prompt: RegExp, line = stageLine): Promise<void> {
  checkRootfs();
  await shell.terminal.waitFor('the host shell prompt', (screen) => screen.includes('host$'));
  shell.run(`stty -g > ${shell.scratch}/before; ${line} ${command}; echo "status=$?"; stty -g > ${shell.scratch}/after`);
  // 20 s: under the 30 s that \`pnpm workshop check\` gives a test to say something.
  await shell.terminal.waitFor(`the container's prompt ${prompt}`, (screen) => prompt.test(screen), 20_000);
}

/**
 * Waits for the stage to end; returns its status and whether the host terminal's
 * modes are the same as before it started.
 */
export async function containerEnded(shell: HostShell, timeoutMs = 10_000): Promise<{ status: number; modesBack: boolean }> {
  const screen = await shell.terminal.waitFor('the status line', (text) => /status=\d+/.test(text), timeoutMs);
  const after = `${shell.scratch}/after`;
  await shell.terminal.waitFor('the modes saved after the run', () => fs.existsSync(after) && fs.statSync(after).size > 0);
  return {
    status: Number(/status=(\d+)/.exec(screen)![1]),
    modesBack: fs.readFileSync(after, 'utf8') === fs.readFileSync(`${shell.scratch}/before`, 'utf8'),
  };
}

export const dashPrompt = /^# ?$/m;
export const bashPrompt = /root@container:\/# ?$/m;
