// The generated parts of a page. Each sits between an opening comment, alone on its
// line, and the matching closing comment; `pnpm docs:build` rewrites what is between
// them from the sources, and the docs test fails when the page says something else.
//
//   <!-- include: packages/2-isolate-process/src/main.ts#child -->   a named region (or a whole file)
//   <!-- diff: 1-isolate-uts..2-isolate-process -->                  one stage's main.ts against the one before
//   <!-- transcript: 4-isolate-mount -->                             a real run (src/transcripts.ts)
//   <!-- table: shared -->                                           a table made from data (src/pages.ts)
//   ...generated...
//   <!-- /include -->

export const KINDS = ['include', 'diff', 'transcript', 'table'] as const;
export type Kind = (typeof KINDS)[number];

export interface Marker {
  readonly kind: Kind;
  /** What follows the colon: a file and region, two stages, a transcript's or a table's name. */
  readonly argument: string;
  /** The opening comment's line, from 1, for messages. */
  readonly line: number;
  /** Where the generated text starts and ends in the page (offsets). */
  readonly start: number;
  readonly end: number;
}

const OPENING = new RegExp(`^<!-- (${KINDS.join('|')}): (.+?) -->\\n`, 'gm');

/** The markers of a page, in order. Throws, naming the page and line, on a marker left open. */
export function findMarkers(text: string, page: string): Marker[] {
  const markers: Marker[] = [];
  for (const match of text.matchAll(OPENING)) {
    const [opening, kind, argument] = match as unknown as [string, Kind, string];
    const start = match.index + opening.length;
    const line = text.slice(0, match.index).split('\n').length;
    const closing = `<!-- /${kind} -->`;
    const end = text.indexOf(`\n${closing}`, start - 1) + 1;
    const next = text.slice(start).search(OPENING) + start;
    if (end === 0 || (next >= start && next < end)) {
      throw new Error(`${page}:${line}: <!-- ${kind}: ${argument} --> has no ${closing} on a line of its own after it`);
    }
    markers.push({ kind, argument, line, start, end });
  }
  return markers;
}

/** The page with the text of each marker replaced by `contents[i]`. */
export function replaceContents(text: string, markers: readonly Marker[], contents: readonly string[]): string {
  let result = '';
  let from = 0;
  markers.forEach((marker, i) => {
    result += text.slice(from, marker.start) + contents[i];
    from = marker.end;
  });
  return result + text.slice(from);
}
