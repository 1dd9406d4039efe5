// rtnetlink: the bytes of the messages, then the real thing inside a scratch network
// namespace (this test process moves into one: the host's network is never touched),
// checked against what `ip` says.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import test from 'ava';
import {
  AF_INET,
  CLONE_NEWNET,
  IFF_UP,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NetlinkSocket,
  RTM_NEWLINK,
  RT_TABLE_MAIN,
  SyscallError,
  addAddress,
  addRoute,
  deleteLink,
  encodeAttributes,
  getLink,
  ifinfomsg,
  listAddresses,
  listLinks,
  listRoutes,
  nested,
  nlmsg,
  parseAttributes,
  parseMessages,
  setLinkUp,
  stringAttribute,
  u32Attribute,
  newLink,
  unshare,
} from '../src/index';
import { collectOutput, isRoot, rootTest, startNamespaceHolder, tcpRequest, tcpServerScript, waitFor } from '@samples/testing';

// This test process moves into a network namespace of its own: the host's is never touched.
if (isRoot) unshare(CLONE_NEWNET);

test('attributes are padded to 4 bytes; nla_len counts the header and value, not the padding', (t) => {
  const bytes = encodeAttributes([stringAttribute(IFLA_IFNAME, 'br0'), u32Attribute(4, 1500)]);
  // "br0\0" is 4 bytes: length 8, no padding; then the u32.
  t.deepEqual([...bytes], [8, 0, 3, 0, 0x62, 0x72, 0x30, 0, 8, 0, 4, 0, 0xdc, 0x05, 0, 0]);
  const odd = encodeAttributes([stringAttribute(IFLA_IFNAME, 'eth0')]);
  t.is(odd.readUInt16LE(0), 9, '"eth0\\0" is 5 bytes: nla_len 9');
  t.is(odd.length, 12, 'padded to 12');
});

test('nested attributes carry NLA_F_NESTED and parse back', (t) => {
  const bytes = encodeAttributes([nested(IFLA_LINKINFO, [stringAttribute(IFLA_INFO_KIND, 'veth')])]);
  t.is(bytes.readUInt16LE(2), IFLA_LINKINFO | 0x8000);
  const info = parseAttributes(bytes).get(IFLA_LINKINFO)!;
  t.is(parseAttributes(info).get(IFLA_INFO_KIND)!.toString(), 'veth\0');
});

test('RTM_NEWLINK for a bridge: nlmsghdr, ifinfomsg, then IFLA_IFNAME and IFLA_LINKINFO', (t) => {
  const message = nlmsg(
    RTM_NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL,
    ifinfomsg({ flags: IFF_UP, change: IFF_UP }),
    [stringAttribute(IFLA_IFNAME, 'br0'), nested(IFLA_LINKINFO, [stringAttribute(IFLA_INFO_KIND, 'bridge')])],
  );
  // As `strace -e trace=sendmsg ip link add br0 up type bridge` shows iproute2's, but
  // for two things the kernel takes either way: iproute2 sends the kind without its NUL
  // (nla_len 10) and leaves NLA_F_NESTED off IFLA_LINKINFO.
  const expected = [
    // nlmsghdr: len 56, type 16, flags 0x600 (CREATE|EXCL; REQUEST|ACK are added as it is sent), seq 0, pid 0
    56, 0, 0, 0, 16, 0, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
    // ifinfomsg: family 0, pad, type 0, index 0, flags IFF_UP, change IFF_UP
    0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
    // IFLA_IFNAME "br0"
    8, 0, 3, 0, 0x62, 0x72, 0x30, 0,
    // IFLA_LINKINFO (nested) { IFLA_INFO_KIND "bridge\0" (11 bytes, padded to 12) }
    16, 0, 18, 0x80, 11, 0, 1, 0, 0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0, 0,
  ];
  t.deepEqual([...message], expected);
  const [parsed] = parseMessages(message);
  t.is(parsed!.type, RTM_NEWLINK);
  t.is(parsed!.payload.length, 40);
});

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
const ipJson = <T>(...args: string[]): T => JSON.parse(ip('-j', ...args).stdout) as T;

rootTest.serial('a bridge: created up, EEXIST the second time, listed as ip lists it, deleted', (t) => {
  const netlink = NetlinkSocket.open();
  t.teardown(() => netlink.close());
  newLink(netlink, { name: 'br-test', kind: 'bridge', up: true, address: '02:00:00:00:00:01' });
  const again = t.throws(() => newLink(netlink, { name: 'br-test', kind: 'bridge' }), { instanceOf: SyscallError });
  t.is(again.message, "EEXIST: file exists, RTM_NEWLINK 'br-test'");
  t.is(again.syscall, 'RTM_NEWLINK');
  const link = getLink(netlink, 'br-test');
  t.is(link.kind, 'bridge');
  t.is(link.address, '02:00:00:00:00:01');
  t.truthy(link.flags & IFF_UP);
  const shown = ipJson<{ ifname: string; ifindex: number; address: string }[]>('link', 'show', 'br-test')[0]!;
  t.is(shown.ifindex, link.index);
  t.is(shown.address, '02:00:00:00:00:01');
  t.deepEqual(
    listLinks(netlink).map((l) => l.name).sort(),
    ipJson<{ ifname: string }[]>('link').map((l) => l.ifname).sort(),
  );
  deleteLink(netlink, 'br-test');
  t.is(ip('link', 'show', 'br-test').status, 1, 'gone');
  const missing = t.throws(() => deleteLink(netlink, 'br-test'), { instanceOf: SyscallError });
  t.is(missing.code, 'ENODEV');
});

rootTest.serial('the kernel explanation comes with an error (extended ack), as its hint', (t) => {
  const netlink = NetlinkSocket.open();
  t.teardown(() => netlink.close());
  const error = t.throws(() => newLink(netlink, { name: 'x0', kind: 'no-such-kind' }), { instanceOf: SyscallError });
  t.is(error.code, 'ENOTSUP'); // Node's name for 95, which C also calls EOPNOTSUPP
  t.is(error.message, "ENOTSUP: operation not supported, RTM_NEWLINK 'x0'");
  t.is(error.hint, 'Unknown device type', "the kernel's own words, as the hint (a stage prints `message: hint`)");
});

rootTest.serial('a veth pair across namespaces: links up, addresses, routes, and a TCP connection through it', async (t) => {
  // This namespace is one side (all of it through netlink); the other is a holder's (set up with ip).
  const holder = await startNamespaceHolder(t);
  const netlink = NetlinkSocket.open();
  t.teardown(() => netlink.close());
  setLinkUp(netlink, 'lo');
  const netnsFd = fs.openSync(holder.netns, 'r');
  newLink(netlink, { name: 'veth-test', kind: 'veth', peer: { name: 'eth0', netnsFd } });
  fs.closeSync(netnsFd);
  t.teardown(() => spawnSync('ip', ['link', 'del', 'veth-test']));
  const ours = getLink(netlink, 'veth-test');
  t.is(ours.kind, 'veth');
  t.falsy(ours.flags & IFF_UP, 'made down');
  setLinkUp(netlink, 'veth-test');
  t.truthy(getLink(netlink, 'veth-test').flags & IFF_UP);
  addAddress(netlink, ours.index, '10.250.0.1', 24);
  t.is(holder.run('sh', ['-c', 'ip link set eth0 up && ip addr add 10.250.0.2/24 dev eth0 && ip link set lo up']).status, 0);
  t.regex(holder.run('ip', ['-d', 'link', 'show', 'eth0']).stdout, /\n +veth /, 'the peer was made over there, a veth');

  addRoute(netlink, { gateway: '10.250.0.2', outputIndex: ours.index });
  addRoute(netlink, { destination: '10.251.0.0/24', gateway: '10.250.0.2', outputIndex: ours.index });
  const duplicate = t.throws(() => addRoute(netlink, { gateway: '10.250.0.2', outputIndex: ours.index }), { instanceOf: SyscallError });
  t.is(duplicate.message, "EEXIST: file exists, RTM_NEWROUTE 'default'");
  t.deepEqual(
    listAddresses(netlink, AF_INET).map(({ address, prefixLength, index }) => ({ address, prefixLength, index })),
    [
      { address: '127.0.0.1', prefixLength: 8, index: 1 },
      { address: '10.250.0.1', prefixLength: 24, index: ours.index },
    ],
  );
  const routes = listRoutes(netlink).filter((route) => route.table === RT_TABLE_MAIN);
  t.like(routes.find((route) => route.destinationLength === 0), { gateway: '10.250.0.2', outputIndex: ours.index });
  t.like(routes.find((route) => route.destination === '10.251.0.0'), { destinationLength: 24, gateway: '10.250.0.2' });
  t.like(routes.find((route) => route.destination === '10.250.0.0'), { destinationLength: 24, preferredSource: '10.250.0.1' });
  t.regex(ip('route').stdout, /^default via 10\.250\.0\.2 dev veth-test \n/m, 'ip agrees (it does not print proto boot, the default)');
  t.false(ipJson<{ ifname: string }[]>('link').some((l) => l.ifname === 'eth0'), 'the peer is not here');

  // A server in the other namespace, a client here: bytes cross the veth both ways.
  const server = holder.start(process.execPath, ['-e', tcpServerScript('10.250.0.2', 7777, 'hello from the other side')]);
  const output = collectOutput(server);
  await waitFor('the server over there to listen', () => output.text.includes('listening'), 10_000);
  t.is(await tcpRequest('10.250.0.2', 7777), 'hello from the other side 10.250.0.1');
});
