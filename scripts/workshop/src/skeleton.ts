// A learner's starting point, made from a stage's own sources: the body of each region
// that holds the stage's new step becomes a TODO (what to write, the hint quoted from
// the stage's page, the manual pages to read) and whatever keeps the file compiling and
// running meanwhile (the stand-in). The region's comments stay, so the learner, the
// check and `solution` all know where the step is.
import fs from 'node:fs';
import path from 'node:path';
import { hintBlocks, plainText } from './hints';
import { stageNumber, type Step, type WorkshopStage } from './stages';

const REGION_START = /^(\s*)\/\/ #region (\S+)\s*$/;
const REGION_END = /^\s*\/\/ #endregion\b/;

/** The lines of a TODO comment, without indentation, at most this wide. */
const WIDTH = 92;

/** The indices of a region's `// #region NAME` and its `// #endregion` line, and the region's indentation. */
export function findRegion(lines: readonly string[], region: string, file: string): { start: number; end: number; indent: string } {
  const start = lines.findIndex((line) => REGION_START.exec(line)?.[2] === region);
  if (start === -1) throw new Error(`${file} has no region "${region}": mark the step with // #region ${region} ... // #endregion`);
  let depth = 0;
  for (let i = start + 1; i < lines.length; i++) {
    if (REGION_START.test(lines[i]!)) depth++;
    else if (REGION_END.test(lines[i]!) && depth-- === 0) return { start, end: i, indent: REGION_START.exec(lines[start]!)![1]! };
  }
  throw new Error(`${file}: region "${region}" has no // #endregion`);
}

/** The TODO that takes the place of a step, as comment lines without indentation. */
export function todoComment(entry: WorkshopStage, step: Step, page: string, pageName: string): string[] {
  const hint = plainText(hintBlocks(page, step.hint ?? step.region, pageName), WIDTH - 3, path.dirname(pageName));
  const lines = [
    ...plainText(`TODO(workshop): ${step.task}.`, WIDTH - 3).lines,
    '',
    `From ${pageName}:`,
    ...hint.lines.map((line) => (line === '' ? '' : `  ${line}`)),
  ];
  if (hint.manuals.length > 0) lines.push('', 'Read:', ...hint.manuals.map((manual) => `  ${manual}`));
  lines.push('', `Then: pnpm workshop check ${stageNumber(entry.stage)}`);
  if (step.standIn) lines.push(...plainText(`Until then, ${step.standIn.note} (replace it):`, WIDTH - 3).lines);
  return lines.map((line) => (line === '' ? '//' : `// ${line}`));
}

/**
 * `source` (the stage's `file`) with the body of each of `steps`' regions replaced by
 * its TODO and stand-in, and the stand-ins' imports added before the first import.
 */
export function skeletonOf(source: string, file: string, steps: readonly Step[], todo: (step: Step) => string[]): string {
  let lines = source.split('\n');
  const imports: string[] = [];
  for (const step of steps) {
    const { start, end, indent } = findRegion(lines, step.region, file);
    const body = [...todo(step), ...(step.standIn?.code.split('\n') ?? [])].map((line) => `${indent}${line}`);
    lines = [...lines.slice(0, start + 1), ...body, ...lines.slice(end)];
    for (const line of step.standIn?.imports ?? []) {
      if (!imports.includes(line)) imports.push(line);
    }
  }
  if (imports.length > 0) {
    const first = lines.findIndex((line) => line.startsWith('import '));
    const marked = imports.map((line) => `${line} // the stand-in's: remove it with the stand-in`);
    lines.splice(first === -1 ? 0 : first, 0, ...marked);
  }
  return lines.join('\n');
}

/** Every file of a stage that holds a step, as the learner gets it: file (from the stage's folder) to text. */
export function skeletonFiles(repo: string, entry: WorkshopStage): Map<string, string> {
  const pageName = `docs/${entry.stage}.md`;
  const pagePath = path.join(repo, pageName);
  if (!fs.existsSync(pagePath)) throw new Error(`${entry.stage} has no page ${pageName}: its hints are quoted from there`);
  const page = fs.readFileSync(pagePath, 'utf8');
  const files = new Map<string, string>();
  for (const file of new Set(entry.steps.map((step) => step.file))) {
    const source = fs.readFileSync(path.join(repo, 'packages', entry.stage, file), 'utf8');
    const steps = entry.steps.filter((step) => step.file === file);
    files.set(file, skeletonOf(source, `packages/${entry.stage}/${file}`, steps, (step) => todoComment(entry, step, page, pageName)));
  }
  return files;
}
