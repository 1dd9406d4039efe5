// <signal.h>: dispositions and the signal mask. https://man7.org/linux/man-pages/man7/signal.7.html
import { check } from './errno';
import { declare } from './libc';

/** Signals numbered below this are the classic ones; above are the real-time ones. */
export const NSIG = 65;
export const SIG_SETMASK = 2;

const signal_ = declare<(signum: number, handler: null) => bigint | null>('void *signal(int signum, void *handler)');
const sigprocmask_ = declare<(how: number, set: Buffer, oldset: null) => number>(
  'int sigprocmask(int how, const uint8_t *set, uint8_t *oldset)',
);

/** Sets the disposition of `signum` to the default (SIG_DFL, the NULL handler). https://man7.org/linux/man-pages/man2/signal.2.html */
export function signalDefault(signum: number): void {
  const previous = signal_(signum, null);
  // SIG_ERR is (void *)-1.
  if (previous === -1n || previous === 0xffffffffffffffffn) check(-1, 'signal');
}

/** Unblocks every signal in the calling thread. https://man7.org/linux/man-pages/man2/sigprocmask.2.html */
export function unblockAllSignals(): void {
  // sigset_t is 1024 bits in glibc; all zero is the empty set.
  check(sigprocmask_(SIG_SETMASK, Buffer.alloc(128), null), 'sigprocmask');
}
