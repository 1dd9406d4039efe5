// The skeletons, made again from the stages' sources and pages on every run (so they
// cannot drift from either): each step's region holds a TODO with its hint and never the
// answer, and the copy compiles as it is. Then the parts: hints from a page, a region's
// body replaced. None of this needs root.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { typeCheck } from '../src/check';
import { REPO, copyDir, makeCopy } from '../src/copy';
import { hintBlocks, plainText } from '../src/hints';
import { findRegion, skeletonOf } from '../src/skeleton';
import { WORKSHOP, stageNumber } from '../src/stages';

const workshop = fs.mkdtempSync(path.join(os.tmpdir(), 'workshop-skeletons-'));
process.env.WORKSHOP_DIR = workshop;
test.after.always(() => fs.rmSync(workshop, { recursive: true, force: true }));

/** The lines of a region's body that are code (not comments, not a lone bracket): what the learner is to write. */
function codeLines(text: string, region: string, file: string): string[] {
  const lines = text.split('\n');
  const { start, end } = findRegion(lines, region, file);
  return lines
    .slice(start + 1, end)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//') && !/^[\s{}()[\];,]*$/.test(line));
}

for (const entry of WORKSHOP) {
  test.serial(`stage ${stageNumber(entry.stage)}: each step is a TODO with its hint from the page, never the answer, and the copy compiles`, (t) => {
    makeCopy(entry);
    const dir = copyDir(entry.stage);
    t.is(typeCheck(dir), undefined, 'the skeleton compiles as it is');
    for (const step of entry.steps) {
      const original = fs.readFileSync(path.join(REPO, 'packages', entry.stage, step.file), 'utf8');
      const skeleton = fs.readFileSync(path.join(dir, step.file), 'utf8');
      const lines = skeleton.split('\n');
      const { start, end } = findRegion(lines, step.region, step.file);
      const body = lines.slice(start + 1, end).join('\n');
      t.true(body.includes('// TODO(workshop): '), `${step.region}: the TODO`);
      t.true(body.includes(`// From docs/${entry.stage}.md:`), `${step.region}: the hint, from the page`);
      t.true(body.includes(`// Then: pnpm workshop check ${stageNumber(entry.stage)}`), `${step.region}: how to check it`);
      const standIn = new Set(step.standIn?.code.split('\n').map((line) => line.trim()) ?? []);
      for (const line of standIn) t.true(body.includes(line), `${step.region}: the stand-in ${line}`);
      const answer = codeLines(original, step.region, step.file).filter((line) => !standIn.has(line));
      t.true(answer.length > 0, `${step.region}: the stage has code in this region`);
      t.deepEqual(
        answer.filter((line) => body.includes(line)),
        [],
        `${step.region}: no line of the answer is in the skeleton`,
      );
      // Everything outside the steps' regions is the stage's own.
      const outside = (text: string) => {
        const all = text.split('\n');
        const region = findRegion(all, step.region, step.file);
        return [...all.slice(0, region.start), ...all.slice(region.end)].filter((line) => !line.includes("the stand-in's: remove it"));
      };
      if (entry.steps.filter((other) => other.file === step.file).length === 1) t.deepEqual(outside(skeleton), outside(original));
    }
    for (const file of ['package.json', 'test']) t.true(fs.existsSync(path.join(dir, file)), `${file} is copied`);
  });
}

const page = `# A page

<!-- hint: spawn -->
- [unshare(2)](https://man7.org/linux/man-pages/man2/unshare.2.html) moves the caller
  into new namespaces, one per \`CLONE_NEW*\` flag.
<!-- /hint -->

Not a hint.

<!-- hint: spawn child -->
**Why** it is *odd*: see [syscalls](syscalls.md), and [the code](../packages/a/src/main.ts#L1), then:
<!-- /hint -->
`;

test('a hint is every block of the page marked with its name, as plain text, the manual pages apart', (t) => {
  const markdown = hintBlocks(page, 'spawn', 'docs/a.md');
  t.false(markdown.includes('Not a hint'));
  const { lines, manuals } = plainText(markdown, 60);
  t.deepEqual(lines, [
    '- unshare(2) moves the caller into new namespaces, one per',
    '  `CLONE_NEW*` flag.',
    '',
    'Why it is odd: see docs/syscalls.md, and the code',
    '(packages/a/src/main.ts#L1), then.',
  ]);
  t.deepEqual(manuals, ['unshare(2) https://man7.org/linux/man-pages/man2/unshare.2.html']);
  t.is(hintBlocks(page, 'child', 'docs/a.md').split('\n').length, 1, 'a block may carry several names');
});

test('a hint the page lacks, or a block left open, is an error that says what to do', (t) => {
  t.throws(() => hintBlocks(page, 'pivot', 'docs/a.md'), {
    message: 'docs/a.md has no hint "pivot": mark the prose a learner needs with <!-- hint: pivot --> ... <!-- /hint -->',
  });
  t.throws(() => hintBlocks('<!-- hint: x -->\ntext\n', 'x', 'docs/a.md'), {
    message: 'docs/a.md:1: <!-- hint: x --> has no <!-- /hint --> on a line of its own after it',
  });
});

test("a skeleton: the region's body is the TODO and the stand-in, the region's comments stay, the stand-in's import is added once", (t) => {
  const source = [
    "import { a } from 'a';",
    '',
    'function run() {',
    '  // #region step',
    '  const x = answer();',
    '  // #endregion',
    '  return x;',
    '}',
    '',
  ].join('\n');
  const step = { file: 'main.ts', region: 'step', task: 'write it', standIn: { note: 'the old way', code: 'const x = old();', imports: ["import { old } from 'b';"] } };
  const skeleton = skeletonOf(source, 'main.ts', [step], () => ['// TODO(workshop): write it.']);
  t.is(
    skeleton,
    [
      "import { old } from 'b'; // the stand-in's: remove it with the stand-in",
      "import { a } from 'a';",
      '',
      'function run() {',
      '  // #region step',
      '  // TODO(workshop): write it.',
      '  const x = old();',
      '  // #endregion',
      '  return x;',
      '}',
      '',
    ].join('\n'),
  );
  t.throws(() => skeletonOf(source, 'main.ts', [{ ...step, region: 'gone' }], () => []), {
    message: 'main.ts has no region "gone": mark the step with // #region gone ... // #endregion',
  });
});

test("the instructors' page lists every stage's claims, as the check prints them", (t) => {
  const page = fs.readFileSync(path.join(REPO, 'docs', 'workshop.md'), 'utf8');
  for (const entry of WORKSHOP) {
    for (const claim of entry.claims) t.true(page.includes(`\`ok ${claim.test}\``), `${entry.stage}: ${claim.test}`);
    t.true(page.includes(`[${stageNumber(entry.stage)}](${entry.stage}.md)`), `${entry.stage} has its row in the plan`);
  }
});
