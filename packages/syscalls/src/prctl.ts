// <sys/prctl.h>: process attributes. https://man7.org/linux/man-pages/man2/prctl.2.html
import { check } from './errno';
import { declare } from './libc';

/** The prctl options this package uses (include/uapi/linux/prctl.h). */
export const PrctlOption = {
  PR_SET_PDEATHSIG: 1,
  PR_GET_KEEPCAPS: 7,
  PR_SET_KEEPCAPS: 8,
  PR_GET_SECCOMP: 21,
  PR_SET_SECCOMP: 22,
  PR_CAPBSET_READ: 23,
  PR_CAPBSET_DROP: 24,
  PR_SET_NO_NEW_PRIVS: 38,
  PR_GET_NO_NEW_PRIVS: 39,
  PR_CAP_AMBIENT: 47,
} as const;
export const {
  PR_SET_PDEATHSIG,
  PR_GET_KEEPCAPS,
  PR_SET_KEEPCAPS,
  PR_GET_SECCOMP,
  PR_SET_SECCOMP,
  PR_CAPBSET_READ,
  PR_CAPBSET_DROP,
  PR_SET_NO_NEW_PRIVS,
  PR_GET_NO_NEW_PRIVS,
  PR_CAP_AMBIENT,
} = PrctlOption;

/** The second argument of prctl(PR_CAP_AMBIENT, ...). */
export const PrCapAmbient = {
  PR_CAP_AMBIENT_IS_SET: 1,
  PR_CAP_AMBIENT_RAISE: 2,
  PR_CAP_AMBIENT_LOWER: 3,
  PR_CAP_AMBIENT_CLEAR_ALL: 4,
} as const;
export const { PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_LOWER, PR_CAP_AMBIENT_CLEAR_ALL } = PrCapAmbient;

const prctl_ = declare('int prctl(int option, ...)');

/**
 * prctl(2) for the options whose arguments are numbers. https://man7.org/linux/man-pages/man2/prctl.2.html
 * Missing arguments are passed as 0: some options (PR_SET_NO_NEW_PRIVS,
 * PR_CAP_AMBIENT) fail with EINVAL unless the unused ones are zero. Most options
 * change the calling thread only: in Node, call it on the main thread.
 */
export function prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
  // prctl is variadic: koffi wants each extra argument as a (type, value) pair.
  const args = [arg2, arg3, arg4, arg5].flatMap((value) => ['unsigned long', value]);
  return check(prctl_(option, ...args), 'prctl');
}

/**
 * Asks the kernel to send `signum` to the caller when its parent thread dies.
 * https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html
 */
export function setParentDeathSignal(signum: number): void {
  prctl(PR_SET_PDEATHSIG, signum);
}
