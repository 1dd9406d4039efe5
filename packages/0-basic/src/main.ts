// Stage 0: run a command with its stdin, stdout and stderr passed through.
// No isolation yet: this is the baseline every later stage adds one step to.
import { spawn } from 'node:child_process';
import { main, parseArgs, trace, waitForExit } from '@samples/runtime';

const program = {
  name: '0-basic',
  summary: 'run a command, its stdio passed through (no isolation yet)',
  options: {},
};

main(program.name, { run });

// #region run
async function run(argv: string[]): Promise<number> {
  const { command: [file, ...args] } = parseArgs(program, argv);
  // Said before, not after: the command may print before spawn() has returned.
  trace(`spawn ${file}`);
  const child = spawn(file, args, { stdio: 'inherit' });
  return waitForExit(child);
}
// #endregion
