// The cgroup module's types: one interface in front of two kernels' worth of files.
import type { Limits } from './limits';

/** Where and how the kernel's cgroups are mounted. */
export type Layout =
  /** One unified tree: what current distributions use. */
  | 'v2'
  /** One tree per controller. */
  | 'v1'
  /** v1 controllers, plus an empty cgroup2 tree at unified/ (this layout is treated as v1). */
  | 'hybrid';

/** How the container's memory fared, as counters that only grow. */
export interface MemoryEvents {
  /** Times the container's own limit was reached. */
  readonly limitReached: number;
  /** Processes of the container the OOM killer killed, whichever limit ran out. */
  readonly oomKills: number;
}

export interface Cgroup {
  readonly version: 1 | 2;
  /** The container's directories, one per hierarchy (known before they are made). */
  readonly paths: readonly string[];
  /** Makes the directories and writes the limits into them. */
  create(): void;
  /**
   * The container's directory for `controller`: on v1 the one in that controller's
   * hierarchy (undefined when none was made there), on v2 the one directory.
   */
  pathOf(controller: string): string | undefined;
  /** Moves a process (and its future children) into the cgroup. */
  add(pid: number): void;
  /**
   * Moves this runtime into the cgroup it is in already: nothing changes, but the kernel
   * takes its lock for cgroup moves, and a move in the next moments is fast (see
   * createCgroup). Never fails: the kernel takes the lock before it can refuse a move.
   */
  touch(): void;
  memoryEvents(): MemoryEvents;
  /** Kills whatever is left inside and removes the cgroup (every directory, even if one fails). */
  destroy(): void;
}

/**
 * The file operations the module makes on a cgroup filesystem. Tests pass an
 * imitation that behaves as cgroupfs does (mkdir brings a cgroup's files along; rmdir
 * takes them away), over a temporary folder.
 */
export interface CgroupFiles {
  mkdir(dir: string): void;
  /** Removes an empty cgroup; the kernel may say EBUSY for a moment after its last process exits. */
  rmdir(dir: string): void;
  read(file: string): string;
  write(file: string, text: string): void;
  exists(file: string): boolean;
}

export interface CgroupOptions {
  /** A unique name, such as container-1a2b3c4d. */
  readonly name: string;
  readonly limits: Limits;
  /** Where the cgroup filesystems are mounted. */
  readonly root?: string;
  /** Which layout it is; detected when absent. */
  readonly layout?: Layout;
  /** The text of /proc/self/cgroup: where this runtime's own cgroup is. */
  readonly selfCgroup?: string;
  /** Says where the cgroup went and why, for --verbose. */
  readonly trace?: (message: string) => void;
  readonly files?: CgroupFiles;
  /**
   * cgroup v1: more hierarchies to put the container in, though no limit is written
   * there (stage 7's `devices`, whose rules it writes itself). v2 has one directory,
   * whatever the controllers.
   */
  readonly alsoIn?: readonly string[];
  /**
   * The kind of lease to hold on the cgroup's directories (see @samples/runtime's
   * leases), taken before they are made and given back once they are removed, so that
   * a runtime killed with SIGKILL leaves nothing the next one cannot find.
   */
  readonly lease?: string;
}

/** The options each version's code gets, with the defaults filled in. */
export type Settings = Required<Omit<CgroupOptions, 'layout' | 'lease'>>;
