// The OOM report blames the container's own limit only when that limit was reached.
import test from 'ava';
import type { Cgroup, MemoryEvents } from '../src/cgroup';
import { watchForOomKills } from '../src/oom';

function cgroupWith(events: MemoryEvents[]): Cgroup {
  let now = 0;
  return {
    version: 2,
    paths: [],
    create() {},
    pathOf: () => undefined,
    add() {},
    touch() {},
    destroy() {},
    memoryEvents: () => events[Math.min(now++, events.length - 1)]!,
  };
}

const watch = (events: MemoryEvents[]) => {
  const lines: string[] = [];
  watchForOomKills(cgroupWith(events), 256 * 1024 ** 2, (line) => lines.push(line)).stop();
  return lines;
};

test('a kill with the own limit reached: the limit is named', (t) => {
  t.deepEqual(watch([{ limitReached: 0, oomKills: 0 }, { limitReached: 4, oomKills: 1 }]), [
    'out of memory: the container exceeded its 256 MiB limit',
  ]);
});

test('a kill without the own limit reached (a cgroup above, or the host, ran out): not blamed on the limit', (t) => {
  t.deepEqual(watch([{ limitReached: 2, oomKills: 0 }, { limitReached: 2, oomKills: 1 }]), [
    'out of memory: the kernel killed a process of the container, but not for its 256 MiB limit: a cgroup above it, or the host, ran out of memory',
  ]);
});

test('the limit reached without a kill (memory was reclaimed): nothing to report', (t) => {
  t.deepEqual(watch([{ limitReached: 0, oomKills: 0 }, { limitReached: 9, oomKills: 0 }]), []);
});
