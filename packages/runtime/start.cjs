// @ts-check
// A stage's `pnpm start`: node ../runtime/start.cjs src/main.ts run [args...]
//
// Runs the stage from the plain-JS bundle of its main.ts, the very file its container's
// child runs (see src/reexec.ts), made again only when a source file changed since the
// last run (src/launch.cjs). The bundle has a source map beside it, with the TypeScript
// in it: a debugger still stops in main.ts (and `node --enable-source-maps` maps a stack
// trace back to it).
'use strict';

const path = require('node:path');
const { freshScript, useCompileCache } = require('./src/launch.cjs');

const [entry, ...args] = process.argv.slice(2);
if (entry === undefined) {
  process.stderr.write('usage: node start.cjs <package>/src/main.ts run [args...]\n');
  process.exit(2);
}
const script = freshScript(path.resolve(entry));
useCompileCache(script);
// The stage reads its command from process.argv[2] on, as if started as `node main.cjs run ...`.
process.argv = [process.argv[0] ?? process.execPath, script, ...args];
require(script);
