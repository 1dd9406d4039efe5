// Helpers for the stages' tests, which look at each stage from the host's side:
// they run it as a learner would (a subprocess) and check what the host sees.
import { type ChildProcess, spawn, spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type Implementation } from 'ava';

/** Root, which creating namespaces needs. CI runs as root. */
export const isRoot = process.getuid?.() === 0;

/** How the tests here are registered: ava's `test`, `test.serial`, or a skipping stand-in. */
export type Register = (title: string, implementation: Implementation<[]>) => void;

const skipWithoutRoot: Register = (title, implementation) =>
  anyTest.skip(`${title} (skipped: needs root)`, implementation);

/**
 * `test` where this process runs as root; elsewhere every test is skipped with the
 * reason in its title, so that a run as a normal user says what it did not check.
 */
export const rootTest: Register & { serial: Register } = isRoot
  ? Object.assign((title: string, implementation: Implementation<[]>) => anyTest(title, implementation), {
      serial: (title: string, implementation: Implementation<[]>) => anyTest.serial(title, implementation),
    })
  : Object.assign(skipWithoutRoot, { serial: skipWithoutRoot });

export interface StageResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment a learner's `pnpm start` has. pnpm's shim for ava sets NODE_PATH to
 * its store of every package, which would let a stage find a module it never declared.
 */
export function learnerEnvironment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { NODE_PATH: _, ...env } = process.env;
  return { ...env, ...extra };
}

/** The pids of every runtime these helpers started, so that a test file can check what they left. */
export const startedRuntimes = new Set<number>();

/**
 * The command line that starts a stage as its `start` script does, read from its
 * package.json (`node ../runtime/start.cjs src/main.ts run`), with this test's Node. The
 * script's words that name files become absolute paths: the command runs from any folder.
 */
export function stageCommand(packageDir: string, args: readonly string[]): [string, string[]] {
  const start = (JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { scripts?: { start?: string } }).scripts?.start;
  const [program, ...words] = (start ?? '').split(/\s+/).filter(Boolean);
  if (program !== 'node') throw new Error(`${packageDir}: its start script must run node, not ${JSON.stringify(start)}`);
  const absolute = words.map((word) => (fs.existsSync(path.join(packageDir, word)) ? path.join(packageDir, word) : word));
  return [process.execPath, [...absolute, ...args]];
}

/** Runs a stage to the end: `pnpm start ARGS` inside `packageDir`, without pnpm. */
export function runStage(packageDir: string, args: readonly string[], options: SpawnSyncOptions = {}): StageResult {
  const [file, argv] = stageCommand(packageDir, args);
  const result = spawnSync(file, argv, {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 << 20,
    env: learnerEnvironment(),
    ...options,
  });
  if (result.pid) startedRuntimes.add(result.pid);
  if (result.error) throw result.error;
  return {
    status: result.status,
    signal: result.signal,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
}

/** Starts a stage in the background, for tests that look at the host while it runs. */
export function startStage(packageDir: string, args: readonly string[]) {
  const [file, argv] = stageCommand(packageDir, args);
  const runtime = spawn(file, argv, { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'], env: learnerEnvironment() });
  if (runtime.pid) startedRuntimes.add(runtime.pid);
  return runtime;
}

/**
 * Starts a stage whose command prints "ready" once the container is up, and waits for
 * that. Should it not come, the runtime is stopped with SIGTERM (it takes the
 * container and what it made down) before the error is thrown.
 */
export async function startStageUntilReady(packageDir: string, args: readonly string[], timeoutMs = 30_000) {
  const runtime = startStage(packageDir, args);
  const exited = new Promise<number | null>((resolve) => runtime.once('exit', (code) => resolve(code)));
  const output = collectOutput(runtime);
  try {
    await waitFor('the container to print "ready"', () => output.text.includes('ready'), timeoutMs, () => `its output was:\n${output.text}`);
  } catch (error) {
    runtime.kill('SIGTERM');
    await exited;
    throw error;
  }
  return { runtime, exited, output };
}

/** The host's pid of a running stage's container: the runtime's only child. */
export function containerPid(runtime: { pid?: number | undefined }): number {
  return Number(fs.readFileSync(`/proc/${runtime.pid}/task/${runtime.pid}/children`, 'utf8').trim());
}

/** Runs a stage as an unprivileged user (nobody), to see how it reports missing privileges. */
export function runStageUnprivileged(packageDir: string, args: readonly string[]): StageResult {
  const [file, argv] = stageCommand(packageDir, args);
  const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', file, ...argv], {
    cwd: packageDir,
    encoding: 'utf8',
    env: learnerEnvironment({ HOME: os.tmpdir() }),
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Mounts as a test compares them: "mount-point fstype" each, sorted. (The mounts come
 * from @samples/runtime's mountinfo reader: mountsUnder, parseMountinfo.)
 */
export function describeMounts(mounts: readonly { mountPoint: string; fsType: string }[]): string[] {
  return mounts.map(({ mountPoint, fsType }) => `${mountPoint} ${fsType}`).sort();
}

/**
 * Asserts that `lines` (a --verbose trace, say) hold a line matching each of `patterns`,
 * in that order, with any other lines between them.
 */
export function assertInOrder(t: ExecutionContext, lines: readonly string[], patterns: readonly RegExp[]): void {
  let at = 0;
  for (const pattern of patterns) {
    const found = lines.findIndex((line, i) => i >= at && pattern.test(line));
    t.true(found >= 0, `${pattern} after line ${at} of:\n${lines.join('\n')}`);
    at = found + 1;
  }
}

/** `register` where `available` holds; elsewhere a test skipped with the reason in its title. */
export function testIf(available: boolean, reason: string, register: Register): Register {
  return available ? register : (title, implementation) => anyTest.skip(`${title} (skipped: ${reason})`, implementation);
}

/** Whether a C compiler with a static libc is here (for the chroot-escape exercise). */
export function canCompileStatic(): boolean {
  const probe = spawnSync('sh', ['-c', 'echo "int main(void){return 0;}" | cc -static -x c -o /dev/null -'], { encoding: 'utf8' });
  return probe.status === 0;
}

/** Compiles a C program statically (for programs that must run inside any root filesystem). */
export function compileStatic(source: string, output: string): void {
  const result = spawnSync('cc', ['-static', '-O2', '-o', output, source], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`cannot compile ${source}: ${result.error?.message ?? result.stderr} (install gcc and libc6-dev)`);
  }
}

/**
 * Resolves once `predicate` holds, polling. After `timeoutMs` it rejects with an error
 * that names `what` it waited for, and adds `context()` (a screen, an output) if given.
 */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000, context?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${context ? `\n${context()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether tmux is here, for the tests that need a real terminal. */
export const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/**
 * A real terminal: a tmux session running `command` (a shell command line), on a tmux
 * server of its own (its own socket, no configuration file): never someone else's
 * server, which could run the command in other namespaces than this process's, and
 * with someone else's settings. Every wait has a bound, and a wait that runs out shows
 * the screen as it was.
 */
export class Terminal {
  readonly session = `${TERMINAL_PREFIX}${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  /**
   * The server's socket, in the temporary folder: a workshop check gives its tests one of
   * their own, removed with them, so a terminal its scratch host killed leaves nothing.
   */
  readonly socket = path.join(os.tmpdir(), this.session);

  constructor(command: string, options: { cwd?: string; width?: number; height?: number } = {}) {
    const { cwd = process.cwd(), width = 100, height = 30 } = options;
    removeLeftByGoneProcesses(TERMINAL_PREFIX);
    this.tmux('new-session', '-d', '-s', this.session, '-x', String(width), '-y', String(height), '-c', cwd, command);
  }

  /** Keys as tmux send-keys takes them: text, 'Enter', 'C-c'. */
  type(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.session, ...keys);
  }

  /** What the terminal shows now, one line per row (tmux drops the blanks at the end of a row). */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.session).stdout;
  }

  resize(width: number, height: number): void {
    this.tmux('resize-window', '-t', this.session, '-x', String(width), '-y', String(height));
  }

  /** The pid of the pane's first process: the shell that runs `command`. */
  panePid(): number {
    return Number(this.tmux('display-message', '-p', '-t', this.session, '#{pane_pid}').stdout.trim());
  }

  /** Waits until the screen satisfies `test`; the timeout's error shows the screen. */
  async waitFor(what: string, test: (screen: string) => boolean, timeoutMs = 10_000): Promise<string> {
    let last = '';
    await waitFor(what, () => test((last = this.screen())), timeoutMs, () => `the screen was:\n${last}`);
    return last;
  }

  /** Ends the session and its server, and so the processes in the terminal (they get SIGHUP); its socket goes too. */
  close(): void {
    this.tmux('kill-server');
    fs.rmSync(this.socket, { force: true });
  }

  /** Runs a tmux command on this terminal's server. */
  tmux(...args: string[]) {
    return spawnSync('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }
}

const TERMINAL_PREFIX = 'samples-terminal-';

/**
 * A temporary folder of this test process's own, `PREFIX<pid>-XXXXXX`, removed when the
 * process exits. Those of processes that are gone (killed before their exit hook) go first.
 */
export function ownTempFolder(prefix: string): string {
  removeLeftByGoneProcesses(prefix);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}${process.pid}-`));
  process.once('exit', () => fs.rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** Removes what test processes now gone left in the temporary folder under `PREFIX<pid>-...`. */
function removeLeftByGoneProcesses(prefix: string): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length).split('-')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0 && !fs.existsSync(`/proc/${pid}`)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

// #region network namespaces
/** A process holding a network namespace of its own, like a container's first process. */
export interface NamespaceHolder {
  readonly pid: number;
  /** /proc/PID/ns/net */
  readonly netns: string;
  /** Runs a command inside its network namespace (nsenter), to the end (20 s at most). */
  run(command: string, args: readonly string[], options?: SpawnSyncOptions): SpawnSyncReturns<string>;
  /** Starts a command inside its network namespace (nsenter); it is killed when the test ends. */
  start(command: string, args: readonly string[]): ChildProcess;
  kill(): void;
}

/**
 * Starts `unshare --net sleep 600`: a process in a new network namespace, with only lo
 * (down). Resolves once it is in the new namespace; it is killed when the test ends.
 */
export async function startNamespaceHolder(t: { teardown(fn: () => void): void }): Promise<NamespaceHolder> {
  const child = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  const pid = child.pid!;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  t.teardown(kill);
  const own = fs.readlinkSync('/proc/self/ns/net');
  const netns = `/proc/${pid}/ns/net`;
  // Until unshare has run (before it execs sleep), the child is in this namespace.
  await waitFor(`unshare (pid ${pid}) to enter a new network namespace`, () => {
    try {
      return fs.readlinkSync(netns) !== own;
    } catch {
      return false;
    }
  }, 5000);
  return {
    pid,
    netns,
    run: (command, args, options = {}) =>
      spawnSync('nsenter', [`--net=${netns}`, '--', command, ...args], { timeout: 20_000, ...options, encoding: 'utf8' }),
    start: (command, args) => {
      const started = spawn('nsenter', [`--net=${netns}`, '--', command, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      t.teardown(() => {
        if (started.exitCode === null && started.signalCode === null) started.kill('SIGKILL');
      });
      return started;
    },
    kill,
  };
}
// #endregion

/** A one-connection TCP server for `node -e`: answers `reply` and the peer's address, prints "listening". */
export function tcpServerScript(address: string, port: number, reply: string): string {
  return `const s = require('net').createServer((c) => { c.end(${JSON.stringify(reply)} + ' ' + c.remoteAddress); s.close(); });
    s.listen(${port}, ${JSON.stringify(address)}, () => process.stdout.write('listening\\n'));`;
}

/** Connects to address:port and resolves with all the server sent, once it closes (within `timeoutMs`). */
export function tcpRequest(address: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect({ host: address, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${address}:${port} within ${timeoutMs / 1000} s`)));
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
}

/** Collects a child's stdout as it comes. */
export function collectOutput(child: { stdout: NodeJS.ReadableStream | null }): { text: string } {
  const output = { text: '' };
  child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  return output;
}

/**
 * The behaviour every stage must have (shared/design's list), as tests any stage's
 * test file registers for itself: the command's stdio, exit status and errors are
 * what they would be without the container.
 */
export function testCommonBehaviour(packageDir: string, test: Register = rootTest): void {
  const run = (args: readonly string[], options: SpawnSyncOptions = {}) => runStage(packageDir, args, options);

  test('stdin and stdout pass through pipes', (t) => {
    t.is(run(['wc', '-l'], { input: 'a\nb\n' }).stdout.trim(), '2');
    const long = run(['sh', '-c', 'seq 100000 | wc -l']);
    t.is(long.stdout.trim(), '100000');
    const cat = run(['cat'], { input: `${'x'.repeat(1 << 20)}\n` });
    t.is(cat.stdout.length, (1 << 20) + 1, 'a megabyte piped through cat arrives whole');
  });

  test('stderr is the command own', (t) => {
    const result = run(['sh', '-c', 'echo out; echo err >&2']);
    t.is(result.stdout, 'out\n');
    t.is(result.stderr, 'err\n');
  });

  test('the exit status is the command own', (t) => {
    t.is(run(['sh', '-c', 'exit 42']).status, 42);
    t.is(run(['true']).status, 0);
    t.is(run(['false']).status, 1);
  });

  test('a command killed by signal N gives 128+N', async (t) => {
    const { runtime, exited } = await startStageUntilReady(packageDir, ['sh', '-c', 'echo ready; exec sleep 60']);
    // The runtime's child is the command now (it exec'd), seen from the host.
    process.kill(containerPid(runtime), 'SIGKILL');
    t.is(await exited, 137);
  });

  test('signals are at their defaults: yes | head -1 ends at once', (t) => {
    const result = run(['bash', '-c', 'yes | head -1; echo "${PIPESTATUS[0]}"; grep -E "^SigIgn" /proc/self/status'], {
      timeout: 10_000,
    });
    t.is(result.stdout, 'y\n141\nSigIgn:\t0000000000000000\n');
  });

  test('no file descriptor of the runtime reaches the command, not even one it inherited', (t) => {
    // The runtime is given an fd 5 without close-on-exec, as a shell may leave one open.
    // ls opens the directory it lists as fd 3: anything more is a leak.
    const result = run(['ls', '/proc/self/fd'], { stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'ignore', 'pipe'] });
    t.deepEqual(result.stdout.trim().split('\n'), ['0', '1', '2', '3']);
  });

  test('a command that does not exist: one line, status 127', (t) => {
    const result = run(['no-such-command-here', '--flag']);
    t.is(result.status, 127);
    // Stages 3 to 5 also say where they looked (testRootfsCommandLookup).
    t.regex(result.stderr, /^[\w-]+: command not found: no-such-command-here\b[^\n]*\n$/);
  });

  test('a directory given as the command: one line, status 126', (t) => {
    const result = run(['/tmp']);
    t.is(result.status, 126);
    t.regex(result.stderr, /^[\w-]+: cannot run \/tmp: it is a directory\n$/);
  });

  test('bad options: one line, status 2', (t) => {
    const missing = run([]);
    t.is(missing.status, 2);
    // (Stage 9 may be given none when its image names one; the default image names none.)
    t.regex(missing.stderr, /^[\w-]+: no command given(, [^:\n]+)?: try `pnpm --filter [\w-]+ start \/bin\/bash`, or see --help\n$/);
    const unknown = run(['--no-such-option', 'true']);
    t.is(unknown.status, 2);
    t.is(unknown.stderr.split('\n').length, 2);
  });

  test('--help shows the usage and exits 0', (t) => {
    const result = run(['--help']);
    t.is(result.status, 0);
    t.regex(result.stdout, /usage: pnpm --filter [\w-]+ start \[options\] (<command> \[args\.\.\.\]|\[<command> \[args\.\.\.\]\])/);
  });
}

/**
 * What stages 3 to 5 owe a learner about the root filesystem: the command is looked up
 * in it before anything is made, and a message says where; a broken tree is reported
 * whole, in one line.
 */
export function testRootfsCommandLookup(packageDir: string, test: Register = rootTest): void {
  const run = (args: readonly string[]) => runStage(packageDir, args);

  test('a command the root filesystem lacks: 127, one line that names the tree and what to do, and nothing made', (t) => {
    // --verbose would show each step the runtime took: there must be none.
    const result = run(['--verbose', 'no-such-command-here']);
    t.is(result.status, 127);
    t.regex(
      result.stderr,
      /^[\w-]+: command not found: no-such-command-here, in the root filesystem "default": rootfs\/README\.md says how to add a program; `pnpm rootfs check default no-such-command-here` checks the tree\n$/,
    );
    const hostOnly = run(['node', '--version']);
    t.is(hostOnly.status, 127);
    t.regex(hostOnly.stderr, /^[\w-]+: command not found: node, in the root filesystem "default" \(the host's \/\S+\/node is not in it\): /);
  });

  test('a directory or a file without an x bit in the tree: 126, one line, nothing made', (t) => {
    const directory = run(['--verbose', '/tmp']);
    t.is(directory.status, 126);
    t.regex(directory.stderr, /^[\w-]+: cannot run \/tmp: it is a directory\n$/);
    const notExecutable = run(['--verbose', '/etc/passwd']);
    t.is(notExecutable.status, 126);
    t.regex(notExecutable.stderr, /^[\w-]+: cannot run \/etc\/passwd: permission denied \(it is not executable\)\n$/);
  });

  test('an empty --rootfs: every problem in one line, with one command that fixes them all', (t) => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'empty-rootfs-'));
    t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
    const result = run(['--verbose', '--rootfs', empty, 'true']);
    t.is(result.status, 125);
    t.is(
      result.stderr.replace(/^[\w-]+: /, ''),
      `root filesystem ${empty}: no /proc in the tree; no /dev in the tree; no /tmp in the tree; no /newtemp in the tree: ` +
        `mkdir ${empty}/proc ${empty}/dev ${empty}/newtemp && mkdir -m 1777 ${empty}/tmp\n`,
    );
  });
}
