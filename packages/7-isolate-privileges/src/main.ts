// Stage 7: root in the container is no longer root on the host. Everything of stage 6,
// plus what runc and Docker take away by default: all capabilities but Docker's 14, a
// seccomp filter, no_new_privs, masked and read-only paths of /proc and /sys, device
// rules on the cgroup, IPC and cgroup namespaces, a limit on open files; --user,
// --read-only, and --privileged to turn it all off. The child drops its privileges
// last, after every step that needs them, right before exec.
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
import { createCgroup, reclaimCgroups } from '5-isolate-cgroup/cgroup';
import { limitOptions, parseLimits } from '5-isolate-cgroup/cgroup/limits';
import { watchForOomKills } from '5-isolate-cgroup/oom';
import { releaseWhenReady, stdioWithSync, waitForRuntime } from '5-isolate-cgroup/sync';
import { networkOptions, parseNetworkOptions, prepareNetwork } from '6-isolate-network/network';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWUTS, setParentDeathSignal, unshare } from '@samples/syscalls';
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
import { restrictDevices } from './devices';
import { parsePrivilegeOptions, privilegeOptions, privilegePlan } from './options';
import { mountDevShm, protectKernelPaths, remountRootReadOnly } from './paths';
import { dropPrivileges } from './privileges';
import { resolveUserIn } from './user';

const program = {
  name: '7-isolate-privileges',
  summary: "stage 6 plus Docker's privileges: 14 capabilities, seccomp, no_new_privs, masked /proc, device rules, --user",
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
    ...networkOptions,
    ...privilegeOptions,
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
  const privileges = parsePrivilegeOptions(options);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  // A name the image lacks is refused now, before anything exists (the child looks it up again, inside).
  if (privileges.user !== undefined) resolveUserIn(rootfs, privileges.user);
  // The child gets the resolved path: names are resolved once, here. Built (if a source
  // changed) before the cgroup exists, so that nothing waits on the host meanwhile.
  const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
  // Before anything else exists: a host port in use or a clashing subnet leaves nothing.
  const network = await prepareNetwork(networkSettings, (line) => process.stderr.write(`${program.name}: ${line}\n`));
  try {
    // A runtime killed with SIGKILL cannot remove its cgroup: the next one does.
    reclaimCgroups(CGROUP_LEASES, trace);
    const name = `container-${randomBytes(4).toString('hex')}`;
    // On cgroup v1 the device rules have a hierarchy of their own: the container goes there too.
    const cgroup = step(`create cgroup ${name}`, () => createCgroup({ name, limits, trace, lease: CGROUP_LEASES, alsoIn: ['devices'] }));
    try {
      // Before any process is in the cgroup: the rules bind from the child's first open.
      if (!privileges.privileged) restrictDevices(cgroup);
      const flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWIPC | network.cloneFlags;
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
  const { options, command: [file, ...args] } = parseArgs(program, argv);
  const privileges = parsePrivilegeOptions(options);
  setTracePrefix('child');
  requireContainerInit();
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup and connected its network', () => waitForRuntime(program.name));
  // Now, not at the spawn: a cgroup namespace's root is the cgroup its maker is in.
  step('unshare(CLONE_NEWCGROUP): its cgroup is "/" to it', () => unshare(CLONE_NEWCGROUP));
  enterContainer(rootfs);
  // The mounts need CAP_SYS_ADMIN: before the privileges go.
  if (!privileges.privileged) protectKernelPaths(step);
  step('mount tmpfs on /dev/shm', () => mountDevShm());
  if (privileges.readOnly) step('remount / read-only (MS_REMOUNT|MS_BIND|MS_RDONLY)', () => remountRootReadOnly());
  const user = privileges.user === undefined ? undefined : resolveUserIn('/', privileges.user);
  dropPrivileges(privilegePlan(privileges, user, SIGKILL), step);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, { ...containerEnvironment(), ...(user && { HOME: user.home }) });
}
// #endregion
