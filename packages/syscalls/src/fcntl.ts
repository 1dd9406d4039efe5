// <fcntl.h>: file descriptor flags. https://man7.org/linux/man-pages/man2/fcntl.2.html
import { check } from './errno';
import { declare } from './libc';

export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
/** Duplicate the fd onto the lowest free number >= arg, close-on-exec (Linux 2.6.24+). */
export const F_DUPFD_CLOEXEC = 1030;
// O_NONBLOCK is 0o4000 on x86_64, arm64 and riscv64 (not in os.constants).
export const O_NONBLOCK = 0o4000;

const fcntl_ = declare('int fcntl(int fd, int cmd, ...)');

/** fcntl(2) for the commands that take an int argument (or none). */
export function fcntl(fd: number, cmd: number, arg?: number): number {
  // fcntl is variadic: koffi wants each extra argument as a (type, value) pair.
  const result = arg === undefined ? fcntl_(fd, cmd) : fcntl_(fd, cmd, 'int', arg);
  return check(result, 'fcntl');
}
