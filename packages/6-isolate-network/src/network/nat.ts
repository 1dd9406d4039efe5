// Outbound NAT, like Docker's default bridge: a packet from a container leaving the
// host through any link but the bridge gets the host's address as its source
// (masquerade), so that answers find their way back.
//
// The rule lives in a table of the runtime's own (`table ip samples0`, named after the
// bridge), made and removed over netlink in one nf_tables batch each: nothing of
// anyone else's ruleset is read or touched, and cleaning up is deleting that table.
//
// No FORWARD rule: in nf_tables a packet passes a hook only if every base chain on it
// accepts it, so an `accept` in our own table cannot overrule a `drop` elsewhere (such
// as the FORWARD policy Docker sets), and where nothing drops it adds nothing.
// `forwardDropper` finds such a drop, so that the runtime can say so.
import {
  NETLINK_NETFILTER,
  NFPROTO_INET,
  NFPROTO_IPV4,
  NFT_CMP_EQ,
  NFT_CMP_NEQ,
  NFT_META_OIFNAME,
  NFT_PAYLOAD_NETWORK_HEADER,
  NF_DROP,
  NF_INET_FORWARD,
  NF_INET_POST_ROUTING,
  NF_IP_PRI_NAT_SRC,
  NetlinkSocket,
  bitwiseExpression,
  cmpExpression,
  deleteTable,
  interfaceName,
  listChains,
  masqueradeExpression,
  metaExpression,
  newChain,
  newRule,
  newTable,
  nftBatch,
  payloadExpression,
  SyscallError,
} from '@samples/syscalls';
import { type Subnet, formatSubnet } from './subnet';

/** The offset of the source address in an IPv4 header. */
const IPV4_SOURCE_OFFSET = 12;

// #region masquerade
/**
 * `nft add table ip NAME; add chain ip NAME postrouting { type nat hook postrouting
 * priority srcnat; }; add rule ip NAME postrouting ip saddr SUBNET oifname != BRIDGE
 * masquerade`, as one batch: all of it is made, or nothing. EEXIST if the table is
 * there (someone else's: ours would have been swept).
 */
export function addMasquerade(table: string, subnet: Subnet, bridge: string): void {
  const family = NFPROTO_IPV4;
  const network = Buffer.alloc(4);
  network.writeUInt32BE(subnet.network);
  const mask = Buffer.alloc(4);
  mask.writeUInt32BE(subnet.prefixLength === 0 ? 0 : (0xffffffff << (32 - subnet.prefixLength)) >>> 0);
  withNetfilter((netlink) =>
    nftBatch(netlink, [
      newTable(family, table, true),
      newChain(family, { table, name: 'postrouting', hook: { hook: NF_INET_POST_ROUTING, priority: NF_IP_PRI_NAT_SRC, type: 'nat' } }),
      newRule(family, table, 'postrouting', [
        // ip saddr SUBNET: load the source address, keep the network bits, compare
        payloadExpression(NFT_PAYLOAD_NETWORK_HEADER, IPV4_SOURCE_OFFSET, 4),
        bitwiseExpression(mask),
        cmpExpression(NFT_CMP_EQ, network),
        // oifname != BRIDGE: container to container stays unchanged
        metaExpression(NFT_META_OIFNAME),
        cmpExpression(NFT_CMP_NEQ, interfaceName(bridge)),
        masqueradeExpression(),
      ]),
    ]),
  );
}
// #endregion

/** `nft delete table ip NAME`; a table already gone is no error. */
export function removeMasquerade(table: string): void {
  try {
    withNetfilter((netlink) => nftBatch(netlink, [deleteTable(NFPROTO_IPV4, table)]));
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'ENOENT')) throw error;
  }
}

/**
 * A base chain at the forward hook (ip or inet family) whose policy is drop, as
 * `table ip filter chain FORWARD`: then containers reach the host but not past it.
 * Only nf_tables is visible here; rules of the legacy iptables backend are not.
 */
export function forwardDropper(): string | undefined {
  const chain = withNetfilter((netlink) => listChains(netlink)).find(
    (chain) => (chain.family === NFPROTO_IPV4 || chain.family === NFPROTO_INET) && chain.hook === NF_INET_FORWARD && chain.policy === NF_DROP,
  );
  return chain && `table ${chain.family === NFPROTO_INET ? 'inet' : 'ip'} ${chain.table}, chain ${chain.name}`;
}

/**
 * The one line to print when NAT cannot be set up: the container starts anyway, it
 * reaches the host and other containers, not beyond.
 */
export function natUnavailableMessage(subnet: Subnet, error: unknown): string {
  // The kernel's own words, where it gave some (an extended ack: the error's hint).
  const said = error instanceof SyscallError && error.hint !== undefined ? `${error.message} (${error.hint})` : String(error instanceof Error ? error.message : error);
  const reason =
    error instanceof SyscallError && error.code === 'EPROTONOSUPPORT'
      ? 'this kernel has no nf_tables (CONFIG_NF_TABLES)'
      : error instanceof SyscallError && (error.code === 'ENOENT' || error.code === 'ENOTSUP') && error.syscall !== 'NFT_MSG_DELTABLE'
        ? `this kernel lacks nf_tables NAT or masquerade (CONFIG_NFT_NAT, CONFIG_NFT_MASQ), ${said}`
        : error instanceof SyscallError && error.code === 'EEXIST'
          ? `an nftables table of that name is someone else's, ${said}`
          : said;
  return `no outbound NAT for ${formatSubnet(subnet)}: ${reason}; containers reach the host and each other, not beyond`;
}

function withNetfilter<T>(action: (netlink: NetlinkSocket) => T): T {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    return action(netlink);
  } finally {
    netlink.close();
  }
}
