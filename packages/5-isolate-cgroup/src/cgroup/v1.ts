// cgroup v1: one hierarchy per controller, each with its own directory for the container.
import fs from 'node:fs';
import path from 'node:path';
import { killAll, parseProcCgroup, readKeyedFile, removeDirectory } from './files';
import type { Cgroup, CgroupOptions } from './index';
import { CPU_PERIOD_US, cpuQuota } from './limits';

// #region files
export const V1 = {
  PROCS: 'cgroup.procs',
  MEMORY_LIMIT: 'memory.limit_in_bytes',
  /** Memory plus swap; present only where swap accounting is on. */
  MEMSW_LIMIT: 'memory.memsw.limit_in_bytes',
  /** "oom_kill N" counts the OOM killer's kills. */
  OOM_CONTROL: 'memory.oom_control',
  PIDS_MAX: 'pids.max',
  CPU_QUOTA: 'cpu.cfs_quota_us',
  CPU_PERIOD: 'cpu.cfs_period_us',
} as const;
// #endregion

type Settings = Required<Omit<CgroupOptions, 'layout'>>;

export function createV1({ name, limits, root, selfCgroup, trace }: Settings): Cgroup {
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

  const made: string[] = [];
  const cgroup: Cgroup = {
    version: 1,
    paths: controllers.map(({ dir }) => dir),
    add(pid) {
      for (const dir of made) fs.writeFileSync(path.join(dir, V1.PROCS), String(pid));
    },
    oomKills() {
      return readKeyedFile(path.join(memory, V1.OOM_CONTROL)).get('oom_kill') ?? 0;
    },
    destroy() {
      for (const dir of [...made].reverse()) {
        killAll(path.join(dir, V1.PROCS));
        removeDirectory(dir);
      }
      made.length = 0;
    },
  };

  try {
    for (const { controller, dir } of controllers) {
      fs.mkdirSync(dir);
      made.push(dir);
      trace(`cgroup v1 (${controller}): ${dir}`);
    }
    fs.writeFileSync(path.join(memory, V1.MEMORY_LIMIT), String(limits.memory));
    // Without this the container would swap instead of meeting its limit.
    if (fs.existsSync(path.join(memory, V1.MEMSW_LIMIT))) {
      fs.writeFileSync(path.join(memory, V1.MEMSW_LIMIT), String(limits.memory));
    }
    if (limits.pids !== undefined) fs.writeFileSync(path.join(pids, V1.PIDS_MAX), String(limits.pids));
    if (limits.cpus !== undefined) {
      fs.writeFileSync(path.join(cpu, V1.CPU_PERIOD), String(CPU_PERIOD_US));
      fs.writeFileSync(path.join(cpu, V1.CPU_QUOTA), String(cpuQuota(limits.cpus)));
    }
  } catch (error) {
    cgroup.destroy();
    throw error;
  }
  return cgroup;
}
