// /proc and /sys are windows onto the host's kernel: a container needs some of what
// they show (its processes, its memory), not the controls (/proc/sys, sysrq) nor the
// host's secrets (kernel memory, keys, timers). As runc and Docker do, after
// pivot_root: mask some paths, make others read-only, mount /sys read-only.
import fs from 'node:fs';
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, mount } from '@samples/syscalls';

// #region lists
/**
 * Hidden: /dev/null is bound over a file, an empty read-only tmpfs over a directory.
 * Docker's list (moby daemon/pkg/oci/defaults.go); runc's example spec has the same
 * but /proc/interrupts and /sys/devices/virtual/powercap, which Docker added after
 * advisories (GHSA-6fw5-f8r9-fgfm, GHSA-jq35-85cj-fj4p).
 */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
] as const;

/** Readable, not writable: the kernel's controls. The same list in runc and Docker. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;
// #endregion

/**
 * Docker also masks each CPU's thermal_throttle directory (CPU temperature events
 * leak what other tenants run, GHSA-6fw5-f8r9-fgfm). Which CPUs have one is found
 * in the container's own /sys.
 */
export function thermalThrottlePaths(): string[] {
  const cpus = '/sys/devices/system/cpu';
  if (!fs.existsSync(cpus)) return [];
  return fs
    .readdirSync(cpus)
    .filter((name) => /^cpu\d+$/.test(name))
    .map((name) => `${cpus}/${name}/thermal_throttle`)
    .filter((path) => fs.existsSync(path));
}

/** What happened to one path: said by --verbose and checked by the tests. */
export type PathOutcome = 'masked' | 'read-only' | 'absent';

/** Mounts sysfs read-only on /sys (the container's own root). */
export function mountSysReadOnly(): void {
  mount('sysfs', '/sys', 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

/** A tmpfs for POSIX shared memory (shm_open), as Docker's 64 MiB /dev/shm. */
export function mountDevShm(): void {
  fs.mkdirSync('/dev/shm', { recursive: true });
  mount('shm', '/dev/shm', 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k');
}

// #region mask
/**
 * Hides `path`: a file becomes /dev/null (reads nothing, writes vanish), a directory
 * an empty read-only tmpfs. A path this kernel does not have is skipped.
 */
export function maskPath(path: string): PathOutcome {
  const stat = fs.statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return 'absent';
  if (stat.isDirectory()) mount('tmpfs', path, 'tmpfs', MS_RDONLY);
  else mount('/dev/null', path, '', MS_BIND);
  return 'masked';
}

/**
 * Makes `path` read-only: bind it onto itself, then remount that bind read-only (a
 * bind mount takes MS_RDONLY only on a remount). The remount repeats the flags stage
 * 4 mounted /proc with (nosuid, nodev, noexec): a remount without them would lift
 * them from this bind, and is refused outright in a user namespace.
 */
export function readonlyPath(path: string): PathOutcome {
  if (!fs.existsSync(path)) return 'absent';
  mount(path, path, '', MS_BIND | MS_REC);
  mount('', path, '', MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  return 'read-only';
}
// #endregion

/** Remounts the container's root read-only (--read-only); the mounts on it (/proc, /dev, /tmp...) keep their own flags. */
export function remountRootReadOnly(): void {
  mount('', '/', '', MS_REMOUNT | MS_BIND | MS_RDONLY);
}

/** How a stage runs one step: its `step(description, action)`, which --verbose prints. */
type Step = (description: string, action: () => void) => void;

/**
 * All of it, in order: /sys first (the masks under /sys go on it), then each masked
 * and read-only path. Runs after pivot_root, with the container's /proc and /dev
 * (whose /dev/null the masks bind) mounted; needs CAP_SYS_ADMIN, so before the
 * capabilities are cut. Returns what became of each path.
 */
export function protectKernelPaths(step: Step = (_, action) => action()): Map<string, PathOutcome> {
  const outcomes = new Map<string, PathOutcome>();
  step('mount sysfs read-only on /sys', mountSysReadOnly);
  // Which paths a kernel has differs from one to the next: the trace names the lists.
  step("mask runc's paths of /proc and /sys (/dev/null over files, an empty read-only tmpfs over folders)", () => {
    for (const path of [...MASKED_PATHS, ...thermalThrottlePaths()]) outcomes.set(path, maskPath(path));
  });
  step(`make ${READONLY_PATHS.join(', ')} read-only (those this kernel has)`, () => {
    for (const path of READONLY_PATHS) outcomes.set(path, readonlyPath(path));
  });
  return outcomes;
}
