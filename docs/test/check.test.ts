// The check itself, on a repository made for the purpose: it must notice a region, a
// diff or a marker that no longer matches, and say where.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { findMarkers, replaceContents } from '../src/markers';
import { generated, readPages, staleness } from '../src/pages';

function repository(files: Record<string, string>): string {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-check-'));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), content);
  }
  return repo;
}

// A region with another nested in it, as a page may include either.
const stage = (body: string) =>
  `// a stage\n// #region run\nfunction run() {\n  // #region body\n  ${body}\n  // #endregion\n}\n// #endregion\nrun();\n`;
const page = '# A page\n\n<!-- include: packages/a/src/main.ts#run -->\n<!-- /include -->\n\n<!-- diff: a..b -->\n<!-- /diff -->\n';

/** Builds the page as `pnpm docs:build` does, then changes `file` to `content`: the built page is now stale. */
function builtThenChanged(file: string, content: string) {
  const repo = repository({
    'packages/a/src/main.ts': stage('one();'),
    'packages/b/src/main.ts': stage('two();'),
    'docs/page.md': page,
  });
  const [before] = readPages(repo);
  const built = replaceContents(before!.text, before!.markers, before!.markers.map((marker) => generated(before!, marker, repo)));
  fs.writeFileSync(path.join(repo, 'docs/page.md'), built);
  const [fresh] = readPages(repo);
  const upToDate = fresh!.markers.map((marker) => staleness(fresh!, marker, generated(fresh!, marker, repo)));
  fs.writeFileSync(path.join(repo, file), content);
  const [after] = readPages(repo);
  const stale = after!.markers.map((marker) => staleness(after!, marker, generated(after!, marker, repo)));
  fs.rmSync(repo, { recursive: true });
  return { built, upToDate, stale };
}

test('a built page is up to date, and shows the region and the diff', (t) => {
  const { built, upToDate } = builtThenChanged('packages/b/src/main.ts', stage('two();'));
  t.deepEqual(upToDate, [undefined, undefined]);
  t.true(built.includes('```ts\nfunction run() {\n  one();\n}\n```'), 'the region, without the region comments in it');
  t.true(built.includes('--- packages/a/src/main.ts\n+++ packages/b/src/main.ts\n'));
  t.true(built.includes('-  one();\n+  two();'));
});

test('one character changed in a region: its include and the diff are stale, and say where and how', (t) => {
  const { stale } = builtThenChanged('packages/a/src/main.ts', stage('One();'));
  const [include, diff] = stale;
  t.truthy(include);
  t.true(include!.startsWith('docs/page.md:3 <!-- include: packages/a/src/main.ts#run --> is out of date: run `pnpm docs:build`'));
  t.true(include!.includes('-  one();\n+  One();'), 'the difference, as a unified diff');
  t.regex(diff!, /^docs\/page\.md:\d+ <!-- diff: a\.\.b --> is out of date/);
});

test('a change outside the region leaves its include alone', (t) => {
  const { stale } = builtThenChanged('packages/a/src/main.ts', `// the same stage\n${stage('one();').split('\n').slice(1).join('\n')}`);
  t.is(stale[0], undefined);
  t.truthy(stale[1], 'the diff of the whole file does change');
});

test('a missing region, file or closing comment is an error that says what to do', (t) => {
  const repo = repository({ 'packages/a/src/main.ts': 'run();\n' });
  const pageWith = { name: 'docs/page.md', text: '', markers: [] };
  t.throws(() => generated(pageWith, { kind: 'include', argument: 'packages/a/src/main.ts#run', line: 1, start: 0, end: 0 }, repo), {
    message: 'packages/a/src/main.ts has no region "run": mark it with // #region run ... // #endregion',
  });
  t.throws(() => generated(pageWith, { kind: 'include', argument: 'packages/z/src/main.ts', line: 1, start: 0, end: 0 }, repo), {
    message: 'docs/page.md: <!-- include: packages/z/src/main.ts -->: there is no packages/z/src/main.ts',
  });
  t.throws(() => findMarkers('text\n<!-- diff: a..b -->\nno end\n', 'docs/page.md'), {
    message: 'docs/page.md:2: <!-- diff: a..b --> has no <!-- /diff --> on a line of its own after it',
  });
  fs.rmSync(repo, { recursive: true });
});
