// @ts-check
// What a command of this project runs: the plain-JS bundle of its TypeScript entry (see
// reexec.ts), made again first when a source changed since. Checking costs a few stat
// calls (bundle-file.cjs); only a rebuild loads the TypeScript loader (tsx, ~50 ms) and
// esbuild. Plain JavaScript, for the launchers that run before any TypeScript can load:
// start.cjs (a stage's `pnpm start`) and the rootfs package's `rootfs` command.
'use strict';

const { bundleFileOf, isFresh } = require('./bundle-file.cjs');

/**
 * The file to run for `entry` (an absolute path to a package's src/NAME.ts): its fresh
 * bundle; or, for a user who may not write the bundle's folder (root made it), `entry`
 * itself, with tsx registered to run it.
 * @param {string} entry
 * @returns {string}
 */
function freshScript(entry) {
  const bundle = bundleFileOf(entry);
  if (isFresh(bundle)) return bundle;
  require('tsx/cjs/api').register();
  try {
    require('./reexec.ts').bundle(entry, bundle);
    return bundle;
  } catch (error) {
    const code = /** @type {NodeJS.ErrnoException} */ (error).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw error;
    return entry;
  }
}

module.exports = { freshScript };
