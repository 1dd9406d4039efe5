// Stage 8: a terminal of its own. Everything of stage 7, plus, when stdin is a terminal
// (or with --tty), a pseudo-terminal made for the container, as `docker run -it` does:
// the child mounts a devpts of the container's own, the runtime opens a pty in it and
// keeps its master, the child makes the other side its controlling terminal and its
// stdin, stdout and stderr, and the runtime relays bytes between its own terminal (raw)
// and the master. Ctrl-C, Ctrl-Z and Ctrl-\ reach the container's foreground job; the
// runtime's terminal gets its modes back on every way out. Without a terminal on stdin
// (or with --no-tty), pipes pass through as in stages 0 to 7.
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
import { createCgroup, reclaimCgroups } from '5-isolate-cgroup/cgroup';
import { limitOptions, parseLimits } from '5-isolate-cgroup/cgroup/limits';
import { watchForOomKills } from '5-isolate-cgroup/oom';
import { askRuntime, releaseWhenReady, stdioWithSync, tellRuntime, waitForRuntime } from '5-isolate-cgroup/sync';
import { networkOptions, parseNetworkOptions, prepareNetwork } from '6-isolate-network/network';
import { restrictDevices } from '7-isolate-privileges/devices';
import { parsePrivilegeOptions, privilegeOptions, privilegePlan } from '7-isolate-privileges/options';
import { mountDevShm, protectKernelPaths, remountRootReadOnly } from '7-isolate-privileges/paths';
import { dropPrivileges } from '7-isolate-privileges/privileges';
import { resolveUserIn } from '7-isolate-privileges/user';
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
import { attachTerminal, mountDevpts } from './pty';
import { connectTerminal, lineEnd, relayTerminal, terminalOptions, wantsTerminal } from './terminal';

const program = {
  name: '8-isolate-terminal',
  summary: 'stage 7 plus a terminal of its own: a pty in a devpts of the container, relayed in raw mode',
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
    ...networkOptions,
    ...privilegeOptions,
    ...terminalOptions,
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
  const withTerminal = wantsTerminal(options);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Looked up now, from the host's side, as the kernel will inside: a typo makes nothing.
  requireCommand(rootfs, file, options.rootfs);
  // A name the image lacks is refused now, before anything exists (the child looks it up again, inside).
  if (privileges.user !== undefined) resolveUserIn(rootfs, privileges.user);
  // The child gets the resolved path: names are resolved once, here. Built (if a source
  // changed) before the cgroup exists, so that nothing waits on the host meanwhile.
  const [node, self] = selfCommand(__filename, ['child', rootfs, withTerminal ? 'tty' : 'pipes', ...argv]);
  // In raw mode a line of the runtime's own brings its own carriage return.
  const report = (line: string) => process.stderr.write(`${program.name}: ${line}${lineEnd(withTerminal)}`);
  // Before anything else exists: a host port in use or a clashing subnet leaves nothing.
  const network = await prepareNetwork(networkSettings, report);
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
      // With a terminal, the container never gets the runtime's, not even as stdin: it
      // gets a pty of its own. Never `detached`: the child must be able to call setsid.
      const container = step(`re-execute self as "child" with ${cloneFlagNames(flags).join('|')}`, () =>
        spawnInNamespaces(node, self, flags, { stdio: stdioWithSync(withTerminal ? 'ignore' : 'inherit') }),
      );
      const pid = container.pid!;
      let relayed: Promise<void> | undefined;
      // When Node has started in the child; the command starts with its network up, and
      // with its terminal: after "go", the terminal's handshake, on the same socket.
      const started = releaseWhenReady(
        container,
        () => {
          step(`write ${pid} to ${cgroup.paths.map((dir) => `${dir}/cgroup.procs`).join(', ')}`, () => cgroup.add(pid));
          network.connect(pid);
        },
        withTerminal
          ? async (conversation) => {
              const master = await connectTerminal(conversation, pid);
              if (master !== undefined) relayed = relayTerminal(master, container);
            }
          : undefined,
      );
      const oom = watchForOomKills(cgroup, limits.memory, report);
      try {
        let status: number;
        try {
          status = await waitForExit(container, started, { ownTerminal: withTerminal });
        } finally {
          await relayed; // the container's last output is out, and this terminal's modes are back
        }
        await started; // a failure to join the cgroup, to connect or to open the pty is the one to report
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
function child([rootfs, terminal, ...argv]: [string, ...string[]]): never {
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
  if (terminal === 'tty') {
    // A mount (CAP_SYS_ADMIN), and a slave that only root may open yet: before the privileges go.
    step('mount devpts (newinstance,ptmxmode=0666) on /dev/pts; /dev/ptmx -> pts/ptmx', () => mountDevpts('/dev'));
    const index = step('say "devpts"; the runtime opens a pty in it and answers its number', () => askRuntime(program.name, 'devpts'));
    const owner = user !== undefined && user.uid !== 0 ? user : undefined;
    step(`setsid(), open /dev/pts/${index}, ioctl(TIOCSCTTY)${owner ? `, fchown to ${owner.uid}` : ''}, dup2 onto 0, 1, 2`, () =>
      attachTerminal(`/dev/pts/${index}`, owner),
    );
    tellRuntime(program.name, 'attached');
  }
  dropPrivileges(privilegePlan(privileges, user, SIGKILL), step);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, { ...containerEnvironment(), ...(user && { HOME: user.home }) });
}
// #endregion
