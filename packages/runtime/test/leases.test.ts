// Leases, on the real /run folder, under a kind of this test's own.
import fs from 'node:fs';
import path from 'node:path';
import { rootTest } from '@samples/testing';
import test from 'ava';
import { LEASE_DIR, leases, reclaimStaleLeases, releaseLease, takeLease } from '../src/leases';

const kind = `test-leases-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
const dir = path.join(LEASE_DIR, kind);
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

rootTest('a draft left by a runtime killed while it wrote its lease goes at the next sweep; a held lease stays', (t) => {
  t.true(takeLease(kind, 'held', { what: 'kept' }));
  // As takeLease leaves it when killed between its write and its rename: the pid is long gone.
  const draft = path.join(dir, 'taken.99999999.draft');
  fs.writeFileSync(draft, JSON.stringify({ owner: { pid: 99999999, start: '1' }, data: {} }));
  const reclaimed: string[] = [];
  reclaimStaleLeases(kind, (lease) => reclaimed.push(lease.id));
  t.false(fs.existsSync(draft), 'the draft is gone');
  t.deepEqual(reclaimed, [], 'a draft names nothing to give back');
  t.deepEqual(leases(kind).map((lease) => lease.id), ['held']);
  releaseLease(kind, 'held');
  t.deepEqual(fs.readdirSync(dir).filter((name) => !name.startsWith('.')), []);
});
