// nf_tables over netlink: the batch that makes the masquerade rule, read back with
// `nft list ruleset`, inside a scratch network namespace (the host's ruleset is never
// touched: this test process moves into a namespace of its own).
import { spawnSync } from 'node:child_process';
import test from 'ava';
import {
  CLONE_NEWNET,
  NETLINK_NETFILTER,
  NFPROTO_IPV4,
  NFT_CMP_EQ,
  NFT_CMP_NEQ,
  NFT_META_OIFNAME,
  NFT_PAYLOAD_NETWORK_HEADER,
  NF_ACCEPT,
  NF_DROP,
  NF_INET_FORWARD,
  NF_INET_POST_ROUTING,
  NF_IP_PRI_FILTER,
  NF_IP_PRI_NAT_SRC,
  NetlinkSocket,
  SyscallError,
  bitwiseExpression,
  cmpExpression,
  deleteTable,
  interfaceName,
  listChains,
  listTables,
  masqueradeExpression,
  metaExpression,
  newChain,
  newRule,
  newTable,
  nftBatch,
  nftType,
  NFT_MSG_NEWTABLE,
  payloadExpression,
  unshare,
  verdictExpression,
} from '../src/index';
import { isRoot, rootTest, testIf } from '@samples/testing';

// This test process moves into a network namespace of its own: the host's ruleset is never touched.
if (isRoot) unshare(CLONE_NEWNET);
const hasNft = spawnSync('nft', ['--version']).status === 0;
const withNft = testIf(isRoot && hasNft, isRoot ? 'needs nft (Debian package nftables) to read the ruleset back' : 'needs root', rootTest.serial);

test('NFT_MSG_NEWTABLE: nfgenmsg after nlmsghdr, big-endian numbers, type 0x0a00', (t) => {
  const { message } = newTable(NFPROTO_IPV4, 'demo');
  t.is(message.readUInt16LE(4), nftType(NFT_MSG_NEWTABLE));
  t.is(message.readUInt16LE(4), 0x0a00);
  t.deepEqual([...message.subarray(16, 20)], [NFPROTO_IPV4, 0, 0, 0], 'nfgenmsg: family, version 0, res_id 0');
  t.deepEqual([...message.subarray(20)], [9, 0, 1, 0, 0x64, 0x65, 0x6d, 0x6f, 0, 0, 0, 0], 'NFTA_TABLE_NAME "demo\\0", padded');
  const payload = payloadExpression(NFT_PAYLOAD_NETWORK_HEADER, 12, 4);
  t.is(payload.type & 0xff, 1, 'NFTA_LIST_ELEM');
});

function masquerade(table: string) {
  return [
    newTable(NFPROTO_IPV4, table, true),
    newChain(NFPROTO_IPV4, { table, name: 'postrouting', hook: { hook: NF_INET_POST_ROUTING, priority: NF_IP_PRI_NAT_SRC, type: 'nat' } }),
    newRule(NFPROTO_IPV4, table, 'postrouting', [
      payloadExpression(NFT_PAYLOAD_NETWORK_HEADER, 12, 4),
      bitwiseExpression(Buffer.from([255, 255, 255, 0])),
      cmpExpression(NFT_CMP_EQ, Buffer.from([10, 22, 0, 0])),
      metaExpression(NFT_META_OIFNAME),
      cmpExpression(NFT_CMP_NEQ, interfaceName('samples0')),
      masqueradeExpression(),
    ]),
  ];
}

withNft('one batch makes a table, a nat chain and a masquerade rule, as nft would', (t) => {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  t.teardown(() => netlink.close());
  nftBatch(netlink, masquerade('demo'));
  t.is(
    spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout,
    [
      'table ip demo {',
      '\tchain postrouting {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\tip saddr 10.22.0.0/24 oifname != "samples0" masquerade',
      '\t}',
      '}',
      '',
    ].join('\n'),
  );
  t.deepEqual(listTables(netlink), [{ family: NFPROTO_IPV4, name: 'demo' }]);
  t.deepEqual(listChains(netlink), [
    { family: NFPROTO_IPV4, table: 'demo', name: 'postrouting', hook: NF_INET_POST_ROUTING, priority: 100, type: 'nat', policy: NF_ACCEPT },
  ]);
  const again = t.throws(() => nftBatch(netlink, [newTable(NFPROTO_IPV4, 'demo', true)]), { instanceOf: SyscallError });
  t.is(again.message, "EEXIST: file exists, NFT_MSG_NEWTABLE 'demo'");
  nftBatch(netlink, [deleteTable(NFPROTO_IPV4, 'demo')]);
  t.is(spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout, '', 'deleting the table took the chain and rule with it');
  const gone = t.throws(() => nftBatch(netlink, [deleteTable(NFPROTO_IPV4, 'demo')]), { instanceOf: SyscallError });
  t.is(gone.code, 'ENOENT');
});

withNft('a batch is all or nothing: a bad rule leaves no table behind', (t) => {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  t.teardown(() => netlink.close());
  const [table, chain] = masquerade('half');
  const error = t.throws(() => nftBatch(netlink, [table!, chain!, newRule(NFPROTO_IPV4, 'half', 'no-such-chain', [masqueradeExpression()])]), {
    instanceOf: SyscallError,
  });
  t.is(error.message, "ENOENT: no such file or directory, NFT_MSG_NEWRULE 'half no-such-chain'");
  t.deepEqual(listTables(netlink), []);
});

withNft('a filter chain with a verdict rule; listChains reads hook and policy', (t) => {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  t.teardown(() => netlink.close());
  nftBatch(netlink, [
    newTable(NFPROTO_IPV4, 'filter'),
    newChain(NFPROTO_IPV4, { table: 'filter', name: 'FORWARD', hook: { hook: NF_INET_FORWARD, priority: NF_IP_PRI_FILTER, type: 'filter', policy: NF_DROP } }),
    newRule(NFPROTO_IPV4, 'filter', 'FORWARD', [metaExpression(NFT_META_OIFNAME), cmpExpression(NFT_CMP_EQ, interfaceName('lo')), verdictExpression(NF_ACCEPT)]),
  ]);
  t.teardown(() => nftBatch(netlink, [deleteTable(NFPROTO_IPV4, 'filter')]));
  t.like(listChains(netlink)[0], { name: 'FORWARD', hook: NF_INET_FORWARD, policy: NF_DROP, type: 'filter' });
  t.regex(spawnSync('nft', ['list', 'chain', 'ip', 'filter', 'FORWARD'], { encoding: 'utf8' }).stdout, /policy drop;\n\t\toifname "lo" accept\n/);
});
