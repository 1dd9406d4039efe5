// Loaded into the stage's test workers when `pnpm workshop check` runs them (the copy's
// ava "require"). A failed assertion ends its test at once (ava 6 and later), before
// the test's own `runtime.kill(...)`: a container started in the background would then
// run on until its command ends (`sleep 30`), and the worker, and so the check, would
// wait for it. After a failed test, this stops what the test left running: each runtime
// it started, its container, and their children. Only when the check asks for it
// (WORKSHOP_STOP_RUNTIMES), which runs the tests one at a time (--serial): then the
// runtimes started since the test began are the test's own.
import fs from 'node:fs';
import test from 'ava';
import { startedRuntimes } from '@samples/testing';

/** `pid` and every process below it, read from /proc (children first found, first listed). */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    try {
      const tasks = fs.readdirSync(`/proc/${tree[i]}/task`);
      for (const task of tasks) {
        const children = fs.readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8').trim();
        if (children !== '') tree.push(...children.split(' ').map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return tree;
}

/** Whether `pid` is a child of this process still (a pid the kernel gave to another is not ours). */
function isOurChild(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
  } catch {
    return false;
  }
}

if (process.env.WORKSHOP_STOP_RUNTIMES === '1') {
  let before = new Set<number>();
  test.beforeEach(() => {
    before = new Set(startedRuntimes);
  });
  test.afterEach.always((t) => {
    if (t.passed) return;
    for (const runtime of startedRuntimes) {
      if (before.has(runtime) || !isOurChild(runtime)) continue;
      for (const pid of processTree(runtime)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  });
}
