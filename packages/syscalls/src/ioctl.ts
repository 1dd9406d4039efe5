// <sys/ioctl.h>: the terminal requests a pseudo-terminal needs. https://man7.org/linux/man-pages/man2/ioctl_tty.2.html
import { check } from './errno';
import { declare } from './libc';

/**
 * Request numbers for ioctl(2) on a terminal. These are the asm-generic values, used by
 * x86_64, arm64 and riscv64 (powerpc, mips and sparc number them differently).
 */
export const TerminalRequests = {
  /** Make the terminal the caller's controlling terminal; argument: int force, by value. */
  TIOCSCTTY: 0x540e,
  /** Read the window size; argument: struct winsize *. */
  TIOCGWINSZ: 0x5413,
  /** Set the window size (the foreground process group gets SIGWINCH); argument: const struct winsize *. */
  TIOCSWINSZ: 0x5414,
  /** The N of a pty master's /dev/pts/N; argument: unsigned int *. _IOR('T', 0x30, unsigned int). */
  TIOCGPTN: 0x80045430,
  /** Lock (1) or unlock (0) a pty master's other side; argument: int *. _IOW('T', 0x31, int). */
  TIOCSPTLCK: 0x40045431,
} as const;
export const { TIOCSCTTY, TIOCGWINSZ, TIOCSWINSZ, TIOCGPTN, TIOCSPTLCK } = TerminalRequests;

const ioctl_ = declare('int ioctl(int fd, unsigned long request, ...)');

/** ioctl(2) with an int argument passed by value (TIOCSCTTY). https://man7.org/linux/man-pages/man2/ioctl.2.html */
export function ioctl(fd: number, request: number, arg: number): number;
/** ioctl(2) with a pointer argument: `buffer` is the struct or int it points to, read or written in place. */
export function ioctl(fd: number, request: number, buffer: Buffer): number;
export function ioctl(fd: number, request: number, arg: number | Buffer): number {
  // ioctl is variadic: koffi wants each extra argument as a (type, value) pair.
  const result = typeof arg === 'number' ? ioctl_(fd, request, 'int', arg) : ioctl_(fd, request, 'uint8_t *', arg);
  return check(result, 'ioctl');
}

/**
 * Unlocks the other side of the pty master `fd` (TIOCSPTLCK 0), as glibc's unlockpt(3)
 * does: until then, opening /dev/pts/N fails with EIO. https://man7.org/linux/man-pages/man3/unlockpt.3.html
 */
export function unlockpt(fd: number): void {
  ioctl(fd, TIOCSPTLCK, Buffer.alloc(4)); // int 0
}

/**
 * The N of the pty master `fd`'s /dev/pts/N (TIOCGPTN). ptsname(3) turns it into a path
 * in the caller's own /dev/pts, which is the wrong one for a master opened in another
 * devpts instance (a container's): the number is what the other side needs.
 */
export function ptsNumber(fd: number): number {
  const number = Buffer.alloc(4);
  ioctl(fd, TIOCGPTN, number);
  return number.readUInt32LE(0);
}
