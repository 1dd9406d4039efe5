// Stage 9: the image stays untouched. Everything of stage 8, but the container's root
// is no longer the image's folder: it is an overlay, the image's layers read-only below
// (lowerdir) and an empty folder of the container's own on top (upperdir), mounted in
// the container's mount namespace only. Every write lands in that folder, removed when
// the container ends (--keep keeps it). The image may be a stack of layers imported
// from `docker save` or an OCI layout; its config's Env, WorkingDir, User and Cmd apply.
import { containerEnvironment, enterMountNamespace, enterRoot } from '4-isolate-mount/container';
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
import { attachTerminal, mountDevpts } from '8-isolate-terminal/pty';
import { connectTerminal, lineEnd, relayTerminal, terminalOptions, wantsTerminal } from '8-isolate-terminal/terminal';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { requireCommand, resolveImage, rootfsOption } from '@samples/rootfs/resolve';
import type { ImageConfig } from '@samples/rootfs';
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
import { containerUser, enterWorkingDir, imageProcess, processEnvironment } from './image-config';
import { layerOptions, parseLayerOptions } from './options';
import { createContainerLayer, finishContainerLayer, mountOverlay, openContainerLayer, overlayOptions, requireOverlayfs } from './overlay';

const program = {
  name: '9-isolate-image',
  summary: "stage 8 plus the image untouched: the root is an overlay, the image's layers read-only under one of the container's own",
  defaultCommand: "the image's Cmd",
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
    ...networkOptions,
    ...privilegeOptions,
    ...terminalOptions,
    ...layerOptions,
  },
};

const SIGKILL = 9;

/** The kind of lease each container's cgroup is held under (in /run), for the sweep. */
const CGROUP_LEASES = 'cgroups';

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options, command } = parseArgs(program, argv);
  const limits = parseLimits(options);
  const networkSettings = parseNetworkOptions(options);
  const privileges = parsePrivilegeOptions(options);
  const withTerminal = wantsTerminal(options);
  const { keep } = parseLayerOptions(options);
  requireSysAdmin(program.name);
  // Its layers, top first, and its config; the default is built on first use, before any namespace exists.
  const image = resolveImage(options.rootfs);
  // The command, or the image's: none at all is refused now.
  const [file] = imageProcess(image.config, command, containerEnvironment()).argv;
  // A plain tree is looked into from the host's side, as in stage 8: a typo makes nothing.
  // A layered image's files are merged in the container only: the child looks there.
  if (image.tree !== undefined) {
    requireCommand(image.tree, file, options.rootfs);
    if (privileges.user !== undefined) resolveUserIn(image.tree, privileges.user);
  }
  requireOverlayfs();
  // The image is never written: the container writes to a folder of its own, made now
  // (after the sweep of those runtimes killed with SIGKILL left) and removed last. One
  // on a filesystem that cannot hold an upper layer is refused first, in one line.
  const layer = createContainerLayer(image.layers, { keep });
  trace(`the container's folder: ${layer.dir} (upper, work, merged; lower/0..${layer.lowers.length - 1}: the image's layers)`);
  try {
    // Built (if a source changed) before the cgroup exists, so that nothing waits on the host meanwhile.
    const [node, self] = selfCommand(__filename, ['child', layer.dir, withTerminal ? 'tty' : 'pipes', JSON.stringify(image.config), ...argv]);
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
  } finally {
    // The container's last process is gone, and its mount namespace, overlay and all, with
    // it; this terminal has its modes back.
    const kept = step(keep ? `keep ${layer.dir}` : `remove ${layer.dir}`, () => finishContainerLayer(layer));
    if (kept !== undefined) process.stderr.write(`${program.name}: ${kept}\n`);
  }
}
// #endregion

// #region child
function child([dir, terminal, config, ...argv]: [string, ...string[]]): never {
  const { options, command } = parseArgs(program, argv);
  const privileges = parsePrivilegeOptions(options);
  setTracePrefix('child');
  requireContainerInit();
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup and connected its network', () => waitForRuntime(program.name));
  // Now, not at the spawn: a cgroup namespace's root is the cgroup its maker is in.
  step('unshare(CLONE_NEWCGROUP): its cgroup is "/" to it', () => unshare(CLONE_NEWCGROUP));
  // #region overlay
  enterMountNamespace();
  // In the container's own mount namespace, now private: the host never sees the overlay.
  const layer = openContainerLayer(dir);
  const root = step(`mount overlay on ${layer.merged} (${overlayOptions(layer)})`, () => mountOverlay(layer));
  enterRoot(root);
  // #endregion
  // The mounts need CAP_SYS_ADMIN: before the privileges go.
  if (!privileges.privileged) protectKernelPaths(step);
  step('mount tmpfs on /dev/shm', () => mountDevShm());
  // #region config
  const wanted = imageProcess(JSON.parse(config!) as ImageConfig, command, containerEnvironment());
  // Made if the image lacks it, in the container's layer: before / may become read-only.
  if (wanted.cwd !== '/') step(`chdir("${wanted.cwd}"): the image's WorkingDir`, () => enterWorkingDir(wanted.cwd));
  // #endregion
  if (privileges.readOnly) step('remount / read-only (MS_REMOUNT|MS_BIND|MS_RDONLY)', () => remountRootReadOnly());
  const user = containerUser(privileges.user, wanted);
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
  trace(`exec ${wanted.argv[0]}: it becomes PID 1`);
  return exec(wanted.argv[0], wanted.argv.slice(1), processEnvironment(wanted, user));
}
// #endregion
