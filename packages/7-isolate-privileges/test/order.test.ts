// The order of the privilege steps (src/privileges.ts), proved by moving each one:
// what the kernel says when a step comes too late or too early.
import fs from 'node:fs';
import test from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { isRoot, rootTest } from '@samples/testing';
import { resolveCapabilities } from '../src/capabilities';
import { PRIVILEGE_STEPS, defaultPlan, dropPrivileges } from '../src/privileges';
import { parseUlimits } from '../src/rlimits';
import { contain, securityFields } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const ORDER = PRIVILEGE_STEPS.map(({ name }) => name);

/** The default order with `name` moved to just after `after` (or left out when `after` is null). */
function moved(name: string, after: string | null): string[] {
  const without = ORDER.filter((step) => step !== name);
  if (after === null) return without;
  without.splice(without.indexOf(after) + 1, 0, name);
  return without;
}

test('the order', (t) => {
  t.deepEqual(ORDER, ['rlimits', 'bounding-set', 'keep-caps', 'user', 'capabilities', 'no-new-privs', 'seccomp']);
});

rootTest('the mount namespace and its mounts after the privileges are dropped: refused (no CAP_SYS_ADMIN, and the filter)', (t) => {
  // enterContainer's first step, unshare(CLONE_NEWNS), is the first to be refused.
  const result = contain({ rootfs, kernelPaths: true, privilegesFirst: true, privileges: {} }, ['true']);
  t.is(result.status, 125);
  t.is(result.stderr, 'contain: EPERM: operation not permitted, unshare\n');
});

rootTest('capset without cutting the bounding set, and no no_new_privs (Docker default): the execve gives root every capability back', (t) => {
  const steps = moved('bounding-set', null);
  const result = contain({ privileges: { seccomp: false, noNewPrivs: false, order: steps } }, ['cat', '/proc/self/status']);
  const host = securityFields(fs.readFileSync('/proc/self/status', 'utf8'));
  t.like(securityFields(result.stdout), { CapEff: host.CapBnd, CapPrm: host.CapBnd, CapBnd: host.CapBnd });
  // no_new_privs alone holds them back: an execve under it never gains permitted capabilities.
  const held = contain({ privileges: { seccomp: false, order: steps } }, ['cat', '/proc/self/status']);
  t.like(securityFields(held.stdout), { CapEff: '00000000a80425fb', CapBnd: host.CapBnd });
});

rootTest('the bounding set after capset, without CAP_SETPCAP kept: refused', (t) => {
  const result = contain({ privileges: { capDrop: ['CAP_SETPCAP'], order: moved('bounding-set', 'capabilities') } }, ['true']);
  t.is(result.stderr, 'contain: EPERM: operation not permitted, prctl\n');
  // In the right order, the same drop works.
  t.is(contain({ privileges: { capDrop: ['CAP_SETPCAP'] } }, ['true']).status, 0);
});

rootTest('--user after capset, without CAP_SETUID and CAP_SETGID kept: glibc aborts the runtime', (t) => {
  // capset changed the main thread only; glibc's setgroups runs on every thread, works
  // on the others, fails on this one, and aborts rather than leave them unlike.
  const result = contain({ privileges: { user: '1000:1000', capDrop: ['CAP_SETUID', 'CAP_SETGID'], order: moved('user', 'capabilities') } }, ['true']);
  t.is(result.signal, 'SIGABRT');
});

rootTest('--user without PR_SET_KEEPCAPS: setuid empties permitted, capset cannot fill it again', (t) => {
  const result = contain({ privileges: { user: '1000:1000', order: moved('keep-caps', null) } }, ['true']);
  t.is(result.stderr, 'contain: EPERM: operation not permitted, capset\n');
});

rootTest('seccomp before no_new_privs, CAP_SYS_ADMIN gone: refused', (t) => {
  const result = contain({ privileges: { order: moved('no-new-privs', 'seccomp') } }, ['true']);
  t.is(result.stderr, 'contain: EACCES: permission denied, seccomp\n');
});

rootTest('without no_new_privs at all, a filter cannot be installed by a process without CAP_SYS_ADMIN', (t) => {
  const result = contain({ privileges: { noNewPrivs: false } }, ['true']);
  t.is(result.stderr, 'contain: EACCES: permission denied, seccomp\n');
  // With CAP_SYS_ADMIN kept (Docker's --cap-add SYS_ADMIN), it can, and the filter lets mount pass.
  const admin = contain({ privileges: { noNewPrivs: false, capAdd: ['CAP_SYS_ADMIN'] } }, ['cat', '/proc/self/status']);
  t.like(securityFields(admin.stdout), { NoNewPrivs: '0', Seccomp: '2' });
});

test('what --verbose says, step by step (the default plan, and with --user)', (t) => {
  const said = (plan: Parameters<typeof dropPrivileges>[0]) => {
    const lines: string[] = [];
    dropPrivileges(plan, (description) => lines.push(description)); // describes, runs nothing
    return lines;
  };
  const capabilities = resolveCapabilities([], [], Array.from({ length: 41 }, (_, capability) => capability));
  const plan = defaultPlan(capabilities, { rlimits: parseUlimits('') });
  t.deepEqual(said(plan), [
    'setrlimit(RLIMIT_NOFILE, 1024:1024)',
    'prctl(PR_CAPBSET_DROP) for each capability but 14',
    'capset: effective = permitted = CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_RAW,SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP; inheritable, ambient empty',
    'prctl(PR_SET_NO_NEW_PRIVS, 1): no setuid bit or file capability gives anything back',
    `seccomp(SECCOMP_SET_MODE_FILTER): ${plan.seccomp!.filter.length} BPF instructions`,
  ]);
  const withUser = said({ ...plan, user: { uid: 1000, gid: 1000, groups: [29], home: '/home/app' } });
  t.deepEqual(withUser.slice(2, 4), ['prctl(PR_SET_KEEPCAPS, 1): keep the permitted set across setuid', 'setgroups([29]), setgid(1000), setuid(1000)']);
});
