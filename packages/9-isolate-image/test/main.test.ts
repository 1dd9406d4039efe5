// Stage 9 from the host's side, as a learner starts it, on the repository's default
// image: everything stage 8 owes a learner without a terminal still holds (stdio,
// statuses, the network, the privileges), and the default tree in rootfs/images/default
// comes out of every run as it went in, whatever the container did to its root. Runs with the default network
// (a bridge) happen in a scratch "host" network namespace, as stage 6's tests do. The
// images made of layers are in overlay.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { containersDir, resolveRootfs } from '@samples/rootfs';
import { leases } from '@samples/runtime';
import { assertInOrder, isRoot, rootTest, runStage, startedRuntimes, testCommonBehaviour, testRootfsCommandLookup } from '@samples/testing';
import { enterScratchHost, leftovers } from '6-isolate-network/test/helpers';
import { snapshot, stage } from './helpers';

const test = rootTest.serial;
if (isRoot) enterScratchHost();
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const DOCKER_MASK = '00000000a80425fb';
const run = (args: readonly string[]) => runStage(stage, ['--network', 'none', ...args]);

/** The default tree as the first test found it: every run of this file must leave it so. */
const defaultTree = isRoot ? snapshot(rootfs) : [];
/** The containers' folders there were before this file's runs (a learner's kept ones, say). */
const containersBefore = isRoot ? listContainers() : [];

function listContainers(): string[] {
  try {
    return fs.readdirSync(containersDir()).sort();
  } catch {
    return [];
  }
}

/** The leases of the runtimes this file started: cgroups and containers' folders. */
function leasesOfOurRuntimes(): string[] {
  return ['cgroups', 'container-layers'].flatMap((kind) =>
    leases<unknown>(kind)
      .filter((lease) => startedRuntimes.has(lease.owner.pid))
      .map((lease) => `${kind}/${lease.id}`),
  );
}

anyTest.after.always("the default tree is untouched; no runtime started here left a folder, a lease, a cgroup or an address", (t) => {
  if (!isRoot) return t.pass();
  t.deepEqual(snapshot(rootfs), defaultTree, 'rootfs/images/default, byte for byte, with its modes, owners and times');
  t.deepEqual(listContainers(), containersBefore);
  t.deepEqual(leasesOfOurRuntimes(), []);
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
});

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

test("stage 6's network holds: with --network none, lo only", (t) => {
  t.is(run(['sh', '-c', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"]).stdout, 'lo\n');
});

test("stage 7's privileges hold: Docker's 14 capabilities, no_new_privs, the filter", (t) => {
  t.is(run(['grep', '-E', '^(CapEff|NoNewPrivs|Seccomp):', '/proc/self/status']).stdout, `CapEff:\t${DOCKER_MASK}\nNoNewPrivs:\t1\nSeccomp:\t2\n`);
});

test("a container that breaks its root breaks nothing: the next one finds the image whole", (t) => {
  const broken = run(['sh', '-c', 'rm -rf /usr/bin /etc/passwd; echo x > /root/x; chmod 700 /tmp; echo /usr/*']);
  t.is(broken.status, 0, broken.stderr);
  t.false(broken.stdout.includes('/usr/bin'), 'gone, inside');
  const next = run(['sh', '-c', 'ls /usr/bin | wc -l; ls -A /root; stat -c %a /tmp; grep -c ^root: /etc/passwd']);
  const root = fs.readdirSync(path.join(rootfs, 'root')).sort();
  t.is(next.stdout, `${fs.readdirSync(path.join(rootfs, 'usr/bin')).length}\n${root.map((name) => `${name}\n`).join('')}1777\n1\n`);
  t.deepEqual(snapshot(rootfs), defaultTree);
});

test('--keep: one line says where the changes are and how to remove them; the upper layer holds exactly them', (t) => {
  const result = run(['--keep', 'sh', '-c', 'rm /etc/hostname; echo x > /tmp/x']);
  t.is(result.status, 0, result.stderr);
  const said = /^9-isolate-image: the container's changes are kept in (\S+)\/upper \(whiteouts are 0\/0 character devices\); remove them with: rm -rf (\S+)\n$/.exec(result.stderr);
  t.truthy(said, result.stderr);
  const [, folder, remove] = said!;
  t.is(folder, remove);
  t.is(path.dirname(folder!), containersDir());
  const upper = path.join(folder!, 'upper');
  const changes = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const file = path.join(dir, entry.name);
      return entry.isDirectory() ? [`${path.relative(upper, file)}/`, ...changes(file)] : [path.relative(upper, file)];
    });
  t.deepEqual(changes(upper).sort(), ['etc/', 'etc/hostname', 'tmp/', 'tmp/x']);
  t.is(fs.lstatSync(path.join(upper, 'etc/hostname')).rdev, 0, 'a whiteout: a 0/0 character device');
  fs.rmSync(folder!, { recursive: true });
});

test('--read-only: the overlay is remounted read-only as stage 7 remounts the root; the upper layer stays empty', (t) => {
  const result = run(['--read-only', '--keep', 'sh', '-c', 'touch /file; touch /newtemp/file && echo "/newtemp: written"']);
  t.regex(result.stderr, /^touch: cannot touch '\/file': Read-only file system\n/);
  t.is(result.stdout, '/newtemp: written\n');
  const folder = /kept in (\S+)\/upper/.exec(result.stderr)?.[1];
  t.truthy(folder, result.stderr);
  t.deepEqual(fs.readdirSync(path.join(folder!, 'upper')), []);
  fs.rmSync(folder!, { recursive: true });
});

test('--verbose: the folder first; the overlay between the private mount namespace and the root; the folder removed last', (t) => {
  const result = runStage(stage, ['--verbose', '--network', 'none', 'true']);
  t.is(result.status, 0, result.stderr);
  const steps = result.stderr.split('\n').filter((line) => line.startsWith('=> '));
  const expected = [
    /^=> the container's folder: \S+\/containers\/[0-9a-f]{12} \(upper, work, merged; lower\/0\.\.0: the image's layers\)$/,
    /^=> create cgroup container-[0-9a-f]{8} \.\.\. ok$/,
    /^=> re-execute self as "child" with /,
    /^=> \[child\] unshare\(CLONE_NEWNS\): a mount table of its own \.\.\. ok$/,
    /^=> \[child\] mount\("\/", MS_REC\|MS_PRIVATE\): stop mount propagation to and from the host \.\.\. ok$/,
    /^=> \[child\] mount overlay on \S+\/containers\/[0-9a-f]{12}\/merged \(lowerdir=lower\/0,upperdir=upper,workdir=work\) \.\.\. ok$/,
    /^=> \[child\] sethostname\("container"\) \.\.\. ok$/,
    /^=> \[child\] mount\("\S+\/containers\/[0-9a-f]{12}\/merged", MS_BIND\|MS_REC\) \.\.\. ok$/,
    /^=> \[child\] pivot_root\("\.", "\."\) \.\.\. ok$/,
    /^=> \[child\] seccomp\(SECCOMP_SET_MODE_FILTER\): \d+ BPF instructions \.\.\. ok$/,
    /^=> \[child\] exec true: it becomes PID 1$/,
    /^=> remove cgroup container-[0-9a-f]{8} \.\.\. ok$/,
    /^=> remove \S+\/containers\/[0-9a-f]{12} \.\.\. ok$/,
  ];
  assertInOrder(t, steps, expected);
});

/** Runs the stage expecting a refusal: one line, the status, no step taken (with --verbose each would say so), no folder made. */
function refused(t: ExecutionContext, args: readonly string[], exitStatus: number, message: RegExp) {
  const result = runStage(stage, ['--verbose', '--network', 'none', ...args]);
  t.is(result.status, exitStatus, `${args.join(' ')}: ${result.stderr}`);
  t.regex(result.stderr, message);
  t.is(result.stderr.split('\n').length, 2, `one line, no step: ${result.stderr}`);
  t.deepEqual(listContainers(), containersBefore);
}

test('bad options: --rm with --keep, a user the image lacks, no command and no Cmd: one line, status 2, nothing made', (t) => {
  refused(t, ['--rm', '--keep', 'true'], 2, /^9-isolate-image: --rm and --keep ask for opposite things: give one \(--rm is the default\)\n$/);
  refused(t, ['--user', 'postgres', 'true'], 2, /^9-isolate-image: --user: no user "postgres" in the image's \/etc\/passwd/);
  refused(t, [], 2, /^9-isolate-image: no command given, and the image names none \(no Cmd in its config\): try `pnpm --filter 9-isolate-image start \/bin\/bash`, or see --help\n$/);
});
