// Re-executing the running program, as Go's `exec.Command("/proc/self/exe", "child", ...)`.
//
// Under tsx every Node start pays for the TypeScript loader (~50 ms with tsx/cjs, far
// more with its ESM loader). The container's child is a second Node start on the
// critical path of every run, so it runs a plain-JS bundle of the same entry file
// instead, rebuilt with esbuild only when a source file changed since the last run.
// A stage's `pnpm start` runs that same bundle too (see start.cjs).
import fs from 'node:fs';
import path from 'node:path';
import { bundleFileOf, isFresh, recordFileOf } from './bundle-file.cjs';

interface BuildRecord {
  readonly inputs: string[];
}

/**
 * The command line that starts `entry` (a stage's main.ts or an already built .js)
 * again with `args`: `[process.execPath, [script, ...args]]`.
 */
export function selfCommand(entry: string, args: readonly string[]): [string, string[]] {
  const script = /\.[cm]?js$/.test(entry) ? entry : bundle(entry);
  return [process.execPath, [script, ...args]];
}

/** Bundles `entry` to one CommonJS file, reusing the previous bundle while no input changed. */
export function bundle(entry: string, outfile = bundleFileOf(entry)): string {
  if (isFresh(outfile)) return outfile;

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const result = esbuild.buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    // koffi is native: it must load from its own package folder. esbuild only makes
    // bundles, and a bundle never makes one (selfCommand passes a .cjs through): left
    // out, the bundle is a third smaller and each Node process parses ~3 ms less.
    external: ['koffi', 'esbuild'],
    metafile: true,
    // A map beside the bundle (with the sources in it) lets a debugger stop in the
    // TypeScript of child(): .vscode/launch.json points VS Code's at it. Node itself reads
    // it only with --enable-source-maps, so it costs a run nothing.
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
  });
  // koffi stays outside the bundle; point the bundle at the copy @samples/syscalls
  // uses, since the bundle's folder has no node_modules of its own with koffi in it.
  const koffi = koffiEntry();
  const output = (extension: string) => result.outputFiles.find((file) => file.path.endsWith(extension))!.text;
  const code = withCheapInterop(output('.cjs')).replaceAll('require("koffi")', `require(${JSON.stringify(koffi)})`);
  // koffi's file is an input too: once an update removes it, the bundle is made again.
  const inputs = [...Object.keys(result.metafile.inputs).map((input) => path.resolve(input)), koffi];

  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  // Write-then-rename, so that two containers started at once never read half a file.
  writeAtomically(`${outfile}.map`, output('.map'));
  writeAtomically(outfile, code);
  writeAtomically(recordFileOf(outfile), JSON.stringify({ inputs } satisfies BuildRecord));
  return outfile;
}

/**
 * The file a bundle loads koffi from: koffi's native module itself, as koffi's own
 * loader finds it for the copy @samples/syscalls uses; koffi's index.cjs if it cannot
 * be told. That loader costs ~4 ms at every Node start, twice per container (it reads
 * node's ELF header to tell the C library, resolves its per-platform package through
 * pnpm's symlinks, wraps names deprecated since koffi 2); the .node file alone exports
 * the same functions and loads in ~1 ms.
 */
export function koffiEntry(): string {
  const entry = require.resolve('koffi', { paths: [path.dirname(require.resolve('@samples/syscalls'))] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(entry);
  return Object.keys(require.cache).find((file) => /[\\/]koffi\.node$/.test(file)) ?? entry;
}

/**
 * esbuild's interop for a default import of a CommonJS module (`import fs from 'node:fs'`)
 * copies every export of the module onto a new object, one getter each, at every import
 * site: ~2.5 ms of each Node start in stage 5, twice per container. An object that
 * inherits from the module and holds it as `default` reads the same (only its own keys
 * differ, which no stage lists). The helper keeps its number of lines, so that the
 * source map still points at the right ones. Should esbuild's helper change shape, it
 * is left as it is: slower, still right.
 */
export function withCheapInterop(code: string): string {
  return code.replace(ESBUILD_TO_ESM, (helper) => CHEAP_TO_ESM + '\n'.repeat(helper.split('\n').length - 1));
}

const ESBUILD_TO_ESM = /^var __toESM = \(mod, isNodeMode, target\) => [^]*?\n\)\);$/m;
const CHEAP_TO_ESM =
  'var __toESM = (mod, isNodeMode) => mod != null && !isNodeMode && mod.__esModule ? mod : ' +
  'Object.create(mod !== null && (typeof mod === "object" || typeof mod === "function") ? mod : null, { default: { value: mod, enumerable: true } });';

function writeAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}
