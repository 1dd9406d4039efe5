#!/usr/bin/env node
// `pnpm rootfs ...`: a command of this package, linked into node_modules/.bin, not a
// package script. pnpm runs a script with a `$ node ...` line before it and an
// `[ELIFECYCLE]` line after a failure (and its `-s` is `--sequential` for scripts); a
// command it runs as it is: only the command's own output, and its exit status unchanged.
'use strict';
require('tsx/cjs');
require('../src/cli.ts');
