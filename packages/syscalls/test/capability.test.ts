import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import {
  CAP_CHOWN,
  CAP_KILL,
  CAP_SYS_ADMIN,
  Capability,
  PR_CAPBSET_READ,
  PR_GET_NO_NEW_PRIVS,
  capabilityMask,
  capget,
  lastCapability,
  prctl,
} from '../src/index';
import { rootTest } from '@samples/testing';

/** A /proc/<pid>/status field as a number: 'CapEff' -> 0x1fffeffffffn. */
function statusMask(status: string, field: string): bigint {
  return BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]}`);
}

/** Runs `script` (TypeScript, with the package's index as `s`) in a new Node process. */
function runScript(script: string): { stdout: string; stderr: string; status: number | null } {
  const source = `const s = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'))});\n${script}`;
  return spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', source], { encoding: 'utf8', timeout: 20_000 });
}

test('the table has every capability this kernel knows, numbered 0 to cap_last_cap', (t) => {
  const numbers = Object.values(Capability);
  t.deepEqual(numbers, Array.from({ length: numbers.length }, (_, index) => index));
  t.true(lastCapability() <= numbers.length - 1, 'a kernel newer than the table: the bounding set is cut by number all the same');
});

test('capabilityMask sets bit N for capability N', (t) => {
  t.is(capabilityMask([CAP_CHOWN, CAP_KILL]), 0x21n);
  t.is(capabilityMask([CAP_SYS_ADMIN]), 1n << 21n);
  t.is(capabilityMask([]), 0n);
});

test('capget reads what /proc/self/status shows for the calling (main) thread', (t) => {
  const status = fs.readFileSync('/proc/thread-self/status', 'utf8');
  const sets = capget();
  t.is(sets.effective, statusMask(status, 'CapEff'));
  t.is(sets.permitted, statusMask(status, 'CapPrm'));
  t.is(sets.inheritable, statusMask(status, 'CapInh'));
});

test('prctl reads the bounding set and no_new_privs', (t) => {
  const status = fs.readFileSync('/proc/thread-self/status', 'utf8');
  t.is(BigInt(prctl(PR_CAPBSET_READ, CAP_CHOWN)), statusMask(status, 'CapBnd') & 1n);
  t.is(prctl(PR_GET_NO_NEW_PRIVS), Number(statusMask(status, 'NoNewPrivs')));
});

test('prctl(PR_SET_NO_NEW_PRIVS) changes the calling thread only', (t) => {
  const result = runScript(`
    s.prctl(s.PR_SET_NO_NEW_PRIVS, 1);
    const field = (file) => /NoNewPrivs:\\s*(\\d)/.exec(require('fs').readFileSync(file, 'utf8'))[1];
    const others = require('fs').readdirSync('/proc/self/task').filter((tid) => tid !== String(process.pid));
    console.log(field('/proc/thread-self/status'), others.map((tid) => field('/proc/self/task/' + tid + '/status')).join(''));
  `);
  const [main, others] = result.stdout.trim().split(' ');
  t.is(main, '1');
  t.regex(others!, /^0+$/, 'Node other threads keep no_new_privs off');
});

rootTest('capset lowers the calling thread effective set, and only its own', (t) => {
  const result = runScript(`
    const before = s.capget();
    const effective = before.effective & ~(1n << BigInt(s.CAP_SYS_ADMIN));
    s.capset({ ...before, effective });
    const after = s.capget();
    const other = require('fs').readdirSync('/proc/self/task').find((tid) => tid !== String(process.pid));
    const otherEff = /CapEff:\\s*(\\w+)/.exec(require('fs').readFileSync('/proc/self/task/' + other + '/status', 'utf8'))[1];
    console.log(after.effective === effective, after.permitted === before.permitted, BigInt('0x' + otherEff) === before.effective);
  `);
  t.is(result.stderr, '');
  t.is(result.stdout.trim(), 'true true true');
});
