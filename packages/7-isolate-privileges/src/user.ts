// --user: who the command runs as. Names are looked up in the image's own /etc/passwd
// and /etc/group (the host's may not have them, or give them other numbers), as
// Docker and runc do (moby/sys/user GetExecUser).
import fs from 'node:fs';
import path from 'node:path';
import { CliError, ExitStatus } from '@samples/runtime';
import { setgid, setgroups, setuid } from '@samples/syscalls';

export interface ContainerUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups. */
  readonly groups: readonly number[];
  /** From /etc/passwd, for $HOME; "/" when the user has no entry. */
  readonly home: string;
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** The entries of an /etc/passwd text: name:password:uid:gid:gecos:home:shell. */
export function parsePasswd(text: string): PasswdEntry[] {
  return lines(text).flatMap(([name, , uid, gid, , home]) =>
    name && isNumber(uid) && isNumber(gid) ? [{ name, uid: Number(uid), gid: Number(gid), home: home ?? '/' }] : [],
  );
}

/** The entries of an /etc/group text: name:password:gid:member,member. */
export function parseGroup(text: string): GroupEntry[] {
  return lines(text).flatMap(([name, , gid, members]) =>
    name && isNumber(gid) ? [{ name, gid: Number(gid), members: (members ?? '').split(',').filter(Boolean) }] : [],
  );
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

function isNumber(text: string | undefined): boolean {
  return text !== undefined && /^\d+$/.test(text);
}

/** Who named the user, for the messages: the option, or (stage 9) the image's config. */
export interface UserOrigin {
  readonly name: string;
  readonly exitStatus: number;
}

export const USER_OPTION: UserOrigin = { name: '--user', exitStatus: ExitStatus.USAGE };

// #region resolve
/**
 * `--user USER[:GROUP]`, each a name or a number. A name must be in the image's
 * files; a number need not (then the group is 0, as in Docker). Without a GROUP the
 * group is the user's own, and the supplementary groups those of /etc/group that
 * list the user; with one, there are none.
 */
export function resolveUser(spec: string, passwd: string, group: string, origin: UserOrigin = USER_OPTION): ContainerUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  if (userPart === '' || groupPart === '') {
    throw new CliError(`${origin.name} takes USER[:GROUP], names or numbers (e.g. 1000:1000 or nobody): not "${spec}"`, origin.exitStatus);
  }
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  const entry = isNumber(userPart) ? users.find((user) => user.uid === Number(userPart)) : users.find((user) => user.name === userPart);
  if (entry === undefined && !isNumber(userPart)) {
    throw new CliError(`${origin.name}: no user "${userPart}" in the image's /etc/passwd: give a number, or a name it has`, origin.exitStatus);
  }
  const uid = entry?.uid ?? Number(userPart);
  const home = entry?.home ?? '/';
  if (groupPart === undefined) {
    const member = entry === undefined ? [] : groups.filter((candidate) => candidate.members.includes(entry.name));
    return { uid, gid: entry?.gid ?? 0, groups: member.map((candidate) => candidate.gid), home };
  }
  const named = isNumber(groupPart) ? undefined : groups.find((candidate) => candidate.name === groupPart);
  if (!isNumber(groupPart) && named === undefined) {
    throw new CliError(`${origin.name}: no group "${groupPart}" in the image's /etc/group: give a number, or a name it has`, origin.exitStatus);
  }
  return { uid, gid: named?.gid ?? Number(groupPart), groups: [], home };
}
// #endregion

/**
 * resolveUser with the image's own /etc/passwd and /etc/group, found under `root`: the
 * root filesystem's folder for the runtime, which checks a name before anything
 * exists, and "/" for the child after pivot_root, which looks it up again where the
 * files are the container's (a symlink in the image points into the image there).
 * A file the image lacks reads as empty: numbers still work, names do not.
 */
export function resolveUserIn(root: string, spec: string, origin: UserOrigin = USER_OPTION): ContainerUser {
  const read = (file: string) => {
    try {
      return fs.readFileSync(path.join(root, file), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw error;
    }
  };
  return resolveUser(spec, read('etc/passwd'), read('etc/group'), origin);
}

// #region switch
/**
 * Becomes `user`: groups first, the user id last, since after setuid to a non-root
 * user the process may no longer change its groups. glibc changes every thread of
 * Node, not only the caller. A non-root uid clears the capabilities unless
 * PR_SET_KEEPCAPS is on; it also clears the parent-death signal: set it again after.
 */
export function switchUser({ uid, gid, groups }: ContainerUser): void {
  setgroups(groups);
  setgid(gid);
  setuid(uid);
}
// #endregion
