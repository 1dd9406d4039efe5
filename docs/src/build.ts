// `pnpm docs:build [TRANSCRIPT...]`: rewrites the generated parts of every page in
// docs/ from the sources, and re-runs the transcripts this machine can run (the others
// are kept as they are). Given names, it re-runs only the transcripts of those names.
import fs from 'node:fs';
import path from 'node:path';
import { replaceContents } from './markers';
import { thisMachine } from './normalise';
import { REPO, committed, describe, generated, readPages, whyNotHere } from './pages';
import { runTranscript } from './transcripts';

async function build(only: readonly string[]): Promise<void> {
  const kept: string[] = [];
  let updated = 0;
  for (const page of readPages()) {
    const contents: string[] = [];
    for (const marker of page.markers) {
      if (marker.kind !== 'transcript') {
        contents.push(generated(page, marker));
        continue;
      }
      if (only.length > 0 && !only.includes(marker.argument)) {
        contents.push(committed(page, marker));
        continue;
      }
      const reason = whyNotHere(page, marker);
      if (reason !== undefined) {
        contents.push(committed(page, marker));
        kept.push(`${describe(page, marker)}: kept as it was (${reason})`);
        continue;
      }
      process.stdout.write(`running ${describe(page, marker)}\n`);
      contents.push(await runTranscript(marker.argument, REPO, thisMachine(REPO)));
    }
    const text = replaceContents(page.text, page.markers, contents);
    if (text !== page.text) {
      fs.writeFileSync(path.join(REPO, page.name), text);
      process.stdout.write(`updated ${page.name}\n`);
      updated++;
    }
  }
  for (const line of kept) process.stdout.write(`${line}\n`);
  process.stdout.write(updated === 0 ? 'docs: every page was up to date\n' : `docs: ${updated} page(s) updated\n`);
}

build(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`docs:build: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
