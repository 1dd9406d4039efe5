// The last steps before execve: from host root to what Docker gives a container.
//
// The order is the kernel's (and glibc's), not a matter of taste; each line says what
// the step needs, test/order.test.ts what happens when it moves:
//
//   (mounts: masked and read-only paths, /sys, --read-only: need CAP_SYS_ADMIN, done before)
//   1. setrlimit         raising a hard limit needs CAP_SYS_RESOURCE
//   2. bounding set      PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set
//   3. keep caps         PR_SET_KEEPCAPS, or setuid empties the permitted set and 5 fails
//   4. --user            setgroups/setgid/setuid need CAP_SETGID/CAP_SETUID on *every*
//                        thread: glibc runs them on all of Node's threads and aborts the
//                        process if some succeed and some fail; so before 5, which cuts
//                        the main thread's capabilities only
//   5. capset            cuts effective and permitted (can only shrink them)
//   6. no_new_privs      lets a thread without CAP_SYS_ADMIN install a seccomp filter
//   7. seccomp           last: it refuses calls the steps above make (mount, unshare...);
//                        without no_new_privs, first (see stepsFor)
//   8. execve            the command gets the calling thread's sets, flag and filter
//
// Capabilities, no_new_privs and the filter belong to a thread, not the process: all
// of it runs on Node's main thread, the one that calls execve.
import {
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  PR_SET_PDEATHSIG,
  SECCOMP_SET_MODE_FILTER,
  type CapabilityName,
  prctl,
  seccomp,
} from '@samples/syscalls';
import { availableCapabilities, capabilityNames, dropBoundingSet, limitCapabilities } from './capabilities';
import { type ResourceLimit, applyRlimits } from './rlimits';
import { type SeccompProgram, assembleFilter, refusalsFor } from './seccomp-profile';
import { type ContainerUser, switchUser } from './user';

export interface PrivilegePlan {
  readonly rlimits: readonly ResourceLimit[];
  /** Who to become; undefined: stay root. */
  readonly user?: ContainerUser;
  /** The capabilities the command keeps, by number. */
  readonly capabilities: ReadonlySet<number>;
  readonly noNewPrivs: boolean;
  /** The filter to install; undefined: none (seccomp=unconfined, --privileged). */
  readonly seccomp?: SeccompProgram;
  /** Set again after setuid, which clears it (stage 5 sets SIGKILL: die with the runtime). */
  readonly parentDeathSignal?: number;
}

/** Docker's defaults, and the filter that goes with `capabilities` (a capability lifts its rules). */
export function defaultPlan(capabilities: ReadonlySet<number>, options: { user?: ContainerUser; rlimits: readonly ResourceLimit[] }): PrivilegePlan {
  const names = new Set<CapabilityName>(capabilityNames(capabilities));
  return { ...options, capabilities, noNewPrivs: true, seccomp: assembleFilter(refusalsFor(names)) };
}

/**
 * --privileged: every capability the runtime has, no no_new_privs, no filter (the
 * stage also skips the masks, the read-only paths and the device rules). The user
 * and the limits still apply, as in Docker.
 */
export function privilegedPlan(options: { user?: ContainerUser; rlimits: readonly ResourceLimit[] }): PrivilegePlan {
  return { ...options, capabilities: new Set(availableCapabilities()), noNewPrivs: false };
}

export interface PrivilegeStep {
  /** A name for tests and traces: 'bounding-set'. */
  readonly name: string;
  /** What it does, for --verbose; undefined when the plan has nothing for this step. */
  readonly describe: (plan: PrivilegePlan) => string | undefined;
  readonly run: (plan: PrivilegePlan) => void;
}

// #region steps
/** The steps, in the order they must run. */
export const PRIVILEGE_STEPS: readonly PrivilegeStep[] = [
  {
    name: 'rlimits',
    describe: ({ rlimits }) =>
      rlimits.length === 0 ? undefined : rlimits.map(({ resource, soft, hard }) => `setrlimit(${resource}, ${soft}:${hard})`).join(', '),
    run: ({ rlimits }) => applyRlimits(rlimits),
  },
  {
    name: 'bounding-set',
    describe: ({ capabilities }) => `prctl(PR_CAPBSET_DROP) for each capability but ${capabilities.size}`,
    run: ({ capabilities }) => dropBoundingSet(capabilities),
  },
  {
    name: 'keep-caps',
    describe: ({ user }) => (user && user.uid !== 0 ? 'prctl(PR_SET_KEEPCAPS, 1): keep the permitted set across setuid' : undefined),
    run: () => prctl(PR_SET_KEEPCAPS, 1),
  },
  {
    name: 'user',
    describe: ({ user }) => user && `setgroups([${user.groups.join(', ')}]), setgid(${user.gid}), setuid(${user.uid})`,
    run: ({ user, parentDeathSignal }) => {
      switchUser(user!);
      if (user!.uid !== 0) prctl(PR_SET_KEEPCAPS, 0);
      // A change of credentials clears the parent-death signal: arm it again.
      if (parentDeathSignal !== undefined) prctl(PR_SET_PDEATHSIG, parentDeathSignal);
    },
  },
  {
    name: 'capabilities',
    describe: ({ capabilities }) =>
      `capset: effective = permitted = ${capabilityNames(capabilities).map((name) => name.slice(4)).join(',') || 'none'}; inheritable, ambient empty`,
    run: ({ capabilities }) => limitCapabilities(capabilities),
  },
  {
    name: 'no-new-privs',
    describe: ({ noNewPrivs }) => (noNewPrivs ? 'prctl(PR_SET_NO_NEW_PRIVS, 1): no setuid bit or file capability gives anything back' : undefined),
    run: () => prctl(PR_SET_NO_NEW_PRIVS, 1),
  },
  {
    name: 'seccomp',
    describe: ({ seccomp: filter }) => filter && `seccomp(SECCOMP_SET_MODE_FILTER): ${filter.filter.length} BPF instructions`,
    run: ({ seccomp: filter }) => seccomp(SECCOMP_SET_MODE_FILTER, 0, filter!.filter),
  },
];
// #endregion

/**
 * The steps for `plan`, in the order they must run. Without no_new_privs a thread may
 * install a filter only while it holds CAP_SYS_ADMIN: the filter then goes in right
 * after the limits, before any capability is cut, as runc does. It refuses none of the
 * calls the later steps make (prctl, setgroups, setgid, setuid, capset, execve).
 */
export function stepsFor(plan: PrivilegePlan): readonly PrivilegeStep[] {
  if (plan.noNewPrivs || plan.seccomp === undefined) return PRIVILEGE_STEPS;
  const [limits, ...rest] = PRIVILEGE_STEPS;
  const filter = rest.filter(({ name }) => name === 'seccomp');
  return [limits!, ...filter, ...rest.filter(({ name }) => name !== 'seccomp')];
}

/**
 * Runs the steps the plan has, in order, each through `step` (the stage's
 * `step(description, action)`, which prints it with --verbose).
 */
export function dropPrivileges(
  plan: PrivilegePlan,
  step: (description: string, action: () => void) => void = (_, action) => action(),
  steps: readonly PrivilegeStep[] = stepsFor(plan),
): void {
  for (const { describe, run } of steps) {
    const description = describe(plan);
    if (description !== undefined) step(description, () => run(plan));
  }
}
