// `pnpm workshop` as a learner uses it, as root, in a workshop folder of its own: for
// every stage, the skeleton compiles and runs but fails its check (so the check can
// fail), and the stage's own code, copied in, passes it. A learner's answer typed into
// stage 1 turns the check green; a stage uses the learner's earlier stage once that
// passed; the whole suite of stage 4 passes on the copy; bad input is one line.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { rootTest } from '@samples/testing';
import { REPO } from '../src/copy';
import { WORKSHOP, stageNumber } from '../src/stages';

const serial = rootTest.serial;
const MAIN = path.join(__dirname, '..', 'src', 'main.ts');
const workshop = fs.mkdtempSync(path.join(os.tmpdir(), 'workshop-check-'));
// As a workshop/ folder in the repository is: the tests without root run the copy as nobody.
fs.chmodSync(workshop, 0o755);
test.after.always(() => fs.rmSync(workshop, { recursive: true, force: true }));

/**
 * `pnpm workshop ARGS` with this test's workshop folder. `run` goes in a network
 * namespace of its own (stage 6's bridge is made there, never on the host); the check
 * makes a scratch host itself.
 */
function workshopCommand(args: readonly string[], timeout = 240_000) {
  const command = [process.execPath, '--require', 'tsx/cjs', MAIN, ...args];
  const [file, ...argv] = args[0] === 'run' ? ['unshare', '--net', ...command] : command;
  const result = spawnSync(file!, argv, { cwd: REPO, env: { ...process.env, WORKSHOP_DIR: workshop }, encoding: 'utf8', timeout });
  if (result.error) throw result.error;
  return result;
}

const copyOf = (stage: string) => path.join(workshop, stage);

/** The folders of temporary files that the check run as `pid` left. */
const tempLeftBy = (pid: number) => fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`samples-workshop-check-${pid}-`));

/** The check's checklist: "ok TITLE" and "FAIL TITLE" lines. */
const checklist = (stdout: string) => stdout.split('\n').filter((line) => /^ {2}(ok|FAIL|skip|\?\?) /.test(line)).map((line) => line.trim().replace(/ +/, ' '));

for (const entry of WORKSHOP) {
  const n = stageNumber(entry.stage);
  serial(`stage ${n}: the skeleton compiles and runs, and fails its check; the stage's own code, copied in, passes it`, (t) => {
    const started = workshopCommand(['start', String(n)]);
    t.is(started.status, 0, started.stderr);
    t.regex(started.stdout, new RegExp(`^Your copy of stage ${n} is in `));

    const ran = workshopCommand(['run', String(n), 'sh', '-c', 'echo ran']);
    t.is(ran.status, 0, ran.stderr);
    t.is(ran.stdout, 'ran\n', 'the skeleton runs (the stage before\'s way)');

    const failing = workshopCommand(['check', String(n)]);
    t.is(failing.status, 1, failing.stdout + failing.stderr);
    const before = checklist(failing.stdout);
    t.is(before.length, entry.claims.length, failing.stdout);
    t.true(before.some((line) => line.startsWith('FAIL ')), failing.stdout);
    t.regex(failing.stdout, /^ {8}hint: \S/m, 'a hint under the first that fails');
    t.regex(failing.stdout, /^Not yet: \d+ of \d+ claims hold\./m);
    t.deepEqual(tempLeftBy(failing.pid), [], "the tests' temporary files went with the check, though claims were killed");

    fs.cpSync(path.join(REPO, 'packages', entry.stage, 'src'), path.join(copyOf(entry.stage), 'src'), { recursive: true });
    const passing = workshopCommand(['check', String(n)]);
    t.is(passing.status, 0, passing.stdout + passing.stderr);
    t.deepEqual(checklist(passing.stdout), entry.claims.map((claim) => `ok ${claim.test}`));
    t.regex(passing.stdout, new RegExp(`^Stage ${n} works: every claim holds\\.`, 'm'));
  });
}

serial('stage 1: a learner types the spawnInNamespaces call into the skeleton, and the check goes green', (t) => {
  t.is(workshopCommand(['reset', '1']).status, 0);
  const main = path.join(copyOf('1-isolate-uts'), 'src', 'main.ts');
  const skeleton = fs.readFileSync(main, 'utf8');
  const standIn = "  const child = spawn(file, args, { stdio: 'inherit' });\n";
  t.true(skeleton.includes(standIn));
  // As a learner would: the stand-in's line replaced, the TODO and the stand-in's import left as they were.
  fs.writeFileSync(main, skeleton.replace(standIn, "  const child = spawnInNamespaces(file, args, CLONE_NEWUTS, { stdio: 'inherit' });\n"));
  const result = workshopCommand(['check', '1']);
  t.is(result.status, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /^Stage 1 works: every claim holds\./m);
  const solution = workshopCommand(['solution', '1']);
  t.is(solution.status, 0);
  t.regex(solution.stdout, /^-  \/\/ TODO\(workshop\): /m, 'the TODO is in the copy, not in the stage');
  t.regex(solution.stdout, /^\+ {2}trace\(`spawn \$\{file\} with CLONE_NEWUTS`\);$/m, 'what the stage has that the learner did not write');
});

serial("stage 5 enters the container with the learner's own stage 4 once that passed its check, and with the stage's own once it changed", (t) => {
  const link = path.join(copyOf('5-isolate-cgroup'), 'node_modules', '4-isolate-mount');
  t.is(workshopCommand(['reset', '5']).status, 0);
  t.is(fs.realpathSync(link), copyOf('4-isolate-mount'), 'stage 4 passed its check above');
  const container = path.join(copyOf('4-isolate-mount'), 'src', 'container.ts');
  const checked = fs.readFileSync(container, 'utf8');
  fs.appendFileSync(container, '// changed after its check\n');
  // The child runs a bundle of the stage: it must be made of the stage 4 the link names.
  const bundled = () => {
    const record = path.join(copyOf('5-isolate-cgroup'), 'node_modules', '.cache', 'samples', 'main.cjs.inputs.json');
    const { inputs } = JSON.parse(fs.readFileSync(record, 'utf8')) as { inputs: string[] };
    return inputs.filter((input) => input.endsWith(path.join('src', 'container.ts')) && input.includes('4-isolate-mount'));
  };
  const ran = workshopCommand(['run', '5', 'true']);
  t.is(ran.status, 0, ran.stderr);
  t.is(fs.realpathSync(link), path.join(REPO, 'packages', '4-isolate-mount'), 'changed since its check: the stage\'s own');
  t.deepEqual(bundled(), [path.join(REPO, 'packages', '4-isolate-mount', 'src', 'container.ts')]);
  fs.writeFileSync(container, checked);
  t.is(workshopCommand(['run', '5', 'true']).status, 0);
  t.is(fs.realpathSync(link), copyOf('4-isolate-mount'), 'as it was checked: the learner\'s once more');
  t.deepEqual(bundled(), [container]);
});

// One whole suite (the check runs the claims alone): stage 4's, which imports the learner's stage 3.
serial("stage 4: the stage's whole suite passes on the finished copy (check --all)", (t) => {
  const result = workshopCommand(['check', '4', '--all']);
  t.is(result.status, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /^It imports stage 3: your copy, as yours passed its check\.$/m);
  t.regex(result.stdout, /^\d+ passed, 0 failed, \d+ skipped\.$/m);
});

serial('a copy that does not compile: the compiler says where, then one line says what to do; no stack trace', (t) => {
  t.is(workshopCommand(['reset', '2']).status, 0);
  const main = path.join(copyOf('2-isolate-process'), 'src', 'main.ts');
  fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace('return waitForExit(container);', 'return waitForExit(container;'));
  for (const command of ['check', 'run']) {
    const result = workshopCommand([command, '2', ...(command === 'run' ? ['true'] : [])]);
    t.is(result.status, 1);
    t.is(result.stdout, '');
    const lines = result.stderr.trimEnd().split('\n');
    t.regex(lines[0]!, /src\/main\.ts\(\d+,\d+\): error TS1005: '\)' expected\.$/);
    t.regex(lines.at(-1)!, /^workshop: .*2-isolate-process does not compile: fix what the compiler says above, then try again$/);
    t.false(result.stderr.includes('    at '), 'no stack trace');
  }
});

test('bad input: a stage the workshop has not, a check before start, an unknown command: one line each that says what to do', (t) => {
  const cases: [string[], number, RegExp][] = [
    [['start', '10'], 2, /^workshop: there is no stage 10 in the workshop: choose 1, 2, 3, 4, 5, 6, 7, 8 or 9\n$/],
    [['check'], 2, /^workshop: which stage\? give its number, one of 1, 2, 3, 4, 5, 6, 7, 8 or 9\n$/],
    [['frobnicate', '1'], 2, /^workshop: there is no command frobnicate: choose start, run, check, solution or reset/],
    [['check', '3', '--fast'], 2, /^workshop: check takes --watch, --all and --verbose, not --fast\n$/],
  ];
  for (const [args, status, message] of cases) {
    const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', MAIN, ...args], {
      cwd: REPO,
      env: { ...process.env, WORKSHOP_DIR: path.join(workshop, 'not-started') },
      encoding: 'utf8',
    });
    t.is(result.status, status, args.join(' '));
    t.regex(result.stderr, message);
  }
  for (const command of ['check', 'run', 'solution']) {
    const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', MAIN, command, '3'], {
      cwd: REPO,
      env: { ...process.env, WORKSHOP_DIR: path.join(workshop, 'not-started') },
      encoding: 'utf8',
    });
    t.is(result.status, 1);
    t.is(result.stderr, 'workshop: you have not started stage 3 yet: `pnpm workshop start 3` makes your copy first\n');
  }
});
