// Helpers for the stages' tests, which look at each stage from the host's side:
// they run it as a learner would (a subprocess) and check what the host sees.
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type Implementation } from 'ava';

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

/** The command line that starts a stage as its `start` script does. */
export function stageCommand(packageDir: string, args: readonly string[]): [string, string[]] {
  return [process.execPath, ['--require', 'tsx/cjs', path.join(packageDir, 'src', 'main.ts'), 'run', ...args]];
}

/** Runs a stage to the end: `pnpm start ARGS` inside `packageDir`, without pnpm. */
export function runStage(packageDir: string, args: readonly string[], options: SpawnSyncOptions = {}): StageResult {
  const [file, argv] = stageCommand(packageDir, args);
  const result = spawnSync(file, argv, { cwd: packageDir, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20, ...options });
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
  return spawn(file, argv, { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] });
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
    await waitFor(() => output.text.includes('ready'), timeoutMs);
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
    env: { ...process.env, HOME: os.tmpdir() },
  });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** "mount-point fstype" for each line of a mountinfo text (/proc/<pid>/mountinfo). */
export function parseMountinfo(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const fields = line.split(' ');
      return `${fields[4]} ${fields[fields.indexOf('-') + 1]}`;
    });
}

/** The host's mount table: mount point and filesystem type of each mount, sorted. */
export function hostMounts(): string[] {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).sort();
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

/** Resolves once `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
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
    t.regex(result.stderr, /^[\w-]+: command not found: no-such-command-here\n$/);
  });

  test('bad options: one line, status 2', (t) => {
    const missing = run([]);
    t.is(missing.status, 2);
    t.regex(missing.stderr, /^[\w-]+: no command given: try `[\w-]+ \/bin\/sh`, or see --help\n$/);
    const unknown = run(['--no-such-option', 'true']);
    t.is(unknown.status, 2);
    t.is(unknown.stderr.split('\n').length, 2);
  });

  test('--help shows the usage and exits 0', (t) => {
    const result = run(['--help']);
    t.is(result.status, 0);
    t.regex(result.stdout, /usage: [\w-]+ \[options\] <command> \[args\.\.\.\]/);
  });
}
