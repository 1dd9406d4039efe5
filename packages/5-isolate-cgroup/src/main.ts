// Stage 5: the container gets resource limits. Everything of stage 4, plus a cgroup
// of its own (memory, and if asked, pids and cpu), which the container's first
// process joins before it runs a single instruction of the command. Afterwards the
// runtime reports an OOM kill and removes the cgroup, however the container ended.
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { CLONE_NEWPID, CLONE_NEWUTS, setParentDeathSignal } from '@samples/syscalls';
import {
  exec,
  main,
  parseArgs,
  randomBytes,
  requireContainerInit,
  requireSysAdmin,
  selfCommand,
  setTracePrefix,
  spawnInNamespaces,
  step,
  trace,
  waitForExit,
} from '@samples/runtime';
import { createCgroup, reclaimCgroups } from './cgroup';
import { limitOptions, parseLimits } from './cgroup/limits';
import { watchForOomKills } from './oom';
import { releaseWhenReady, stdioWithSync, waitForRuntime } from './sync';

const program = {
  name: '5-isolate-cgroup',
  summary: 'stage 4 plus resource limits: the container runs in a cgroup of its own',
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
  },
};

const SIGKILL = 9;

/** The kind of lease each container's cgroup is held under (in /run), for the sweep. */
const CGROUP_LEASES = 'cgroups';

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options, command: [file] } = parseArgs(program, argv);
  const limits = parseLimits(options);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  // The child gets the resolved path: names are resolved once, here. Built (if a source
  // changed) before the cgroup exists, so that nothing waits on the host meanwhile.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  // A runtime killed with SIGKILL cannot remove its cgroup: the next one does.
  reclaimCgroups(CGROUP_LEASES, trace);
  // #region cgroup
  const name = `container-${randomBytes(4).toString('hex')}`;
  const cgroup = step(`create cgroup ${name}`, () => createCgroup({ name, limits, trace, lease: CGROUP_LEASES }));
  try {
    const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
      spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: stdioWithSync() }),
    );
    const pid = container.pid!;
    // When Node has started in the child (its start-up memory is not the container's):
    const started = releaseWhenReady(container, () =>
      step(`write ${pid} to ${cgroup.paths.map((dir) => `${dir}/cgroup.procs`).join(', ')}`, () => cgroup.add(pid)),
    );
    const oom = watchForOomKills(cgroup, limits.memory, (line) => process.stderr.write(`${program.name}: ${line}\n`));
    try {
      const status = await waitForExit(container, started);
      await started; // a failure to join the cgroup is the one to report
      return status;
    } finally {
      oom.stop();
    }
  } finally {
    step(`remove cgroup ${name}`, () => cgroup.destroy());
  }
  // #endregion
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  // #region join
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup', () => waitForRuntime(program.name));
  // #endregion
  enterContainer(rootfs);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
