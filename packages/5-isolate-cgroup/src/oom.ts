// Telling the user, as it happens, that the kernel killed a process of the container
// for lack of memory, and whose limit it was.
import { formatBytes } from '@samples/runtime';
import type { Cgroup } from './cgroup';

/** How often the cgroup's counters are read while the container runs. */
const INTERVAL_MS = 200;

/**
 * Reports each OOM kill in the container in one line, through `report`. Only a kill
 * that came with the container's own limit reached is blamed on that limit; others
 * (a cgroup above it, or the whole host, ran out) are reported as what they are.
 */
export function watchForOomKills(cgroup: Cgroup, limit: number, report: (line: string) => void): { stop(): void } {
  let seen = cgroup.memoryEvents();
  const check = () => {
    const now = cgroup.memoryEvents();
    if (now.oomKills > seen.oomKills) {
      report(
        now.limitReached > seen.limitReached
          ? `out of memory: the container exceeded its ${formatBytes(limit)} limit`
          : `out of memory: the kernel killed a process of the container, but not for its ${formatBytes(limit)} limit: a cgroup above it, or the host, ran out of memory`,
      );
    }
    seen = now;
  };
  const timer = setInterval(check, INTERVAL_MS).unref();
  return {
    stop() {
      clearInterval(timer);
      check();
    },
  };
}
