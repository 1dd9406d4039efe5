import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { learnerEnvironment } from '@samples/testing';
import { bundle, selfCommand } from '../src/index';

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
  t.true(fs.existsSync(`${outfile}.map`), 'with a source map beside it, for the debugger');
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
