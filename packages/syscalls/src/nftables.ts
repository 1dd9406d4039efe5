// <linux/netfilter/nfnetlink.h>, <linux/netfilter/nf_tables.h>, <linux/netfilter.h>:
// the kernel's packet filter, nf_tables, over netlink (what `nft` does).
// https://wiki.nftables.org/wiki-nftables/index.php/Portal:DeveloperDocs/nftables_internals
//
// Three things differ from rtnetlink:
// - After `struct nlmsghdr` comes `struct nfgenmsg` (family, version, res_id), and the
//   message type is (subsystem << 8) | command: NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE.
// - Changes go in a batch: NFNL_MSG_BATCH_BEGIN, the messages, NFNL_MSG_BATCH_END, all in
//   one datagram. The kernel applies the whole batch or none of it.
// - Integer attributes are big-endian (network byte order), not the host's order.
// A rule is a list of expressions run in order on registers: load a packet field into a
// register (payload, meta), transform it (bitwise), compare it (cmp: a mismatch ends
// the rule), act (masq, immediate verdict).
import { AF_UNSPEC } from './socket';
import {
  type Attribute,
  type NetlinkMessage,
  type NetlinkSocket,
  NLMSG_MIN_TYPE,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  attribute,
  attributeList,
  attributeString,
  be32Attribute,
  nested,
  nlmsg,
  parseAttributes,
  stringAttribute,
} from './netlink';

/** nfnetlink subsystems (the high byte of a message type). */
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNETLINK_V0 = 0;
export const NFNL_MSG_BATCH_BEGIN = NLMSG_MIN_TYPE;
export const NFNL_MSG_BATCH_END = NLMSG_MIN_TYPE + 1;

/** Protocol families of nf_tables tables (`nfgen_family`). */
export const NetfilterFamily = {
  NFPROTO_UNSPEC: 0,
  NFPROTO_INET: 1,
  NFPROTO_IPV4: 2,
  NFPROTO_ARP: 3,
  NFPROTO_NETDEV: 5,
  NFPROTO_BRIDGE: 7,
  NFPROTO_IPV6: 10,
} as const;
export const { NFPROTO_UNSPEC, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_ARP, NFPROTO_NETDEV, NFPROTO_BRIDGE, NFPROTO_IPV6 } = NetfilterFamily;

/** Netfilter hooks of the IPv4/IPv6 families. */
export const NetfilterHook = {
  NF_INET_PRE_ROUTING: 0,
  NF_INET_LOCAL_IN: 1,
  NF_INET_FORWARD: 2,
  NF_INET_LOCAL_OUT: 3,
  NF_INET_POST_ROUTING: 4,
} as const;
export const { NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } = NetfilterHook;

/** Verdicts (a chain's policy, an immediate verdict). */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;

/** Hook priorities nft names: `priority srcnat` is 100. */
export const NetfilterPriority = {
  NF_IP_PRI_NAT_DST: -100,
  NF_IP_PRI_FILTER: 0,
  NF_IP_PRI_NAT_SRC: 100,
} as const;
export const { NF_IP_PRI_NAT_DST, NF_IP_PRI_FILTER, NF_IP_PRI_NAT_SRC } = NetfilterPriority;

/** nf_tables commands (the low byte of a message type). */
export const NftMessageType = {
  NFT_MSG_NEWTABLE: 0,
  NFT_MSG_GETTABLE: 1,
  NFT_MSG_DELTABLE: 2,
  NFT_MSG_NEWCHAIN: 3,
  NFT_MSG_GETCHAIN: 4,
  NFT_MSG_DELCHAIN: 5,
  NFT_MSG_NEWRULE: 6,
  NFT_MSG_GETRULE: 7,
  NFT_MSG_DELRULE: 8,
} as const;
export const {
  NFT_MSG_NEWTABLE,
  NFT_MSG_GETTABLE,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_GETCHAIN,
  NFT_MSG_DELCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_GETRULE,
  NFT_MSG_DELRULE,
} = NftMessageType;

export const NFTA_LIST_ELEM = 1;
export const NftHookAttribute = { NFTA_HOOK_HOOKNUM: 1, NFTA_HOOK_PRIORITY: 2 } as const;
export const { NFTA_HOOK_HOOKNUM, NFTA_HOOK_PRIORITY } = NftHookAttribute;
export const NftTableAttribute = { NFTA_TABLE_NAME: 1, NFTA_TABLE_FLAGS: 2, NFTA_TABLE_USE: 3, NFTA_TABLE_HANDLE: 4 } as const;
export const { NFTA_TABLE_NAME, NFTA_TABLE_FLAGS, NFTA_TABLE_USE, NFTA_TABLE_HANDLE } = NftTableAttribute;
export const NftChainAttribute = {
  NFTA_CHAIN_TABLE: 1,
  NFTA_CHAIN_HANDLE: 2,
  NFTA_CHAIN_NAME: 3,
  NFTA_CHAIN_HOOK: 4,
  NFTA_CHAIN_POLICY: 5,
  NFTA_CHAIN_USE: 6,
  NFTA_CHAIN_TYPE: 7,
} as const;
export const { NFTA_CHAIN_TABLE, NFTA_CHAIN_HANDLE, NFTA_CHAIN_NAME, NFTA_CHAIN_HOOK, NFTA_CHAIN_POLICY, NFTA_CHAIN_USE, NFTA_CHAIN_TYPE } =
  NftChainAttribute;
export const NftRuleAttribute = { NFTA_RULE_TABLE: 1, NFTA_RULE_CHAIN: 2, NFTA_RULE_HANDLE: 3, NFTA_RULE_EXPRESSIONS: 4 } as const;
export const { NFTA_RULE_TABLE, NFTA_RULE_CHAIN, NFTA_RULE_HANDLE, NFTA_RULE_EXPRESSIONS } = NftRuleAttribute;
export const NftExpressionAttribute = { NFTA_EXPR_NAME: 1, NFTA_EXPR_DATA: 2 } as const;
export const { NFTA_EXPR_NAME, NFTA_EXPR_DATA } = NftExpressionAttribute;
export const NftDataAttribute = { NFTA_DATA_VALUE: 1, NFTA_DATA_VERDICT: 2 } as const;
export const { NFTA_DATA_VALUE, NFTA_DATA_VERDICT } = NftDataAttribute;
export const NFTA_VERDICT_CODE = 1;
export const NftImmediateAttribute = { NFTA_IMMEDIATE_DREG: 1, NFTA_IMMEDIATE_DATA: 2 } as const;
export const { NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA } = NftImmediateAttribute;
export const NftPayloadAttribute = { NFTA_PAYLOAD_DREG: 1, NFTA_PAYLOAD_BASE: 2, NFTA_PAYLOAD_OFFSET: 3, NFTA_PAYLOAD_LEN: 4 } as const;
export const { NFTA_PAYLOAD_DREG, NFTA_PAYLOAD_BASE, NFTA_PAYLOAD_OFFSET, NFTA_PAYLOAD_LEN } = NftPayloadAttribute;
export const NftPayloadBase = { NFT_PAYLOAD_LL_HEADER: 0, NFT_PAYLOAD_NETWORK_HEADER: 1, NFT_PAYLOAD_TRANSPORT_HEADER: 2 } as const;
export const { NFT_PAYLOAD_LL_HEADER, NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER } = NftPayloadBase;
export const NftBitwiseAttribute = { NFTA_BITWISE_SREG: 1, NFTA_BITWISE_DREG: 2, NFTA_BITWISE_LEN: 3, NFTA_BITWISE_MASK: 4, NFTA_BITWISE_XOR: 5 } as const;
export const { NFTA_BITWISE_SREG, NFTA_BITWISE_DREG, NFTA_BITWISE_LEN, NFTA_BITWISE_MASK, NFTA_BITWISE_XOR } = NftBitwiseAttribute;
export const NftCmpAttribute = { NFTA_CMP_SREG: 1, NFTA_CMP_OP: 2, NFTA_CMP_DATA: 3 } as const;
export const { NFTA_CMP_SREG, NFTA_CMP_OP, NFTA_CMP_DATA } = NftCmpAttribute;
export const NftCmpOp = { NFT_CMP_EQ: 0, NFT_CMP_NEQ: 1, NFT_CMP_LT: 2, NFT_CMP_LTE: 3, NFT_CMP_GT: 4, NFT_CMP_GTE: 5 } as const;
export const { NFT_CMP_EQ, NFT_CMP_NEQ, NFT_CMP_LT, NFT_CMP_LTE, NFT_CMP_GT, NFT_CMP_GTE } = NftCmpOp;
export const NftMetaAttribute = { NFTA_META_DREG: 1, NFTA_META_KEY: 2 } as const;
export const { NFTA_META_DREG, NFTA_META_KEY } = NftMetaAttribute;
export const NftMetaKey = { NFT_META_IIFNAME: 6, NFT_META_OIFNAME: 7, NFT_META_NFPROTO: 15, NFT_META_L4PROTO: 16 } as const;
export const { NFT_META_IIFNAME, NFT_META_OIFNAME, NFT_META_NFPROTO, NFT_META_L4PROTO } = NftMetaKey;
/** Registers: NFT_REG_VERDICT, then four 16-byte data registers (NFT_REG_1..4). */
export const NftRegister = { NFT_REG_VERDICT: 0, NFT_REG_1: 1, NFT_REG_2: 2 } as const;
export const { NFT_REG_VERDICT, NFT_REG_1, NFT_REG_2 } = NftRegister;

/** IFNAMSIZ: an interface name compared as 16 bytes, NUL-padded (as `oifname "x"` loads it). */
export const IFNAMSIZ = 16;

/** `struct nfgenmsg` (4 bytes): the family, version 0, and res_id (big-endian; the subsystem, in batch markers). */
export function nfgenmsg(family: number, resourceId = 0): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt8(family, 0); // nfgen_family
  buffer.writeUInt8(NFNETLINK_V0, 1); // version
  buffer.writeUInt16BE(resourceId, 2); // res_id
  return buffer;
}

/** The message type of an nf_tables command: NFNL_SUBSYS_NFTABLES << 8 | command. */
export function nftType(command: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | command;
}

const commandNames = new Map<number, string>(Object.entries(NftMessageType).map(([name, value]) => [nftType(value), name]));

/** 'NFT_MSG_NEWTABLE' for NFT_MSG_NEWTABLE: how errors name a command. */
function commandName(command: number): string {
  return commandNames.get(nftType(command)) ?? `nf_tables command ${command}`;
}

/** An nf_tables message, with what to call it in errors. */
export interface NftMessage {
  readonly message: Buffer;
  readonly operation: string;
  readonly subject: string;
}

function nftMessage(command: number, flags: number, family: number, attributes: readonly Attribute[], subject: string): NftMessage {
  return { message: nlmsg(nftType(command), flags, nfgenmsg(family), attributes), operation: commandName(command), subject };
}

// #region batch
/**
 * Sends nf_tables changes as one batch and waits for the kernel's ack of each:
 * all are applied, or (on the first refusal, which is thrown) none.
 */
export function nftBatch(netlink: NetlinkSocket, messages: readonly NftMessage[]): void {
  const marker = (type: number, operation: string) => ({
    message: nlmsg(type, 0, nfgenmsg(AF_UNSPEC, NFNL_SUBSYS_NFTABLES)),
    operation,
    acknowledge: false,
  });
  netlink.transact([marker(NFNL_MSG_BATCH_BEGIN, 'NFNL_MSG_BATCH_BEGIN'), ...messages, marker(NFNL_MSG_BATCH_END, 'NFNL_MSG_BATCH_END')]);
}
// #endregion

// #region objects
/** `nft add table FAMILY NAME`; with `exclusive`, EEXIST if it is there already (`nft create table`). */
export function newTable(family: number, name: string, exclusive = false): NftMessage {
  return nftMessage(NFT_MSG_NEWTABLE, NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0), family, [stringAttribute(NFTA_TABLE_NAME, name)], name);
}

/** `nft delete table FAMILY NAME`, with every chain and rule in it. ENOENT if there is none. */
export function deleteTable(family: number, name: string): NftMessage {
  return nftMessage(NFT_MSG_DELTABLE, 0, family, [stringAttribute(NFTA_TABLE_NAME, name)], name);
}

export interface NewChain {
  readonly table: string;
  readonly name: string;
  /** A base chain: attached to a hook, of a type ('filter', 'nat', 'route'), with a policy. */
  readonly hook?: { readonly hook: number; readonly priority: number; readonly type: string; readonly policy?: number };
}

/** `nft add chain FAMILY TABLE NAME { type T hook H priority P; policy X; }`. */
export function newChain(family: number, chain: NewChain): NftMessage {
  const attributes: Attribute[] = [stringAttribute(NFTA_CHAIN_TABLE, chain.table), stringAttribute(NFTA_CHAIN_NAME, chain.name)];
  if (chain.hook) {
    attributes.push(
      nested(NFTA_CHAIN_HOOK, [be32Attribute(NFTA_HOOK_HOOKNUM, chain.hook.hook), be32Attribute(NFTA_HOOK_PRIORITY, chain.hook.priority)]),
      be32Attribute(NFTA_CHAIN_POLICY, chain.hook.policy ?? NF_ACCEPT),
      stringAttribute(NFTA_CHAIN_TYPE, chain.hook.type),
    );
  }
  return nftMessage(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family, attributes, `${chain.table} ${chain.name}`);
}

/** `nft add rule FAMILY TABLE CHAIN ...`: the expressions, appended to the chain. */
export function newRule(family: number, table: string, chain: string, expressions: readonly Attribute[]): NftMessage {
  return nftMessage(
    NFT_MSG_NEWRULE,
    NLM_F_CREATE | NLM_F_APPEND,
    family,
    [stringAttribute(NFTA_RULE_TABLE, table), stringAttribute(NFTA_RULE_CHAIN, chain), nested(NFTA_RULE_EXPRESSIONS, expressions)],
    `${table} ${chain}`,
  );
}
// #endregion

// #region expressions
function expression(name: string, data: readonly Attribute[]): Attribute {
  const attributes = [stringAttribute(NFTA_EXPR_NAME, name), ...(data.length > 0 ? [nested(NFTA_EXPR_DATA, data)] : [])];
  return nested(NFTA_LIST_ELEM, attributes);
}

function dataValue(type: number, value: Buffer): Attribute {
  return nested(type, [attribute(NFTA_DATA_VALUE, value)]);
}

/** Loads `length` bytes at `offset` of a header (`base`) into a register: `ip saddr` is network header + 12, 4 bytes. */
export function payloadExpression(base: number, offset: number, length: number, register: number = NFT_REG_1): Attribute {
  return expression('payload', [
    be32Attribute(NFTA_PAYLOAD_DREG, register),
    be32Attribute(NFTA_PAYLOAD_BASE, base),
    be32Attribute(NFTA_PAYLOAD_OFFSET, offset),
    be32Attribute(NFTA_PAYLOAD_LEN, length),
  ]);
}

/** Loads packet metadata (`key`: NFT_META_OIFNAME...) into a register. */
export function metaExpression(key: number, register: number = NFT_REG_1): Attribute {
  return expression('meta', [be32Attribute(NFTA_META_KEY, key), be32Attribute(NFTA_META_DREG, register)]);
}

/** register = (register & mask) ^ xor, on mask.length bytes: how a prefix match drops the host bits. */
export function bitwiseExpression(mask: Buffer, xor: Buffer = Buffer.alloc(mask.length), register: number = NFT_REG_1): Attribute {
  return expression('bitwise', [
    be32Attribute(NFTA_BITWISE_SREG, register),
    be32Attribute(NFTA_BITWISE_DREG, register),
    be32Attribute(NFTA_BITWISE_LEN, mask.length),
    dataValue(NFTA_BITWISE_MASK, mask),
    dataValue(NFTA_BITWISE_XOR, xor),
  ]);
}

/** Compares a register with `data` (`op`: NFT_CMP_EQ...); a mismatch ends the rule for this packet. */
export function cmpExpression(op: number, data: Buffer, register: number = NFT_REG_1): Attribute {
  return expression('cmp', [be32Attribute(NFTA_CMP_SREG, register), be32Attribute(NFTA_CMP_OP, op), dataValue(NFTA_CMP_DATA, data)]);
}

/** Source NAT to the address of the link the packet leaves through (needs a nat chain at postrouting). */
export function masqueradeExpression(): Attribute {
  return expression('masq', []);
}

/** A verdict: `accept` (NF_ACCEPT) or `drop` (NF_DROP). */
export function verdictExpression(verdict: number): Attribute {
  return expression('immediate', [
    be32Attribute(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT),
    nested(NFTA_IMMEDIATE_DATA, [nested(NFTA_DATA_VERDICT, [be32Attribute(NFTA_VERDICT_CODE, verdict)])]),
  ]);
}

/** Counts packets and bytes (`counter`). */
export function counterExpression(): Attribute {
  return expression('counter', []);
}

/** An interface name as `meta oifname` loads it: IFNAMSIZ bytes, NUL-padded. */
export function interfaceName(name: string): Buffer {
  const buffer = Buffer.alloc(IFNAMSIZ);
  buffer.write(name);
  return buffer;
}
// #endregion

// #region listing
export interface Table {
  readonly family: number;
  readonly name: string;
}

export interface Chain {
  readonly family: number;
  readonly table: string;
  readonly name: string;
  /** Base chains only. */
  readonly hook?: number;
  readonly priority?: number;
  readonly type?: string;
  readonly policy?: number;
}

function nftDump(netlink: NetlinkSocket, command: number, family: number): NetlinkMessage[] {
  return netlink.dump(nlmsg(nftType(command), 0, nfgenmsg(family)), commandName(command));
}

/** Every table of `family` (NFPROTO_UNSPEC: all), as `nft list tables`. */
export function listTables(netlink: NetlinkSocket, family: number = NFPROTO_UNSPEC): Table[] {
  return nftDump(netlink, NFT_MSG_GETTABLE, family).map(({ payload }) => ({
    family: payload.readUInt8(0),
    name: attributeString(parseAttributes(payload.subarray(4)).get(NFTA_TABLE_NAME)) ?? '',
  }));
}

/** Every chain of `family` (NFPROTO_UNSPEC: all), as `nft list chains`. */
export function listChains(netlink: NetlinkSocket, family: number = NFPROTO_UNSPEC): Chain[] {
  return nftDump(netlink, NFT_MSG_GETCHAIN, family).map(({ payload }) => {
    const attributes = parseAttributes(payload.subarray(4));
    const hook = attributes.get(NFTA_CHAIN_HOOK);
    const hookAttributes = hook && new Map(attributeList(hook));
    const hooknum = hookAttributes?.get(NFTA_HOOK_HOOKNUM)?.readUInt32BE(0);
    const priority = hookAttributes?.get(NFTA_HOOK_PRIORITY)?.readInt32BE(0);
    const type = attributeString(attributes.get(NFTA_CHAIN_TYPE));
    const policy = attributes.get(NFTA_CHAIN_POLICY)?.readUInt32BE(0);
    return {
      family: payload.readUInt8(0),
      table: attributeString(attributes.get(NFTA_CHAIN_TABLE)) ?? '',
      name: attributeString(attributes.get(NFTA_CHAIN_NAME)) ?? '',
      ...(hooknum !== undefined && { hook: hooknum }),
      ...(priority !== undefined && { priority }),
      ...(type !== undefined && { type }),
      ...(policy !== undefined && { policy }),
    };
  });
}
// #endregion
