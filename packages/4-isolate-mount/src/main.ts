// Stage 4: the command gets its own mount table. The child starts in a new mount
// namespace too; it makes every mount private, mounts proc, a minimal /dev and a
// tmpfs at /newtemp inside the root filesystem, and pivot_roots into it. The host's
// mount table never changes, even while the container runs.
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { CLONE_NEWPID, CLONE_NEWUTS } from '@samples/syscalls';
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
import { containerEnvironment, enterContainer } from './container';

const program = {
  name: '4-isolate-mount',
  summary: 'run a command in its own mount namespace, pivot_rooted into its own root filesystem',
  options: {
    rootfs: rootfsOption,
  },
};

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options, command: [file] } = parseArgs(program, argv);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  // The child gets the resolved path: names are resolved once, here.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
    spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'inherit' }),
  );
  // Nothing to take down afterwards: the container's mounts die with its namespace.
  return waitForExit(container);
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  enterContainer(rootfs);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
