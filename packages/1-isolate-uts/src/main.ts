// Stage 1: the command gets its own hostname. It is started in a new UTS namespace,
// so `hostname foo` inside renames the namespace's copy, never the host's.
import { CLONE_NEWUTS } from '@samples/syscalls';
import { main, parseArgs, requireSysAdmin, spawnInNamespaces, trace, waitForExit } from '@samples/runtime';

const program = {
  name: '1-isolate-uts',
  summary: 'run a command in its own UTS namespace (its own hostname)',
  options: {},
};

main(program.name, { run });

// #region run
async function run(argv: string[]): Promise<number> {
  const { command: [file, ...args] } = parseArgs(program, argv);
  requireSysAdmin(program.name);
  // #region uts-namespace
  // Said before, not after: the command may print before it has returned.
  trace(`spawn ${file} with CLONE_NEWUTS`);
  const child = spawnInNamespaces(file, args, CLONE_NEWUTS, { stdio: 'inherit' });
  // #endregion
  return waitForExit(child);
}
// #endregion
