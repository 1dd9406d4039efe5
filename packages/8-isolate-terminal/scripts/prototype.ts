// Prototype (not the stage): stage 5's container (UTS, PID and mount namespaces, the
// default root filesystem, a cgroup) with a terminal of its own when stdin is one. It
// wires src/pty.ts and src/relay.ts over stage 5's fd-3 handshake the way stage 8's
// main.ts will, so that the tests can drive it in tmux; it goes once main.ts exists.
//
//   node --require tsx/cjs scripts/prototype.ts run [--tty|--no-tty] [--rootfs R] CMD...
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
import { createCgroup, reclaimCgroups } from '5-isolate-cgroup/cgroup';
import { limitOptions, parseLimits } from '5-isolate-cgroup/cgroup/limits';
import { watchForOomKills } from '5-isolate-cgroup/oom';
import { type Conversation, askRuntime, releaseWhenReady, stdioWithSync, tellRuntime, waitForRuntime } from '5-isolate-cgroup/sync';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import {
  CliError,
  ExitStatus,
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
import { CLONE_NEWPID, CLONE_NEWUTS, setParentDeathSignal, tcgetwinsize, tcsetwinsize } from '@samples/syscalls';
import { attachTerminal, mountDevpts, openMaster } from '../src/pty';
import { followWindowSize, makeRaw, relay } from '../src/relay';

const program = {
  name: '8-isolate-terminal',
  summary: 'stage 5 plus a terminal of its own: a pty in a devpts of the container, relayed in raw mode',
  options: {
    rootfs: rootfsOption,
    ...limitOptions,
    tty: { description: 'give the container a terminal of its own (the default when stdin is one)' },
    'no-tty': { description: 'pass stdin, stdout and stderr through as they are, even from a terminal' },
  },
};

const SIGKILL = 9;

/** The kind of lease each container's cgroup is held under (in /run), for the sweep: stage 5's. */
const CGROUP_LEASES = 'cgroups';

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options } = parseArgs(program, argv);
  if (options.tty && options['no-tty']) throw new CliError('--tty and --no-tty: choose one', ExitStatus.USAGE);
  if (options.tty && !process.stdin.isTTY) {
    throw new CliError('--tty needs a terminal on stdin: run it from a terminal, or drop --tty to pass pipes through', ExitStatus.USAGE);
  }
  const withTerminal = !options['no-tty'] && (options.tty || process.stdin.isTTY === true);
  const limits = parseLimits(options);
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs);
  const [node, self] = selfCommand(__filename, ['child', rootfs, withTerminal ? 'tty' : 'pipes', ...argv]);
  reclaimCgroups(CGROUP_LEASES, trace);
  const name = `container-${randomBytes(4).toString('hex')}`;
  const cgroup = step(`create cgroup ${name}`, () => createCgroup({ name, limits, trace, lease: CGROUP_LEASES }));
  try {
    // With a terminal, the container never gets the runtime's (not even as stdin): it
    // gets a pty of its own. Not `detached`: the child must be able to call setsid.
    const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID', () =>
      spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: stdioWithSync(withTerminal ? 'ignore' : 'inherit') }),
    );
    const pid = container.pid!;
    let relayed: Promise<void> | undefined;
    const started = releaseWhenReady(
      container,
      () => step(`write ${pid} to ${cgroup.paths.map((dir) => `${dir}/cgroup.procs`).join(', ')}`, () => cgroup.add(pid)),
      // After "go": the terminal's handshake, on the same socket.
      withTerminal
        ? async (conversation) => {
            const master = await connectTerminal(conversation, pid);
            if (master !== undefined) relayed = relayTerminal(master);
          }
        : undefined,
    );
    const oom = watchForOomKills(cgroup, limits.memory, (line) => process.stderr.write(`${program.name}: ${line}\n`));
    try {
      let status: number;
      try {
        status = await waitForExit(container, started, { ownTerminal: withTerminal });
      } finally {
        await relayed; // the container's last output is written and the terminal's modes are back
      }
      await started; // a failure to join the cgroup or to open the pty is the one to report
      return status;
    } finally {
      oom.stop();
    }
  } finally {
    step(`remove cgroup ${name}`, () => cgroup.destroy());
  }
}

/**
 * The runtime's half of the terminal's handshake. When the child has mounted its
 * devpts: opens a pty there (the master stays here), sizes it as this terminal, tells
 * the child its number, and waits until the child has taken the other side. Returns
 * the master, or undefined if the child ended before (its status says why).
 */
async function connectTerminal(conversation: Conversation, pid: number): Promise<number | undefined> {
  if ((await conversation.receive()) !== 'devpts') return undefined;
  const { master, index } = step(`open /proc/${pid}/root/dev/pts/ptmx, unlock it, TIOCGPTN`, () => openMaster(pid));
  try {
    step('TIOCSWINSZ: the size of this terminal', () => tcsetwinsize(master, tcgetwinsize(0)));
    conversation.send(String(index));
    // Only once the child holds the other side will the master say EIO when it is closed.
    if ((await conversation.receive()) === 'attached') return master;
  } catch (error) {
    fs.closeSync(master);
    throw error;
  }
  fs.closeSync(master);
  return undefined;
}

/** Raw mode on, the pty following this terminal's size, bytes both ways until the pty says EIO; the modes back. */
async function relayTerminal(master: number): Promise<void> {
  trace('raw mode on; relaying until the pty says EIO');
  const restore = makeRaw(0);
  const unfollow = followWindowSize(0, master);
  try {
    await relay(master, { input: process.stdin, output: process.stdout });
  } finally {
    unfollow();
    restore();
  }
}
// #endregion

// #region child
function child([rootfs, terminal, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup', () => waitForRuntime(program.name));
  enterContainer(rootfs);
  if (terminal === 'tty') {
    step('mount devpts (newinstance,ptmxmode=0666) on /dev/pts; /dev/ptmx -> pts/ptmx', () => mountDevpts('/dev'));
    const index = step('say "devpts"; the runtime opens a pty in it and answers its number', () => askRuntime(program.name, 'devpts'));
    step(`setsid(), open /dev/pts/${index}, ioctl(TIOCSCTTY), dup2 onto 0, 1, 2`, () => attachTerminal(`/dev/pts/${index}`));
    tellRuntime(program.name, 'attached');
  }
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}
// #endregion
