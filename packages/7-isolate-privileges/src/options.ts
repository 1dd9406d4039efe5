// What the command line asks of stage 7, with Docker's option names: which
// capabilities, which filter, which user, which limits; and the plan that follows for
// the child's last steps before exec.
import { CliError, ExitStatus, type OptionSpec } from '@samples/runtime';
import { type CapabilityList, parseCapabilityList, resolveCapabilities } from './capabilities';
import { type PrivilegePlan, defaultPlan, privilegedPlan } from './privileges';
import { type ResourceLimit, parseUlimits } from './rlimits';
import { requireSeccompFilters } from './seccomp-profile';
import type { ContainerUser } from './user';

// #region options
/** The options, as every stage from 7 on has them. */
export const privilegeOptions = {
  'cap-add': { value: 'CAPS', description: 'give capabilities back: names like NET_ADMIN, comma-separated, or ALL', repeatable: true },
  'cap-drop': { value: 'CAPS', description: "take some of Docker's 14 capabilities away, or ALL", repeatable: true },
  'security-opt': {
    value: 'OPT',
    description: 'seccomp=unconfined: no seccomp filter; no-new-privileges:false: setuid programs gain privileges again',
    repeatable: true,
  },
  user: { value: 'USER[:GROUP]', short: 'u', description: 'run the command as this user: a number, or a name in the image' },
  'read-only': { description: 'mount the root filesystem read-only' },
  privileged: { description: 'drop nothing: every capability, no filter, no masks, every device (dangerous: see the page)' },
  ulimit: { value: 'NAME=SOFT[:HARD]', description: 'a resource limit, like nofile=1024:4096 (default: nofile=1024)', repeatable: true },
} satisfies Record<string, OptionSpec>;
// #endregion

export interface PrivilegeSettings {
  /** --privileged: nothing below applies but the user, the limits and --read-only. */
  readonly privileged: boolean;
  /** The capabilities the command keeps, by number. */
  readonly capabilities: ReadonlySet<number>;
  /** false: --security-opt seccomp=unconfined. */
  readonly seccomp: boolean;
  /** false: --security-opt no-new-privileges:false. */
  readonly noNewPrivs: boolean;
  readonly readOnly: boolean;
  readonly rlimits: readonly ResourceLimit[];
  /** --user as given, resolved against the image's files by resolveUserIn. */
  readonly user?: string;
}

interface Options {
  readonly 'cap-add': readonly string[];
  readonly 'cap-drop': readonly string[];
  readonly 'security-opt': readonly string[];
  readonly user?: string | undefined;
  readonly 'read-only': boolean;
  readonly privileged: boolean;
  readonly ulimit: readonly string[];
}

/**
 * What the options ask for. Everything that can be refused is refused here, in one
 * line, before anything exists: an unknown capability or --security-opt, a malformed
 * --ulimit (status 2); a capability the runtime lacks, a kernel without seccomp
 * filters (status 125).
 */
export function parsePrivilegeOptions(options: Options): PrivilegeSettings {
  const list = (values: readonly string[], option: string): CapabilityList => values.flatMap((value) => parseCapabilityList(value, option));
  const security = parseSecurityOptions(options['security-opt']);
  const settings: PrivilegeSettings = {
    privileged: options.privileged,
    capabilities: resolveCapabilities(list(options['cap-add'], 'cap-add'), list(options['cap-drop'], 'cap-drop')),
    ...security,
    readOnly: options['read-only'],
    rlimits: parseUlimits(options.ulimit.join(',')),
    ...(options.user !== undefined && { user: options.user }),
  };
  if (settings.seccomp && !settings.privileged) requireSeccompFilters();
  return settings;
}

/** --security-opt, as Docker writes it: `seccomp=unconfined`, `no-new-privileges[:true|:false]` (or with `=`). */
function parseSecurityOptions(values: readonly string[]): { seccomp: boolean; noNewPrivs: boolean } {
  let seccomp = true;
  let noNewPrivs = true;
  for (const value of values) {
    const [name = '', setting] = value.split(/[=:](.*)/s, 2);
    if (name === 'seccomp' && setting === 'unconfined') seccomp = false;
    else if (name === 'no-new-privileges' && (setting === undefined || setting === 'true' || setting === 'false')) noNewPrivs = setting !== 'false';
    else if (name === 'seccomp') {
      throw new CliError(`--security-opt ${value}: only seccomp=unconfined is supported (the default filter is built in; profiles from files are not read)`, ExitStatus.USAGE);
    } else {
      throw new CliError(`--security-opt ${value}: not supported here: use seccomp=unconfined or no-new-privileges[:true|:false]`, ExitStatus.USAGE);
    }
  }
  return { seccomp, noNewPrivs };
}

// #region plan
/**
 * The child's plan for its last steps before exec: Docker's defaults, or --privileged's
 * nothing-dropped, with what --security-opt turned off. `user` is undefined for root.
 */
export function privilegePlan(settings: PrivilegeSettings, user: ContainerUser | undefined, parentDeathSignal: number): PrivilegePlan {
  const options = { rlimits: settings.rlimits, ...(user && { user }) };
  if (settings.privileged) return { ...privilegedPlan(options), parentDeathSignal };
  const plan = defaultPlan(settings.capabilities, options);
  return {
    ...plan,
    noNewPrivs: settings.noNewPrivs,
    ...(!settings.seccomp && { seccomp: undefined }),
    parentDeathSignal,
  };
}
// #endregion
