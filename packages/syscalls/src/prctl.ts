// <sys/prctl.h>: process attributes. https://man7.org/linux/man-pages/man2/prctl.2.html
import { check } from './errno';
import { declare } from './libc';

export const PR_SET_PDEATHSIG = 1;

const prctl_ = declare('int prctl(int option, ...)');

/**
 * Asks the kernel to send `signum` to the caller when its parent thread dies.
 * https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html
 */
export function setParentDeathSignal(signum: number): void {
  check(prctl_(PR_SET_PDEATHSIG, 'unsigned long', signum), 'prctl');
}
