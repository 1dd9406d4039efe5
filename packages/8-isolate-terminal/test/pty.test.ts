// The runtime's checks on the pty it opens, from the host (no container needed).
import { rootTest } from '@samples/testing';
import { openMaster } from '../src/pty';

rootTest("openMaster refuses a ptmx of the host's own devpts: one line that says what to do, status 125", (t) => {
  // This process's root is the host's: /proc/self/root/dev/pts/ptmx is the host's instance,
  // as a kernel without devpts instances would give the container.
  const error = t.throws(() => openMaster(process.pid));
  t.regex(error.message, /^this kernel gives a container no devpts of its own \(.*\): run without a terminal, with --no-tty$/);
  t.is((error as Error & { exitStatus: number }).exitStatus, 125);
});
