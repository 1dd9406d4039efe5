import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootTest as test, runStage, runStageUnprivileged, testCommonBehaviour } from '@samples/testing';

const stage = path.join(__dirname, '..');

testCommonBehaviour(stage);

test('the command is PID 1 of its own PID namespace, named "container"', (t) => {
  const result = runStage(stage, ['sh', '-c', 'echo $$; hostname; readlink /proc/self/ns/pid_for_children /proc/self/ns/uts']);
  const [pid, hostname, pidNs, utsNs] = result.stdout.trim().split('\n');
  t.is(pid, '1');
  t.is(hostname, 'container');
  t.not(pidNs, fs.readlinkSync('/proc/self/ns/pid'));
  t.not(utsNs, fs.readlinkSync('/proc/self/ns/uts'));
  t.is(result.status, 0);
});

test('its children see it as their parent, PID 1', (t) => {
  // Without its own /proc (stage 3 mounts one), ps would still read the host's /proc.
  const result = runStage(stage, ['sh', '-c', 'sh -c "echo \\$PPID"']);
  t.is(result.stdout, '1\n');
});

test('PID 1 cannot be killed from inside, by the kernel own rule', (t) => {
  // A signal from inside the namespace reaches its init only if init handles it.
  t.is(runStage(stage, ['sh', '-c', 'kill -KILL $$; echo still here']).stdout, 'still here\n');
});

test('the host hostname is unchanged, also after a failure', (t) => {
  const before = os.hostname();
  runStage(stage, ['hostname', 'renamed-inside']);
  runStage(stage, ['sh', '-c', 'hostname x; kill -KILL $$']);
  t.is(os.hostname(), before);
});

test('"child" refuses to run outside the namespaces "run" makes', (t) => {
  const before = os.hostname();
  const [node, argv] = [process.execPath, ['--require', 'tsx/cjs', path.join(stage, 'src/main.ts'), 'child', 'true']];
  const result = require('node:child_process').spawnSync(node, argv, { cwd: stage, encoding: 'utf8' });
  t.is(result.status, 2);
  t.regex(result.stderr, /"child" runs inside the namespaces "run" makes/);
  t.is(os.hostname(), before);
});

test('without root: one line, status 125', (t) => {
  const result = runStageUnprivileged(stage, ['true']);
  t.is(result.status, 125);
  t.regex(result.stderr, /^2-isolate-process: creating namespaces needs root/);
});
