// @ts-check
// A stage's `pnpm start`: node ../runtime/start.cjs src/main.ts run [args...]
//
// Runs the stage from the plain-JS bundle of its main.ts, the very file its container's
// child runs (see src/reexec.ts), and loads the TypeScript loader (tsx, ~50 ms) and
// esbuild only to make that bundle again when a source file changed since the last run.
// Plain JavaScript itself, so that the check costs a few stat calls. The bundle has a
// source map beside it, with the TypeScript in it: a debugger still stops in main.ts.
'use strict';

const path = require('node:path');
const { bundleFileOf, isFresh } = require('./src/bundle-file.cjs');

const [entry, ...args] = process.argv.slice(2);
if (entry === undefined) {
  process.stderr.write('usage: node start.cjs <package>/src/main.ts run [args...]\n');
  process.exit(2);
}
const source = path.resolve(entry);
let script = bundleFileOf(source);
if (!isFresh(script)) {
  require('tsx/cjs/api').register();
  try {
    require('./src/reexec.ts').bundle(source, script);
  } catch (error) {
    // A user who may not write the bundle's folder (root made it): the TypeScript, as it is.
    const code = /** @type {NodeJS.ErrnoException} */ (error).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw error;
    script = source;
  }
}
// The stage reads its command from process.argv[2] on, as if started as `node main.cjs run ...`.
process.argv = [process.argv[0] ?? process.execPath, script, ...args];
require(script);
