// Stage 6's network pieces, called as the runtime calls them, inside a scratch "host":
// this test process moves into a network namespace of its own first, so the bridge, the
// nftables table and ip_forward it changes are the scratch host's, never the real one's.
// Containers are `unshare -n sleep` processes; "the internet" is one more namespace, with
// a server at 198.51.100.1 (TEST-NET-2) that has no route back to the containers' subnet.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  CLONE_NEWNET,
  NETLINK_NETFILTER,
  NFPROTO_IPV4,
  NF_ACCEPT,
  NF_DROP,
  NF_INET_FORWARD,
  NetlinkSocket,
  deleteTable,
  listTables,
  newChain,
  newRule,
  newTable,
  nftBatch,
  verdictExpression,
} from '@samples/syscalls';
import { CliError, spawnInNamespaces } from '@samples/runtime';
import {
  collectOutput,
  isRoot,
  type NamespaceHolder,
  rootTest,
  startNamespaceHolder,
  tcpRequest,
  tcpServerScript,
  learnerEnvironment,
  waitFor,
} from '@samples/testing';
import type { ExecutionContext } from 'ava';
import { reserveAddress } from '../src/network';
import { enterScratchHost } from './helpers';
import { listenForPublish } from '../src/network/publish';
import { leaseKind, stateDirectory } from '../src/network/state';
import { parseSubnet } from '../src/network/subnet';
import { bringUpLoopback } from '../src/network/veth';

if (isRoot) enterScratchHost();

const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });
const forwarding = () => fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
const acceptRedirects = () => fs.readFileSync('/proc/sys/net/ipv4/conf/all/accept_redirects', 'utf8').trim();
const hasLink = (name: string) => spawnSync('ip', ['link', 'show', name], { encoding: 'utf8' }).status === 0;
/** nftables' tables, over netlink (nft itself may not be installed). */
function tables(): string[] {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    return listTables(netlink).map((table) => `${table.family === NFPROTO_IPV4 ? 'ip' : table.family} ${table.name}`);
  } finally {
    netlink.close();
  }
}
const hasNft = spawnSync('nft', ['--version']).status === 0;
const ruleset = () => spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout;
function nftables(messages: Parameters<typeof nftBatch>[1]) {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    nftBatch(netlink, messages);
  } finally {
    netlink.close();
  }
}

/** The scratch host as the runtime found it: what must be true again after the last container. */
function assertHostRestored(t: ExecutionContext, before: { forwarding: string; acceptRedirects: string }) {
  t.false(hasLink('samples0'), 'no bridge');
  t.deepEqual(tables(), [], 'no nftables table');
  t.is(forwarding(), before.forwarding, 'ip_forward as it was');
  t.is(acceptRedirects(), before.acceptRedirects, 'conf/all/accept_redirects as it was');
  t.false(fs.existsSync(stateDirectory(leaseKind())), 'no state directory');
  t.deepEqual(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => /veth/.test(line)), [], 'no veth');
}

/** Starts a one-connection TCP server inside `holder`, resolved once it listens. */
async function serveInside(holder: NamespaceHolder, address: string, port: number, reply: string) {
  const server = holder.start(process.execPath, ['-e', tcpServerScript(address, port, reply)]);
  const output = collectOutput(server);
  await waitFor(`the server at ${address}:${port} to listen`, () => output.text.includes('listening'), 10_000);
  return server;
}

/** A TCP request made from inside `holder`'s namespace: what the server answered. */
function requestFrom(holder: NamespaceHolder, address: string, port: number): string {
  const script = `require('net').connect(${port}, '${address}').on('data', (d) => process.stdout.write(d)).on('error', (e) => { console.error(e.message); process.exit(1); }).setTimeout(3000, () => { console.error('timed out'); process.exit(2); });`;
  const result = holder.run(process.execPath, ['-e', script]);
  return `${result.stdout}${result.stderr}`;
}

rootTest.serial('a container: eth0 with an address and a default route; it and the host reach each other; two containers reach each other', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  // A hardened host: writing ip_forward would flip this one, unless it is put back.
  fs.writeFileSync('/proc/sys/net/ipv4/conf/all/accept_redirects', '0');
  before.acceptRedirects = '0';
  const first = await startNamespaceHolder(t);
  const second = await startNamespaceHolder(t);
  const leases = [reserveAddress(), reserveAddress()];
  t.teardown(() => leases.forEach((lease) => lease.release()));
  leases[0]!.connect(first.pid);
  leases[1]!.connect(second.pid);
  t.deepEqual(leases.map((lease) => lease.address), ['10.22.0.2', '10.22.0.3']);

  t.regex(first.run('ip', ['-br', '-4', 'addr']).stdout, /^lo +UNKNOWN +127\.0\.0\.1\/8 \neth0@if\d+ +UP +10\.22\.0\.2\/24 \n$/);
  // proto boot, as `ip route add` makes it, is the one ip does not print
  t.regex(first.run('ip', ['route']).stdout, /^default via 10\.22\.0\.1 dev eth0 \n10\.22\.0\.0\/24 dev eth0 proto kernel scope link src 10\.22\.0\.2 \n$/);
  t.deepEqual((first.run('ip', ['-o', 'link']).stdout).trim().split('\n').map((line) => line.split(':')[1]!.trim().split('@')[0]), ['lo', 'eth0'], 'only its own links');
  t.regex(sh('ip -br -4 addr show samples0').stdout, /samples0 +UP +10\.22\.0\.1\/24/);
  t.is(forwarding(), '1');
  t.deepEqual(tables(), ['ip samples0']);
  if (hasNft) t.regex(ruleset(), /table ip samples0 \{\n\tchain postrouting \{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 10\.22\.0\.0\/24 oifname != "samples0" masquerade\n/);

  await serveInside(first, '10.22.0.2', 7000, 'container 1 saw');
  t.is(await tcpRequest('10.22.0.2', 7000), 'container 1 saw 10.22.0.1', 'host to container, from the bridge address');
  await serveInside(first, '10.22.0.2', 7001, 'container 1 saw');
  t.is(requestFrom(second, '10.22.0.2', 7001), 'container 1 saw 10.22.0.3', 'container to container, not masqueraded');
  const hostServer = spawn(process.execPath, ['-e', tcpServerScript('10.22.0.1', 7002, 'host saw')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => hostServer.kill('SIGKILL'));
  const hostOutput = collectOutput(hostServer);
  await waitFor('the server on the host to listen', () => hostOutput.text.includes('listening'), 10_000);
  t.is(requestFrom(first, '10.22.0.1', 7002), 'host saw 10.22.0.2', 'container to host');

  leases[0]!.release();
  t.true(hasLink('samples0'), 'the bridge stays while a container uses it');
  t.is(forwarding(), '1');
  leases[1]!.release();
  assertHostRestored(t, before);
});

rootTest.serial('outbound NAT: a container reaches "the internet" through the host, which the server sees as the source', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  const internet = await startNamespaceHolder(t);
  // The scratch host's uplink: 198.51.100.2 here, 198.51.100.1 there; no route back to 10.22.0.0/24 there.
  t.is(sh(`ip link add uplink0 type veth peer name wan0 netns ${internet.pid} && ip addr add 198.51.100.2/24 dev uplink0 && ip link set uplink0 up`).status, 0);
  t.teardown(() => sh('ip link del uplink0'));
  t.is(internet.run('sh', ['-c', 'ip addr add 198.51.100.1/24 dev wan0 && ip link set wan0 up && ip link set lo up']).status, 0);
  t.regex(internet.run('ip', ['route']).stdout, /^198\.51\.100\.0\/24 dev wan0 proto kernel scope link src 198\.51\.100\.1 \n$/, 'the only route out there');

  const container = await startNamespaceHolder(t);
  const lease = reserveAddress();
  t.teardown(() => lease.release());
  lease.connect(container.pid);
  await serveInside(internet, '198.51.100.1', 8000, 'the internet saw');
  t.is(requestFrom(container, '198.51.100.1', 8000), 'the internet saw 198.51.100.2', 'masqueraded to the host uplink address');
  lease.release();
  assertHostRestored(t, before);
  await serveInside(internet, '198.51.100.1', 8001, 'the internet saw');
  t.regex(requestFrom(container, '198.51.100.1', 8001), /ENETUNREACH|EHOSTUNREACH|connect/, 'the container is cut off once released');
});

/** A runtime (test/fixtures/lease.ts) ready to reserve an address; `go()` makes it, and resolves with the address. */
async function startLeaseHolder(): Promise<{ child: ChildProcess; go(): Promise<string> }> {
  const fixture = path.join(__dirname, 'fixtures', 'lease.ts');
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', fixture], { stdio: ['pipe', 'pipe', 'inherit'], env: learnerEnvironment() });
  const output = collectOutput(child);
  await waitFor('a lease holder to load', () => output.text.includes('ready\n'), 30_000);
  return {
    child,
    async go() {
      child.stdin.write('go');
      await waitFor('a lease holder to print its address', () => /ready\n.+\n/.test(output.text), 30_000);
      return output.text.split('\n')[1]!;
    },
  };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

rootTest.serial('runtimes started at the same moment never get the same address; the last one out restores the host', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  const holders = await Promise.all(Array.from({ length: 6 }, () => startLeaseHolder()));
  t.teardown(() => holders.forEach(({ child }) => child.kill('SIGKILL')));
  // All six loaded; now all reserve at once.
  const addresses = await Promise.all(holders.map((holder) => holder.go()));
  t.is(new Set(addresses).size, 6, `six different addresses: ${addresses.join(' ')}`);
  t.deepEqual([...addresses].sort(), ['10.22.0.2', '10.22.0.3', '10.22.0.4', '10.22.0.5', '10.22.0.6', '10.22.0.7']);
  t.true(hasLink('samples0'));
  for (const { child } of holders) {
    child.stdin!.end();
    await exited(child);
  }
  assertHostRestored(t, before);
});

rootTest.serial('a SIGKILLed runtime leaves the bridge, the table and ip_forward; the next run sweeps them', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  const killed = await startLeaseHolder();
  t.teardown(() => killed.child.kill('SIGKILL'));
  t.is(await killed.go(), '10.22.0.2');
  killed.child.kill('SIGKILL');
  await exited(killed.child);
  t.true(hasLink('samples0'), 'left behind: the bridge');
  t.deepEqual(tables(), ['ip samples0'], 'left behind: the NAT table');
  t.is(forwarding(), '1', 'left behind: forwarding');
  t.deepEqual(fs.readdirSync(stateDirectory(leaseKind())).filter((name) => !name.startsWith('.')), ['10.22.0.2'], 'left behind: its lease');

  const next = reserveAddress();
  t.is(next.address, '10.22.0.2', 'the dead runtime lease was swept');
  next.release();
  assertHostRestored(t, before);
});

rootTest.serial('a subnet clashing with the host routes: one line, nothing made; --subnet another works', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  t.is(sh('ip link add clash0 type bridge && ip link set clash0 up && ip route add 10.22.0.0/16 dev clash0').status, 0);
  t.teardown(() => sh('ip link del clash0'));
  const error = t.throws(() => reserveAddress(), { instanceOf: CliError });
  t.is(error.message, "the subnet 10.22.0.0/24 overlaps the host's route to 10.22.0.0/16 (dev clash0): choose another with --subnet, like --subnet 10.123.0.0/24");
  t.is(error.exitStatus, 2);
  assertHostRestored(t, before);

  const lease = reserveAddress({ subnet: parseSubnet('10.123.0.0/24') });
  t.teardown(() => lease.release());
  t.is(lease.address, '10.123.0.2');
  const other = t.throws(() => reserveAddress({ subnet: parseSubnet('10.22.0.0/24') }), { instanceOf: CliError });
  t.is(other.message, 'the bridge samples0 is in use with subnet 10.123.0.0/24: use that one (no --subnet), or wait until its containers end');
  const same = reserveAddress();
  t.is(same.address, '10.123.0.3', 'no --subnet: the one in use');
  same.release();
  lease.release();
  assertHostRestored(t, before);
});

rootTest.serial('a bridge of that name there already (EEXIST) is used, and given back as it was: down, without our address', async (t) => {
  t.is(sh('ip link add samples0 type bridge').status, 0);
  t.teardown(() => sh('ip link del samples0'));
  // (not the queueing discipline, which the kernel sets when a link first goes up)
  const bridgeNow = () => sh('ip -br link show samples0; ip -o addr show samples0').stdout;
  const before = bridgeNow();
  const container = await startNamespaceHolder(t);
  const lease = reserveAddress();
  t.teardown(() => lease.release());
  lease.connect(container.pid);
  t.regex(sh('ip -4 -br addr show samples0').stdout, /samples0 +UP +10\.22\.0\.1\/24/);
  t.is(container.run('ip', ['route', 'get', '10.22.0.1']).status, 0);
  lease.release();
  t.is(bridgeNow(), before, 'the bridge stays, as it was');
  t.deepEqual(tables(), []);
});

rootTest.serial('forwarding that was on already stays on, and nothing is restored', (t) => {
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  t.teardown(() => fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '0'));
  const lease = reserveAddress();
  lease.release();
  t.is(forwarding(), '1');
  t.false(hasLink('samples0'));
});

rootTest.serial('--network none: lo up, nothing else', async (t) => {
  const container = await startNamespaceHolder(t);
  bringUpLoopback(container.pid);
  t.is((container.run('ip', ['-br', 'link']).stdout).replace(/ +/g, ' '), 'lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP> \n');
});

rootTest.serial('--publish: a host port relays to the container, started as a stage starts it (spawnInNamespaces with CLONE_NEWNET)', async (t) => {
  const before = { forwarding: forwarding(), acceptRedirects: acceptRedirects() };
  const proxy = await listenForPublish({ hostPort: 0, containerPort: 80 });
  t.teardown(() => proxy.close());
  const lease = reserveAddress();
  t.teardown(() => lease.release());
  // The container's command binds every address of the container; it waits until the runtime has configured eth0.
  const container = spawnInNamespaces(process.execPath, ['-e', `
    process.stdin.once('data', () => require('net').createServer((c) => c.end('served to ' + c.remoteAddress)).listen(80, () => console.log('listening')));
  `], CLONE_NEWNET, { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => container.kill('SIGKILL'));
  t.not(fs.readlinkSync(`/proc/${container.pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'the child has a network namespace of its own');
  lease.connect(container.pid!);
  proxy.forwardTo(lease.address);
  container.stdin!.write('go');
  const output = collectOutput(container);
  await waitFor('the server in the container to listen', () => output.text.includes('listening'), 10_000);
  // (::ffff:10.22.0.1: the server listens on IPv6's any address, which takes IPv4 too)
  t.regex(await tcpRequest('127.0.0.1', proxy.hostPort), /^served to (::ffff:)?10\.22\.0\.1$/, 'through the proxy, which connects from the bridge address');
  container.kill('SIGKILL');
  await exited(container);
  await proxy.close();
  lease.release();
  assertHostRestored(t, before);
});

rootTest.serial('a FORWARD chain with policy drop elsewhere: a warning; an accept in a table of our own would not overrule it', async (t) => {
  const internet = await startNamespaceHolder(t);
  t.is(sh(`ip link add uplink1 type veth peer name wan0 netns ${internet.pid} && ip addr add 198.51.100.2/24 dev uplink1 && ip link set uplink1 up`).status, 0);
  t.teardown(() => sh('ip link del uplink1'));
  t.is(internet.run('sh', ['-c', 'ip addr add 198.51.100.1/24 dev wan0 && ip link set wan0 up']).status, 0);
  // What Docker leaves on a host: iptables' filter FORWARD with policy drop (here in nftables terms).
  const forwardChain = (table: string, name: string, priority: number, policy: number) =>
    newChain(NFPROTO_IPV4, { table, name, hook: { hook: NF_INET_FORWARD, priority, type: 'filter', policy } });
  nftables([newTable(NFPROTO_IPV4, 'filter'), forwardChain('filter', 'FORWARD', 0, NF_DROP)]);
  t.teardown(() => nftables([deleteTable(NFPROTO_IPV4, 'filter')]));
  const warnings: string[] = [];
  const container = await startNamespaceHolder(t);
  const lease = reserveAddress({ warn: (line) => warnings.push(line) });
  t.teardown(() => lease.release());
  lease.connect(container.pid);
  t.deepEqual(warnings, [
    "the host's firewall drops forwarded packets (table ip filter, chain FORWARD, policy drop): containers reach the host and each other, not beyond",
  ]);
  await serveInside(internet, '198.51.100.1', 8100, 'the internet saw');
  // An accept for the containers, in a table of our own, earlier on the hook: the packet still meets the drop in the other.
  nftables([
    newTable(NFPROTO_IPV4, 'ours'),
    forwardChain('ours', 'forward', -10, NF_ACCEPT),
    newRule(NFPROTO_IPV4, 'ours', 'forward', [verdictExpression(NF_ACCEPT)]),
  ]);
  t.teardown(() => nftables([deleteTable(NFPROTO_IPV4, 'ours')]));
  t.is(requestFrom(container, '198.51.100.1', 8100), 'timed out\n', 'no answer: dropped');
  lease.release();
});
