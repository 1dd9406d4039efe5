// Capabilities: root's privileges cut into ~40 pieces. Stage 5's container has all of
// them; Docker gives 14, enough for what a root process inside a container normally
// does (own files, bind low ports, switch users), none to reach out of it.
import {
  Capability,
  type CapabilityName,
  PR_CAPBSET_DROP,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  capabilityMask,
  capget,
  capset,
  lastCapability,
  prctl,
} from '@samples/syscalls';
import { CliError, ExitStatus } from '@samples/runtime';

// #region defaults
/** Docker's default capabilities (moby daemon/pkg/oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const satisfies readonly CapabilityName[];
// #endregion

/** `--cap-add`/`--cap-drop`'s value: names, with or without CAP_, any case, or ALL. */
export type CapabilityList = readonly (CapabilityName | 'ALL')[];

/** Reads `NET_ADMIN,sys_time` or `ALL` (comma-separated, as the option's value) into names. */
export function parseCapabilityList(text: string, option: string): CapabilityList {
  return text
    .split(',')
    .map((item) => item.trim().toUpperCase())
    .filter((item) => item !== '')
    .map((item) => {
      if (item === 'ALL') return 'ALL';
      const name = item.startsWith('CAP_') ? item : `CAP_${item}`;
      if (!(name in Capability)) {
        throw new CliError(`unknown capability in --${option}: ${item} (see \`man 7 capabilities\`, e.g. NET_ADMIN)`, ExitStatus.USAGE);
      }
      return name as CapabilityName;
    });
}

/** Every capability the running kernel has, by number (a kernel newer than the table may have more). */
export function kernelCapabilities(): number[] {
  return Array.from({ length: lastCapability() + 1 }, (_, capability) => capability);
}

/**
 * The capabilities this runtime has itself (its permitted set): the most it can give.
 * Root on a host whose bounding set lacks one (a container, some VMs: CAP_SYS_RESOURCE
 * on this project's machines) cannot pass it on; capset would refuse (EPERM).
 */
export function availableCapabilities(): number[] {
  const { permitted } = capget();
  return kernelCapabilities().filter((capability) => (permitted >> BigInt(capability)) & 1n);
}

// #region resolve
/**
 * The container's capabilities, as Docker computes them: the defaults, minus
 * --cap-drop, plus --cap-add. `--cap-add ALL` is every one the runtime has but those
 * dropped; `--cap-drop ALL` is only those added.
 */
export function resolveCapabilities(add: CapabilityList = [], drop: CapabilityList = [], available = availableCapabilities()): Set<number> {
  const numbers = (list: CapabilityList): number[] => list.filter((name) => name !== 'ALL').map((name) => Capability[name]);
  const added = numbers(add);
  const missing = added.filter((capability) => !available.includes(capability));
  if (missing.length > 0) {
    throw new CliError(`--cap-add: this runtime does not have ${capabilityNames(missing).join(', ')} itself, so it cannot give it`);
  }
  const dropped = new Set(numbers(drop));
  if (add.includes('ALL')) return new Set(available.filter((capability) => !dropped.has(capability)));
  if (drop.includes('ALL')) return new Set(added);
  const defaults = DOCKER_DEFAULT_CAPABILITIES.map((name) => Capability[name]).filter((capability) => !dropped.has(capability));
  return new Set([...defaults, ...added]);
}
// #endregion

/** The names of the capabilities in `capabilities`, in the kernel's order. */
export function capabilityNames(capabilities: Iterable<number>): CapabilityName[] {
  const set = new Set(capabilities);
  return (Object.keys(Capability) as CapabilityName[]).filter((name) => set.has(Capability[name]));
}

/** The names of the capabilities set in a mask as /proc/<pid>/status shows it: '00000000a80425fb'. */
export function namesInMask(hex: string): CapabilityName[] {
  const mask = BigInt(`0x${hex}`);
  return capabilityNames(kernelCapabilities().filter((capability) => (mask >> BigInt(capability)) & 1n));
}

// #region apply
/**
 * Takes every capability but `keep` out of the bounding set: the most a later
 * execve can ever give back. For root, execve makes the new permitted set
 * inheritable | bounding (a root program counts as having every file capability),
 * so dropping from permitted alone would last only until the next exec (unless
 * no_new_privs is set, which Docker does not do by default). Needs CAP_SETPCAP in
 * the effective set: before capset takes it away.
 */
export function dropBoundingSet(keep: ReadonlySet<number>): void {
  // #region bounding-set
  for (const capability of kernelCapabilities()) {
    if (!keep.has(capability)) prctl(PR_CAPBSET_DROP, capability);
  }
  // #endregion
}

/**
 * Sets effective and permitted to `keep`, empties inheritable and ambient. Only the
 * calling thread changes: call it on the thread that will call execve (Node's main).
 */
export function limitCapabilities(keep: ReadonlySet<number>): void {
  // #region capset
  const mask = capabilityMask(keep);
  capset({ effective: mask, permitted: mask, inheritable: 0n });
  // capset emptying inheritable has emptied ambient already (a capability is ambient
  // only while permitted and inheritable); clear it by name, for a reader of this code.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  // #endregion
}
// #endregion
