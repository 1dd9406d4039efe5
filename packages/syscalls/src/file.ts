// <sys/file.h>: advisory locks on open files. https://man7.org/linux/man-pages/man2/flock.2.html
import { check } from './errno';
import { declare } from './libc';

/** Operations for flock(2). */
export const FlockOperations = {
  LOCK_SH: 1,
  LOCK_EX: 2,
  LOCK_NB: 4,
  LOCK_UN: 8,
} as const;
export const { LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN } = FlockOperations;

const flock_ = declare('int flock(int fd, int operation)');

/**
 * Takes (LOCK_SH, LOCK_EX) or drops (LOCK_UN) an advisory lock on the open file `fd`;
 * closing the file, or the process ending, drops it too. https://man7.org/linux/man-pages/man2/flock.2.html
 */
export function flock(fd: number, operation: number): void {
  check(flock_(fd, operation), 'flock');
}
