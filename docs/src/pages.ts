// The pages of docs/ and what their generated parts should say now.
import fs from 'node:fs';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { diff, include } from './generate';
import { findMarkers, type Marker } from './markers';
import { sharedTable } from './shared';
import { transcripts, whyNot } from './transcripts';

/** The repository's folder. */
export const REPO = path.join(__dirname, '..', '..');

export interface Page {
  /** From the repository's root: 'docs/2-isolate-process.md'. */
  readonly name: string;
  readonly text: string;
  readonly markers: readonly Marker[];
}

/** Every Markdown page in `docs/`. */
export function readPages(repo = REPO): Page[] {
  return fs
    .readdirSync(path.join(repo, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => {
      const name = `docs/${file}`;
      const text = fs.readFileSync(path.join(repo, name), 'utf8');
      return { name, text, markers: findMarkers(text, name) };
    });
}

/** What the marker's text is now. */
export function committed(page: Page, marker: Marker): string {
  return page.text.slice(marker.start, marker.end);
}

/** The tables a page can show, by name, made from data (`<!-- table: NAME -->`). */
const tables: Readonly<Record<string, () => string>> = { shared: sharedTable };

/** What an include, diff or table marker's text should be, from the sources. */
export function generated(page: Page, marker: Marker, repo = REPO): string {
  if (marker.kind === 'include') return include(repo, marker.argument, page.name);
  if (marker.kind === 'diff') return diff(repo, marker.argument, page.name);
  if (marker.kind === 'table') {
    const table = tables[marker.argument];
    if (table === undefined) throw new Error(`${page.name}:${marker.line}: no table named "${marker.argument}": add it to docs/src/pages.ts`);
    return table();
  }
  throw new Error(`${page.name}:${marker.line}: a transcript is re-run, not generated: use runTranscript`);
}

/** Why the marker's transcript cannot be re-run on this machine, or undefined when it can. */
export function whyNotHere(page: Page, marker: Marker): string | undefined {
  if (!(marker.argument in transcripts)) {
    throw new Error(`${page.name}:${marker.line}: no transcript named "${marker.argument}": add it to docs/src/transcripts.ts`);
  }
  return whyNot(marker.argument);
}

/** How to name a marker in messages: `docs/x.md:12 <!-- include: ... -->`. */
export function describe(page: Page, marker: Marker): string {
  return `${page.name}:${marker.line} <!-- ${marker.kind}: ${marker.argument} -->`;
}

/**
 * Undefined when the page says what the sources say; otherwise a message naming the
 * page and marker, what to run, and the difference as a unified diff.
 */
export function staleness(page: Page, marker: Marker, expected: string): string | undefined {
  const actual = committed(page, marker);
  if (actual === expected) return undefined;
  const difference = createTwoFilesPatch('the page says', 'the sources say', actual, expected, undefined, undefined, { context: 2 });
  return `${describe(page, marker)} is out of date: run \`pnpm docs:build\` and commit the page\n${difference.replace(/^=+\n/, '')}`;
}
