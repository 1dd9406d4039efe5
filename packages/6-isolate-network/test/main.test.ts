// Stage 6 from the host's side: whole runtimes, started as a learner starts them, inside
// a scratch "host". This test process moves into a network namespace of its own first,
// and every runtime it starts (and `ip`) starts there too: the bridge, the NAT table and
// ip_forward they change are the scratch host's, never the real one's, and a learner's
// container may run on the real host meanwhile. The traffic goes to loopback or to
// addresses inside the namespaces made here. (test/host.test.ts has the one test on the
// real host.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { leases } from '@samples/runtime';
import { NETLINK_NETFILTER, NFPROTO_IPV4, NetlinkSocket, deleteTable, newTable, nftBatch } from '@samples/syscalls';
import {
  assertInOrder,
  collectOutput,
  containerPid,
  isRoot,
  rootTest,
  runStage,
  startedRuntimes,
  startNamespaceHolder,
  startStage,
  startStageUntilReady,
  tcpServerScript,
  testCommonBehaviour,
  testIf,
  testRootfsCommandLookup,
  waitFor,
} from '@samples/testing';
import { CGROUP_ROOT, detectLayout, parseProcCgroup } from '5-isolate-cgroup/cgroup';
import {
  TOOLS_MISSING,
  added,
  enterScratchHost,
  forwarding,
  hostNetwork,
  httpGet,
  httpGetFrom,
  inRootfs,
  ip,
  leftovers,
  removed,
  stage,
  startServing,
  tables,
} from './helpers';

const test = rootTest.serial;
if (isRoot) enterScratchHost();
// Built on first use: only where the tests that use it run.
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const layout = isRoot ? detectLayout() : 'v1';

const hasTools = isRoot && inRootfs(rootfs, 'ip') && inRootfs(rootfs, 'busybox');
const withTools = testIf(hasTools || !isRoot, TOOLS_MISSING, test);


/** The cgroups leased by the runtimes this file started. */
function cgroupsOfOurRuntimes(): string[] {
  return leases<{ paths: string[] }>('cgroups')
    .filter((lease) => startedRuntimes.has(lease.owner.pid))
    .flatMap(({ data }) => data.paths);
}

anyTest.after.always('no runtime started here left a cgroup, an address, a bridge, a table or forwarding on', (t) => {
  if (!isRoot) return t.pass();
  t.deepEqual(cgroupsOfOurRuntimes(), []);
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
  t.false(ip('-o', 'link').includes('samples0'));
  t.deepEqual(tables(), []);
  t.is(forwarding(), '0');
});

testCommonBehaviour(stage, test);
testRootfsCommandLookup(stage, test);

withTools('the container sees only its own links: lo and eth0, up; /proc/net/dev agrees', (t) => {
  const result = runStage(stage, ['sh', '-c', 'ip -br link; ip -4 -br addr; ip route; tail -n +3 /proc/net/dev | cut -d: -f1']);
  t.is(result.status, 0, result.stderr);
  // (eth0@ifN: N is the index of its peer, the veth on the host; ip prints the MAC too)
  const lines = result.stdout.split('\n').map((line) => line.trim().replace(/ +/g, ' ').replace(/@if\d+/, '@ifN'));
  t.deepEqual(lines.map((line) => line.replace(/ (?!00:00:00:00:00:00)([0-9a-f]{2}:){5}[0-9a-f]{2} /, ' MAC ')), [
    'lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>',
    'eth0@ifN UP MAC <BROADCAST,MULTICAST,UP,LOWER_UP>',
    'lo UNKNOWN 127.0.0.1/8',
    'eth0@ifN UP 10.22.0.2/24',
    'default via 10.22.0.1 dev eth0',
    '10.22.0.0/24 dev eth0 proto kernel scope link src 10.22.0.2',
    'lo',
    'eth0',
    '',
  ]);
});

withTools("the host's links, addresses and routes: while a container runs, the bridge and its port more; afterwards as before", async (t) => {
  const before = hostNetwork();
  const serving = await startServing(t);
  const during = hostNetwork();
  const newLinks = added(before.links, during.links).map((line) => line.split(': ')[1]!.split('@')[0]!);
  t.is(newLinks.length, 2, newLinks.join(' '));
  t.true(newLinks.includes('samples0'));
  t.regex(newLinks.find((name) => name !== 'samples0')!, /^veth[0-9a-f]{7}$/);
  t.regex(ip('-o', 'link', 'show', 'master', 'samples0'), /^\d+: veth[0-9a-f]{7}@if\d+: .* master samples0 state UP /, "the veth is the bridge's port");
  t.deepEqual(removed(before.links, during.links), []);
  t.true(added(before.addresses, during.addresses).some((line) => /samples0 +inet 10\.22\.0\.1\/24 /.test(line)));
  t.true(added(before.addresses, during.addresses).every((line) => /^\d+: (samples0|veth[0-9a-f]{7}) /.test(line)), 'addresses only on them');
  t.true(added(before.routes, during.routes).every((line) => /\b(samples0|veth[0-9a-f]{7})\b/.test(line)), 'routes only through them');
  t.deepEqual(removed(before.addresses, during.addresses), []);
  t.deepEqual(removed(before.routes, during.routes), []);
  t.is(during.forwarding, '1');
  t.deepEqual(during.tables, [...before.tables, 'ip samples0']);
  t.is(await serving.stop(), 143);
  t.deepEqual(hostNetwork(), before, 'exactly as before');
});

withTools('the host reaches a TCP server in the container at its address, and through --publish on its own port', async (t) => {
  const serving = await startServing(t, ['-p', '8080:80', '--publish', '8081:80']);
  t.is(serving.address, '10.22.0.2');
  t.is(await httpGet(`http://${serving.address}/`), 'hello from the container\n', 'directly');
  t.is(await httpGet('http://127.0.0.1:8080/'), 'hello from the container\n', 'through --publish, on loopback');
  t.is(await httpGet('http://127.0.0.1:8081/'), 'hello from the container\n', 'a second --publish');
  t.is(await serving.stop(), 143);
  await t.throwsAsync(httpGet('http://127.0.0.1:8080/'), { code: 'ECONNREFUSED' }, 'the port is closed with the container');
});

withTools('two containers reach each other, each at its own address', async (t) => {
  const first = await startServing(t);
  const second = await startServing(t);
  t.deepEqual([first.address, second.address], ['10.22.0.2', '10.22.0.3']);
  t.is(httpGetFrom(containerPid(first.runtime), `http://${second.address}/`), 'hello from the container\n', 'the first reaches the second');
  t.is(httpGetFrom(containerPid(second.runtime), `http://${first.address}/`), 'hello from the container\n', 'the second reaches the first');
  const third = runStage(stage, ['wget', '-qO-', '-T', '5', `http://${second.address}/`]);
  t.is(third.stdout, 'hello from the container\n', `a third, with the root filesystem's wget: ${third.stderr}`);
  t.deepEqual(await Promise.all([first.stop(), second.stop()]), [143, 143]);
});

withTools('--network none: only lo, up, and no route', (t) => {
  const result = runStage(stage, ['--network', 'none', 'sh', '-c', 'ip -br link; ip route; ip -4 -br addr']);
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.replace(/ +/g, ' '), 'lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP> \nlo UNKNOWN 127.0.0.1/8 \n');
  t.false(ip('-o', 'link').includes('samples0'), 'no bridge was made');
});

withTools("--network host: the host's links, as stages 0-5 have them", (t) => {
  // (this kernel may lack the dummy driver: a bridge stands for the host's own link)
  const own = `own${process.pid % 10_000}`;
  t.is(spawnSync('ip', ['link', 'add', own, 'type', 'bridge']).status, 0);
  t.teardown(() => spawnSync('ip', ['link', 'del', own]));
  const result = runStage(stage, ['--network', 'host', 'ip', '-o', 'link']);
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout, ip('-o', 'link'));
  t.true(result.stdout.includes(`: ${own}: `));
});

withTools('NAT: a container reaches "the internet" through the host, which the server sees as the source; nothing of it is left', async (t) => {
  // "The internet": a namespace with 198.51.100.1 (TEST-NET-2), linked to the scratch
  // host's uplink at 198.51.100.2, with no route back to the containers' subnet.
  const internet = await startNamespaceHolder(t);
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  t.is(sh(`ip link add uplink0 type veth peer name wan0 netns ${internet.pid} && ip addr add 198.51.100.2/24 dev uplink0 && ip link set uplink0 up`).status, 0);
  t.teardown(() => sh('ip link del uplink0'));
  t.is(internet.run('sh', ['-c', 'ip addr add 198.51.100.1/24 dev wan0 && ip link set wan0 up && ip link set lo up']).status, 0);
  const server = internet.start(process.execPath, ['-e', tcpServerScript('198.51.100.1', 8000, 'the internet saw')]);
  const output = collectOutput(server);
  await waitFor('the server in "the internet" to listen', () => output.text.includes('listening'), 10_000);
  const before = hostNetwork();

  const result = runStage(stage, ['busybox', 'nc', '-w', '5', '198.51.100.1', '8000']);
  t.is(result.stdout, 'the internet saw 198.51.100.2', `masqueraded to the uplink address: ${result.stderr}`);
  t.deepEqual(hostNetwork(), before, 'the masquerade table and the forwarding setting are gone');
  t.deepEqual(before.tables, []);
  t.is(before.forwarding, '0');
});

withTools('containers started at the same moment get different addresses; the last one out takes the bridge down', async (t) => {
  const runtimes = Array.from({ length: 4 }, () => startStage(stage, ['sh', '-c', 'trap "exit 143" TERM; ip -4 -o addr show eth0; sleep 60 & wait']));
  const outputs = runtimes.map((runtime) => collectOutput(runtime));
  const exited = runtimes.map((runtime) => new Promise((resolve) => runtime.once('exit', resolve)));
  t.teardown(() => runtimes.forEach((runtime) => runtime.kill('SIGKILL')));
  await waitFor('four containers to print their address', () => outputs.every((output) => output.text.includes('inet ')), 30_000, () =>
    outputs.map((output) => output.text).join('\n'),
  );
  const addresses = outputs.map((output) => /inet (\S+)\//.exec(output.text)![1]!);
  t.deepEqual([...addresses].sort(), ['10.22.0.2', '10.22.0.3', '10.22.0.4', '10.22.0.5']);
  t.deepEqual(leftovers().leases.sort(), [...addresses].sort(), 'a lease each');
  for (const runtime of runtimes) runtime.kill('SIGTERM');
  t.deepEqual(await Promise.all(exited), [143, 143, 143, 143]);
  t.false(ip('-o', 'link').includes('samples0'));
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
});

withTools('a runtime killed with SIGKILL takes its container along; the next run, in any mode, sweeps what it left', async (t) => {
  const before = hostNetwork();
  const { runtime, exited } = await startStageUntilReady(stage, ['sh', '-c', 'echo ready; sleep 60']);
  const container = containerPid(runtime);
  runtime.kill('SIGKILL');
  await exited;
  await waitFor('the container to die with its runtime (PR_SET_PDEATHSIG)', () => !fs.existsSync(`/proc/${container}`));
  t.true(ip('-o', 'link').includes('samples0'), 'left: the bridge');
  t.deepEqual(tables(), ['ip samples0'], 'left: the NAT table');
  t.is(forwarding(), '1', 'left: forwarding');
  t.deepEqual(leftovers(), { leases: ['10.22.0.2'], stateDirectory: true }, 'left: its lease');
  const next = runStage(stage, ['--network', 'none', '--verbose', 'true']);
  t.is(next.status, 0, next.stderr);
  t.regex(next.stderr, /^=> sweep what a runtime killed with SIGKILL left: remove samples0 and its NAT table, restore forwarding \.\.\. ok$/m);
  t.deepEqual(hostNetwork(), before, 'all gone');
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
});

withTools('a stop signal at any moment of the start-up leaves nothing behind', async (t) => {
  const before = hostNetwork();
  for (let delay = 0; delay <= 700; delay += 100) {
    const runtime = startStage(stage, ['-p', '8080:80', 'sh', '-c', 'trap "exit 143" TERM; sleep 30 & wait']);
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => runtime.once('exit', (code, signal) => resolve([code, signal])));
    await new Promise((resolve) => setTimeout(resolve, delay));
    runtime.kill('SIGTERM');
    const [code, signal] = await exited;
    t.true(code === 143 || code === 137 || signal === 'SIGTERM', `after ${delay} ms: ${code ?? signal}`);
    t.deepEqual(hostNetwork(), before, `after ${delay} ms: the host as before`);
    t.deepEqual(leftovers(), { leases: [], stateDirectory: false }, `after ${delay} ms: no lease`);
  }
});

withTools('--verbose: each network step is one line, in the order the kernel needs them', (t) => {
  const result = runStage(stage, ['--verbose', '-p', '8080:80', 'true']);
  t.is(result.status, 0, result.stderr);
  const steps = result.stderr.split('\n').filter((line) => line.startsWith('=> '));
  const expected = [
    /^=> listen on host port 8080 for --publish 8080:80 \.\.\. ok$/,
    /^=> check the host's routes for one that overlaps 10\.22\.0\.0\/24 \(RTM_GETROUTE\) \.\.\. ok$/,
    /^=> create bridge samples0, up, with 10\.22\.0\.1\/24 \(RTM_NEWLINK, RTM_NEWADDR\) \.\.\. ok$/,
    /^=> masquerade 10\.22\.0\.0\/24 going out through any link but samples0 \(nf_tables: table ip samples0, one batch\) \.\.\. ok$/,
    /^=> turn on IPv4 forwarding \(\/proc\/sys\/net\/ipv4\/ip_forward: 1\) \.\.\. ok$/,
    /^=> take a free address of 10\.22\.0\.0\/24 \(a lease in \/run\/ts-container-samples\/net-\d+\) \.\.\. ok$/,
    /^=> re-execute self as "child" with CLONE_NEWUTS\|CLONE_NEWPID\|CLONE_NEWNET \.\.\. ok$/,
    /^=> write \d+ to .*cgroup\.procs \.\.\. ok$/,
    /^=> create veth pair veth[0-9a-f]{7} \(up, a port of the bridge\) and eth0 \(in the container\) \(RTM_NEWLINK\) \.\.\. ok$/,
    /^=> open a netlink socket in the container's network namespace \(setns to \/proc\/\d+\/ns\/net and back\) \.\.\. ok$/,
    /^=> bring up lo and eth0 in the container \(RTM_NEWLINK\) \.\.\. ok$/,
    /^=> add 10\.22\.0\.2\/24 to eth0 \(RTM_NEWADDR\) \.\.\. ok$/,
    /^=> add a default route via 10\.22\.0\.1 \(RTM_NEWROUTE\) \.\.\. ok$/,
    /^=> relay host port 8080 to 10\.22\.0\.2:80 \.\.\. ok$/,
    /^=> \[child\] wait until the runtime has put this process in the cgroup and connected its network \.\.\. ok$/,
    /^=> \[child\] exec true: it becomes PID 1$/,
    /^=> remove cgroup container-[0-9a-f]{8} \.\.\. ok$/,
    /^=> delete veth[0-9a-f]{7}, and the container's eth0 with it \(RTM_DELLINK\) \.\.\. ok$/,
    /^=> last container out: remove samples0 and its NAT table, restore forwarding \.\.\. ok$/,
  ];
  // In this order, with stage 5's steps (cgroup, mounts) in between.
  assertInOrder(t, steps, expected);
});

// #region bad input
/** Runs the stage expecting a refusal: one line, the status, and the scratch host as it was. */
function refused(t: ExecutionContext, args: string[], status: number, message: RegExp) {
  const before = hostNetwork();
  const result = runStage(stage, [...args, 'true']);
  t.is(result.status, status, `${args.join(' ')}: ${result.stderr}`);
  t.regex(result.stderr, message);
  t.is(result.stderr.split('\n').length, 2, `one line: ${result.stderr}`);
  t.deepEqual(hostNetwork(), before, `${args.join(' ')}: nothing left`);
  t.deepEqual(leftovers(), { leases: [], stateDirectory: false });
}

test('bad options: an unknown --network, a malformed, privileged or out-of-range port, a bad subnet: one line, status 2', (t) => {
  refused(t, ['--network', 'overlay'], 2, /^6-isolate-network: --network overlay: choose bridge \(the default\), none or host\n$/);
  refused(t, ['-p', '8080'], 2, /^6-isolate-network: --publish 8080: give HOST:CONTAINER, two TCP ports, like --publish 8080:80\n$/);
  refused(t, ['-p', '80:80'], 2, /host port 80 is privileged \(below 1024\): choose one from 1024 to 65535\n$/);
  refused(t, ['-p', '8080:70000'], 2, /port 70000 is out of range: ports go from 1 to 65535\n$/);
  refused(t, ['--subnet', '10.22.0.5/24'], 2, /--subnet 10\.22\.0\.5\/24: that is an address, not a network: did you mean 10\.22\.0\.0\/24\?\n$/);
  refused(t, ['--network', 'host', '-p', '8080:80'], 2, /--publish is for --network bridge/);
});

test('a host port in use: one line that names it, status 125, nothing made', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(8090, resolve));
  t.teardown(() => taken.close());
  refused(t, ['-p', '8090:80'], 125, /^6-isolate-network: --publish 8090:80: host port 8090 is in use: choose another\n$/);
});

test("a subnet that clashes with the host's routes: one line, status 2, nothing made; --subnet another works", (t) => {
  t.is(spawnSync('sh', ['-c', 'ip link add clash0 type bridge && ip link set clash0 up && ip route add 10.22.0.0/16 dev clash0']).status, 0);
  t.teardown(() => spawnSync('ip', ['link', 'del', 'clash0']));
  refused(t, [], 2, /^6-isolate-network: the subnet 10\.22\.0\.0\/24 overlaps the host's route to 10\.22\.0\.0\/16 \(dev clash0\): choose another with --subnet, like --subnet 10\.123\.0\.0\/24\n$/);
  const other = runStage(stage, ['--subnet', '10.123.0.0/24', 'true']);
  t.is(other.status, 0, other.stderr);
});

test('a link named like the bridge that is no bridge: one line, status 125, nothing made', (t) => {
  t.is(spawnSync('ip', ['link', 'add', 'samples0', 'type', 'veth', 'peer', 'name', 'samples0-peer']).status, 0);
  t.teardown(() => spawnSync('ip', ['link', 'del', 'samples0']));
  refused(t, [], 125, /^6-isolate-network: a link named samples0 exists and is not a bridge \(veth\): remove it, or rename it\n$/);
});
// #endregion

withTools("NAT out of reach (here: a table of that name is someone else's): one line, and the container starts all the same", (t) => {
  const netfilter = NetlinkSocket.open(NETLINK_NETFILTER);
  t.teardown(() => netfilter.close());
  nftBatch(netfilter, [newTable(NFPROTO_IPV4, 'samples0')]);
  t.teardown(() => nftBatch(netfilter, [deleteTable(NFPROTO_IPV4, 'samples0')]));
  const before = hostNetwork();
  const result = runStage(stage, ['ip', '-4', '-br', 'addr', 'show', 'eth0']);
  t.is(result.status, 0);
  t.regex(result.stdout, /^eth0@if\d+ +UP +10\.22\.0\.2\/24 $/m, 'connected');
  t.is(
    result.stderr,
    "6-isolate-network: no outbound NAT for 10.22.0.0/24: an nftables table of that name is someone else's, EEXIST: file exists, NFT_MSG_NEWTABLE 'samples0'; containers reach the host and each other, not beyond\n",
  );
  t.deepEqual(hostNetwork(), before, "the other table is left as it was, and nothing of ours is left");
});

test('the container runs in a cgroup of its own with the limits asked for, removed afterwards (stage 5)', async (t) => {
  const { runtime, exited, output } = await startStageUntilReady(stage, [
    '--memory', '100m', '--pids', '64',
    'sh', '-c', 'trap "exit 143" TERM; cat /proc/self/cgroup; echo ready; sleep 30 & wait',
  ]);
  const entries = parseProcCgroup(output.text.replace('ready\n', ''));
  const dirOf = (controller: string) =>
    layout === 'v2'
      ? path.join(CGROUP_ROOT, entries.find((entry) => entry.controllers.length === 0)!.path)
      : path.join(CGROUP_ROOT, controller, entries.find((entry) => entry.controllers.includes(controller))!.path);
  const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
  t.regex(path.basename(dirOf('memory')), /^container-[0-9a-f]{8}$/);
  t.is(read(dirOf('memory'), layout === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(100 * 1024 ** 2));
  t.is(read(dirOf('pids'), 'pids.max'), '64');
  runtime.kill('SIGTERM');
  t.is(await exited, 143);
  t.false(fs.existsSync(dirOf('memory')));
  t.false(fs.existsSync(dirOf('pids')));
});

test('everything of stage 4 holds: PID 1, hostname, its own mounts', (t) => {
  const result = runStage(stage, ['sh', '-c', 'echo $$; hostname; grep -c " /newtemp " /proc/self/mountinfo']);
  t.is(result.stdout, '1\ncontainer\n1\n');
});
