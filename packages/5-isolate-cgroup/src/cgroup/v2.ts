// cgroup v2: one tree. A cgroup's children may use a controller only if the cgroup
// lists it in cgroup.subtree_control, and (the "no internal processes" rule) a cgroup
// that holds processes cannot hand controllers down, the root excepted.
import fs from 'node:fs';
import path from 'node:path';
import { killAll, parseProcCgroup, readKeyedFile, removeDirectory } from './files';
import type { Cgroup, CgroupOptions } from './index';
import { CPU_PERIOD_US, cpuQuota } from './limits';

// #region files
export const V2 = {
  PROCS: 'cgroup.procs',
  CONTROLLERS: 'cgroup.controllers',
  SUBTREE_CONTROL: 'cgroup.subtree_control',
  /** Writing 1 kills every process inside (Linux 5.14+). */
  KILL: 'cgroup.kill',
  MEMORY_MAX: 'memory.max',
  SWAP_MAX: 'memory.swap.max',
  /** "oom_kill N" counts the OOM killer's kills. */
  MEMORY_EVENTS: 'memory.events',
  PIDS_MAX: 'pids.max',
  /** "quota period", in µs. */
  CPU_MAX: 'cpu.max',
} as const;
// #endregion

type Settings = Required<Omit<CgroupOptions, 'layout'>>;

export function createV2({ name, limits, root, selfCgroup, trace }: Settings): Cgroup {
  const wanted = ['memory', ...(limits.pids !== undefined ? ['pids'] : []), ...(limits.cpus !== undefined ? ['cpu'] : [])];
  const own = parseProcCgroup(selfCgroup).find((entry) => entry.controllers.length === 0)?.path ?? '/';
  const parent = chooseParent(root, own, trace);
  enableControllers(root, parent, wanted);
  const dir = path.join(root, parent, name);

  const cgroup: Cgroup = {
    version: 2,
    paths: [dir],
    add(pid) {
      fs.writeFileSync(path.join(dir, V2.PROCS), String(pid));
    },
    oomKills() {
      return readKeyedFile(path.join(dir, V2.MEMORY_EVENTS)).get('oom_kill') ?? 0;
    },
    destroy() {
      if (!fs.existsSync(dir)) return;
      if (fs.existsSync(path.join(dir, V2.KILL))) fs.writeFileSync(path.join(dir, V2.KILL), '1');
      else killAll(path.join(dir, V2.PROCS));
      removeDirectory(dir);
    },
  };

  fs.mkdirSync(dir);
  trace(`cgroup v2: ${dir}`);
  try {
    fs.writeFileSync(path.join(dir, V2.MEMORY_MAX), String(limits.memory));
    // Without this the container would swap instead of meeting its limit.
    if (fs.existsSync(path.join(dir, V2.SWAP_MAX))) fs.writeFileSync(path.join(dir, V2.SWAP_MAX), '0');
    if (limits.pids !== undefined) fs.writeFileSync(path.join(dir, V2.PIDS_MAX), String(limits.pids));
    if (limits.cpus !== undefined) fs.writeFileSync(path.join(dir, V2.CPU_MAX), `${cpuQuota(limits.cpus)} ${CPU_PERIOD_US}`);
  } catch (error) {
    cgroup.destroy();
    throw error;
  }
  return cgroup;
}

// #region parent
/**
 * The cgroup to create the container under: the runtime's own, like runc with a
 * relative path, unless that one holds processes (the runtime itself, at least) and
 * cannot hand controllers down; then the nearest ancestor that can (or the root).
 */
function chooseParent(root: string, own: string, trace: (message: string) => void): string {
  let candidate = own;
  while (candidate !== '/' && !canDelegate(path.join(root, candidate))) {
    candidate = path.posix.dirname(candidate);
  }
  if (candidate !== own) {
    trace(`cgroup v2: ${own} holds processes, so it cannot enable controllers for a child ("no internal processes"); using ${candidate}`);
  }
  return candidate;
}

/** A non-root cgroup can give its children controllers only while it holds no process itself. */
function canDelegate(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, V2.PROCS), 'utf8').trim() === '';
  } catch {
    return false;
  }
}
// #endregion

/** Writes "+memory +pids ..." into subtree_control from the root down to `parent`, where missing. */
function enableControllers(root: string, parent: string, controllers: string[]): void {
  const levels = parent === '/' ? [] : parent.split('/').filter(Boolean);
  let dir = root;
  for (let depth = 0; depth <= levels.length; depth++) {
    const enabled = fs.readFileSync(path.join(dir, V2.SUBTREE_CONTROL), 'utf8').split(/\s+/);
    const missing = controllers.filter((controller) => !enabled.includes(controller));
    if (missing.length > 0) {
      const available = fs.readFileSync(path.join(dir, V2.CONTROLLERS), 'utf8').split(/\s+/);
      const absent = missing.filter((controller) => !available.includes(controller));
      if (absent.length > 0) {
        throw new Error(`cgroup v2: the ${absent.join(', ')} controller is not available in ${dir}: enable it in the parent's ${V2.SUBTREE_CONTROL}`);
      }
      fs.writeFileSync(path.join(dir, V2.SUBTREE_CONTROL), missing.map((controller) => `+${controller}`).join(' '));
    }
    if (depth < levels.length) dir = path.join(dir, levels[depth]!);
  }
}
