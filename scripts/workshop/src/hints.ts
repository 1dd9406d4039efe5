// The hints of a TODO, quoted from the stage's page: the blocks between
// `<!-- hint: NAME [NAME...] -->` and `<!-- /hint -->`, each on a line of its own. A
// page marks the prose that a learner needs for a step (the manual pages to read, the
// order of the calls), so that the hint says what the page says, and changes with it.
import path from 'node:path';

const OPENING = /^<!-- hint: ([\w-]+(?: [\w-]+)*) -->$/;
const CLOSING = '<!-- /hint -->';

/** The Markdown of every block of `page` marked with `name`, in order; blocks apart by a blank line. */
export function hintBlocks(page: string, name: string, pageName: string): string {
  const lines = page.split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const opening = OPENING.exec(lines[i]!);
    if (!opening) continue;
    const end = lines.indexOf(CLOSING, i + 1);
    const nested = lines.slice(i + 1, end).findIndex((line) => OPENING.test(line));
    if (end === -1 || nested !== -1) throw new Error(`${pageName}:${i + 1}: ${lines[i]} has no ${CLOSING} on a line of its own after it`);
    // A block that ends in a colon introduced the code that follows it on the page.
    if (opening[1]!.split(' ').includes(name)) blocks.push(lines.slice(i + 1, end).join('\n').replace(/:$/, '.'));
    i = end;
  }
  if (blocks.length === 0) {
    throw new Error(`${pageName} has no hint "${name}": mark the prose a learner needs with <!-- hint: ${name} --> ... <!-- /hint -->`);
  }
  return blocks.join('\n\n');
}

export interface PlainHint {
  /** The prose as plain text, wrapped to `width` columns: lists kept, links and emphasis resolved. */
  readonly lines: string[];
  /** The manual pages the prose links to, in order, each once: `unshare(2) https://man7.org/...`. */
  readonly manuals: string[];
}

/**
 * Markdown prose as the lines of a comment: paragraphs and list items re-wrapped,
 * `**bold**` and `*emphasis*` plain, `code` kept, a link to a manual page as its name
 * (the page's address goes to `manuals`), a link to another page as its text and path.
 */
export function plainText(markdown: string, width: number, pageDir = 'docs'): PlainHint {
  const manuals: string[] = [];
  const inline = (text: string) =>
    text
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label: string, target: string) => {
        if (target.startsWith('https://man7.org/')) {
          const manual = `${label} ${target}`;
          if (!manuals.includes(manual)) manuals.push(manual);
          return label;
        }
        if (/^https?:/.test(target)) return `${label} (${target})`;
        const file = normalise(`${pageDir}/${target}`);
        // [syscalls](syscalls.md) is "docs/syscalls.md"; [the escape](x.md#escape) keeps its words.
        return path.basename(file).startsWith(label) ? file : `${label} (${file})`;
      })
      .replace(/\*\*([^*]+)\*\*/g, '$1')
      .replace(/(^|[\s(])\*([^*\s][^*]*?)\*(?=$|[\s.,;:)])/g, '$1$2');

  const items: { prefix: string; text: string }[] = [];
  for (const line of markdown.split('\n')) {
    const item = /^(\s*)([-*]|\d+\.) (.*)$/.exec(line);
    if (line.trim() === '') items.push({ prefix: '', text: '' });
    else if (item) items.push({ prefix: `${item[1]}${item[2]} `, text: item[3]! });
    else if (line.startsWith('|')) {
      // A table row as one line of its cells; the row of dashes under the head goes.
      if (!/^\|[\s|:-]+\|$/.test(line)) items.push({ prefix: '', text: line.split('|').slice(1, -1).map((cell) => cell.trim()).join('; ') });
    } else {
      const last = items.at(-1);
      if (last && last.text !== '') last.text += ` ${line.trim()}`;
      else items.push({ prefix: '', text: line.trim() });
    }
  }

  const lines: string[] = [];
  for (const { prefix, text } of items) {
    if (text === '') {
      if (lines.length > 0 && lines.at(-1) !== '') lines.push('');
      continue;
    }
    let current = prefix;
    let empty = true;
    for (const word of inline(text).split(/\s+/)) {
      if (!empty && current.length + 1 + word.length > width) {
        lines.push(current);
        current = ' '.repeat(prefix.length);
        empty = true;
      }
      current += empty ? word : ` ${word}`;
      empty = false;
    }
    lines.push(current);
  }
  while (lines.at(-1) === '') lines.pop();
  return { lines, manuals };
}

function normalise(target: string): string {
  const parts: string[] = [];
  for (const part of target.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.') parts.push(part);
  }
  return parts.join('/');
}
