// `pnpm workshop check N`: the stage's own tests, run against the learner's copy, as a
// checklist of the stage's isolation claims.
//
// The tests run in a scratch host: new UTS, mount (private, with a /proc and a /run of
// its own), network and PID namespaces, made with unshare(1). A learner's step that is
// missing or wrong must not rename the machine, mount over its /proc, leave a bridge on
// it, or leave processes running: there it renames, mounts and bridges only the scratch
// host, and when the tests end, every process they left is killed with it (the PID
// namespace's first process kills them, then sweeps the cgroups they held: sweep.ts).
// The stage's tests look at "the host" from their own process, so they look at the
// scratch host, and prove the same claims there.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { imagesDir } from '@samples/rootfs';
import { REPO } from './copy';
import { DEFAULT_TEST_FILE, type Claim, type WorkshopStage } from './stages';

const AVA = path.join(REPO, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

/** The compiler's messages for the copy in `dir`, or undefined when it compiles. */
export function typeCheck(dir: string): string | undefined {
  const result = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
  if (result.status === 0) return undefined;
  // tsc names files from the copy's folder: name them from where the learner stands.
  const relative = path.relative(process.cwd(), dir);
  const prefix = relative.startsWith('..') ? dir : relative;
  return `${result.stdout}${result.stderr}`
    .trimEnd()
    .split('\n')
    .map((line) => (/^\S.*\(\d+,\d+\): /.test(line) && prefix !== '' ? path.join(prefix, line) : line))
    .join('\n');
}

export interface TestOutcome {
  /** The test's title, without its file's name or a "(skipped: ...)" the test added. */
  readonly title: string;
  readonly outcome: 'pass' | 'fail' | 'skip';
  /** Why it was skipped, as the test said. */
  readonly reason?: string;
  /** ava's account of a failure (TAP's YAML block). */
  readonly details: string[];
}

/** ava's TAP output, one outcome per test or failed hook. */
export function parseTap(tap: string): TestOutcome[] {
  const outcomes: TestOutcome[] = [];
  let current: { details: string[] } | undefined;
  for (const line of tap.split('\n')) {
    const result = /^(ok|not ok) \d+ - (.*?)( # SKIP)?$/.exec(line);
    if (result) {
      let title = result[2]!.replace(/^[\w.-]+ › /, '');
      let reason: string | undefined;
      const skipped = /^(.*) \(skipped: (.*)\)$/.exec(title);
      if (result[3] && skipped) [title, reason] = [skipped[1]!, skipped[2]!];
      const outcome = result[3] ? 'skip' : result[1] === 'ok' ? 'pass' : 'fail';
      current = { details: [] };
      outcomes.push({ title, outcome, ...(reason !== undefined && { reason }), details: current.details });
    } else if (current && /^ {2}\S|^ {4}/.test(line) && line.trim() !== '---' && line.trim() !== '...') {
      current.details.push(line.slice(2));
    } else if (!line.startsWith(' ')) current = undefined;
  }
  return outcomes;
}

/**
 * Runs ava on `files` of the copy in `dir`, in a scratch host, keeping to the tests whose
 * titles are in `titles` (all of them if none). `serial`: one test at a time, and what
 * a failed one left running is stopped (stop-runtimes.ts). Resolves with each test's
 * outcome and ava's own output.
 */
export function runTests(
  dir: string,
  files: readonly string[],
  options: { titles?: readonly string[]; timeout?: string; serial?: boolean } = {},
): Promise<{ outcomes: TestOutcome[]; finished: boolean; output: string }> {
  // A test skipped with a reason carries it in its title: "TITLE (skipped: REASON)". One
  // argument each: a title that starts with "--" would be read as an option of its own.
  // In a pattern, * is any text and a backslash makes the next character literal
  // ("Ctrl-\\" is in a title): the title's own are escaped.
  const literal = (title: string) => title.replace(/[\\*]/g, '\\$&');
  const match = (options.titles ?? []).flatMap((title) => [`--match=${literal(title)}`, `--match=${literal(title)} (skipped: *`]);
  const timeout = options.timeout === undefined ? [] : [`--timeout=${options.timeout}`];
  const scratch = ['--uts', '--mount', '--propagation', 'private', '--mount-proc', '--net', '--pid', '--fork'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The copy's stage runs from its bundle, which finds the repository's root filesystems
    // upwards from itself: from a workshop folder outside the repository (WORKSHOP_DIR) it
    // would not, and would build a tree of its own there. Named here, they are the overlaid ones.
    SAMPLES_ROOTFS_DIR: imagesDir(),
    ...(options.serial && { WORKSHOP_STOP_RUNTIMES: '1' }),
    // The tests' temporary files go in a folder of this check's, removed when they end:
    // a claim that times out is killed with the scratch host before its own cleanup runs.
    TMPDIR: scratchTemp(),
  };
  delete env.NODE_PATH;
  return new Promise((resolve, reject) => {
    // sh is the PID namespace's first process: it runs the tests in the foreground (and
    // so reaps what is orphaned meanwhile, as an init does), then kills what is left.
    const command = ['sh', '-c', SCRATCH_HOST, 'sh', process.execPath, SWEEP, imagesDir(), AVA, '--tap', ...(options.serial ? ['--serial'] : []), ...timeout, ...match, ...files];
    const tests = spawn('unshare', [...scratch, '--', ...command], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    tests.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    tests.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const removeTemp = () => fs.rmSync(env.TMPDIR!, { recursive: true, force: true });
    tests.once('error', (error) => {
      removeTemp();
      reject(error);
    });
    tests.once('close', () => {
      removeTemp();
      resolve({ outcomes: parseTap(output), finished: /^# tests \d+$/m.test(output), output });
    });
  });
}

export const SWEEP = path.join(__dirname, 'sweep.ts');

const TEMP_PREFIX = 'samples-workshop-check-';

/**
 * A new folder for one check's temporary files, named by this process's pid. The folders
 * of checks whose process is gone (killed before they could remove theirs) go first.
 */
function scratchTemp(): string {
  const parent = os.tmpdir();
  for (const name of fs.readdirSync(parent)) {
    const pid = Number(name.slice(TEMP_PREFIX.length).split('-')[0]);
    if (!name.startsWith(TEMP_PREFIX) || !Number.isInteger(pid) || pid === process.pid) continue;
    if (!fs.existsSync(`/proc/${pid}`)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
  return fs.mkdtempSync(path.join(parent, `${TEMP_PREFIX}${process.pid}-`));
}

/**
 * The scratch host's first process: `sh -c SCRATCH_HOST sh NODE SWEEP IMAGES AVA ARGS...`.
 * The root filesystems (IMAGES) are overlaid with a throwaway layer: what a container
 * without a mount namespace of its own writes into them goes with the scratch host.
 */
export const SCRATCH_HOST = `
  node=$1 sweep=$2 images=$3
  shift 3
  fail() { echo "cannot make the scratch host the tests run in: $1" >&2; exit 125; }
  # kill -1 below must reach this PID namespace alone.
  [ $$ -eq 1 ] || fail "sh is not the first process of a new PID namespace"
  mount -t tmpfs -o mode=755 scratch /run || fail "no tmpfs on /run"
  if [ -d "$images" ]; then
    mkdir -p /run/.images/upper /run/.images/work &&
      mount -t overlay scratch -o "lowerdir=$images,upperdir=/run/.images/upper,workdir=/run/.images/work" "$images" ||
      fail "no overlay on $images (the kernel needs CONFIG_OVERLAY_FS)"
  fi
  ip link set lo up 2>/dev/null
  "$node" "$@"
  status=$?
  kill -KILL -1 2>/dev/null
  sleep 0.2
  if [ -n "$(ls /run/ts-container-samples/cgroups 2>/dev/null)" ]; then "$node" --require tsx/cjs "$sweep"; fi
  exit $status
`;

/** How long a claim's test may go without an outcome: they take seconds; a missing step may make one wait forever. */
const CLAIM_TIMEOUT = '30s';

export interface ClaimResult {
  readonly claim: Claim;
  /** 'unfinished': the tests stopped before this one had an outcome (one of them timed out). */
  readonly outcome: 'pass' | 'fail' | 'skip' | 'unfinished' | 'missing';
  readonly reason?: string;
  readonly details: string[];
}

/** The stage's claims, checked against the copy in `dir`; and any failure that is no claim's (a hook's: "nothing left"). */
export async function checkClaims(entry: WorkshopStage, dir: string): Promise<{ claims: ClaimResult[]; others: TestOutcome[]; output: string }> {
  const files = claimFiles(entry);
  const titles = entry.claims.map((claim) => claim.test);
  const { outcomes, finished, output } = await runTests(dir, files, { titles, timeout: CLAIM_TIMEOUT, serial: true });
  if (!finished && outcomes.length === 0) throw new TestsDidNotRun(output);
  const claims = entry.claims.map((claim): ClaimResult => {
    const found = outcomes.find((outcome) => outcome.title === claim.test);
    if (found === undefined) return { claim, outcome: finished ? 'missing' : 'unfinished', details: [] };
    return { claim, outcome: found.outcome, ...(found.reason !== undefined && { reason: found.reason }), details: found.details };
  });
  const others = outcomes.filter((outcome) => outcome.outcome === 'fail' && !titles.includes(outcome.title));
  return { claims, others, output };
}

/** The test files that hold the stage's claims, from its folder. */
export function claimFiles(entry: WorkshopStage): string[] {
  return [...new Set(entry.claims.map((claim) => claim.file ?? DEFAULT_TEST_FILE))];
}

/** The tests did not start (ava's or the scratch host's own failure): `output` says why. */
export class TestsDidNotRun extends Error {
  constructor(readonly output: string) {
    super(output.trim().split('\n').at(-1) ?? 'no output');
  }
}

/** Every test file of the copy in `dir`, from its folder. */
export function testFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, 'test'))
    .filter((file) => file.endsWith('.test.ts'))
    .sort()
    .map((file) => `test/${file}`);
}
