// Stage 7's cgroup, from the host's side, on the machine's real cgroups (v1 here; the
// cgroup v2 VM runs this file too, with devices.test.ts and probes.test.ts): the device
// rules sit on the container's cgroup while it runs, and what a runtime killed with
// SIGKILL left, its devices directory included, the next run at the latest takes away.
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import { leases } from '@samples/runtime';
import { BPF_CGROUP_DEVICE, bpf_prog_query } from '@samples/syscalls';
import { containerPid, isRoot, rootTest, runStage, startStageUntilReady, startedRuntimes, waitFor } from '@samples/testing';
import { CGROUP_ROOT, detectLayout, parseProcCgroup } from '5-isolate-cgroup/cgroup';
import { DEFAULT_DEVICE_RULES, formatRule } from '../src/devices';
import { stage } from './helpers';

const test = rootTest.serial;
const layout = isRoot ? detectLayout() : 'v1';

/** The cgroups leased by the runtimes this file started. */
function cgroupsOfOurRuntimes(): string[] {
  return leases<{ paths: string[] }>('cgroups')
    .filter((lease) => startedRuntimes.has(lease.owner.pid))
    .flatMap(({ data }) => data.paths);
}

anyTest.after.always('no runtime started here left a cgroup, or a lease on one', (t) => {
  t.deepEqual(cgroupsOfOurRuntimes(), []);
});

/** Where the devices rules of process `pid` live, as the host sees its /proc/PID/cgroup. */
function devicesCgroup(pid: number): string {
  const entries = parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  if (layout === 'v2') return path.join(CGROUP_ROOT, entries.find((entry) => entry.controllers.length === 0)!.path);
  return path.join(CGROUP_ROOT, 'devices', entries.find((entry) => entry.controllers.includes('devices'))!.path);
}

/** The rules the kernel holds for the cgroup `dir`: v1 its devices.list, v2 the number of device programs attached to it. */
function rulesOf(dir: string): string[] | number {
  if (layout !== 'v2') return fs.readFileSync(path.join(dir, 'devices.list'), 'utf8').trim().split('\n');
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return bpf_prog_query(fd, BPF_CGROUP_DEVICE).length;
  } finally {
    fs.closeSync(fd);
  }
}

const SLEEPER = ['sh', '-c', 'trap "exit 143" TERM; echo ready; sleep 30 & wait'];

test("while it runs, the container's cgroup holds runc's device rules (v1: devices.list; v2: one eBPF program); with --privileged, none", async (t) => {
  for (const privileged of [false, true]) {
    const { runtime, exited } = await startStageUntilReady(stage, ['--network', 'none', ...(privileged ? ['--privileged'] : []), ...SLEEPER]);
    try {
      const dir = devicesCgroup(containerPid(runtime));
      t.regex(path.basename(dir), /^container-[0-9a-f]{8}$/);
      if (layout === 'v2') t.is(rulesOf(dir), privileged ? 0 : 1);
      else t.deepEqual(rulesOf(dir), privileged ? ['a *:* rwm'] : DEFAULT_DEVICE_RULES.map(formatRule));
    } finally {
      runtime.kill('SIGTERM');
      t.is(await exited, 143);
    }
  }
});

test('--user nobody: a runtime killed with SIGKILL still takes its container along (setuid cleared the parent-death signal; it was set again), and the next run at the latest removes the cgroup it left, every directory its lease names', async (t) => {
  const { runtime, exited } = await startStageUntilReady(stage, ['--network', 'none', '--user', 'nobody', ...SLEEPER]);
  const container = containerPid(runtime);
  const dirs = cgroupsOfOurRuntimes();
  t.is(dirs.length, layout === 'v2' ? 1 : 2, `the lease names memory and devices on v1: ${dirs.join(', ')}`);
  t.true(dirs.every((dir) => fs.existsSync(dir)));
  runtime.kill('SIGKILL');
  await exited;
  await waitFor('the container to die with its runtime (PR_SET_PDEATHSIG)', () => !fs.existsSync(`/proc/${container}`), 10_000);
  // Any runtime that starts sweeps what a dead one left (another test's may be first): this one does, if nobody did.
  const next = runStage(stage, ['--network', 'none', 'true']);
  t.is(next.status, 0, next.stderr);
  t.deepEqual(dirs.filter((dir) => fs.existsSync(dir)), []);
  t.deepEqual(cgroupsOfOurRuntimes().filter((dir) => dirs.includes(dir)), [], 'and its lease is given back');
});
