// The table of what a stage-5 container still shares with the host (src/shared.ts, on
// docs/what-stage-5-shares.md): each row's command runs in stage 5, where it must still
// show what the row says, and in each later stage that exists, where it must be closed
// from the stage the row names on, and still open before it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import { learnerEnvironment, rootTest, runStage, stageCommand } from '@samples/testing';
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
      if (row.afterwards !== undefined) t.teardown(row.afterwards);
      // From stage 6 on, no bridge: every row holds in a network namespace with only lo,
      // and a bridge on the real host would show in the transcripts run meanwhile.
      const network = stage >= 6 ? ['--network', 'none'] : [];
      const args = [...network, 'bash', '-c', row.command];
      const { stdout, stderr } = row.fromTerminal ? runOnTerminal(packageOf(stage), args) : runStage(packageOf(stage), args);
      const said = `the container printed:\n${stdout}${stderr}`;
      if (open) t.true(row.stillShared(stdout), `the table says it is still shared here; ${said}`);
      else t.false(row.stillShared(stdout), `the table says stage ${row.closedBy} closes it; ${said}`);
    });
  }
}

/**
 * Runs a stage from a terminal of its own (a pseudo-terminal from util-linux's `script`),
 * as a person does: stdout and stderr come back as one, with the terminal's \r\n made \n.
 */
function runOnTerminal(packageDir: string, args: readonly string[]): { stdout: string; stderr: string } {
  const [file, argv] = stageCommand(packageDir, args);
  const line = [file, ...argv].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const result = spawnSync('script', ['--quiet', '--return', '--command', line, '/dev/null'], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...learnerEnvironment(), SHELL: '/bin/sh' },
  });
  if (result.error) throw result.error;
  return { stdout: result.stdout.replaceAll('\r\n', '\n'), stderr: result.stderr };
}
