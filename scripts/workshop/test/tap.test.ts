// How the check reads ava's TAP output: each test's outcome by its own title.
import test from 'ava';
import { parseTap } from '../src/check';

const tap = `TAP version 13
ok 1 - main › the command is PID 1 of its own PID namespace, named "container"
ok 2 - main › the host reaches it (skipped: needs ip and busybox in the default root filesystem) # SKIP
not ok 3 - main › a fork bomb is held by the pids limit
  ---
    name: AssertionError
    message: 50 processes
  ...
not ok 4 - main › no runtime started here left a cgroup, or a lease on one
  ---
    message: every runtime removed its cgroup
  ...
a line the tests printed themselves

1..4
# tests 4
`;

test("each test's outcome, under its own title: without its file's name, a skip with its reason, a failure with ava's account", (t) => {
  t.deepEqual(parseTap(tap), [
    { title: 'the command is PID 1 of its own PID namespace, named "container"', outcome: 'pass', details: [] },
    { title: 'the host reaches it', outcome: 'skip', reason: 'needs ip and busybox in the default root filesystem', details: [] },
    { title: 'a fork bomb is held by the pids limit', outcome: 'fail', details: ['  name: AssertionError', '  message: 50 processes'] },
    { title: 'no runtime started here left a cgroup, or a lease on one', outcome: 'fail', details: ['  message: every runtime removed its cgroup'] },
  ]);
});
