// What the image asks of the process it runs (its config: OCI config.md's Env, Entrypoint,
// Cmd, WorkingDir, User), applied as `docker run` applies them: the command line replaces
// Cmd and keeps Entrypoint; the image's Env is laid over the runtime's defaults; the
// command starts in WorkingDir, as User (which --user replaces). A plain tree has no
// config: nothing changes.
import fs from 'node:fs';
import type { ImageConfig } from '@samples/rootfs';
import { ExitStatus, noCommandGiven } from '@samples/runtime';
import { chdir } from '@samples/syscalls';
import { type ContainerUser, type UserOrigin, USER_OPTION, resolveUserIn } from '7-isolate-privileges/user';

export interface ImageProcess {
  readonly argv: [string, ...string[]];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** As the image's config says it: "name", "uid", "name:group", "uid:gid". */
  readonly user?: string;
  /** Whether the image's Env sets HOME; if not, the user's home from /etc/passwd does. */
  readonly imageSetsHome: boolean;
}

// #region process
/** The process to start: `command` (the learner's, maybe empty) and the image's config over `defaults`. */
export function imageProcess(config: ImageConfig, command: readonly string[], defaults: NodeJS.ProcessEnv): ImageProcess {
  const argv = [...(config.Entrypoint ?? []), ...(command.length > 0 ? command : (config.Cmd ?? []))];
  if (argv.length === 0) throw noCommandGiven(', and the image names none (no Cmd in its config)');
  const env: NodeJS.ProcessEnv = { ...defaults };
  for (const entry of config.Env ?? []) {
    const equals = entry.indexOf('=');
    if (equals > 0) env[entry.slice(0, equals)] = entry.slice(equals + 1);
  }
  return {
    argv: argv as [string, ...string[]],
    env,
    cwd: config.WorkingDir ?? '/',
    ...(config.User !== undefined && { user: config.User }),
    imageSetsHome: (config.Env ?? []).some((entry) => entry.startsWith('HOME=')),
  };
}

// #endregion

/** The image's User in messages: a bad one is the image's fault, which --user can work around. */
export const IMAGE_USER: UserOrigin = { name: "the image's User (which --user replaces)", exitStatus: ExitStatus.RUNTIME };

/**
 * Who the command runs as: --user (`option`) when given, else the image's User, else
 * root (undefined). A name is looked up as stage 7 looks up --user, in the container's
 * own /etc/passwd and /etc/group: call it after pivot_root. Stage 7's privilege steps
 * then switch to it (its plan's `user`), in their order.
 */
export function containerUser(option: string | undefined, wanted: ImageProcess): ContainerUser | undefined {
  if (option !== undefined) return resolveUserIn('/', option, USER_OPTION);
  return wanted.user === undefined ? undefined : resolveUserIn('/', wanted.user, IMAGE_USER);
}

/** The environment to exec with: HOME is the user's home unless the image's Env sets it, as in Docker. */
export function processEnvironment(wanted: ImageProcess, user: ContainerUser | undefined): NodeJS.ProcessEnv {
  return wanted.imageSetsHome || user === undefined ? wanted.env : { ...wanted.env, HOME: user.home };
}

/**
 * Inside the container, after pivot_root and before the privileges are dropped: the
 * working directory, made if the image lacks it (as Docker does: into the container's
 * own layer).
 */
export function enterWorkingDir(cwd: string): void {
  fs.mkdirSync(cwd, { recursive: true });
  chdir(cwd);
}
