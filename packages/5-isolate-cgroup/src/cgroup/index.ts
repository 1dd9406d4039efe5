// cgroups: one interface, two kernels' worth of files behind it.
//
// cgroup v1 has one tree per controller (/sys/fs/cgroup/memory/..., /pids/...):
// a container gets a directory in each. cgroup v2 has a single tree: a container
// gets one directory, and its parent must have handed the controllers down.
// Both: join by writing a pid to cgroup.procs; remove with rmdir once empty.
import fs from 'node:fs';
import path from 'node:path';
import { FilesystemMagic, statfsType } from '@samples/syscalls';
import type { Limits } from './limits';
import { createV1 } from './v1';
import { createV2 } from './v2';

export type { Limits } from './limits';
export { parseProcCgroup } from './files';

/** Where and how the kernel's cgroups are mounted. */
export type Layout =
  /** One unified tree: what current distributions use. */
  | 'v2'
  /** One tree per controller. */
  | 'v1'
  /** v1 controllers, plus an empty cgroup2 tree at unified/ (this layout is treated as v1). */
  | 'hybrid';

export interface Cgroup {
  readonly version: 1 | 2;
  /** The container's directories, one per hierarchy. */
  readonly paths: readonly string[];
  /** Moves a process (and its future children) into the cgroup. */
  add(pid: number): void;
  /** How many processes the kernel's OOM killer has killed in this cgroup. */
  oomKills(): number;
  /** Kills whatever is left inside and removes the cgroup. */
  destroy(): void;
}

export interface CgroupOptions {
  /** A unique name, such as container-1a2b3c4d. */
  readonly name: string;
  readonly limits: Limits;
  /** Where the cgroup filesystems are mounted (tests use a fake tree). */
  readonly root?: string;
  /** Which layout it is; detected when absent. */
  readonly layout?: Layout;
  /** The text of /proc/self/cgroup: where this runtime's own cgroup is. */
  readonly selfCgroup?: string;
  /** Says where the cgroup went and why, for --verbose. */
  readonly trace?: (message: string) => void;
}

export const CGROUP_ROOT = '/sys/fs/cgroup';

// #region layout
/** Tells v2 from v1 by the type of filesystem mounted at /sys/fs/cgroup. */
export function detectLayout(root = CGROUP_ROOT): Layout {
  if (statfsType(root) === FilesystemMagic.CGROUP2_SUPER_MAGIC) return 'v2';
  const unified = path.join(root, 'unified');
  return fs.existsSync(unified) && statfsType(unified) === FilesystemMagic.CGROUP2_SUPER_MAGIC ? 'hybrid' : 'v1';
}
// #endregion

/** Creates the container's cgroup, below this runtime's own, with the limits written. */
export function createCgroup(options: CgroupOptions): Cgroup {
  const root = options.root ?? CGROUP_ROOT;
  const layout = options.layout ?? detectLayout(root);
  const selfCgroup = options.selfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8');
  const settings = { ...options, root, selfCgroup, trace: options.trace ?? (() => {}) };
  return layout === 'v2' ? createV2(settings) : createV1(settings);
}
