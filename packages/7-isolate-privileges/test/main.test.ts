// Stage 7 from the host's side: whole runtimes, started as a learner starts them, in a
// scratch "host" network namespace as stage 6's tests do (the bridge, NAT table and
// forwarding of a default run are made there, never on the real host). The options:
// --user, --read-only, --cap-add and --cap-drop, --security-opt, --ulimit; the steps in
// order; every bad input in one line, with nothing made. The probes of each rule are in
// probes.test.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { leases } from '@samples/runtime';
import {
  assertInOrder,
  isRoot,
  learnerEnvironment,
  rootTest,
  runStage,
  startedRuntimes,
  testCommonBehaviour,
  testIf,
  testRootfsCommandLookup,
} from '@samples/testing';
import { availableCapabilities, capabilityNames, kernelCapabilities, namesInMask, resolveCapabilities } from '../src/capabilities';
import { enterScratchHost, hostNetwork, inRootfs, leftovers } from '6-isolate-network/test/helpers';
import { securityFields, stage } from './helpers';

const test = rootTest.serial;
if (isRoot) enterScratchHost();
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const DOCKER_MASK = '00000000a80425fb';
const run = (args: readonly string[]) => runStage(stage, ['--network', 'none', ...args]);
const status = (args: readonly string[]) => securityFields(run([...args, 'cat', '/proc/self/status']).stdout);

/** The cgroups leased by the runtimes this file started. */
function cgroupsOfOurRuntimes(): string[] {
  return leases<{ paths: string[] }>('cgroups')
    .filter((lease) => startedRuntimes.has(lease.owner.pid))
    .flatMap(({ data }) => data.paths);
}

anyTest.after.always('no runtime started here left a cgroup, an address or a bridge', (t) => {
  if (!isRoot) return t.pass();
  t.deepEqual(cgroupsOfOurRuntimes(), []);
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
});

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

testIf(!isRoot || (inRootfs(rootfs, 'ip') && inRootfs(rootfs, 'busybox')), 'needs ip in the default root filesystem', test)(
  "stage 6's network holds: eth0 on the bridge, with its address and route; the scratch host as before afterwards",
  (t) => {
    const before = hostNetwork();
    const result = runStage(stage, ['sh', '-c', 'ip -4 -o addr show eth0; ip route']);
    t.is(result.status, 0, result.stderr);
    t.regex(result.stdout, /^\d+: eth0 +inet 10\.22\.0\.2\/24 /m);
    t.regex(result.stdout, /^default via 10\.22\.0\.1 dev eth0/m);
    t.deepEqual(hostNetwork(), before);
  },
);

test('--user nobody: the ids and home from the image, no capability left; -u UID:GID by number', (t) => {
  const named = run(['--user', 'nobody', 'sh', '-c', 'id; echo "$HOME"; grep -E "^Cap(Eff|Bnd)" /proc/self/status']);
  t.is(named.stdout, `uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/nonexistent\nCapEff:\t0000000000000000\nCapBnd:\t${DOCKER_MASK}\n`);
  const numbers = run(['-u', '1000:1000', 'sh', '-c', 'id; echo "$HOME"']);
  t.is(numbers.stdout, 'uid=1000 gid=1000 groups=1000\n/\n');
  t.is(run(['id', '-u']).stdout, '0\n', 'root without --user');
});

test('--read-only: the root cannot be written, /newtemp and /dev/shm can; nothing lands in the image', (t) => {
  const name = `read-only-probe-${process.pid}`;
  const result = run(['--read-only', 'sh', '-c', `touch /${name}; touch /newtemp/x /dev/shm/x && echo tmpfs writable`]);
  t.is(result.stdout, 'tmpfs writable\n');
  t.regex(result.stderr, new RegExp(`touch: cannot touch '/${name}': Read-only file system`));
  t.false(fs.existsSync(path.join(rootfs, name)));
});

test('--cap-drop and --cap-add: names, any case, comma lists or repeated, ALL; the kernel enforces what is left', (t) => {
  t.like(status(['--cap-drop', 'ALL']), { CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '0000000000000000' });
  const some = status(['--cap-add', 'net_admin', '--cap-add', 'CAP_SYS_PTRACE', '--cap-drop', 'NET_RAW,mknod']);
  t.deepEqual(namesInMask(some.CapEff!), capabilityNames(resolveCapabilities(['CAP_NET_ADMIN', 'CAP_SYS_PTRACE'], ['CAP_NET_RAW', 'CAP_MKNOD'])));
  t.is(some.CapBnd, some.CapEff);
  const all = status(['--cap-add', 'ALL']);
  t.deepEqual(namesInMask(all.CapEff!), capabilityNames(availableCapabilities()), 'ALL: every capability the runtime has');
  // Each option against a probe it changes: lo's MTU set to what it is, in the container's own network.
  t.is(run(['--cap-add', 'NET_ADMIN', 'ip', 'link', 'set', 'lo', 'mtu', '65536']).status, 0, 'NET_ADMIN given back');
  const chown = run(['--cap-drop', 'CHOWN', 'sh', '-c', 'f=$(mktemp -p /newtemp) && chown 65534 "$f"']);
  t.regex(chown.stderr, /Operation not permitted/, 'CHOWN taken away');
});

test('--security-opt: seccomp=unconfined drops the filter only; no-new-privileges:false drops the flag only, the filter stays', (t) => {
  t.like(status(['--security-opt', 'seccomp=unconfined']), { CapEff: DOCKER_MASK, NoNewPrivs: '1', Seccomp: '0' });
  // Without no_new_privs the filter needs CAP_SYS_ADMIN to go in: it goes in before the capabilities go.
  t.like(status(['--security-opt', 'no-new-privileges:false']), { CapEff: DOCKER_MASK, NoNewPrivs: '0', Seccomp: '2' });
  t.like(status(['--security-opt', 'no-new-privileges']), { NoNewPrivs: '1', Seccomp: '2' });
});

test('--ulimit: NAME=SOFT[:HARD], repeatable; open files 1024 unless said otherwise', (t) => {
  t.is(run(['sh', '-c', 'ulimit -n; ulimit -Hn']).stdout, '1024\n1024\n');
  t.is(run(['--ulimit', 'nofile=512:2048', '--ulimit', 'core=0', 'bash', '-c', 'ulimit -n; ulimit -Hn; ulimit -c']).stdout, '512\n2048\n0\n');
});

test('--verbose: the privilege steps in the order the kernel needs them, after the mounts, before exec', (t) => {
  const result = runStage(stage, ['--verbose', '--network', 'none', '--user', 'nobody', '--read-only', 'true']);
  t.is(result.status, 0, result.stderr);
  const steps = result.stderr.split('\n').filter((line) => line.startsWith('=> '));
  const expected = [
    /^=> create cgroup container-[0-9a-f]{8} \.\.\. ok$/,
    /^=> device rules: .* \.\.\. ok$/,
    /^=> re-execute self as "child" with CLONE_NEWUTS\|CLONE_NEWIPC\|CLONE_NEWPID\|CLONE_NEWNET \.\.\. ok$/,
    /^=> write \d+ to .*cgroup\.procs \.\.\. ok$/,
    /^=> \[child\] wait until the runtime has put this process in the cgroup and connected its network \.\.\. ok$/,
    /^=> \[child\] unshare\(CLONE_NEWCGROUP\): its cgroup is "\/" to it \.\.\. ok$/,
    /^=> \[child\] unshare\(CLONE_NEWNS\): a mount table of its own \.\.\. ok$/,
    /^=> \[child\] pivot_root\("\.", "\."\) \.\.\. ok$/,
    /^=> \[child\] mount sysfs read-only on \/sys \.\.\. ok$/,
    /^=> \[child\] mask runc's paths of \/proc and \/sys .* \.\.\. ok$/,
    /^=> \[child\] make .*\/proc\/sys.* read-only \(those this kernel has\) \.\.\. ok$/,
    /^=> \[child\] mount tmpfs on \/dev\/shm \.\.\. ok$/,
    /^=> \[child\] remount \/ read-only .* \.\.\. ok$/,
    /^=> \[child\] setrlimit\(RLIMIT_NOFILE, 1024:1024\) \.\.\. ok$/,
    /^=> \[child\] prctl\(PR_CAPBSET_DROP\) for each capability but 14 \.\.\. ok$/,
    /^=> \[child\] prctl\(PR_SET_KEEPCAPS, 1\): .* \.\.\. ok$/,
    /^=> \[child\] setgroups\(\[\]\), setgid\(65534\), setuid\(65534\) \.\.\. ok$/,
    /^=> \[child\] capset: .* \.\.\. ok$/,
    /^=> \[child\] prctl\(PR_SET_NO_NEW_PRIVS, 1\): .* \.\.\. ok$/,
    /^=> \[child\] seccomp\(SECCOMP_SET_MODE_FILTER\): \d+ BPF instructions \.\.\. ok$/,
    /^=> \[child\] exec true: it becomes PID 1$/,
    /^=> remove cgroup container-[0-9a-f]{8} \.\.\. ok$/,
  ];
  assertInOrder(t, steps, expected);
});

// #region bad input
/**
 * Runs the stage expecting a refusal: one line, the status, and nothing made: with
 * --verbose every step would have said so.
 */
function refused(t: ExecutionContext, args: readonly string[], exitStatus: number, message: RegExp, launcher: readonly string[] = []) {
  const before = hostNetwork();
  const stageArgs = ['--verbose', ...args, 'true'];
  const result = launcher.length === 0 ? runStage(stage, stageArgs) : launch(launcher, stageArgs);
  t.is(result.status, exitStatus, `${args.join(' ')}: ${result.stderr}`);
  t.regex(result.stderr, message);
  t.is(result.stderr.split('\n').length, 2, `one line, no step: ${result.stderr}`);
  t.deepEqual(hostNetwork(), before);
}

/** The stage started under another command (`unshare -m sh -c ...`), which gets the stage's command line as "$@". */
function launch(launcher: readonly string[], args: readonly string[]) {
  const main = path.join(stage, 'src', 'main.ts');
  const result = spawnSync(launcher[0]!, [...launcher.slice(1), 'sh', process.execPath, '--require', 'tsx/cjs', main, 'run', ...args], {
    cwd: stage,
    encoding: 'utf8',
    timeout: 60_000,
    env: learnerEnvironment(),
  });
  if (result.error) throw result.error;
  return result;
}

test('bad options: an unknown capability, --user, --security-opt or --ulimit: one line, status 2, nothing made', (t) => {
  refused(t, ['--cap-add', 'SUPERPOWER'], 2, /^7-isolate-privileges: unknown capability in --cap-add: SUPERPOWER \(see `man 7 capabilities`, e\.g\. NET_ADMIN\)\n$/);
  refused(t, ['--cap-drop', 'chown,bogus'], 2, /^7-isolate-privileges: unknown capability in --cap-drop: BOGUS /);
  refused(t, ['--user', 'postgres'], 2, /^7-isolate-privileges: --user: no user "postgres" in the image's \/etc\/passwd: give a number, or a name it has\n$/);
  refused(t, ['-u', 'nobody:wheel'], 2, /^7-isolate-privileges: --user: no group "wheel" in the image's \/etc\/group/);
  refused(t, ['--user', ':1000'], 2, /^7-isolate-privileges: --user takes USER\[:GROUP\]/);
  refused(t, ['--security-opt', 'seccomp=/etc/profile.json'], 2, /^7-isolate-privileges: --security-opt seccomp=\/etc\/profile\.json: only seccomp=unconfined is supported/);
  refused(t, ['--security-opt', 'apparmor=unconfined'], 2, /^7-isolate-privileges: --security-opt apparmor=unconfined: not supported here/);
  refused(t, ['--security-opt', 'no-new-privileges:maybe'], 2, /not supported here/);
  refused(t, ['--ulimit', 'files=10'], 2, /^7-isolate-privileges: --ulimit takes NAME=SOFT\[:HARD\]/);
});

const lacking = isRoot ? kernelCapabilities().filter((capability) => !availableCapabilities().includes(capability)) : [];
testIf(lacking.length > 0 || !isRoot, 'this runtime has every capability the kernel knows', test)(
  '--cap-add of a capability the runtime lacks itself: one line, status 125, nothing made',
  (t) => {
    const [name] = capabilityNames(lacking);
    refused(t, ['--cap-add', name!.slice(4)], 125, new RegExp(`^7-isolate-privileges: --cap-add: this runtime does not have ${name} itself, so it cannot give it\\n$`));
  },
);

test('a kernel without seccomp filters (here: its sysctl hidden, in a mount namespace of the test): one line, status 125, nothing made; seccomp=unconfined runs', (t) => {
  const hidden = ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs none /proc/sys/kernel/seccomp && exec "$@"'];
  refused(t, [], 125, /^7-isolate-privileges: this kernel has no seccomp filters \(CONFIG_SECCOMP_FILTER; .*\): use a kernel with them, or run with --security-opt seccomp=unconfined to go without\n$/, hidden);
  const unconfined = launch(hidden, ['--network', 'none', '--security-opt', 'seccomp=unconfined', 'true']);
  t.is(unconfined.status, 0, unconfined.stderr);
});
// #endregion
