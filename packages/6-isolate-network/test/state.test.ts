// The state runtimes share on disk: address leases (in the runtime's lease module, under
// a kind of their own), the host lock, and the forwarding settings against a fake
// /proc/sys/net/ipv4.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CliError, LEASE_DIR, self } from '@samples/runtime';
import { rootTest, waitFor } from '@samples/testing';
import { enableForwarding, restoreForwarding } from '../src/network/forwarding';
import { liveAddresses, reclaimAddresses, releaseAddress, stateDirectory, takeAddress, withHostLock } from '../src/network/state';

function tempDir(t: ExecutionContext, prefix = 'net-state-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A lease kind of the test's own, in the real lease directory, removed after the test. */
function leaseKind(t: ExecutionContext): string {
  const kind = `net-test-${randomBytes(4).toString('hex')}`;
  t.teardown(() => fs.rmSync(stateDirectory(kind), { recursive: true, force: true }));
  return kind;
}

rootTest('addresses: each once; a released one is taken again', (t) => {
  const kind = leaseKind(t);
  const candidates = ['10.22.0.2', '10.22.0.3'];
  t.is(takeAddress(kind, candidates, { hostEnd: 'veth1' }), '10.22.0.2');
  t.is(takeAddress(kind, candidates, { hostEnd: 'veth2' }), '10.22.0.3');
  const full = t.throws(() => takeAddress(kind, candidates, { hostEnd: 'veth3' }), { instanceOf: CliError });
  t.is(full.message, 'no free address left: 2 containers are running on this bridge');
  releaseAddress(kind, '10.22.0.2');
  t.is(takeAddress(kind, candidates, { hostEnd: 'veth4' }), '10.22.0.2');
  t.deepEqual(liveAddresses(kind).sort(), ['10.22.0.2', '10.22.0.3']);
  t.is(path.dirname(stateDirectory(kind)), LEASE_DIR);
});

rootTest('the leases of dead runtimes and of reused pids are reclaimed, with their veth named; live ones are kept', (t) => {
  const kind = leaseKind(t);
  const dir = stateDirectory(kind);
  fs.mkdirSync(dir, { recursive: true });
  const dead = spawnSync('true').pid;
  const write = (address: string, owner: { pid: number; start: string }, hostEnd: string) =>
    fs.writeFileSync(path.join(dir, address), JSON.stringify({ owner, data: { hostEnd } }));
  write('10.22.0.2', { pid: dead, start: '12345' }, 'vethdead');
  write('10.22.0.3', { pid: process.pid, start: '1' }, 'vethreused'); // our pid, another start time
  takeAddress(kind, ['10.22.0.4'], { hostEnd: 'vethlive' });
  t.deepEqual(liveAddresses(kind), ['10.22.0.4']);
  const reclaimed: string[] = [];
  reclaimAddresses(kind, ({ id, data }) => reclaimed.push(`${id} ${data.hostEnd}`));
  t.deepEqual(reclaimed.sort(), ['10.22.0.2 vethdead', '10.22.0.3 vethreused']);
  t.deepEqual(fs.readdirSync(dir).filter((name) => !name.startsWith('.')), ['10.22.0.4']);
  t.is(JSON.parse(fs.readFileSync(path.join(dir, '10.22.0.4'), 'utf8')).owner.pid, self().pid);
});

test('the lock: a second holder waits, and says so in one line if it waits too long', async (t) => {
  const dir = path.join(tempDir(t), 'netns');
  fs.mkdirSync(dir);
  const holder = spawn('sh', ['-c', 'exec 9>"$0"; flock 9; echo locked; exec sleep 60', path.join(dir, '.host.lock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  let output = '';
  holder.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('flock(1) to take the lock', () => output.includes('locked'), 5000);
  const started = Date.now();
  const error = t.throws(() => withHostLock(dir, () => 'never', 300), { instanceOf: CliError });
  t.true(Date.now() - started >= 300);
  t.is(error.message, `another runtime has held ${dir}/.host.lock for too long: is one stopped (Ctrl-Z)?`);
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  t.is(withHostLock(dir, () => 'mine'), 'mine', 'free once the holder is gone');
});

test('the lock: a waiter whose lock file was removed meanwhile (the last runtime out) starts again on a new one', async (t) => {
  const dir = path.join(tempDir(t), 'netns');
  fs.mkdirSync(dir);
  const lockFile = path.join(dir, '.host.lock');
  // The last runtime out: holds the lock, removes the directory, then lets go.
  const last = spawn('sh', ['-c', 'exec 9>"$0/.host.lock"; flock 9; touch "$0/marker"; echo locked; sleep 1; rm -r "$0"', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => last.kill('SIGKILL'));
  let output = '';
  last.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('flock(1) to take the lock', () => output.includes('locked'), 5000);
  let runs = 0;
  const sawOldDirectory = withHostLock(dir, () => {
    runs++;
    return fs.existsSync(path.join(dir, 'marker'));
  });
  t.is(runs, 1);
  t.false(sawOldDirectory, 'it ran in the new directory, holding the new lock');
  t.true(fs.existsSync(lockFile));
});

/** A fake /proc/sys/net/ipv4 with two links. */
function fakeSysctl(t: ExecutionContext, values: Record<string, string>): string {
  const root = tempDir(t, 'fake-ipv4-');
  for (const [file, value] of Object.entries(values)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), `${value}\n`);
  }
  return root;
}

test('forwarding: saves ip_forward and what writing it changes, writes them back in order', (t) => {
  const root = fakeSysctl(t, {
    ip_forward: '0',
    'conf/all/accept_redirects': '0',
    'conf/all/forwarding': '0',
    'conf/default/forwarding': '0',
    'conf/eth0/forwarding': '1',
    'conf/lo/forwarding': '0',
  });
  const saved = enableForwarding(root)!;
  t.deepEqual(saved, [
    ['ip_forward', '0'],
    ['conf/all/accept_redirects', '0'],
    ['conf/default/forwarding', '0'],
    ['conf/eth0/forwarding', '1'],
    ['conf/lo/forwarding', '0'],
  ]);
  t.is(fs.readFileSync(path.join(root, 'ip_forward'), 'utf8'), '1');
  // What the kernel does on that write: everything follows ip_forward, redirects the opposite.
  for (const [file, value] of [['conf/all/accept_redirects', '1'], ['conf/default/forwarding', '1'], ['conf/eth0/forwarding', '1'], ['conf/lo/forwarding', '1']]) {
    fs.writeFileSync(path.join(root, file!), value!);
  }
  fs.rmSync(path.join(root, 'conf/lo'), { recursive: true }); // a link gone since
  restoreForwarding(saved, root);
  t.is(fs.readFileSync(path.join(root, 'ip_forward'), 'utf8'), '0');
  t.is(fs.readFileSync(path.join(root, 'conf/all/accept_redirects'), 'utf8'), '0');
  t.is(fs.readFileSync(path.join(root, 'conf/default/forwarding'), 'utf8'), '0');
  t.is(fs.readFileSync(path.join(root, 'conf/eth0/forwarding'), 'utf8').trim(), '1');
});

test('forwarding on already: nothing changed, nothing to restore', (t) => {
  const root = fakeSysctl(t, { ip_forward: '1', 'conf/all/accept_redirects': '0', 'conf/default/forwarding': '1' });
  t.is(enableForwarding(root), undefined);
});
