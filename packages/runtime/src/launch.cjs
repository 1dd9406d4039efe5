// @ts-check
// What a command of this project runs: the plain-JS bundle of its TypeScript entry (see
// reexec.ts), made again first when a source changed since. Checking costs a few stat
// calls (bundle-file.cjs); only a rebuild loads the TypeScript loader (tsx, ~50 ms) and
// esbuild. Plain JavaScript, for the launchers that run before any TypeScript can load:
// start.cjs (a stage's `pnpm start`) and the rootfs package's `rootfs` command.
'use strict';

const path = require('node:path');
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

/**
 * Node 22 and later can keep V8's compiled code of each file in a folder (the module
 * compile cache): a start that finds the bundle's there skips compiling it, ~4 ms of CPU
 * per Node start. Turned on for this process, before it loads `script`, and, through the
 * environment, for the container's child, which runs the same bundle. Node 20 has no
 * such cache; nor has a start that runs the TypeScript.
 * @param {string} script
 */
function useCompileCache(script) {
  const { enableCompileCache } = /** @type {{ enableCompileCache?: (directory: string) => { directory?: string } }} */ (require('node:module'));
  if (enableCompileCache === undefined || !script.endsWith('.cjs')) return;
  const { directory } = enableCompileCache(path.join(path.dirname(script), 'compile-cache'));
  if (directory !== undefined) process.env.NODE_COMPILE_CACHE = directory;
}

module.exports = { freshScript, useCompileCache };
