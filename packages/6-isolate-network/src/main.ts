// Stage 6: the container gets a network of its own. Everything of stage 5, plus a new
// network namespace: by default (--network bridge) its eth0 is one end of a veth pair
// whose other end is a port of a bridge on the host, with an address, a default route,
// NAT out to the world, and --publish to reach it from the host's ports. The runtime
// sets all of it up over netlink, before the command starts, and gives the host back
// as it was when the last container ends.
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
import { createCgroup, reclaimCgroups } from '5-isolate-cgroup/cgroup';
import { limitOptions, parseLimits } from '5-isolate-cgroup/cgroup/limits';
import { watchForOomKills } from '5-isolate-cgroup/oom';
import { releaseWhenReady, stdioWithSync, waitForRuntime } from '5-isolate-cgroup/sync';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { CLONE_NEWPID, CLONE_NEWUTS, setParentDeathSignal } from '@samples/syscalls';
import {
  cloneFlagNames,
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
import { networkOptions, parseNetworkOptions, prepareNetwork } from './network';

const program = {
  name: '6-isolate-network',
  summary: 'stage 5 plus a network of its own: a network namespace, a veth on a bridge, NAT, --publish',
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
    ...networkOptions,
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
  const networkSettings = parseNetworkOptions(options);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  // The child gets the resolved path: names are resolved once, here. Built (if a source
  // changed) before the cgroup exists, so that nothing waits on the host meanwhile.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  // Before anything else exists: a host port in use or a clashing subnet leaves nothing.
  const network = await prepareNetwork(networkSettings, (line) => process.stderr.write(`${program.name}: ${line}\n`));
  try {
    // A runtime killed with SIGKILL cannot remove its cgroup: the next one does.
    reclaimCgroups(CGROUP_LEASES, trace);
    const name = `container-${randomBytes(4).toString('hex')}`;
    const cgroup = step(`create cgroup ${name}`, () => createCgroup({ name, limits, trace, lease: CGROUP_LEASES }));
    try {
      const flags = CLONE_NEWUTS | CLONE_NEWPID | network.cloneFlags;
      const container = step(`re-execute self as "child" with ${cloneFlagNames(flags).join('|')}`, () =>
        spawnInNamespaces(node, self, flags, { stdio: stdioWithSync() }),
      );
      const pid = container.pid!;
      // When Node has started in the child; the command starts with its network up.
      const started = releaseWhenReady(container, () => {
        step(`write ${pid} to ${cgroup.paths.map((dir) => `${dir}/cgroup.procs`).join(', ')}`, () => cgroup.add(pid));
        network.connect(pid);
      });
      const oom = watchForOomKills(cgroup, limits.memory, (line) => process.stderr.write(`${program.name}: ${line}\n`));
      try {
        const status = await waitForExit(container, started);
        await started; // a failure to join the cgroup or to connect is the one to report
        return status;
      } finally {
        oom.stop();
      }
    } finally {
      step(`remove cgroup ${name}`, () => cgroup.destroy());
    }
  } finally {
    await network.release();
  }
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup and connected its network', () => waitForRuntime(program.name));
  enterContainer(rootfs);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
