// start.cjs, the launcher every stage's `pnpm start` runs: it builds the bundle of a
// package's src/main.ts when a source changed, and runs it; otherwise it runs the bundle
// it has, without loading the TypeScript loader.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { learnerEnvironment, rootTest } from '@samples/testing';

const START = path.join(__dirname, '..', 'start.cjs');

/** A package in a temporary folder: src/main.ts prints its arguments, a message from src/message.ts, and whether tsx is loaded. */
function fakePackage(t: ExecutionContext, message: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-start-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(
    path.join(dir, 'src', 'main.ts'),
    [
      "import { message } from './message';",
      'const tsx = Object.keys(require.cache).some((file) => /[\\\\/]tsx[\\\\/]/.test(file));',
      'process.stdout.write(`${message} ${JSON.stringify(process.argv.slice(2))} tsx=${tsx}\\n`);',
      '',
    ].join('\n'),
  );
  const setMessage = (text: string) => {
    const file = path.join(dir, 'src', 'message.ts');
    fs.writeFileSync(file, `export const message: string = ${JSON.stringify(text)};\n`);
    // Later than the bundle, as an editor's save is.
    const later = new Date(Date.now() + 2000);
    fs.utimesSync(file, later, later);
  };
  setMessage(message);
  const bundle = path.join(dir, 'node_modules', '.cache', 'samples', 'main.cjs');
  // As pnpm runs a start script: in the package's folder, without the NODE_PATH of pnpm's ava shim.
  const start = (...args: string[]) =>
    spawnSync(process.execPath, [START, 'src/main.ts', 'run', ...args], { cwd: dir, encoding: 'utf8', env: learnerEnvironment() });
  return { dir, bundle, setMessage, start };
}

test('a first start builds the bundle (with its source map) and runs it with the arguments', (t) => {
  const pkg = fakePackage(t, 'one');
  const result = pkg.start('a', 'b c');
  t.is(result.stderr, '');
  t.is(result.stdout, 'one ["run","a","b c"] tsx=true\n');
  t.true(fs.existsSync(pkg.bundle));
  t.true(fs.existsSync(`${pkg.bundle}.map`), 'a source map for the debugger');
});

test('a fresh bundle is run as it is, without the TypeScript loader; a changed source is bundled again', (t) => {
  const pkg = fakePackage(t, 'one');
  t.is(pkg.start().stdout, 'one ["run"] tsx=true\n', 'built');
  const built = fs.statSync(pkg.bundle).mtimeMs;
  // The message file's mtime is in the future: put it back, so that the bundle is fresh.
  const past = new Date(built - 1000);
  fs.utimesSync(path.join(pkg.dir, 'src', 'message.ts'), past, past);
  t.is(pkg.start('x').stdout, 'one ["run","x"] tsx=false\n', 'fresh: the bundle alone');
  t.is(fs.statSync(pkg.bundle).mtimeMs, built, 'and left alone');

  pkg.setMessage('two');
  t.is(pkg.start('y').stdout, 'two ["run","y"] tsx=true\n', 'changed: built again');
  t.true(fs.statSync(pkg.bundle).mtimeMs > built);
});

// Node 20 has no module compile cache.
const withCompileCache = 'enableCompileCache' in Module ? test : test.skip;

withCompileCache("on Node 22 and later, V8's code of the bundle is kept beside it, and the child is told where", (t) => {
  const pkg = fakePackage(t, 'one');
  pkg.start();
  fs.appendFileSync(path.join(pkg.dir, 'src', 'main.ts'), 'process.stdout.write(`${process.env.NODE_COMPILE_CACHE}\\n`);\n');
  const result = pkg.start();
  const cache = path.join(path.dirname(pkg.bundle), 'compile-cache');
  t.is(result.stdout.split('\n')[1], cache, "in the environment the container's child inherits");
  t.true(fs.readdirSync(cache).length > 0);
});

rootTest('a user who may not write the bundle runs the TypeScript instead', (t) => {
  const pkg = fakePackage(t, 'one');
  t.is(pkg.start().stdout, 'one ["run"] tsx=true\n', 'built by root');
  pkg.setMessage('two'); // now stale, and its folder is root's
  fs.chmodSync(pkg.dir, 0o755);
  const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, START, 'src/main.ts', 'run'], {
    cwd: pkg.dir,
    encoding: 'utf8',
    env: learnerEnvironment({ HOME: os.tmpdir() }),
  });
  t.is(result.stderr, '');
  t.is(result.stdout, 'two ["run"] tsx=true\n');
});

test('without a file to start, it says how it is used', (t) => {
  const result = spawnSync(process.execPath, [START], { encoding: 'utf8' });
  t.is(result.status, 2);
  t.regex(result.stderr, /^usage: node start\.cjs <package>\/src\/main\.ts run/);
});
