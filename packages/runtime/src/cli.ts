// The command-line plumbing every stage shares: options, the step trace, waiting for
// the container, and turning any failure into one line and an exit status.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLOSE_RANGE_CLOEXEC, MAX_FD, SyscallError, close_range, getpid } from '@samples/syscalls';
import { exitNow } from './process';

/** Exit statuses, as `docker run` uses them. */
export const ExitStatus = {
  /** The options were wrong. */
  USAGE: 2,
  /** The runtime itself failed (setup, privileges, rootfs). */
  RUNTIME: 125,
  /** The command was found but could not be executed. */
  NOT_EXECUTABLE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;

/** A failure to report as one line, with the status to exit with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitStatus: number = ExitStatus.RUNTIME,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface OptionSpec {
  /** Shown in the usage line, e.g. 'SIZE'. A flag without it takes no value. */
  readonly value?: string;
  readonly description: string;
  readonly default?: string;
  /** A one-letter alias, as Docker has `-p` for `--publish`: 'p'. */
  readonly short?: string;
  /**
   * The option may be given more than once; its values are collected, in order, into a
   * string[] (empty when it is not given). Declare the options with `satisfies
   * Record<string, OptionSpec>` so that the `true` stays `true` in their type.
   */
  readonly repeatable?: true;
}

export interface Program<O extends Record<string, OptionSpec>> {
  /** The stage's name, the prefix of every line it prints: '2-isolate-process'. */
  readonly name: string;
  /** One line: what the stage adds. */
  readonly summary: string;
  readonly options: O;
  /**
   * What runs when no command is given ("the image's Cmd", in stage 9); without it a
   * command is required, and parseArgs refuses an empty one.
   */
  readonly defaultCommand?: string;
}

export type ParsedOptions<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { value: string; repeatable: true }
    ? string[]
    : O[K] extends { value: string; default: string }
      ? string
      : O[K] extends { value: string }
        ? string | undefined
        : boolean;
} & { verbose: boolean };

export interface Invocation<O extends Record<string, OptionSpec>, C extends readonly string[] = [string, ...string[]]> {
  readonly options: ParsedOptions<O>;
  /** The command to run in the container and its arguments (empty only for a program with a defaultCommand). */
  readonly command: C;
}

const commonOptions = {
  verbose: { description: 'print each isolation step as it happens' },
} satisfies Record<string, OptionSpec>;

export function usage(program: Program<Record<string, OptionSpec>>): string {
  const options: Record<string, OptionSpec> = { ...program.options, ...commonOptions };
  const anyShort = Object.values(options).some((spec) => spec.short !== undefined);
  const flags = Object.entries(options).map(([name, spec]) => {
    const alias = spec.short !== undefined ? `-${spec.short}, ` : anyShort ? '    ' : '';
    return `${alias}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  });
  const width = Math.max(20, ...flags.map((flag) => flag.length));
  const lines = Object.values(options).map((spec, i) => {
    const notes = [spec.default ? `default: ${spec.default}` : '', spec.repeatable ? 'may be given more than once' : ''].filter(Boolean);
    return `  ${flags[i]!.padEnd(width)} ${spec.description}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
  });
  const command = program.defaultCommand === undefined ? '<command> [args...]' : '[<command> [args...]]';
  return [
    `${program.name}: ${program.summary}`,
    '',
    `usage: ${startCommand(program.name)} [options] ${command}`,
    ...(program.defaultCommand === undefined ? [] : [`without a command: ${program.defaultCommand}`]),
    '',
    ...lines,
  ].join('\n');
}

/**
 * What the user types to start the stage `name`, from where they typed the command that
 * runs it now: `pnpm start` in the stage's folder, `pnpm -C packages/NAME start` from the
 * repository's root (that form keeps the exit status), `pnpm --filter NAME start`
 * elsewhere, or when not started by pnpm (a test, the debugger), as it works from
 * anywhere in the repository. pnpm says in the environment which package's script runs
 * (npm_package_json) and where it was typed (INIT_CWD).
 */
export function startCommand(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const { npm_lifecycle_event: script, npm_package_json: manifest, INIT_CWD: typedIn } = env;
  if (script === 'start' && manifest !== undefined && typedIn !== undefined) {
    const relative = path.relative(typedIn, path.dirname(manifest));
    if (relative === '') return 'pnpm start';
    if (!relative.startsWith('..') && !path.isAbsolute(relative)) return `pnpm -C ${relative} start`;
  }
  return `pnpm --filter ${name} start`;
}

/**
 * Reads `[options] command [args...]`. Options end at the first argument that is not
 * one (or at `--`), so the command's own options pass through untouched. An option is
 * `--name value`, `--name=value`, or by its one-letter alias `-n value`, `-nvalue`,
 * `-n=value`; a dash and a letter that is no alias starts the command, as before
 * aliases existed. The command may be left out only where the program says what runs
 * then (its defaultCommand): its command is then a plain string[].
 */
export function parseArgs<O extends Record<string, OptionSpec>>(
  program: Program<O> & { readonly defaultCommand: string },
  argv: readonly string[],
): Invocation<O, string[]>;
export function parseArgs<O extends Record<string, OptionSpec>>(program: Program<O>, argv: readonly string[]): Invocation<O>;
export function parseArgs<O extends Record<string, OptionSpec>>(program: Program<O>, argv: readonly string[]): Invocation<O, string[]> {
  const specs: Record<string, OptionSpec> = { ...program.options, ...commonOptions };
  const options: Record<string, string | string[] | boolean> = { verbose: false };
  const aliases = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.short !== undefined) aliases.set(spec.short, name);
    if (spec.repeatable) options[name] = [];
    else if (spec.value) {
      if (spec.default !== undefined) options[name] = spec.default;
    } else options[name] = false;
  }
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage(program)}\n`);
      process.exit(0);
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    } else {
      const alias = /^-([^-])(.*)$/s.exec(arg);
      const aliased = alias === null ? undefined : aliases.get(alias[1]!);
      if (alias === null || aliased === undefined) break;
      name = aliased;
      inline = alias[2] === '' ? undefined : alias[2]!.replace(/^=/, '');
    }
    const spec = specs[name];
    if (spec === undefined) throw new CliError(`unknown option ${arg}: see --help`, ExitStatus.USAGE);
    if (spec.value) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new CliError(`option --${name} needs a value (${spec.value})`, ExitStatus.USAGE);
      const collected = options[name];
      options[name] = Array.isArray(collected) ? [...collected, value] : value;
    } else {
      if (inline !== undefined) throw new CliError(`option --${name} takes no value`, ExitStatus.USAGE);
      options[name] = true;
    }
  }
  const command = argv.slice(i);
  if (command.length === 0 && program.defaultCommand === undefined) throw noCommandGiven('', program.name);
  tracing = options.verbose === true;
  return { options: options as ParsedOptions<O>, command };
}

/**
 * The refusal of an empty command (status 2), `detail` saying more ("and the image
 * names none"): for parseArgs, and for a program with a default command that turns out
 * to have none.
 */
export function noCommandGiven(detail = '', name = programName): CliError {
  return new CliError(`no command given${detail}: try \`${startCommand(name)} /bin/bash\`, or see --help`, ExitStatus.USAGE);
}

let tracing = false;
let tracePrefix = '';

/** Labels the trace lines of this process (e.g. 'child' after the re-exec). */
export function setTracePrefix(prefix: string): void {
  tracePrefix = prefix ? `[${prefix}] ` : '';
}

/** With --verbose, prints a note about what is happening. */
export function trace(message: string): void {
  if (tracing) process.stderr.write(`=> ${tracePrefix}${message}\n`);
}

/**
 * Runs one isolation step. With --verbose it prints `=> description ... ok`, so that
 * a run's transcript reads as the list of steps the kernel was asked for.
 */
export function step<T>(description: string, action: () => T): T {
  if (!tracing) return action();
  try {
    const result = action();
    process.stderr.write(`=> ${tracePrefix}${description} ... ok\n`);
    return result;
  } catch (error) {
    process.stderr.write(`=> ${tracePrefix}${description} ... failed\n`);
    throw error;
  }
}

/** Fails in one line unless this process may create namespaces (has CAP_SYS_ADMIN). */
export function requireSysAdmin(stage: string): void {
  const CAP_SYS_ADMIN = 21n;
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (capEff !== undefined && (BigInt(`0x${capEff}`) >> CAP_SYS_ADMIN) & 1n) return;
  throw new CliError(
    `creating namespaces needs root (CAP_SYS_ADMIN): run it as root, e.g. \`sudo -E env "PATH=$PATH" ${startCommand(stage)} ...\``,
  );
}

/** How a finished child ended, reduced to one exit status as a shell does: 128+N for signal N. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0));
}

/** How long a container has to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5000;

/** The signals with which a user or a supervisor asks the runtime to stop. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * Where a stop signal goes. Until a container runs, it is kept for it: a signal that
 * found no listener would end the runtime at once, half-way through its setup, with
 * whatever it had made (a cgroup, a mount) left on the host.
 */
let onStopSignal: (signal: StopSignal) => void = (signal) => pendingSignals.push(signal);
const pendingSignals: StopSignal[] = [];

/** From now until the process exits, the runtime handles stop signals itself. */
function routeStopSignals(): void {
  for (const signal of STOP_SIGNALS) process.on(signal, () => onStopSignal(signal));
}

export interface WaitOptions {
  /**
   * The container has a terminal of its own (a pty the runtime relays, its own terminal
   * in raw mode): a Ctrl-C typed there is a byte for the container's terminal, never a
   * signal to the runtime, so the first SIGINT the runtime gets came from `kill`, and
   * is passed on like the others.
   */
  readonly ownTerminal?: boolean;
}

/**
 * Waits for the container's first process and returns its exit status. Meanwhile the
 * runtime stands in for the container: SIGTERM and SIGHUP are passed on (then SIGKILL
 * if it is still running after a grace period); a second Ctrl-C kills it. The first
 * Ctrl-C is left to the terminal, which sent it to the container's foreground
 * processes already (or passed on, when there is no terminal, or the container has
 * one of its own: `ownTerminal`).
 *
 * `started` resolves once the command runs (the child has exec'd). Until then the
 * signals are held back: the child is PID 1 of its namespace, and the kernel drops
 * signals to a PID 1 that has not set up a handler for them (Node's would never run).
 */
export function waitForExit(
  child: ChildProcess,
  started: Promise<unknown> = Promise.resolve(),
  { ownTerminal = false }: WaitOptions = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    let interrupts = 0;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (signal: NodeJS.Signals) => {
      child.kill(signal);
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    };
    const forward = (signal: StopSignal) => {
      if (signal === 'SIGTERM' || signal === 'SIGHUP') stop(signal);
      else if (signal === 'SIGQUIT') child.kill('SIGQUIT');
      else if (++interrupts > 1) child.kill('SIGKILL');
      else if (ownTerminal || !process.stdin.isTTY) child.kill('SIGINT');
    };
    const held: StopSignal[] = pendingSignals.splice(0);
    onStopSignal = (signal) => held.push(signal);
    const release = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      onStopSignal = forward;
      for (const signal of held.splice(0)) forward(signal);
    };
    started.then(release, release); // a failed start is the caller's to report
    const done = () => {
      clearTimeout(killTimer);
      // The runtime is cleaning up: a late signal must not cut that short.
      onStopSignal = () => {};
    };
    child.once('error', (error) => {
      done();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(exitStatusOf(code, signal));
    });
  });
}

/** The one line (and exit status) a failure is reported with. */
export function describeFailure(error: unknown): { message: string; exitStatus: number } {
  if (error instanceof CliError) return { message: error.message, exitStatus: error.exitStatus };
  const { code, syscall, path } = error as NodeJS.ErrnoException;
  if (syscall === 'execve' || syscall?.startsWith('spawn')) {
    const command = path ?? '';
    const cannotRun = (why: string) => ({ message: `cannot run ${command}: ${why}`, exitStatus: ExitStatus.NOT_EXECUTABLE });
    // Node's spawn reports a directory as EACCES, as execve does.
    if (code === 'EISDIR' || (code === 'EACCES' && command.includes('/') && isDirectory(command))) return cannotRun('it is a directory');
    if (code === 'ENOENT') return { message: `command not found: ${command}`, exitStatus: ExitStatus.NOT_FOUND };
    if (code === 'EACCES') return cannotRun('permission denied (it is not executable)');
    if (code === 'ENOEXEC') return cannotRun('it is not a program this kernel can run (exec format error)');
    if (code === 'ETXTBSY') return cannotRun('the file is open for writing (text file busy)');
  }
  if (error instanceof SyscallError) {
    return { message: error.hint ? `${error.message}: ${error.hint}` : error.message, exitStatus: ExitStatus.RUNTIME };
  }
  if (error instanceof Error && 'code' in error) return { message: error.message, exitStatus: ExitStatus.RUNTIME };
  // Anything else is a bug in the runtime: show all of it.
  return { message: error instanceof Error ? (error.stack ?? error.message) : String(error), exitStatus: ExitStatus.RUNTIME };
}

function isDirectory(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

type Entry = () => number | Promise<number>;
interface StageCommands {
  run: (argv: string[]) => Promise<number>;
  child?: (argv: [string, ...string[]]) => never;
}

/**
 * Runs a program. A stage passes its commands: `main.ts run ...` or, inside the
 * namespaces `run` made, `main.ts child ...` (as the Go original's switch on
 * os.Args[1]); another program passes its entry point. What it returns is the exit
 * status; what it throws becomes one line on stderr, prefixed with the program's name.
 */
export function main(name: string, program: StageCommands | Entry): void {
  programName = name;
  const entry = typeof program === 'function' ? program : () => dispatch(program);
  Promise.resolve()
    .then(entry)
    .then(
      (status) => {
        process.exitCode = status;
      },
      (error: unknown) => {
        const { message, exitStatus } = describeFailure(error);
        process.stderr.write(`${name}: ${message}\n`);
        process.exitCode = exitStatus;
      },
    );
}

function dispatch({ run, child }: StageCommands): Promise<number> {
  // Whatever fds this process inherited (a shell's, a CI runner's) must not reach the
  // container: Node passes on any fd not marked close-on-exec.
  close_range(3, MAX_FD, CLOSE_RANGE_CLOEXEC);
  const [command, ...argv] = process.argv.slice(2);
  if (command === 'run') {
    routeStopSignals();
    return run(argv);
  }
  if (command === 'child' && child && argv.length > 0) {
    try {
      return child(argv as [string, ...string[]]);
    } catch (error) {
      // Never back to the event loop: the child may have a seccomp filter by now (see exitNow).
      const { message, exitStatus } = describeFailure(error);
      return exitNow(exitStatus, `${programName}: ${message}\n`);
    }
  }
  throw new CliError(`usage: ${startCommand(programName)} [options] <command> [args...]`, ExitStatus.USAGE);
}

/** The name main() was given: the stage's, for the messages of the functions it calls. */
let programName = '';

/**
 * Refuses to go on unless this process is PID 1, as the child of `run` is in its new
 * PID namespace. Started by hand, `child` would rename the host and mount over its files.
 */
export function requireContainerInit(): void {
  if (getpid() !== 1) {
    throw new CliError(`"child" runs inside the namespaces "run" makes: start the stage with \`${startCommand(programName)} ...\``, ExitStatus.USAGE);
  }
}
