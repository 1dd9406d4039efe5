import fs from 'node:fs';
import test from 'ava';
import { CliError } from '@samples/runtime';
import { rootTest } from '@samples/testing';
import { availableCapabilities, capabilityNames, namesInMask, parseCapabilityList, resolveCapabilities } from '../src/capabilities';
import { contain, securityFields } from './helpers';

const names = (capabilities: Set<number>) => capabilityNames(capabilities).map((name) => name.slice(4));
const DOCKER = 'CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP';
/** Docker's 14 as a /proc status mask. */
const DOCKER_MASK = '00000000a80425fb';

test('--cap-add/--cap-drop take names with or without CAP_, in any case, comma-separated, or ALL', (t) => {
  t.deepEqual(parseCapabilityList('net_admin, CAP_SYS_TIME,ALL', 'cap-add'), ['CAP_NET_ADMIN', 'CAP_SYS_TIME', 'ALL']);
  const error = t.throws(() => parseCapabilityList('NET_ADMIN,SUPERPOWER', 'cap-add'), { instanceOf: CliError });
  t.is(error.message, 'unknown capability in --cap-add: SUPERPOWER (see `man 7 capabilities`, e.g. NET_ADMIN)');
  t.is(error.exitStatus, 2);
});

test('the default is Docker 14 capabilities', (t) => {
  t.is(names(resolveCapabilities()).join(' '), DOCKER);
  t.deepEqual(namesInMask(DOCKER_MASK), capabilityNames(resolveCapabilities()));
});

test('drop, then add, as Docker does; ALL on either side', (t) => {
  t.is(
    names(resolveCapabilities(['CAP_NET_ADMIN'], ['CAP_NET_RAW', 'CAP_MKNOD'])).join(' '),
    DOCKER.replace('NET_RAW', 'NET_ADMIN').replace(' MKNOD', ''),
    'the kernel order: NET_ADMIN (12) where NET_RAW (13) was',
  );
  t.deepEqual(names(resolveCapabilities(['CAP_KILL'], ['ALL'])), ['KILL']);
  t.deepEqual(resolveCapabilities([], ['ALL']).size, 0);
  const everything = Array.from({ length: 41 }, (_, capability) => capability);
  const allButOne = resolveCapabilities(['ALL'], ['CAP_SYS_ADMIN'], everything);
  t.is(allButOne.size, 40);
  t.false(names(allButOne).includes('SYS_ADMIN'));
});

test('ALL is what the runtime has; one it lacks cannot be added', (t) => {
  const withoutSysResource = Array.from({ length: 41 }, (_, capability) => capability).filter((capability) => capability !== 24);
  t.false(names(resolveCapabilities(['ALL'], [], withoutSysResource)).includes('SYS_RESOURCE'));
  const error = t.throws(() => resolveCapabilities(['CAP_SYS_RESOURCE'], [], withoutSysResource), { instanceOf: CliError });
  t.is(error.message, '--cap-add: this runtime does not have CAP_SYS_RESOURCE itself, so it cannot give it');
});

rootTest('availableCapabilities is the runtime own permitted set', (t) => {
  const status = securityFields(fs.readFileSync('/proc/self/status', 'utf8'));
  t.deepEqual(capabilityNames(availableCapabilities()), namesInMask(status.CapPrm!));
});

// #region measured
rootTest('before: a command Node execs keeps every capability of root', (t) => {
  const result = contain({}, ['cat', '/proc/self/status']);
  const fields = securityFields(result.stdout);
  const all = fs.readFileSync('/proc/self/status', 'utf8');
  t.is(fields.CapEff, securityFields(all).CapBnd, 'everything the bounding set allows');
  t.is(fields.CapBnd, securityFields(all).CapBnd);
});

rootTest('after: Docker 14 in effective, permitted and bounding; nothing inheritable or ambient', (t) => {
  const result = contain({ privileges: { seccomp: false } }, ['cat', '/proc/self/status']);
  t.is(result.stderr, '');
  t.like(securityFields(result.stdout), { CapInh: '0000000000000000', CapPrm: DOCKER_MASK, CapEff: DOCKER_MASK, CapBnd: DOCKER_MASK, CapAmb: '0000000000000000' });
});

rootTest('--cap-drop ALL leaves none, --cap-add puts some back', (t) => {
  const none = securityFields(contain({ privileges: { capDrop: ['ALL'], seccomp: false } }, ['cat', '/proc/self/status']).stdout);
  t.like(none, { CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '0000000000000000' });
  const some = securityFields(contain({ privileges: { capAdd: ['CAP_NET_ADMIN'], capDrop: ['CAP_NET_RAW'], seccomp: false } }, ['cat', '/proc/self/status']).stdout);
  t.deepEqual(namesInMask(some.CapEff!), capabilityNames(resolveCapabilities(['CAP_NET_ADMIN'], ['CAP_NET_RAW'])));
  t.is(some.CapBnd, some.CapEff);
});
// #endregion

rootTest('the kernel enforces it: without CAP_SYS_ADMIN, root cannot make a namespace (no filter: the capability says no)', (t) => {
  // Had it worked, the mount namespace would have gone with `true`.
  const result = contain({ privileges: { seccomp: false } }, ['unshare', '--mount', 'true']);
  t.is(result.status, 1);
  t.regex(result.stderr, /unshare failed: Operation not permitted/);
});

rootTest('--privileged: every capability the runtime has, no no_new_privs, no filter', (t) => {
  const result = contain({ privileges: { privileged: true } }, ['cat', '/proc/self/status']);
  const runtime = securityFields(fs.readFileSync('/proc/self/status', 'utf8'));
  t.like(securityFields(result.stdout), { CapEff: runtime.CapPrm, CapBnd: runtime.CapBnd, NoNewPrivs: '0', Seccomp: '0' });
});
