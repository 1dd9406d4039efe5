// Every generated part of every page, against what the sources say now: an include of a
// region, a diff between stages, a transcript re-run. A page left behind by a code
// change fails here, naming the page and the marker.
import test from 'ava';
import { thisMachine } from '../src/normalise';
import { REPO, describe, generated, readPages, staleness, whyNotHere } from '../src/pages';
import { runTranscript } from '../src/transcripts';

for (const page of readPages()) {
  for (const marker of page.markers) {
    const title = describe(page, marker);
    if (marker.kind !== 'transcript') {
      test(title, (t) => {
        const message = staleness(page, marker, generated(page, marker));
        if (message === undefined) t.pass();
        else t.fail(message);
      });
      continue;
    }
    const reason = whyNotHere(page, marker);
    if (reason !== undefined) {
      test.skip(`${title} (skipped: ${reason})`, () => {});
      continue;
    }
    // Containers one at a time: stage 3's mounts are in the host's table while it runs.
    test.serial(title, async (t) => {
      const message = staleness(page, marker, await runTranscript(marker.argument, REPO, thisMachine(REPO)));
      if (message === undefined) t.pass();
      else t.fail(message);
    });
  }
}
