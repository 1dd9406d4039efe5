// Running a transcript's steps as a learner would, with two terminals: one where they
// start the container and type into its shell, one on the host to look from outside.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

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
 * Runs `steps` in `repo` through bash, stdout and stderr together as in a terminal.
 * In commands, `<repo>` stands for `repo`. The recording shows commands as they ran:
 * normalising it turns the folder back into `<repo>`.
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
        host.push(`$ ${command}`, ...runToEnd(command, repo));
      } else {
        await leaveShell();
        started = true;
        if ('run' in step) terminal.push(`$ ${expand(step.run)}`, ...runToEnd(expand(step.run), repo));
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

function bash(command: string): [string, string[]] {
  // One stream for stdout and stderr, as a terminal shows them: in the order written.
  return ['bash', ['-c', `exec 2>&1\n${command}`]];
}

function runToEnd(command: string, cwd: string): string[] {
  const [file, args] = bash(command);
  const result = spawnSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: STEP_TIMEOUT_MS });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  return lines(result.stdout);
}

function lines(output: string): string[] {
  return output === '' ? [] : output.replace(/\n$/, '').split('\n');
}

/**
 * A container whose command is a shell reading its commands from a pipe. After each
 * command it is asked to echo a marker: what came before the marker is that command's output.
 */
class ContainerShell {
  private readonly process: ChildProcessByStdio<Writable, Readable, null>;
  private output = '';
  private markers = 0;
  private readonly closed: Promise<void>;

  constructor(command: string, cwd: string) {
    const [file, args] = bash(command);
    // Its own process group: if a step times out, the runtime gets SIGTERM and cleans up.
    this.process = spawn(file, args, { cwd, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    this.process.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.closed = new Promise((resolve, reject) => {
      this.process.once('error', reject).once('close', () => resolve());
    });
  }

  /** What the runtime printed until the shell was ready for its first command. */
  ready(): Promise<string[]> {
    return this.send('');
  }

  type(command: string): Promise<string[]> {
    return this.send(`${command}\n`);
  }

  /** Types `exit`; resolves to what was printed until the runtime ended. */
  async exit(): Promise<string[]> {
    this.process.stdin.end('exit\n');
    await this.within(this.closed, 'exit');
    return lines(this.take(this.output.length, 0));
  }

  abandon(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) process.kill(-this.process.pid!, 'SIGTERM');
  }

  private async send(input: string): Promise<string[]> {
    const marker = `--- end of step ${++this.markers} ---`;
    this.process.stdin.write(`${input}echo '${marker}'\n`);
    const seen = new Promise<void>((resolve) => {
      const check = () => {
        if (!this.output.includes(`${marker}\n`)) return;
        this.process.stdout.off('data', check);
        resolve();
      };
      this.process.stdout.on('data', check);
      check();
    });
    await this.within(Promise.race([seen, this.closed]), input.trim() || 'start');
    const at = this.output.indexOf(`${marker}\n`);
    if (at === -1) throw new Error(`the container ended before "${input.trim()}" was done:\n${this.output}`);
    return lines(this.take(at, marker.length + 1));
  }

  private take(length: number, skip: number): string {
    const taken = this.output.slice(0, length);
    this.output = this.output.slice(length + skip);
    return taken;
  }

  private async within(promise: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`"${what}" took over ${STEP_TIMEOUT_MS / 1000} s; output so far:\n${this.output}`)), STEP_TIMEOUT_MS);
    });
    try {
      await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
