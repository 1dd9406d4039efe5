// Re-executing the running program, as Go's `exec.Command("/proc/self/exe", "child", ...)`.
//
// Under tsx every Node start pays for the TypeScript loader (~50 ms with tsx/cjs, far
// more with its ESM loader). The container's child is a second Node start on the
// critical path of every run, so it runs a plain-JS bundle of the same entry file
// instead, rebuilt with esbuild only when a source file changed since the last run.
import fs from 'node:fs';
import path from 'node:path';

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
export function bundle(entry: string, outfile = defaultOutfile(entry)): string {
  const recordFile = `${outfile}.inputs.json`;
  if (isFresh(outfile, recordFile)) return outfile;

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
  const koffi = JSON.stringify(require.resolve('koffi', { paths: [path.dirname(require.resolve('@samples/syscalls'))] }));
  const output = (extension: string) => result.outputFiles.find((file) => file.path.endsWith(extension))!.text;
  const code = output('.cjs').replaceAll('require("koffi")', `require(${koffi})`);
  const inputs = Object.keys(result.metafile.inputs).map((input) => path.resolve(input));

  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  // Write-then-rename, so that two containers started at once never read half a file.
  writeAtomically(`${outfile}.map`, output('.map'));
  writeAtomically(outfile, code);
  writeAtomically(recordFile, JSON.stringify({ inputs } satisfies BuildRecord));
  return outfile;
}

function defaultOutfile(entry: string): string {
  // <package>/src/main.ts -> <package>/node_modules/.cache/samples/main.cjs (ignored by git)
  const packageDir = path.dirname(path.dirname(path.resolve(entry)));
  return path.join(packageDir, 'node_modules', '.cache', 'samples', `${path.basename(entry, path.extname(entry))}.cjs`);
}

function isFresh(outfile: string, recordFile: string): boolean {
  try {
    const built = fs.statSync(outfile).mtimeMs;
    const { inputs } = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as BuildRecord;
    return inputs.every((input) => fs.statSync(input).mtimeMs < built);
  } catch {
    return false; // no bundle yet, or an input is gone
  }
}

function writeAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}
