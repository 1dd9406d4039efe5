// <signal.h>: dispositions and the signal mask. https://man7.org/linux/man-pages/man7/signal.7.html
import { check } from './errno';
import { declare } from './libc';

/** Signals numbered below this are the classic ones (1-31) and the real-time ones (32-64). */
export const NSIG = 65;

/** `how` for sigprocmask(2). */
export const SigprocmaskHow = {
  SIG_BLOCK: 0,
  SIG_UNBLOCK: 1,
  SIG_SETMASK: 2,
} as const;
export const { SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK } = SigprocmaskHow;

/** glibc's sigset_t: 1024 bits, of which the kernel uses the first 64. */
export const SIZEOF_SIGSET_T = 128;
/**
 * glibc's struct sigaction on 64-bit Linux: the handler (8 bytes; 0 is SIG_DFL, 1 is
 * SIG_IGN), the mask (a sigset_t), then the flags and the restorer.
 */
export const SIZEOF_SIGACTION = 152;

const sigaction_ = declare('int sigaction(int signum, const uint8_t *act, uint8_t *oldact)');
const sigprocmask_ = declare('int sigprocmask(int how, const uint8_t *set, uint8_t *oldset)');

/**
 * Reads (into `oldact`) and/or sets (from `act`) how `signum` is handled; each is a
 * struct sigaction of SIZEOF_SIGACTION bytes, or null. https://man7.org/linux/man-pages/man2/sigaction.2.html
 */
export function sigaction(signum: number, act: Buffer | null, oldact: Buffer | null): void {
  check(sigaction_(signum, act, oldact), 'sigaction');
}

/** A struct sigaction that sets the default disposition (SIG_DFL), with an empty mask and no flags. */
export function defaultAction(): Buffer {
  return Buffer.alloc(SIZEOF_SIGACTION);
}

/**
 * Changes (from `set`, per `how`) and/or reads (into `oldset`) the calling thread's
 * signal mask; each is a sigset_t of SIZEOF_SIGSET_T bytes, or null.
 * https://man7.org/linux/man-pages/man2/sigprocmask.2.html
 */
export function sigprocmask(how: number, set: Buffer | null, oldset: Buffer | null): void {
  check(sigprocmask_(how, set, oldset), 'sigprocmask');
}

/** A sigset_t holding `signals` (sigemptyset(3) and sigaddset(3) in one). */
export function sigset(...signals: number[]): Buffer {
  const set = Buffer.alloc(SIZEOF_SIGSET_T);
  for (const signum of signals) {
    const bit = signum - 1;
    set[bit >> 3]! |= 1 << (bit & 7);
  }
  return set;
}
