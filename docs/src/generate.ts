// What `include` and `diff` markers stand for, made from the sources: never pasted by hand.
import fs from 'node:fs';
import path from 'node:path';
import { FILE_HEADERS_ONLY, createTwoFilesPatch } from 'diff';

const REGION_START = /^\s*\/\/ #region (\S+)\s*$/;
const REGION_END = /^\s*\/\/ #endregion\b/;

/**
 * The lines between `// #region NAME` and its `// #endregion` (the comment lines that
 * VS Code folds on), without the region comments of any region nested inside.
 */
export function extractRegion(source: string, region: string, file: string): string {
  const lines = source.split('\n');
  const first = lines.findIndex((line) => REGION_START.exec(line)?.[1] === region);
  if (first === -1) throw new Error(`${file} has no region "${region}": mark it with // #region ${region} ... // #endregion`);
  let depth = 0;
  for (let i = first + 1; i < lines.length; i++) {
    if (REGION_START.test(lines[i]!)) depth++;
    else if (REGION_END.test(lines[i]!) && depth-- === 0) {
      return lines
        .slice(first + 1, i)
        .filter((line) => !REGION_START.test(line) && !REGION_END.test(line))
        .join('\n');
    }
  }
  throw new Error(`${file}: region "${region}" has no // #endregion`);
}

/** The fenced code block's language, by the file's extension. */
const LANGUAGES: Record<string, string> = { '.ts': 'ts', '.cjs': 'js', '.js': 'js', '.c': 'c', '.sh': 'sh' };

/** `<!-- include: FILE#REGION -->`, or `FILE` for all of it: the code, under a link to its file. */
export function include(repo: string, argument: string, page: string): string {
  const [file, region] = argument.split('#') as [string, string | undefined];
  const absolute = path.join(repo, file);
  if (!fs.existsSync(absolute)) throw new Error(`${page}: <!-- include: ${argument} -->: there is no ${file}`);
  const source = fs.readFileSync(absolute, 'utf8');
  const code = region === undefined ? source.trimEnd() : extractRegion(source, region, file);
  const link = `[\`${file}\`](${path.relative(path.join(repo, path.dirname(page)), absolute)})`;
  return `${link}${region === undefined ? '' : `, region \`${region}\``}:\n\n${fenced(code, LANGUAGES[path.extname(file)] ?? '')}`;
}

/**
 * `<!-- diff: A..B -->`: what stage B's main.ts changes in stage A's, as a unified diff.
 * (Stages 3 to 5 also have a container.ts; stage 5 reuses stage 4's. The main.ts files
 * are the programs a learner reads top to bottom, so theirs is the diff that shows what
 * a stage adds.)
 */
export function diff(repo: string, argument: string, page: string): string {
  const stages = /^([\w-]+)\.\.([\w-]+)$/.exec(argument);
  if (!stages) throw new Error(`${page}: <!-- diff: ${argument} -->: write it as <!-- diff: STAGE..STAGE -->`);
  const [before, after] = [stages[1]!, stages[2]!].map((stage) => `packages/${stage}/src/main.ts`) as [string, string];
  for (const file of [before, after]) {
    if (!fs.existsSync(path.join(repo, file))) throw new Error(`${page}: <!-- diff: ${argument} -->: there is no ${file}`);
  }
  const read = (file: string) => fs.readFileSync(path.join(repo, file), 'utf8');
  const patch = createTwoFilesPatch(before, after, read(before), read(after), undefined, undefined, {
    headerOptions: FILE_HEADERS_ONLY,
  });
  return fenced(patch.trimEnd(), 'diff');
}

/** A fenced code block whose fence is longer than any run of backticks in `code`. */
export function fenced(code: string, language: string): string {
  const longest = Math.max(2, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${code}\n${fence}\n`;
}
