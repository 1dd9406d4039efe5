import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { learnerEnvironment } from '@samples/testing';
import { bundle, selfCommand } from '../src/index';
import { withCheapInterop } from '../src/reexec';

test('a bundle built afresh, far from any node_modules, runs and finds koffi', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-bundle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Built in a process of its own, as a stage's runtime builds it (ava resolves modules
  // from more places than a plain node does).
  const outfile = path.join(dir, 'bundled.cjs');
  const build = `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'reexec.ts'))}).bundle(${JSON.stringify(path.join(__dirname, 'fixtures', 'bundled.ts'))}, ${JSON.stringify(outfile)})`;
  const built = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', build], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    env: learnerEnvironment(),
  });
  t.is(built.stderr, '', 'the bundle was built');
  const result = spawnSync(process.execPath, [outfile], { encoding: 'utf8' });
  t.is(result.stderr, '');
  t.is(result.stdout, 'true\n');
  const code = fs.readFileSync(outfile, 'utf8');
  t.regex(code, /require\("[^"]+\/koffi\.node"\)/, "koffi's native module, without koffi's loader");
  t.regex(code, /^var __toESM = \(mod, isNodeMode\) => /m, "the cheap interop helper in esbuild's place");

  // The source map still leads from the bundle's lines to the TypeScript's, the helper's
  // rewrite above them notwithstanding: what a debugger's breakpoints rely on.
  const map = new SourceMap(JSON.parse(fs.readFileSync(`${outfile}.map`, 'utf8')));
  const lines = code.split('\n');
  const line = lines.findIndex((text) => text.includes('getpid() === process.pid &&'));
  const entry = map.findEntry(line, lines[line]!.indexOf('process.stdout')) as { originalSource?: string; originalLine?: number };
  t.true(entry.originalSource?.endsWith('fixtures/bundled.ts'), entry.originalSource);
  const source = fs.readFileSync(path.join(__dirname, 'fixtures', 'bundled.ts'), 'utf8').split('\n');
  t.is(entry.originalLine, source.findIndex((text) => text.includes('getpid() === process.pid &&')));
});

test("esbuild's interop helper, should its shape change, is left as it is", (t) => {
  const changed = 'var __toESM = (mod, isNodeMode, target, more) => (target = {}, mod);\nrequire("x");\n';
  t.is(withCheapInterop(changed), changed);
});

test('an unchanged source is not bundled again; a changed one is', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-bundle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const entry = path.join(dir, 'entry.ts');
  fs.writeFileSync(entry, 'process.stdout.write("one\\n");\n');
  const outfile = path.join(dir, 'out', 'entry.cjs');
  bundle(entry, outfile);
  const built = fs.statSync(outfile).mtimeMs;
  bundle(entry, outfile);
  t.is(fs.statSync(outfile).mtimeMs, built, 'fresh: left alone');
  // A later mtime than the bundle's, as an editor's save gives.
  fs.writeFileSync(entry, 'process.stdout.write("two\\n");\n');
  fs.utimesSync(entry, new Date(), new Date(built + 1000));
  bundle(entry, outfile);
  t.is(spawnSync(process.execPath, [outfile], { encoding: 'utf8' }).stdout, 'two\n');
});

test('selfCommand passes a built .cjs through as it is', (t) => {
  t.deepEqual(selfCommand('/x/main.cjs', ['child', 'a']), [process.execPath, ['/x/main.cjs', 'child', 'a']]);
});
