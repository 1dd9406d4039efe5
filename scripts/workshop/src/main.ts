// `pnpm workshop`: learners write each stage's new step themselves, and the stage's own
// tests tell them when it works (as in rubber-docker and rustlings).
//
//   pnpm workshop start N         a copy of stage N in workshop/, its step left to write
//   pnpm workshop run N ARGS...   runs the copy as `pnpm start ARGS...` runs the stage
//   pnpm workshop check N         the stage's claims, checked by its own tests on the copy
//   pnpm workshop solution N      the copy against the stage, as a diff
//   pnpm workshop reset N         starts stage N over
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { imagesDir } from '@samples/rootfs';
import { resolveRootfs } from '@samples/rootfs/resolve';
import { TestsDidNotRun, checkClaims, claimFiles, runTests, testFiles, typeCheck } from './check';
import { REPO, addTestHook, copyDir, linkModules, makeCopy, passedCheck, recordCheck, shown, sourcesHash, workshopDir, type DependencyChoice } from './copy';
import { WORKSHOP, stageNumber, type WorkshopStage } from './stages';

/** A failure to report in one line, with the status to exit with. */
class WorkshopError extends Error {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const numbers = () => WORKSHOP.map((entry) => stageNumber(entry.stage));

const USAGE = `pnpm workshop: write each stage's new step yourself; the stage's own tests say when it works

  pnpm workshop start N           your copy of stage N, in workshop/, with its new step left to you
  pnpm workshop run N ARGS...     runs your copy as \`pnpm start ARGS...\` runs the stage
  pnpm workshop check N           the stage's own tests on your copy, as a checklist of what it claims
      --watch                       again on every save
      --all                         then the stage's whole test suite, once every claim holds
      --verbose                     what a failing test saw
  pnpm workshop solution N        your copy beside the stage's own, as a diff
  pnpm workshop reset N           starts stage N over (your copy is kept in workshop/.reset/)`;

function findStage(argument: string | undefined): WorkshopStage {
  const choices = numbers().join(', ').replace(/, (\d+)$/, ' or $1');
  if (argument === undefined) throw new WorkshopError(`which stage? give its number, one of ${choices}`, 2);
  const entry = WORKSHOP.find((candidate) => String(stageNumber(candidate.stage)) === argument || candidate.stage === argument);
  if (entry === undefined) throw new WorkshopError(`there is no stage ${argument} in the workshop: choose ${choices}`, 2);
  return entry;
}

function requireStarted(entry: WorkshopStage): string {
  const dir = copyDir(entry.stage);
  if (!fs.existsSync(dir)) {
    const n = stageNumber(entry.stage);
    throw new WorkshopError(`you have not started stage ${n} yet: \`pnpm workshop start ${n}\` makes your copy first`);
  }
  return dir;
}

function requireCompiles(dir: string): void {
  const messages = typeCheck(dir);
  if (messages === undefined) return;
  process.stderr.write(`${messages}\n`);
  throw new WorkshopError(`${shown(dir)} does not compile: fix what the compiler says above, then try again`);
}

function describeChoices(choices: readonly DependencyChoice[]): void {
  for (const { stage, learners, why } of choices) {
    say(`It imports stage ${stageNumber(stage)}: ${learners ? `your copy, as ${why}` : `the stage's own, as ${why}`}.`);
  }
}

function start(entry: WorkshopStage): void {
  const dir = copyDir(entry.stage);
  const n = stageNumber(entry.stage);
  if (fs.existsSync(dir)) {
    throw new WorkshopError(`stage ${n} is started already, in ${shown(dir)}: carry on there, or \`pnpm workshop reset ${n}\` to start over`);
  }
  try {
    makeCopy(entry);
  } catch (error) {
    // The stage's sources or page lack a region or hint the workshop names: its message says which.
    throw new WorkshopError(error instanceof Error ? error.message : String(error));
  }
  say(`Your copy of stage ${n} is in ${shown(dir)}. Write its new step:`);
  for (const step of entry.steps) say(`  ${path.join(shown(dir), step.file)}, region ${step.region}: ${step.task}`);
  describeChoices(linkModules(entry));
  say(`The TODO there says what to read. Run it: pnpm workshop run ${n} sh. When it works: pnpm workshop check ${n}.`);
}

/** The stages all make namespaces: checking and running them takes root. */
function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new WorkshopError(`${what} needs root, as the stage does (it makes namespaces): run it as root (sudo -i), then again`);
}

async function check(entry: WorkshopStage, flags: { all: boolean; verbose: boolean }): Promise<boolean> {
  const dir = requireStarted(entry);
  const n = stageNumber(entry.stage);
  requireRoot('the check');
  for (const file of claimFiles(entry)) {
    if (!fs.existsSync(path.join(dir, file))) throw new WorkshopError(`${path.join(shown(dir), file)} is gone: \`pnpm workshop reset ${n}\` starts the stage over`);
  }
  const choices = linkModules(entry);
  addTestHook(dir);
  requireCompiles(dir);
  // Built (on first use) out here, where it is kept: in the scratch host it would be thrown away.
  if (fs.existsSync(path.join(dir, 'node_modules', '@samples', 'rootfs'))) resolveRootfs(undefined);
  const sources = sourcesHash(dir);
  say(`Stage ${n}, your copy in ${shown(dir)}, against the stage's own tests:`);
  describeChoices(choices);
  const { claims, others, output } = await checkClaims(entry, dir).catch((error: unknown) => {
    if (!(error instanceof TestsDidNotRun)) throw error;
    process.stderr.write(error.output);
    throw new WorkshopError(`the tests of stage ${n} did not run: the lines above say why`);
  });
  let hinted = false;
  for (const { claim, outcome, reason, details } of claims) {
    const label = { pass: 'ok', fail: 'FAIL', unfinished: 'FAIL', skip: 'skip', missing: '??' }[outcome];
    say(`  ${label.padEnd(4)}  ${claim.test}`);
    if (outcome === 'skip') say(`        skipped here: ${reason ?? 'no reason given'}`);
    if (outcome === 'missing') say(`        the stage has no test of that name any more: scripts/workshop/src/stages.ts is out of date`);
    if (outcome === 'unfinished') say(`        did not finish: it, or a test before it, waited too long (--verbose shows ava's output)`);
    if ((outcome === 'fail' || outcome === 'unfinished') && !hinted) {
      say(`        hint: ${claim.hint}`);
      hinted = true;
    }
    if (outcome === 'fail' && flags.verbose) for (const line of details) say(`        ${line}`);
  }
  const holds = claims.every((claim) => claim.outcome === 'pass');
  // What a hook finds left behind is news only when the claims hold: otherwise it follows from them.
  for (const other of holds ? others : []) {
    say(`  FAIL  ${other.title}`);
    if (flags.verbose) for (const line of other.details) say(`        ${line}`);
  }
  if (flags.verbose && claims.some((claim) => claim.outcome === 'unfinished')) process.stdout.write(output);
  const holding = claims.filter((claim) => claim.outcome === 'pass').length;
  const passed = holds && others.length === 0;
  recordCheck(entry.stage, passed, sources);
  if (!passed) {
    const why = holds ? 'every claim holds, but the tests found what the container left behind (above)' : `${holding} of ${claims.length} claims hold`;
    say(`Not yet: ${why}. Fix the first that fails, then check again${flags.verbose ? '' : ' (--verbose shows what the tests saw)'}.`);
    return false;
  }
  const next = WORKSHOP[WORKSHOP.indexOf(entry) + 1];
  say(`Stage ${n} works: every claim holds. ${next ? `Next: pnpm workshop start ${stageNumber(next.stage)}` : 'That was the last stage of the workshop'}; \`pnpm workshop solution ${n}\` shows yours beside the stage's.`);
  if (!flags.all) return true;
  return wholeSuite(dir, n, flags.verbose);
}

async function wholeSuite(dir: string, n: number, verbose: boolean): Promise<boolean> {
  const files = testFiles(dir);
  say(`The whole suite of stage ${n} (${files.join(', ')}):`);
  const { outcomes, finished, output } = await runTests(dir, files);
  if (!finished) {
    process.stderr.write(output);
    throw new WorkshopError(`the tests of stage ${n} did not finish: the lines above say why`);
  }
  const count = (kind: string) => outcomes.filter((outcome) => outcome.outcome === kind).length;
  for (const failed of outcomes.filter((outcome) => outcome.outcome === 'fail')) {
    say(`  FAIL  ${failed.title}`);
    if (verbose) for (const line of failed.details) say(`        ${line}`);
  }
  say(`${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped.`);
  return count('fail') === 0;
}

async function watch(entry: WorkshopStage, flags: { all: boolean; verbose: boolean }): Promise<never> {
  const dir = requireStarted(entry);
  const once = async () => {
    // As rustlings does: each check on a clean screen, so the checklist is the latest.
    if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    try {
      await check(entry, flags);
    } catch (error) {
      if (!(error instanceof WorkshopError)) throw error;
      process.stderr.write(`workshop: ${error.message}\n`);
    }
    say(`Watching ${shown(path.join(dir, 'src'))}: save a file to check again; Ctrl-C stops.`);
  };
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const trigger = () => {
    if (running) {
      again = true;
      return;
    }
    running = once().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        trigger();
      }
    });
  };
  fs.watch(path.join(dir, 'src'), { recursive: true }, () => {
    // An editor saves in several writes: one check for all of them.
    clearTimeout(timer);
    timer = setTimeout(trigger, 200);
  });
  trigger();
  return new Promise<never>(() => {});
}

async function run(entry: WorkshopStage, args: readonly string[]): Promise<number> {
  const dir = requireStarted(entry);
  requireRoot('running it');
  linkModules(entry);
  requireCompiles(dir);
  // The repository's root filesystems by name: the copy's bundle finds them upwards from
  // itself, which a workshop folder outside the repository (WORKSHOP_DIR) is not below.
  const env: NodeJS.ProcessEnv = { ...process.env, SAMPLES_ROOTFS_DIR: imagesDir() };
  delete env.NODE_PATH; // as the stages' tests do: only what the stage declares
  // As the copy's `pnpm start` (and the stage's own tests): the launcher runs its fresh bundle.
  const launcher = path.join(REPO, 'packages', 'runtime', 'start.cjs');
  const child = spawn(process.execPath, [launcher, path.join('src', 'main.ts'), 'run', ...args], { cwd: dir, env, stdio: 'inherit' });
  // Ctrl-C reaches the stage from the terminal, as under pnpm: it decides what happens.
  const ignore = () => {};
  process.on('SIGINT', ignore).on('SIGQUIT', ignore);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGTERM', forward).on('SIGHUP', forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
}

function solution(entry: WorkshopStage): void {
  const dir = requireStarted(entry);
  const n = stageNumber(entry.stage);
  const original = path.join(REPO, 'packages', entry.stage);
  const files = [...new Set([...listFiles(path.join(dir, 'src')), ...listFiles(path.join(original, 'src'))])].sort();
  const color = process.stdout.isTTY;
  const paint = (line: string) => {
    if (!color) return line;
    if (line.startsWith('+') && !line.startsWith('+++')) return `\x1b[32m${line}\x1b[0m`;
    if (line.startsWith('-') && !line.startsWith('---')) return `\x1b[31m${line}\x1b[0m`;
    if (line.startsWith('@@')) return `\x1b[36m${line}\x1b[0m`;
    return line;
  };
  let differs = false;
  for (const file of files) {
    const read = (root: string) => (fs.existsSync(path.join(root, 'src', file)) ? fs.readFileSync(path.join(root, 'src', file), 'utf8') : '');
    const [yours, theirs] = [read(dir), read(original)];
    if (yours === theirs) continue;
    differs = true;
    const patch = createTwoFilesPatch(`${shown(dir)}/src/${file} (yours)`, `packages/${entry.stage}/src/${file} (the stage's)`, yours, theirs);
    say(patch.replace(/^=+\n/, '').trimEnd().split('\n').map(paint).join('\n'));
  }
  if (!differs) say(`Your stage ${n} is the stage's own, to the letter.`);
}

function listFiles(root: string, folder = root): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(folder, entry.name);
    return entry.isDirectory() ? listFiles(root, file) : [path.relative(root, file)];
  });
}

function reset(entry: WorkshopStage): void {
  const dir = copyDir(entry.stage);
  if (fs.existsSync(dir)) {
    const kept = path.join(workshopDir(), '.reset', `${entry.stage}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    fs.mkdirSync(path.dirname(kept), { recursive: true });
    fs.renameSync(dir, kept);
    say(`Your copy so far is kept in ${shown(kept)}.`);
  }
  start(entry);
}

function overview(): void {
  say(USAGE);
  say();
  say('The stages:');
  for (const entry of WORKSHOP) {
    const dir = copyDir(entry.stage);
    const state = !fs.existsSync(dir) ? 'not started' : `${passedCheck(entry.stage) ? 'works' : 'started'}, in ${shown(dir)}`;
    say(`  ${String(stageNumber(entry.stage)).padStart(2)}  ${entry.stage.padEnd(20)} ${state}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, stage, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    overview();
    return 0;
  }
  switch (command) {
    case 'start':
      start(findStage(stage));
      return 0;
    case 'check': {
      const entry = findStage(stage);
      const unknown = rest.filter((flag) => !['--watch', '--all', '--verbose'].includes(flag));
      if (unknown.length > 0) throw new WorkshopError(`check takes --watch, --all and --verbose, not ${unknown.join(' ')}`, 2);
      const flags = { all: rest.includes('--all'), verbose: rest.includes('--verbose') };
      if (rest.includes('--watch')) return watch(entry, flags);
      return (await check(entry, flags)) ? 0 : 1;
    }
    case 'run':
      return run(findStage(stage), rest);
    case 'solution':
      solution(findStage(stage));
      return 0;
    case 'reset':
      reset(findStage(stage));
      return 0;
    default:
      throw new WorkshopError(`there is no command ${command}: choose start, run, check, solution or reset (\`pnpm workshop\` lists them)`, 2);
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    if (error instanceof WorkshopError) {
      process.stderr.write(`workshop: ${error.message}\n`);
      process.exitCode = error.status;
      return;
    }
    throw error;
  },
);
