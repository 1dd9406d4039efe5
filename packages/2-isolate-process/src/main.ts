// Stage 2: the command gets its own process tree. The runtime re-executes itself
// ("run" starts "child") in new UTS and PID namespaces: the child is PID 1 there,
// names its host "container", and then becomes the command.
import { CLONE_NEWPID, CLONE_NEWUTS, sethostname } from '@samples/syscalls';
import {
  exec,
  main,
  parseArgs,
  requireContainerInit,
  requireSysAdmin,
  selfCommand,
  setTracePrefix,
  spawnInNamespaces,
  step,
  trace,
  waitForExit,
} from '@samples/runtime';

const program = {
  name: '2-isolate-process',
  summary: 'run a command in its own UTS and PID namespaces (its own hostname and process tree)',
  options: {},
};

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  parseArgs(program, argv);
  requireSysAdmin(program.name);
  // #region reexec
  // Go re-executes /proc/self/exe; here "self" is node and this file (as plain JS).
  const [node, self] = selfCommand(__filename, ['child', ...argv]);
  const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
    spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'inherit' }),
  );
  // #endregion
  return waitForExit(container);
}
// #endregion

// #region child
function child(argv: string[]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  // #region hostname
  step('sethostname("container")', () => sethostname('container'));
  // #endregion
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args);
}
// #endregion
