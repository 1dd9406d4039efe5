// Stage 5: the container gets resource limits. Everything of stage 4, plus a cgroup
// of its own (memory, and if asked, pids and cpu), which the container's first
// process joins before it runs a single instruction of the command. Afterwards the
// runtime reports an OOM kill and removes the cgroup, however the container ended.
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { containerEnvironment, enterContainer } from '4-isolate-mount/container';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { resolveRootfs, rootfsOption } from '@samples/rootfs/resolve';
import { CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, exec, setParentDeathSignal, spawnInNamespaces } from '@samples/syscalls';
import {
  CliError,
  main,
  parseArgs,
  requireContainerInit,
  requireSysAdmin,
  selfCommand,
  setTracePrefix,
  step,
  trace,
  waitForExit,
} from '@samples/syscalls/cli';
import { type Cgroup, createCgroup } from './cgroup';
import { type Limits, formatSize, parseCount, parseCpus, parseSize } from './cgroup/limits';

const program = {
  name: '5-isolate-cgroup',
  summary: 'stage 4 plus resource limits: the container runs in a cgroup of its own',
  options: {
    rootfs: rootfsOption,
    memory: { value: 'SIZE', description: 'memory limit, like 100m or 1g', default: '256m' },
    pids: { value: 'N', description: 'most processes and threads at once (default: no limit)' },
    cpus: { value: 'N', description: 'CPU time, in CPUs: 0.5 is half of one (default: no limit)' },
  },
};

const SIGKILL = 9;

/** The child's fd 3: a socket to the runtime, to wait on while it is put in the cgroup. */
const SYNC_FD = 3;

main(program.name, { run, child });

// #region run
async function run(argv: string[]): Promise<number> {
  const { options } = parseArgs(program, argv);
  const limits: Limits = {
    memory: parseSize(options.memory),
    ...(options.pids !== undefined && { pids: parseCount(options.pids) }),
    ...(options.cpus !== undefined && { cpus: parseCpus(options.cpus) }),
  };
  requireSysAdmin(program.name);
  const rootfs = resolveRootfs(options.rootfs); // builds the default on first use, before any namespace exists
  // Unique enough: a clash fails mkdir with EEXIST rather than sharing a cgroup.
  const name = `container-${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}`;
  const cgroup = step(`create cgroup ${name}`, () => createCgroup({ name, limits, trace }));
  try {
    // The child gets the resolved path: names are resolved once, here.
    const [node, self] = selfCommand(__filename, ['child', rootfs, ...argv]);
    const container = step('re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID|CLONE_NEWNS', () =>
      spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS, {
        stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      }),
    );
    const joined = putInCgroup(container.stdio[SYNC_FD] as Duplex, cgroup, container.pid!, () => container.kill('SIGKILL'));
    const oom = watchForOomKills(cgroup, limits.memory);
    try {
      const status = await waitForExit(container);
      await joined;
      return status;
    } finally {
      oom.stop();
    }
  } finally {
    step(`remove cgroup ${name}`, () => cgroup.destroy());
  }
}

/**
 * When the child says it is ready (Node has started, so its start-up memory is not
 * charged to the container), moves it into the cgroup and lets it go on.
 */
function putInCgroup(sync: Duplex, cgroup: Cgroup, pid: number, abort: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    sync.once('data', () => {
      try {
        step(`write ${pid} to ${cgroup.paths.map((dir) => `${dir}/cgroup.procs`).join(', ')}`, () => cgroup.add(pid));
        sync.end('go');
        resolve();
      } catch (error) {
        abort();
        reject(error);
      }
    });
    sync.once('end', resolve); // the child ended before it was ready: its status says why
    sync.on('error', () => {}); // the child is gone: waitForExit reports it
  });
}

/** Reports each OOM kill in one line as it happens, so that an interactive user sees it. */
function watchForOomKills(cgroup: Cgroup, memory: number): { stop(): void } {
  let reported = 0;
  const check = () => {
    const kills = cgroup.oomKills();
    if (kills > reported) {
      reported = kills;
      process.stderr.write(`${program.name}: out of memory: the container exceeded its ${formatSize(memory)} limit\n`);
    }
  };
  const timer = setInterval(check, 200).unref();
  return {
    stop() {
      clearInterval(timer);
      check();
    },
  };
}
// #endregion

// #region child
function child([rootfs, ...argv]: [string, ...string[]]): never {
  const { command: [file, ...args] } = parseArgs(program, argv);
  setTracePrefix('child');
  requireContainerInit();
  // Only the runtime can remove the cgroup: should it be killed, the container goes too.
  step('prctl(PR_SET_PDEATHSIG, SIGKILL): die with the runtime', () => setParentDeathSignal(SIGKILL));
  step('wait until the runtime has put this process in the cgroup', () => waitForCgroup(SYNC_FD));
  enterContainer(rootfs);
  trace(`exec ${file}: it becomes PID 1`);
  return exec(file, args, containerEnvironment());
}

function waitForCgroup(fd: number): void {
  fs.writeSync(fd, 'ready');
  const reply = Buffer.alloc(2);
  let received = 0;
  while (received < reply.length) {
    const count = fs.readSync(fd, reply, received, reply.length - received, null);
    if (count === 0) throw new CliError('the runtime went away before the container started');
    received += count;
  }
}
// #endregion
