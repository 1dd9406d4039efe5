import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootTest as test, runStage, runStageUnprivileged, testCommonBehaviour } from '@samples/testing';

const stage = path.join(__dirname, '..');

testCommonBehaviour(stage);

test('the command has its own UTS namespace, and nothing else of its own', (t) => {
  const result = runStage(stage, ['sh', '-c', 'readlink /proc/self/ns/uts /proc/self/ns/pid /proc/self/ns/mnt']);
  const [uts, pid, mnt] = result.stdout.trim().split('\n');
  t.not(uts, fs.readlinkSync('/proc/self/ns/uts'));
  t.is(pid, fs.readlinkSync('/proc/self/ns/pid'));
  t.is(mnt, fs.readlinkSync('/proc/self/ns/mnt'));
});

test('renaming the host inside never renames the host', (t) => {
  const before = os.hostname();
  const result = runStage(stage, ['sh', '-c', 'hostname; hostname renamed-inside; hostname']);
  t.is(result.stdout, `${before}\nrenamed-inside\n`, 'it starts with a copy of the host name, then renames its own');
  t.is(os.hostname(), before);
});

test('without root: one line that says what is missing and what to run, status 125', (t) => {
  const before = os.hostname();
  const result = runStageUnprivileged(stage, ['hostname', 'should-not-happen']);
  t.is(result.status, 125);
  t.regex(result.stderr, /^1-isolate-uts: creating namespaces needs root \(CAP_SYS_ADMIN\): run it as root, e\.g\. `sudo .*`\n$/);
  t.is(os.hostname(), before);
});
