#!/usr/bin/env node
// `pnpm rootfs ...`: a command of this package, linked into node_modules/.bin, not a
// package script. pnpm runs a script with a `$ node ...` line before it and an
// `[ELIFECYCLE]` line after a failure (and its `-s` is `--sequential` for scripts); a
// command it runs as it is: only the command's own output, and its exit status unchanged.
// It runs the fresh plain-JS bundle of src/cli.ts, made again when a source changed
// (see @samples/runtime's launch.cjs): no TypeScript loader on every import.
'use strict';
const path = require('node:path');
const { freshScript, useCompileCache } = require('@samples/runtime/launch');

const script = freshScript(path.join(__dirname, '..', 'src', 'cli.ts'));
useCompileCache(script);
require(script);
