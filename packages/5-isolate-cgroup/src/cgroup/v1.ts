// cgroup v1: one hierarchy per controller, each with its own directory for the container.
import path from 'node:path';
import { destroyAfterFailure, forEachThenThrow, killAll, parseProcCgroup, readKeyedFile, removeDirectory } from './files';
import { CPU_PERIOD_US, cpuQuota } from './limits';
import type { Cgroup, CgroupFiles, Settings } from './types';

// #region files
export const V1 = {
  PROCS: 'cgroup.procs',
  MEMORY_LIMIT: 'memory.limit_in_bytes',
  /** Memory plus swap; present only where swap accounting is on. */
  MEMSW_LIMIT: 'memory.memsw.limit_in_bytes',
  /** The highest usage since it was last reset (by writing 0 to it). */
  MEMORY_MAX_USAGE: 'memory.max_usage_in_bytes',
  /** "oom_kill N" counts the OOM killer's kills. */
  OOM_CONTROL: 'memory.oom_control',
  PIDS_MAX: 'pids.max',
  CPU_QUOTA: 'cpu.cfs_quota_us',
  CPU_PERIOD: 'cpu.cfs_period_us',
} as const;
// #endregion

export function newV1({ name, limits, root, selfCgroup, trace, files, alsoIn }: Settings): Cgroup {
  const own = parseProcCgroup(selfCgroup);
  // Below this runtime's own cgroup in each hierarchy, so that limits on the caller still bind.
  const dirOf = (controller: string) => {
    const parent = own.find((entry) => entry.controllers.includes(controller))?.path ?? '/';
    return path.join(root, controller, parent, name);
  };
  const memory = dirOf('memory');
  const pids = dirOf('pids');
  const cpu = dirOf('cpu');
  const controllers = [{ controller: 'memory', dir: memory }];
  if (limits.pids !== undefined) controllers.push({ controller: 'pids', dir: pids });
  if (limits.cpus !== undefined) controllers.push({ controller: 'cpu', dir: cpu });
  for (const controller of alsoIn) controllers.push({ controller, dir: dirOf(controller) });

  const made: string[] = [];
  let limitReached = 0;
  const cgroup: Cgroup = {
    version: 1,
    paths: controllers.map(({ dir }) => dir),
    create() {
      try {
        for (const { controller, dir } of controllers) {
          files.mkdir(dir);
          made.push(dir);
          trace(`cgroup v1 (${controller}): ${dir}`);
        }
        files.write(path.join(memory, V1.MEMORY_LIMIT), String(limits.memory));
        // Without this the container would swap instead of meeting its limit.
        if (files.exists(path.join(memory, V1.MEMSW_LIMIT))) files.write(path.join(memory, V1.MEMSW_LIMIT), String(limits.memory));
        if (limits.pids !== undefined) files.write(path.join(pids, V1.PIDS_MAX), String(limits.pids));
        if (limits.cpus !== undefined) {
          files.write(path.join(cpu, V1.CPU_PERIOD), String(CPU_PERIOD_US));
          files.write(path.join(cpu, V1.CPU_QUOTA), String(cpuQuota(limits.cpus)));
        }
      } catch (error) {
        destroyAfterFailure(cgroup);
        throw error;
      }
    },
    pathOf: (controller) => controllers.find((entry) => entry.controller === controller)?.dir,
    add(pid) {
      for (const dir of made) files.write(path.join(dir, V1.PROCS), String(pid));
    },
    touch() {
      // One hierarchy is enough: the lock is the same for all of them.
      try {
        files.write(path.join(path.dirname(memory), V1.PROCS), String(process.pid));
      } catch {}
    },
    memoryEvents() {
      // v1 counts no "limit reached" events where memory+swap is limited too (its
      // memory.failcnt stays 0), but the high-water mark shows it: read, then reset.
      const highest = path.join(memory, V1.MEMORY_MAX_USAGE);
      if (Number(files.read(highest)) >= limits.memory) {
        limitReached++;
        files.write(highest, '0');
      }
      return { limitReached, oomKills: readKeyedFile(files, path.join(memory, V1.OOM_CONTROL)).get('oom_kill') ?? 0 };
    },
    destroy() {
      // Every hierarchy's directory, even when one of them fails.
      forEachThenThrow([...made].reverse(), (dir) => {
        removeV1(files, dir);
        made.splice(made.indexOf(dir), 1);
      });
    },
  };

  return cgroup;
}

/** Kills what is left in one hierarchy's directory of a container, and removes it. */
export function removeV1(files: CgroupFiles, dir: string): void {
  if (!files.exists(dir)) return;
  killAll(files, path.join(dir, V1.PROCS));
  removeDirectory(files, dir);
}
