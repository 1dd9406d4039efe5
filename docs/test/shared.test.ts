// The table of what a stage-5 container still shares with the host (src/shared.ts, on
// docs/what-stage-5-shares.md): each row's command runs in stage 5, where it must still
// show what the row says, and in each later stage that exists, where it must be closed
// from the stage the row names on, and still open before it.
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import { rootTest, runStage } from '@samples/testing';
import { REPO } from '../src/pages';
import { CLOSING_STAGES, shared } from '../src/shared';

const packageOf = (stage: number) => path.join(REPO, 'packages', stage === 5 ? '5-isolate-cgroup' : CLOSING_STAGES[stage]!.name);
// The stages that exist and run (a stage being built has its folder before its main.ts).
const stages = [5, 6, 7, 8, 9].filter((stage) => fs.existsSync(path.join(packageOf(stage), 'src', 'main.ts')));

for (const row of shared) {
  for (const stage of stages) {
    const open = row.closedBy === undefined || stage < row.closedBy;
    const title = `stage ${stage}, ${open ? 'still shared' : 'closed'}: ${row.what} (${row.command})`;
    const unavailable = row.unavailable?.();
    if (unavailable !== undefined) {
      anyTest.skip(`${title} (skipped: ${unavailable})`, () => {});
      continue;
    }
    // One container at a time: the runs of stage 5 each make a cgroup.
    rootTest.serial(title, (t) => {
      // From stage 6 on, no bridge: every row holds in a network namespace with only lo,
      // and a bridge on the real host would show in the transcripts run meanwhile.
      const network = stage >= 6 ? ['--network', 'none'] : [];
      const { stdout, stderr } = runStage(packageOf(stage), [...network, 'bash', '-c', row.command]);
      const said = `the container printed:\n${stdout}${stderr}`;
      if (open) t.true(row.stillShared(stdout), `the table says it is still shared here; ${said}`);
      else t.false(row.stillShared(stdout), `the table says stage ${row.closedBy} closes it; ${said}`);
    });
  }
}
