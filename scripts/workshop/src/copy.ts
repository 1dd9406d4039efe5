// A learner's copy of a stage: workshop/<stage>/, beside the repository's packages/ and
// at the same depth, so that it reads like the stage itself. It holds the stage's files
// (the step regions as skeletons), a tsconfig.json that extends the repository's, and a
// node_modules/ of its own: links to what the stage's own node_modules/ links to, so
// that its imports resolve as the stage's do, and so that what it builds (the child's
// bundle) is its own, never the stage's.
//
// Where the stage imports an earlier stage of the workshop, and the learner's copy of
// that stage has passed its check (and has not changed since), the link goes to the
// learner's copy: stage 5 then enters the container with the learner's own stage 4.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { skeletonFiles } from './skeleton';
import { WORKSHOP, type WorkshopStage } from './stages';

/** The repository's folder. */
export const REPO = path.resolve(__dirname, '..', '..', '..');

/** Where learners' copies go: workshop/ in the repository (gitignored); the tests set WORKSHOP_DIR to a folder of their own. */
export function workshopDir(): string {
  return process.env.WORKSHOP_DIR ?? path.join(REPO, 'workshop');
}

export const stageDir = (stage: string) => path.join(REPO, 'packages', stage);
export const copyDir = (stage: string) => path.join(workshopDir(), stage);

/** How to name a folder in a message: from the repository when inside it. */
export function shown(dir: string): string {
  const relative = path.relative(REPO, dir);
  return relative.startsWith('..') ? dir : relative;
}

/** The learner's copy's own checks: where the last check's outcome is kept. */
const stateFile = (dir: string) => path.join(dir, 'node_modules', '.workshop.json');

interface CheckState {
  readonly passed: boolean;
  /** The sources the check ran on. */
  readonly sources: string;
}

/** Makes the learner's copy of `entry`'s stage, with its steps as skeletons. */
export function makeCopy(entry: WorkshopStage): void {
  const from = stageDir(entry.stage);
  const to = copyDir(entry.stage);
  const skeletons = skeletonFiles(REPO, entry); // first: a broken region leaves no half-made copy
  fs.mkdirSync(path.dirname(to), { recursive: true });
  copyTree(from, to, (name) => name !== 'node_modules');
  for (const [file, text] of skeletons) fs.writeFileSync(path.join(to, file), text);
  writeTsconfig(from, to);
  addTestHook(to);
  linkModules(entry);
}

/** The hook that stops what a failed test left running (stop-runtimes.ts), in the copy's ava settings. */
export function addTestHook(dir: string): void {
  const file = path.join(dir, 'package.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as { ava?: { require?: string[] } };
  const hook = path.join(__dirname, 'stop-runtimes.ts');
  if (manifest.ava === undefined || manifest.ava.require?.includes(hook)) return;
  // (one from where the repository was before it moved goes)
  const others = (manifest.ava.require ?? []).filter((module) => path.basename(module) !== path.basename(hook));
  manifest.ava.require = [...others, hook];
  fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

function copyTree(from: string, to: string, keep: (name: string) => boolean): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (!keep(entry.name)) continue;
    const [source, target] = [path.join(from, entry.name), path.join(to, entry.name)];
    if (entry.isDirectory()) copyTree(source, target, () => true);
    else if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(source), target);
    else fs.copyFileSync(source, target);
  }
}

/**
 * The stage's tsconfig.json, extending the repository's from the copy's folder. The
 * skeleton keeps the stage's imports (they name the tools the step needs), which the
 * stand-in leaves unused: so the copy allows unused names.
 */
function writeTsconfig(from: string, to: string): void {
  const config = JSON.parse(fs.readFileSync(path.join(from, 'tsconfig.json'), 'utf8')) as {
    extends?: string;
    compilerOptions?: Record<string, unknown>;
  };
  if (config.extends !== undefined) config.extends = path.relative(to, path.resolve(from, config.extends));
  config.compilerOptions = { ...config.compilerOptions, noUnusedLocals: false, noUnusedParameters: false };
  fs.writeFileSync(path.join(to, 'tsconfig.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/** Which copy of an earlier workshop stage a stage uses, and why. */
export interface DependencyChoice {
  readonly stage: string;
  readonly learners: boolean;
  readonly why: string;
}

/**
 * Links the copy's node_modules: each package the stage's own node_modules has (an
 * earlier workshop stage: the learner's copy if it passed its check), and the
 * repository's own tools (tsx, ava, typescript) for a copy outside the repository.
 * Returns the choice made for each earlier workshop stage.
 */
export function linkModules(entry: WorkshopStage): DependencyChoice[] {
  const modules = path.join(copyDir(entry.stage), 'node_modules');
  fs.mkdirSync(modules, { recursive: true });
  const choices: DependencyChoice[] = [];
  const own = path.join(stageDir(entry.stage), 'node_modules');
  if (!fs.existsSync(own)) throw new Error(`packages/${entry.stage} has no node_modules: run pnpm install`);
  let switched = false;
  for (const name of packageNames(own)) {
    let target = fs.realpathSync(path.join(own, name));
    if (WORKSHOP.some((other) => other.stage === name)) {
      const choice = chooseCopy(name);
      choices.push(choice);
      if (choice.learners) target = copyDir(name);
    }
    if (link(path.join(modules, name), target)) switched = true;
  }
  // The child's bundle (@samples/runtime's reexec) is rebuilt when one of its files
  // changed, and the other stage's files may be older than it: build it again.
  if (switched) fs.rmSync(path.join(modules, '.cache', 'samples'), { recursive: true, force: true });
  // A file may reach a package beside its own by path (stage 5's layout.cjs reaches
  // runtime/ so, for the doctor's sake): beside the copies, the shared packages too.
  for (const shared of fs.readdirSync(path.join(REPO, 'packages')).filter((name) => !/^\d/.test(name))) {
    const at = path.join(workshopDir(), shared);
    if (!fs.existsSync(at)) link(at, path.join(REPO, 'packages', shared));
  }
  const root = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  for (const name of Object.keys(root.devDependencies ?? {})) {
    const tool = path.join(REPO, 'node_modules', name);
    if (fs.existsSync(tool) && !fs.existsSync(path.join(modules, name))) link(path.join(modules, name), fs.realpathSync(tool));
  }
  return choices;
}

/** The names in a node_modules folder: `x`, and `@scope/x` for each in a scope's folder. */
function packageNames(modules: string): string[] {
  return fs.readdirSync(modules).flatMap((name) => {
    if (name.startsWith('.')) return [];
    if (name.startsWith('@')) return fs.readdirSync(path.join(modules, name)).map((inner) => `${name}/${inner}`);
    return [name];
  });
}

/** Links `at` to `target`; true if it pointed elsewhere before. */
function link(at: string, target: string): boolean {
  let before: string | undefined;
  try {
    before = fs.readlinkSync(at);
    if (before === target) return false;
    fs.unlinkSync(at);
  } catch {
    // not there yet
  }
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at);
  return before !== undefined;
}

/** Whether the learner's copy of `stage` passed its last check, and has not changed since. */
export function passedCheck(stage: string): boolean {
  return chooseCopy(stage).learners;
}

function chooseCopy(stage: string): DependencyChoice {
  const dir = copyDir(stage);
  if (!fs.existsSync(dir)) return { stage, learners: false, why: 'you have not started it' };
  const state = readState(dir);
  if (state === undefined || !state.passed) return { stage, learners: false, why: 'yours has not passed its check yet' };
  if (state.sources !== sourcesHash(dir)) return { stage, learners: false, why: 'yours changed since it passed its check' };
  return { stage, learners: true, why: 'yours passed its check' };
}

function readState(dir: string): CheckState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as CheckState;
  } catch {
    return undefined;
  }
}

/** Keeps the outcome of a check of the copy, with the sources it ran on. */
export function recordCheck(stage: string, passed: boolean, sources: string): void {
  fs.writeFileSync(stateFile(copyDir(stage)), `${JSON.stringify({ passed, sources } satisfies CheckState)}\n`);
}

/** A hash of the copy's src/ (names and contents): what a check ran on. */
export function sourcesHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(file);
      else hash.update(`${path.relative(dir, file)}\0`).update(fs.readFileSync(file)).update('\0');
    }
  };
  walk(path.join(dir, 'src'));
  return hash.digest('hex');
}
