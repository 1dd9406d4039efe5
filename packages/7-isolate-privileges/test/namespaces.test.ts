import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { rootTest, testIf } from '@samples/testing';
import { contain, ownCgroup, removeCgroup, uniqueName } from './helpers';

const hasIpcTools = spawnSync('sh', ['-c', 'command -v ipcmk && command -v ipcs && command -v ipcrm']).status === 0;

testIf(hasIpcTools, 'needs ipcmk, ipcs, ipcrm: apt-get install util-linux', rootTest)(
  'IPC namespace: a message queue of the host is visible before, not after',
  (t) => {
    // A System V queue made for this test, and removed after it, whatever happens.
    const made = spawnSync('ipcmk', ['--queue'], { encoding: 'utf8' });
    const id = /(\d+)/.exec(made.stdout)?.[1];
    if (id === undefined) return t.fail(`ipcmk said: ${made.stdout}${made.stderr}`);
    t.teardown(() => {
      spawnSync('ipcrm', ['--queue-id', id]);
    });
    const queues = (setup: Parameters<typeof contain>[0]) =>
      contain(setup, ['ipcs', '--queues'])
        .stdout.split('\n')
        .map((line) => line.trim().split(/\s+/)[1])
        .filter((field) => field !== undefined && /^\d+$/.test(field));
    t.true(queues({}).includes(id), 'without a namespace of its own, the command sees the host queue');
    t.deepEqual(queues({ unshare: ['ipc'] }), [], 'in its own, none');
  },
);

/** A cgroup in the devices hierarchy (any v1 controller would do), below this test's own. */
function scratchCgroup(t: ExecutionContext): { dir: string; name: string } {
  const name = uniqueName('cgroupns-test');
  const dir = path.join('/sys/fs/cgroup/devices', ownCgroup('devices'), name);
  fs.mkdirSync(dir);
  t.teardown(() => removeCgroup(dir));
  return { dir, name };
}

const devicesLine = (text: string) => text.split('\n').find((line) => /^\d+:devices:/.test(line));

testIf(fs.existsSync('/sys/fs/cgroup/devices/cgroup.procs'), 'no cgroup v1 devices hierarchy', rootTest)(
  'cgroup namespace, made after joining the cgroup: /proc/self/cgroup says "/"',
  (t) => {
    const { dir } = scratchCgroup(t);
    const result = contain({ joinCgroup: path.join(dir, 'cgroup.procs'), unshare: ['cgroup'] }, ['cat', '/proc/self/cgroup']);
    t.is(result.stderr, '');
    t.regex(devicesLine(result.stdout) ?? '', /^\d+:devices:\/$/);
  },
);

testIf(fs.existsSync('/sys/fs/cgroup/devices/cgroup.procs'), 'no cgroup v1 devices hierarchy', rootTest)(
  'cgroup namespace, made before joining: the namespace root is the runtime cgroup, and the container path shows',
  (t) => {
    const { dir, name } = scratchCgroup(t);
    const result = contain({ unshare: ['cgroup'], unshareFirst: true, joinCgroup: path.join(dir, 'cgroup.procs') }, ['cat', '/proc/self/cgroup']);
    t.regex(devicesLine(result.stdout) ?? '', new RegExp(`^\\d+:devices:/${name}$`));
  },
);
