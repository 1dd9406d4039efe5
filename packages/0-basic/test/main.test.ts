import path from 'node:path';
import test from 'ava';
import { runStage, testCommonBehaviour } from '@samples/testing';

const stage = path.join(__dirname, '..');

// Stage 0 needs no privileges, so these run for anyone.
testCommonBehaviour(stage, test);

test('no isolation yet: the command sees the host hostname and namespaces', (t) => {
  const result = runStage(stage, ['sh', '-c', 'hostname; readlink /proc/self/ns/uts /proc/self/ns/pid']);
  const [hostname, uts, pid] = result.stdout.trim().split('\n');
  t.is(hostname, require('node:os').hostname());
  t.is(uts, require('node:fs').readlinkSync('/proc/self/ns/uts'));
  t.is(pid, require('node:fs').readlinkSync('/proc/self/ns/pid'));
});
