// cgroup v2: one tree. A cgroup's children may use a controller only if the cgroup
// lists it in cgroup.subtree_control, and (the "no internal processes" rule) a cgroup
// that holds processes cannot hand controllers down, the root excepted.
import path from 'node:path';
import { CliError } from '@samples/runtime';
import { destroyAfterFailure, killAll, parseProcCgroup, readKeyedFile, removeDirectory } from './files';
import { CPU_PERIOD_US, cpuQuota } from './limits';
import type { Cgroup, CgroupFiles, Settings } from './types';

// #region files
export const V2 = {
  PROCS: 'cgroup.procs',
  CONTROLLERS: 'cgroup.controllers',
  SUBTREE_CONTROL: 'cgroup.subtree_control',
  /** Writing 1 kills every process inside (Linux 5.14+). */
  KILL: 'cgroup.kill',
  MEMORY_MAX: 'memory.max',
  SWAP_MAX: 'memory.swap.max',
  /** "oom N": times the cgroup's own limit was reached and an allocation about to fail; "oom_kill N": the OOM killer's kills. */
  MEMORY_EVENTS: 'memory.events',
  PIDS_MAX: 'pids.max',
  /** "quota period", in µs. */
  CPU_MAX: 'cpu.max',
} as const;
// #endregion

export function newV2({ name, limits, root, selfCgroup, trace, files }: Settings): Cgroup {
  const wanted = ['memory', ...(limits.pids !== undefined ? ['pids'] : []), ...(limits.cpus !== undefined ? ['cpu'] : [])];
  const own = parseProcCgroup(selfCgroup).find((entry) => entry.controllers.length === 0)?.path ?? '/';
  const parent = chooseParent(files, root, own, trace);
  enableControllers(files, root, parent, wanted);
  const dir = path.join(root, parent, name);

  const cgroup: Cgroup = {
    version: 2,
    paths: [dir],
    create() {
      files.mkdir(dir);
      trace(`cgroup v2: ${dir}`);
      try {
        files.write(path.join(dir, V2.MEMORY_MAX), String(limits.memory));
        // Without this the container would swap instead of meeting its limit.
        if (files.exists(path.join(dir, V2.SWAP_MAX))) files.write(path.join(dir, V2.SWAP_MAX), '0');
        if (limits.pids !== undefined) files.write(path.join(dir, V2.PIDS_MAX), String(limits.pids));
        if (limits.cpus !== undefined) files.write(path.join(dir, V2.CPU_MAX), `${cpuQuota(limits.cpus)} ${CPU_PERIOD_US}`);
      } catch (error) {
        destroyAfterFailure(cgroup);
        throw error;
      }
    },
    pathOf: () => dir,
    add(pid) {
      files.write(path.join(dir, V2.PROCS), String(pid));
    },
    touch() {
      // A cgroup that hands controllers down refuses processes (EBUSY): the lock is taken
      // before that refusal, which warms it all the same.
      try {
        files.write(path.join(root, own, V2.PROCS), String(process.pid));
      } catch {}
    },
    memoryEvents() {
      const events = readKeyedFile(files, path.join(dir, V2.MEMORY_EVENTS));
      return { limitReached: events.get('oom') ?? 0, oomKills: events.get('oom_kill') ?? 0 };
    },
    destroy() {
      removeV2(files, dir);
    },
  };
  return cgroup;
}

/** Kills what is left in a container's cgroup, and removes it. */
export function removeV2(files: CgroupFiles, dir: string): void {
  if (!files.exists(dir)) return;
  if (files.exists(path.join(dir, V2.KILL))) files.write(path.join(dir, V2.KILL), '1');
  else killAll(files, path.join(dir, V2.PROCS));
  removeDirectory(files, dir);
}

// #region parent
/**
 * The cgroup to create the container under: the runtime's own, like runc with a
 * relative path, unless that one holds processes (the runtime itself, at least) and
 * cannot hand controllers down; then the nearest ancestor that can (or the root).
 */
function chooseParent(files: CgroupFiles, root: string, own: string, trace: (message: string) => void): string {
  let candidate = own;
  while (candidate !== '/' && !canDelegate(files, path.join(root, candidate))) {
    candidate = path.posix.dirname(candidate);
  }
  if (candidate !== own) {
    trace(`cgroup v2: ${own} holds processes, so it cannot enable controllers for a child ("no internal processes"); using ${candidate}`);
  }
  return candidate;
}

/** A non-root cgroup can give its children controllers only while it holds no process itself. */
function canDelegate(files: CgroupFiles, dir: string): boolean {
  try {
    return files.read(path.join(dir, V2.PROCS)).trim() === '';
  } catch {
    return false;
  }
}
// #endregion

/** Writes "+memory +pids ..." into subtree_control from the root down to `parent`, where missing. */
function enableControllers(files: CgroupFiles, root: string, parent: string, controllers: string[]): void {
  const levels = parent === '/' ? [] : parent.split('/').filter(Boolean);
  let dir = root;
  for (let depth = 0; depth <= levels.length; depth++) {
    const enabled = files.read(path.join(dir, V2.SUBTREE_CONTROL)).split(/\s+/);
    const missing = controllers.filter((controller) => !enabled.includes(controller));
    if (missing.length > 0) {
      const available = files.read(path.join(dir, V2.CONTROLLERS)).split(/\s+/);
      const absent = missing.filter((controller) => !available.includes(controller));
      if (absent.length > 0) {
        throw new CliError(
          `cgroup v2: the ${absent.join(', ')} controller is not available in ${dir}: enable it in the parent's ${V2.SUBTREE_CONTROL}, or run without the option that needs it`,
        );
      }
      try {
        files.write(path.join(dir, V2.SUBTREE_CONTROL), missing.map((controller) => `+${controller}`).join(' '));
      } catch (error) {
        const { code } = error as NodeJS.ErrnoException;
        throw new CliError(`cgroup v2: cannot enable ${missing.join(', ')} in ${path.join(dir, V2.SUBTREE_CONTROL)} (${code ?? String(error)}): a cgroup that holds processes cannot hand controllers down; run the runtime from a cgroup of its own (systemd-run --scope)`);
      }
    }
    if (depth < levels.length) dir = path.join(dir, levels[depth]!);
  }
}
