// One error type for every wrapper, shaped like Node's own system errors
// (code, errno, syscall, path), plus a hint for the mistakes learners make most.
import os from 'node:os';
import util from 'node:util';
import { declare, errno as lastErrno } from './libc';

const strerror = declare('const char *strerror(int errnum)');

/**
 * The symbolic name of an errno value, as Node names it in its own errors: 1 -> 'EPERM',
 * 11 -> 'EAGAIN' (not its alias EWOULDBLOCK), 95 -> 'ENOTSUP' (not EOPNOTSUPP). libuv
 * knows only the errors it reports itself; for the others (8, ENOEXEC) Node's table of
 * constants has the name, the first of its aliases.
 */
export function errnoName(errnum: number): string {
  const name = util.getSystemErrorName(-errnum);
  if (!name.startsWith('Unknown')) return name;
  return Object.entries(os.constants.errno).find(([, value]) => value === errnum)?.[0] ?? `E${errnum}`;
}

const hints: Record<string, string> = {
  EPERM: 'this needs root (CAP_SYS_ADMIN): run it as root, e.g. `sudo -E env "PATH=$PATH" pnpm ...`',
};

export class SyscallError extends Error {
  /** Symbolic errno, as in Node: 'EPERM'. */
  readonly code: string;
  /** Negative errno, as in Node: -1 for EPERM. */
  readonly errno: number;
  /** The libc function that failed: 'mount'. */
  readonly syscall: string;
  /** The path the call was about, where there is one. */
  readonly path?: string;
  /** What to do about it, for the usual learner mistakes. */
  readonly hint?: string;

  /**
   * `syscall` names what failed: a libc function ('mount'), or a netlink request
   * ('RTM_NEWLINK'), whose `path` is then what it was about (a link's name). `hint`
   * replaces the usual one, where the caller knows better: a BPF verifier's reasons, a
   * netlink extended ack's ('Unknown device type').
   */
  constructor(errnum: number, syscall: string, path?: string, hint: string | undefined = hints[errnoName(errnum)]) {
    const code = errnoName(errnum);
    const description = lowerFirst(strerror(errnum));
    super(`${code}: ${description}, ${syscall}${path === undefined ? '' : ` '${path}'`}`);
    this.name = 'SyscallError';
    this.code = code;
    this.errno = -errnum;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (hint !== undefined) this.hint = hint;
  }
}

// #region check
/**
 * Turns libc's failure convention (-1, reason in errno) into a thrown SyscallError.
 * Every wrapper in this package ends in one call to it.
 */
export function check<T extends number | bigint>(result: T, syscall: string, path?: string): T {
  if (result === -1 || result === -1n) throw new SyscallError(lastErrno(), syscall, path);
  return result;
}
// #endregion

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
