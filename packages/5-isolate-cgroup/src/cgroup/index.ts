// cgroups: one interface, two kernels' worth of files behind it.
//
// cgroup v1 has one tree per controller (/sys/fs/cgroup/memory/..., /pids/...):
// a container gets a directory in each. cgroup v2 has a single tree: a container
// gets one directory, and its parent must have handed the controllers down.
// Both: join by writing a pid to cgroup.procs; remove with rmdir once empty.
import fs from 'node:fs';
import { CliError, reclaimStaleLeases, releaseLease, takeLease } from '@samples/runtime';
import { cgroupfs, forEachThenThrow } from './files';
import { cgroupLayout } from './layout.cjs';
import type { Cgroup, CgroupOptions, Layout } from './types';
import { newV1, removeV1 } from './v1';
import { newV2, removeV2 } from './v2';

export { parseProcCgroup } from './files';
export type { Limits } from './limits';
export type { Cgroup, CgroupFiles, CgroupOptions, Layout, MemoryEvents } from './types';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** This machine's layout; one line to say what to do when it has no cgroups at all. */
export function detectLayout(root = CGROUP_ROOT): Layout {
  const layout = cgroupLayout(root);
  if (layout === undefined) {
    throw new CliError(`no cgroup filesystem is mounted at ${root}: mount one (mount -t cgroup2 none ${root}), as systemd does at boot`);
  }
  return layout;
}

/**
 * Creates the container's cgroup, below this runtime's own, with the limits written.
 * Until its first `add` (or `destroy`) it keeps the kernel's lock for cgroup moves warm,
 * so that the container's join is fast: see keepMovesWarm.
 */
export function createCgroup(options: CgroupOptions): Cgroup {
  const cgroup = createCold(options);
  const warm = keepMovesWarm(cgroup);
  return {
    ...cgroup,
    add(pid) {
      warm.stop();
      cgroup.add(pid);
    },
    destroy() {
      warm.stop();
      cgroup.destroy();
    },
  };
}

// #region warm
/**
 * The first move into any cgroup after an idle moment waits for an RCU grace period (the
 * kernel's cgroup_threadgroup_rwsem: 5 to 15 ms here), and moves in the next ~15 ms do
 * not. The container's own move is on the critical path, and it comes only once the
 * child's Node has started (~30 ms after the spawn), so that Node's start-up is not
 * charged to the container. Moves that change nothing, from the next turn of the event
 * loop (right after the spawn, which follows the cgroup's creation) and every 8 ms
 * until that move, wait out the grace period while the child starts, and keep the lock
 * warm for the move that counts.
 */
function keepMovesWarm(cgroup: Cgroup): { stop(): void } {
  let every: NodeJS.Timeout | undefined;
  const first = setImmediate(() => {
    cgroup.touch();
    every = setInterval(() => cgroup.touch(), 8).unref();
  }).unref();
  return {
    stop() {
      clearImmediate(first);
      clearInterval(every);
    },
  };
}
// #endregion

function createCold(options: CgroupOptions): Cgroup {
  const root = options.root ?? CGROUP_ROOT;
  const layout = options.layout ?? detectLayout(root);
  const settings = {
    ...options,
    root,
    selfCgroup: options.selfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8'),
    trace: options.trace ?? (() => {}),
    files: options.files ?? cgroupfs,
    alsoIn: options.alsoIn ?? [],
  };
  const cgroup = layout === 'v2' ? newV2(settings) : newV1(settings);
  const { lease } = options;
  if (lease === undefined) {
    cgroup.create();
    return cgroup;
  }
  // Named before it exists, given back only once it is gone.
  takeLease<CgroupLease>(lease, options.name, { version: cgroup.version, paths: cgroup.paths });
  try {
    cgroup.create();
  } catch (error) {
    releaseLease(lease, options.name);
    throw error;
  }
  return {
    ...cgroup,
    destroy() {
      cgroup.destroy();
      releaseLease(lease, options.name);
    },
  };
}

interface CgroupLease {
  readonly version: 1 | 2;
  readonly paths: readonly string[];
}

/**
 * Removes the cgroups that runtimes killed with SIGKILL left (their container died with
 * them: PR_SET_PDEATHSIG), as their leases name them. Never one of a runtime still alive,
 * even one that is starting at this very moment.
 */
export function reclaimCgroups(lease: string, trace: (message: string) => void = () => {}): void {
  reclaimStaleLeases<CgroupLease>(lease, ({ id, owner, data }) => {
    trace(`remove cgroup ${id}, left by runtime ${owner.pid} (killed with SIGKILL?)`);
    forEachThenThrow(data.paths, (dir) => (data.version === 2 ? removeV2(cgroupfs, dir) : removeV1(cgroupfs, dir)));
  });
}
