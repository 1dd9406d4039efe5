import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { BPF_CGROUP_DEVICE, FilesystemMagic, bpf_prog_query, statfsType } from '@samples/syscalls';
import { rootTest, testIf } from '@samples/testing';
import { DEFAULT_DEVICE_RULES, attachDeviceProgram, deviceProgram, formatRule, listDeviceProgram, writeV1DeviceRules } from '../src/devices';
import { ownCgroup, removeCgroup, someBlockDevice, temporaryDirectory, uniqueName } from './helpers';

const V1_DEVICES = '/sys/fs/cgroup/devices';
const hasV1Devices = fs.existsSync(path.join(V1_DEVICES, 'devices.allow'));
// A cgroup2 tree: /sys/fs/cgroup itself (pure v2), or /sys/fs/cgroup/unified (hybrid).
const v2Root = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].find((dir) => {
  try {
    return statfsType(dir) === FilesystemMagic.CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
});

test('the v1 rules are runc defaults, as devices.allow reads them', (t) => {
  t.deepEqual(DEFAULT_DEVICE_RULES.map(formatRule), [
    'c *:* m',
    'b *:* m',
    'c 1:3 rwm',
    'c 1:8 rwm',
    'c 1:7 rwm',
    'c 5:0 rwm',
    'c 1:5 rwm',
    'c 1:9 rwm',
    'c 136:* rwm',
    'c 5:2 rwm',
    'c 10:200 rwm',
  ]);
});

test('the v2 program: read the context, one block per rule, refuse at the end', (t) => {
  const program = deviceProgram([{ type: 'c', major: 1, minor: 3, access: 'rwm' }, { type: 'b', major: '*', minor: '*', access: 'm' }]);
  t.is(
    listDeviceProgram(program),
    [
      '  0: r2 = *(u32 *)(r1 + 0)            ; ctx->access_type: (access << 16) | type',
      '  1: w2 &= 0xffff                     ; the type: 1 block, 2 char',
      '  2: r3 = *(u32 *)(r1 + 0)            ; ctx->access_type again',
      '  3: w3 >>= 16                        ; the access: 1 mknod, 2 read, 4 write (or-ed)',
      '  4: r4 = *(u32 *)(r1 + 4)            ; ctx->major',
      '  5: r5 = *(u32 *)(r1 + 8)            ; ctx->minor',
      '  6: if r2 != 2 goto pc+4             ; type c? else next rule',
      '  7: if r4 != 1 goto pc+3             ; major 1? else next rule',
      '  8: if r5 != 3 goto pc+2             ; minor 3? else next rule',
      '  9: w0 = 1                           ; c 1:3 rwm allows it: 1',
      ' 10: exit                             ; return r0',
      ' 11: if r2 != 1 goto pc+5             ; type b? else next rule',
      ' 12: w1 = w3                          ; the access asked for',
      ' 13: w1 &= 6                          ; keep what "m" does not allow',
      ' 14: if r1 != 0 goto pc+2             ; nothing of that asked? else next rule',
      ' 15: w0 = 1                           ; b *:* m allows it: 1',
      ' 16: exit                             ; return r0',
      ' 17: w0 = 0                           ; no rule allowed it: 0, the access fails with EPERM',
      ' 18: exit                             ; return r0',

    ].join('\n'),
  );
});

/**
 * A block device of this machine; where it has none (the cgroup v2 VM), a number no
 * driver has: opening its node then fails with ENXIO where the rules allow it, and
 * still with EPERM where they do not (the cgroup is asked before the driver).
 */
const block = someBlockDevice();
const [blockMajor, blockMinor] = block ?? [60, 0];
/** What opening the block node gives where the rules let it through. */
const blockOpened = block === undefined ? '' : 'block\n';

/**
 * A shell that joins `procs` (unless undefined), makes a block node and a char node of
 * /dev/kmsg (1:11) in a temporary directory, and opens each read-only without
 * reading: harmless whatever the rules say. Prints what it could open.
 */
function probeDevices(t: ExecutionContext, procs: string | undefined) {
  const dir = temporaryDirectory(t, 'devices-probe-');
  const join = procs === undefined ? 'true' : `echo $$ > ${procs}`;
  const script = [
    join,
    'true < /dev/null && echo null',
    `mknod ${dir}/block b ${blockMajor} ${blockMinor} && echo mknod`,
    `true < ${dir}/block && echo block`,
    `mknod ${dir}/kmsg c 1 11 && true < ${dir}/kmsg && echo kmsg`,
  ].join('; ');
  return spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
}

/** A cgroup of its own below this test's, removed after the test, with its processes gone. */
function cgroupBelowOwn(t: ExecutionContext, hierarchy: string, controller: string): string {
  const dir = path.join(hierarchy, ownCgroup(controller), uniqueName('devices-test'));
  fs.mkdirSync(dir);
  t.teardown(() => removeCgroup(dir));
  return dir;
}

rootTest('control: outside a container cgroup, root opens the node of a block device', (t) => {
  const result = probeDevices(t, undefined);
  t.is(result.stdout, `null\nmknod\n${blockOpened}kmsg\n`);
  if (block === undefined) t.regex(result.stderr, /block: No such device or address/, 'no block device here: the driver, not a rule, says no');
});

testIf(hasV1Devices, 'no cgroup v1 devices controller here', rootTest)(
  'cgroup v1: with the rules written, /dev/null opens, a block node made inside does not',
  (t) => {
    const dir = cgroupBelowOwn(t, V1_DEVICES, 'devices');
    writeV1DeviceRules(dir);
    t.deepEqual(fs.readFileSync(path.join(dir, 'devices.list'), 'utf8').trim().split('\n'), DEFAULT_DEVICE_RULES.map(formatRule));
    const result = probeDevices(t, path.join(dir, 'cgroup.procs'));
    t.is(result.stdout, 'null\nmknod\n', 'mknod is allowed (b *:* m), opening is not');
    t.regex(result.stderr, /block: Operation not permitted/);
    t.regex(result.stderr, /kmsg: Operation not permitted/);
  },
);

testIf(v2Root !== undefined && block !== undefined, v2Root === undefined ? 'no cgroup2 filesystem mounted' : 'no block device on this machine', rootTest)(
  'cgroup v2: it is the program that decides: a rule for the block device, read only, lets it open',
  (t) => {
    const dir = cgroupBelowOwn(t, v2Root!, '');
    attachDeviceProgram(dir, [...DEFAULT_DEVICE_RULES, { type: 'b', major: blockMajor, minor: blockMinor, access: 'r' }]);
    const result = probeDevices(t, path.join(dir, 'cgroup.procs'));
    t.is(result.stdout, 'null\nmknod\nblock\n');
    t.regex(result.stderr, /kmsg: Operation not permitted/);
  },
);

testIf(v2Root !== undefined, 'no cgroup2 filesystem mounted', rootTest)(
  'cgroup v2: the eBPF program attached to the cgroup refuses the same (in pure v2, or the hybrid layout\'s unified tree)',
  (t) => {
    const dir = cgroupBelowOwn(t, v2Root!, '');
    attachDeviceProgram(dir);
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    t.is(bpf_prog_query(fd, BPF_CGROUP_DEVICE).length, 1, 'one program attached, ours');
    fs.closeSync(fd);
    const result = probeDevices(t, path.join(dir, 'cgroup.procs'));
    t.is(result.stdout, 'null\nmknod\n');
    t.regex(result.stderr, /block: Operation not permitted/);
    t.regex(result.stderr, /kmsg: Operation not permitted/);
  },
);
