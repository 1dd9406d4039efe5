// @ts-check
// Where a stage's bundle lives, and whether it is fresh: shared by reexec.ts, which makes
// it, and start.cjs, which runs it. Plain JavaScript, typed with JSDoc, so that the
// launcher can check a bundle without loading the TypeScript loader.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/**
 * The bundle of `entry`: <package>/src/main.ts -> <package>/node_modules/.cache/samples/main.cjs
 * (ignored by git).
 * @param {string} entry
 * @returns {string}
 */
function bundleFileOf(entry) {
  const packageDir = path.dirname(path.dirname(path.resolve(entry)));
  return path.join(packageDir, 'node_modules', '.cache', 'samples', `${path.basename(entry, path.extname(entry))}.cjs`);
}

/**
 * The record of the files a bundle was made from, beside it: `{ "inputs": [...] }`.
 * @param {string} outfile
 * @returns {string}
 */
function recordFileOf(outfile) {
  return `${outfile}.inputs.json`;
}

/**
 * Whether `outfile` exists and is newer than every file it was made from: a few stat
 * calls. False when it is missing, its record is, or an input is gone.
 * @param {string} outfile
 * @returns {boolean}
 */
function isFresh(outfile) {
  try {
    const built = fs.statSync(outfile).mtimeMs;
    const { inputs } = /** @type {{ inputs: string[] }} */ (JSON.parse(fs.readFileSync(recordFileOf(outfile), 'utf8')));
    return inputs.every((input) => fs.statSync(input).mtimeMs < built);
  } catch {
    return false;
  }
}

module.exports = { bundleFileOf, isFresh, recordFileOf };
