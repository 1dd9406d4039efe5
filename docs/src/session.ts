// Running a transcript's steps as a learner would, with two terminals: one where they
// start the container and type into its shell, one on the host to look from outside.
import { COLUMNS, TerminalProcess } from './terminal';

export type Step =
  /** In the learner's terminal: a command line, run to its end. */
  | { readonly run: string }
  /** In the learner's terminal: a command that starts a shell in a container; the `inside` steps after it are typed into it. */
  | { readonly start: string }
  /** Typed into the container's shell; `exit` leaves it (as does the next `run` or `start`, or the end). */
  | { readonly inside: string }
  /**
   * In the second terminal, on the host: before, while or after the container runs, as
   * placed. `<cgroup:memory>` (v1) or `<cgroup>` (v2) stands for the container's cgroup
   * as the runtime's --verbose trace named it, which a learner would copy from there.
   */
  | { readonly host: string };

export interface Recording {
  /** The learner's terminal, line by line: `$ command` on the host, `container# command` inside, and what they printed. */
  readonly terminal: string[];
  /** The second terminal: `# when`, `$ command`, output. */
  readonly host: string[];
}

/** How long one command may take before the transcript is abandoned. */
const STEP_TIMEOUT_MS = 60_000;

/**
 * Runs `steps` in `repo`, each command line with bash on a terminal of its own (a
 * pseudo-terminal), as a learner's terminal emulator runs them. In commands, `<repo>`
 * stands for `repo`. The recording shows commands as they ran: normalising it turns the
 * folder back into `<repo>`.
 */
export async function record(steps: readonly Step[], repo: string): Promise<Recording> {
  const terminal: string[] = [];
  const host: string[] = [];
  const expand = (command: string) =>
    command.replaceAll('<repo>', repo).replace(/<cgroup(?::(\w+))?>/g, (placeholder, controller?: string) => {
      const traced = new RegExp(`cgroup ${controller ? `v1 \\(${controller}\\)` : 'v2'}: (\\S+)$`, 'm').exec(terminal.join('\n'));
      if (!traced) throw new Error(`${placeholder}: the transcript's terminal shows no such cgroup (run the stage with --verbose)`);
      return traced[1]!;
    });
  let shell: ContainerShell | undefined;
  let started = false;
  let when: string | undefined;
  const leaveShell = async () => {
    if (shell === undefined) return;
    terminal.push('container# exit', ...(await shell.exit()));
    shell = undefined;
  };
  try {
    for (const step of steps) {
      if ('inside' in step) {
        if (shell === undefined) throw new Error(`"${step.inside}": an inside step needs a start step before it`);
        if (step.inside === 'exit') await leaveShell();
        else terminal.push(`container# ${expand(step.inside)}`, ...(await shell.type(expand(step.inside))));
      } else if ('host' in step) {
        const now = shell !== undefined ? 'while the container runs' : started ? 'after it exited' : 'before it starts';
        if (now !== when) host.push(`# ${now}`);
        when = now;
        // Shown as run: the cgroup placeholders as the path a learner would paste.
        const command = expand(step.host);
        host.push(`$ ${command}`, ...(await runToEnd(command, repo)));
      } else {
        await leaveShell();
        started = true;
        if ('run' in step) terminal.push(`$ ${expand(step.run)}`, ...(await runToEnd(expand(step.run), repo)));
        else {
          shell = new ContainerShell(expand(step.start), repo);
          terminal.push(`$ ${expand(step.start)}`, ...(await shell.ready()));
        }
      }
    }
    await leaveShell();
  } finally {
    shell?.abandon();
  }
  return { terminal, host };
}

/** Runs `command` on a terminal of its own to its end; returns what the terminal showed. */
async function runToEnd(command: string, cwd: string): Promise<string[]> {
  const terminal = new TerminalProcess(command, cwd);
  try {
    await waitUntil(`"${command}" to end`, () => terminal.finished, terminal);
    terminal.endInput();
  } finally {
    terminal.abandon();
  }
  return lines(terminal.text);
}

function lines(output: string): string[] {
  return output === '' ? [] : output.replace(/\n$/, '').split('\n');
}

/**
 * Resolves once `predicate` holds. Rejects, saying what it waited for and what the
 * terminal showed, after STEP_TIMEOUT_MS, or when the terminal's command ended first
 * (unless waiting for that).
 */
async function waitUntil(what: string, predicate: () => boolean, terminal: TerminalProcess): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    if (predicate()) return;
    if (terminal.finished) throw new Error(`the command ended while waiting for ${what}; the terminal showed:\n${terminal.text}`);
    if (Date.now() > deadline) {
      throw new Error(`waited over ${STEP_TIMEOUT_MS / 1000} s for ${what}; the terminal showed:\n${terminal.text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A container whose command is an interactive bash, on a terminal of its own, typed into
 * as a learner types: a command once the prompt is there, Enter once it is echoed. A
 * command is done when the prompt comes back. The prompt is learnt at the start: once
 * bash's line editor reads the terminal, an empty line is typed, and what bash prints
 * twice is its prompt (it depends on the shell's settings, which in stage 2 are the
 * host's own).
 */
class ContainerShell {
  private readonly terminal: TerminalProcess;
  private prompt = '';
  /** How much of the terminal's text the steps so far have taken. */
  private taken = 0;

  constructor(command: string, cwd: string) {
    this.terminal = new TerminalProcess(command, cwd);
  }

  /** What the runtime printed until the shell was ready for its first command. */
  async ready(): Promise<string[]> {
    // An interactive sh leaves the terminal in canonical mode: only bash will do here.
    await waitUntil("the container's bash to read the terminal (is the command bash?)", () => this.terminal.readsKeys(), this.terminal);
    // The prompt comes after all the runtime printed: once the first of it is read, so is the rest.
    await waitUntil('the first prompt', () => !this.terminal.text.endsWith('\n') && this.terminal.text !== '', this.terminal);
    const before = this.terminal.text.lastIndexOf('\n') + 1;
    this.terminal.type('\r');
    await waitUntil(
      'the prompt, twice',
      () => {
        const [first, second] = this.terminal.text.split('\n').slice(-2);
        return first !== undefined && first !== '' && first === second;
      },
      this.terminal,
    );
    const text = this.terminal.text;
    this.prompt = text.slice(text.lastIndexOf('\n') + 1);
    this.taken = text.length;
    return lines(text.slice(0, before));
  }

  /** Types `command` and Enter; resolves to what it printed before the prompt came back. */
  async type(command: string): Promise<string[]> {
    await this.typeLine(command);
    await waitUntil(`the prompt after "${command}"`, () => this.terminal.text.endsWith(`\n${this.prompt}`), this.terminal);
    const text = this.terminal.text;
    const output = text.slice(this.taken, text.length - this.prompt.length);
    this.taken = text.length;
    return lines(output.slice(output.indexOf('\n') + 1)); // after the line the command was typed on
  }

  /** Types `exit`; resolves to what was shown until the runtime ended. */
  async exit(): Promise<string[]> {
    await this.typeLine('exit');
    await waitUntil('the container to end', () => this.terminal.finished, this.terminal);
    this.terminal.endInput();
    const output = this.terminal.text.slice(this.taken);
    return lines(output.slice(output.indexOf('\n') + 1));
  }

  abandon(): void {
    this.terminal.abandon();
  }

  /** Types the line, and Enter once the shell has echoed it (typed ahead, readline would not show it). */
  private async typeLine(command: string): Promise<void> {
    // Past the edge, readline wraps the line with cursor moves this text does not follow.
    if (this.prompt.length + command.length >= COLUMNS) {
      throw new Error(`"${command}" is too long to type after the prompt on a terminal ${COLUMNS} columns wide: shorten it`);
    }
    this.terminal.type(command);
    await waitUntil(`the echo of "${command}"`, () => this.terminal.text.endsWith(command), this.terminal);
    this.terminal.type('\r');
  }
}
