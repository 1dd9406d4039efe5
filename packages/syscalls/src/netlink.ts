// <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>,
// <linux/veth.h>: talking to the kernel's routing subsystem, which owns network
// links, addresses and routes (what `ip link`, `ip addr` and `ip route` do).
// https://man7.org/linux/man-pages/man7/netlink.7.html
// https://man7.org/linux/man-pages/man7/rtnetlink.7.html
//
// A netlink message is a 16-byte `struct nlmsghdr`, a fixed header of its family
// (`struct ifinfomsg` for links...), then attributes: each a 4-byte `struct rtattr`
// (length, type) and its value, padded to 4 bytes. Attributes nest: a nested one's
// value is more attributes. Everything is in the host's byte order.
import { SyscallError } from './errno';
import { AF_INET, AF_NETLINK, AF_UNSPEC, SOCK_CLOEXEC, SOCK_RAW, SOL_NETLINK, SOL_SOCKET, SO_RCVTIMEO, MSG_PEEK, MSG_TRUNC, bind, recv, send, setsockopt, setsockoptInt, socket, timeval } from './socket';
import { close } from './unistd';

/** Netlink protocols (the `protocol` of socket(AF_NETLINK, ...)). */
export const NetlinkProtocol = {
  NETLINK_ROUTE: 0,
  NETLINK_NETFILTER: 12,
} as const;
export const { NETLINK_ROUTE, NETLINK_NETFILTER } = NetlinkProtocol;

/** Flags of `nlmsghdr.nlmsg_flags`. Values above 0x80 mean one thing for a get, another for a new. */
export const NetlinkFlags = {
  NLM_F_REQUEST: 0x1,
  NLM_F_MULTI: 0x2,
  NLM_F_ACK: 0x4,
  NLM_F_ECHO: 0x8,
  NLM_F_DUMP_INTR: 0x10,
  // GET requests
  NLM_F_ROOT: 0x100,
  NLM_F_MATCH: 0x200,
  NLM_F_DUMP: 0x300,
  // NEW requests
  NLM_F_REPLACE: 0x100,
  NLM_F_EXCL: 0x200,
  NLM_F_CREATE: 0x400,
  NLM_F_APPEND: 0x800,
  // NLMSG_ERROR replies
  NLM_F_CAPPED: 0x100,
  NLM_F_ACK_TLVS: 0x200,
} as const;
export const {
  NLM_F_REQUEST,
  NLM_F_MULTI,
  NLM_F_ACK,
  NLM_F_ECHO,
  NLM_F_DUMP_INTR,
  NLM_F_ROOT,
  NLM_F_MATCH,
  NLM_F_DUMP,
  NLM_F_REPLACE,
  NLM_F_EXCL,
  NLM_F_CREATE,
  NLM_F_APPEND,
  NLM_F_CAPPED,
  NLM_F_ACK_TLVS,
} = NetlinkFlags;

/** Message types every netlink family shares. */
export const NetlinkMessageType = {
  NLMSG_NOOP: 1,
  NLMSG_ERROR: 2,
  NLMSG_DONE: 3,
  NLMSG_OVERRUN: 4,
  /** Types below this are netlink's own; a family's start here. */
  NLMSG_MIN_TYPE: 0x10,
} as const;
export const { NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN, NLMSG_MIN_TYPE } = NetlinkMessageType;

/** SOL_NETLINK socket options. */
export const NetlinkSocketOption = {
  NETLINK_ADD_MEMBERSHIP: 1,
  NETLINK_DROP_MEMBERSHIP: 2,
  /** Errors do not echo the whole request back. */
  NETLINK_CAP_ACK: 10,
  /** Errors carry the kernel's explanation (NLMSGERR_ATTR_MSG). */
  NETLINK_EXT_ACK: 11,
  NETLINK_GET_STRICT_CHK: 12,
} as const;
export const { NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK } =
  NetlinkSocketOption;

/** Attributes of an extended ack (after `struct nlmsgerr`). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

/** Flags in `nlattr.nla_type`, beside the type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** rtnetlink message types. */
export const RtnetlinkMessageType = {
  RTM_NEWLINK: 16,
  RTM_DELLINK: 17,
  RTM_GETLINK: 18,
  RTM_SETLINK: 19,
  RTM_NEWADDR: 20,
  RTM_DELADDR: 21,
  RTM_GETADDR: 22,
  RTM_NEWROUTE: 24,
  RTM_DELROUTE: 25,
  RTM_GETROUTE: 26,
} as const;
export const { RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE } =
  RtnetlinkMessageType;

/** Link attributes (after `struct ifinfomsg`). */
export const LinkAttribute = {
  IFLA_ADDRESS: 1,
  IFLA_BROADCAST: 2,
  IFLA_IFNAME: 3,
  IFLA_MTU: 4,
  IFLA_LINK: 5,
  IFLA_MASTER: 10,
  IFLA_OPERSTATE: 16,
  IFLA_LINKINFO: 18,
  IFLA_NET_NS_PID: 19,
  IFLA_NET_NS_FD: 28,
  IFLA_LINK_NETNSID: 37,
} as const;
export const {
  IFLA_ADDRESS,
  IFLA_BROADCAST,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_LINK,
  IFLA_MASTER,
  IFLA_OPERSTATE,
  IFLA_LINKINFO,
  IFLA_NET_NS_PID,
  IFLA_NET_NS_FD,
  IFLA_LINK_NETNSID,
} = LinkAttribute;

/** Attributes nested in IFLA_LINKINFO. */
export const LinkInfoAttribute = {
  IFLA_INFO_KIND: 1,
  IFLA_INFO_DATA: 2,
  IFLA_INFO_SLAVE_KIND: 4,
} as const;
export const { IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND } = LinkInfoAttribute;

/** <linux/veth.h>: in IFLA_INFO_DATA of a veth, the peer: a `struct ifinfomsg` and its own link attributes. */
export const VETH_INFO_PEER = 1;

/** Address attributes (after `struct ifaddrmsg`). */
export const AddressAttribute = {
  IFA_ADDRESS: 1,
  IFA_LOCAL: 2,
  IFA_LABEL: 3,
  IFA_BROADCAST: 4,
} as const;
export const { IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST } = AddressAttribute;

/** Route attributes (after `struct rtmsg`). */
export const RouteAttribute = {
  RTA_DST: 1,
  RTA_SRC: 2,
  RTA_IIF: 3,
  RTA_OIF: 4,
  RTA_GATEWAY: 5,
  RTA_PRIORITY: 6,
  RTA_PREFSRC: 7,
  RTA_TABLE: 15,
} as const;
export const { RTA_DST, RTA_SRC, RTA_IIF, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE } = RouteAttribute;

export const RouteTable = { RT_TABLE_UNSPEC: 0, RT_TABLE_MAIN: 254, RT_TABLE_LOCAL: 255 } as const;
export const { RT_TABLE_UNSPEC, RT_TABLE_MAIN, RT_TABLE_LOCAL } = RouteTable;
/** Who added a route (`rtm_protocol`). */
export const RouteProtocol = { RTPROT_UNSPEC: 0, RTPROT_KERNEL: 2, RTPROT_BOOT: 3, RTPROT_STATIC: 4 } as const;
export const { RTPROT_UNSPEC, RTPROT_KERNEL, RTPROT_BOOT, RTPROT_STATIC } = RouteProtocol;
/** How far a destination is (`rtm_scope`, `ifa_scope`). */
export const RouteScope = { RT_SCOPE_UNIVERSE: 0, RT_SCOPE_LINK: 253, RT_SCOPE_HOST: 254 } as const;
export const { RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST } = RouteScope;
/** `rtm_type`. */
export const RouteType = { RTN_UNSPEC: 0, RTN_UNICAST: 1, RTN_LOCAL: 2, RTN_BROADCAST: 3 } as const;
export const { RTN_UNSPEC, RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST } = RouteType;

/** <net/if.h>: link flags (`ifi_flags`). */
export const InterfaceFlags = {
  IFF_UP: 0x1,
  IFF_BROADCAST: 0x2,
  IFF_LOOPBACK: 0x8,
  IFF_POINTOPOINT: 0x10,
  IFF_RUNNING: 0x40,
  IFF_NOARP: 0x80,
  IFF_MULTICAST: 0x1000,
  IFF_LOWER_UP: 0x10000,
} as const;
export const { IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_RUNNING, IFF_NOARP, IFF_MULTICAST, IFF_LOWER_UP } =
  InterfaceFlags;

/** The size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;
/** The size of `struct nlattr` / `struct rtattr`. */
export const NLA_HDRLEN = 4;

/** Rounds up to netlink's 4-byte alignment (NLMSG_ALIGN, RTA_ALIGN, NLA_ALIGN). */
export function align(length: number): number {
  return (length + 3) & ~3;
}

// #region attributes
/** One attribute: raw bytes, or (nested) more attributes. */
export interface Attribute {
  readonly type: number;
  readonly value: Buffer | readonly Attribute[];
}

/** An attribute holding raw bytes. */
export function attribute(type: number, value: Buffer): Attribute {
  return { type, value };
}

/** An attribute holding a NUL-terminated string, as the kernel wants names. */
export function stringAttribute(type: number, value: string): Attribute {
  return { type, value: Buffer.from(`${value}\0`) };
}

/** An attribute holding a u32 in the host's byte order. */
export function u32Attribute(type: number, value: number): Attribute {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return { type, value: buffer };
}

/** An attribute holding a u32 in network byte order (netfilter's convention). */
export function be32Attribute(type: number, value: number): Attribute {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value | 0);
  return { type, value: buffer };
}

/** An attribute holding other attributes (marked NLA_F_NESTED, as libmnl does). */
export function nested(type: number, children: readonly Attribute[]): Attribute {
  return { type: type | NLA_F_NESTED, value: children };
}

/** The bytes of attributes, each padded to 4 bytes: `nla_len` counts the header and value, not the padding. */
export function encodeAttributes(attributes: readonly Attribute[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, value } of attributes) {
    const data = Buffer.isBuffer(value) ? value : encodeAttributes(value);
    const header = Buffer.alloc(NLA_HDRLEN);
    header.writeUInt16LE(NLA_HDRLEN + data.length, 0);
    header.writeUInt16LE(type, 2);
    parts.push(header, data, Buffer.alloc(align(data.length) - data.length));
  }
  return Buffer.concat(parts);
}

/** The attributes in `buffer`, by type (flags masked off; the last of a repeated type wins). */
export function parseAttributes(buffer: Buffer): Map<number, Buffer> {
  const attributes = new Map<number, Buffer>();
  for (const [type, value] of attributeList(buffer)) attributes.set(type, value);
  return attributes;
}

/** The attributes in `buffer`, in order, as [type, value] (for lists such as NFTA_LIST_ELEM). */
export function attributeList(buffer: Buffer): [number, Buffer][] {
  const list: [number, Buffer][] = [];
  let offset = 0;
  while (offset + NLA_HDRLEN <= buffer.length) {
    const length = buffer.readUInt16LE(offset);
    if (length < NLA_HDRLEN || offset + length > buffer.length) break;
    list.push([buffer.readUInt16LE(offset + 2) & NLA_TYPE_MASK, buffer.subarray(offset + NLA_HDRLEN, offset + length)]);
    offset += align(length);
  }
  return list;
}

/** A NUL-terminated string attribute's text. */
export function attributeString(value: Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  const end = value.indexOf(0);
  return value.toString('utf8', 0, end === -1 ? value.length : end);
}
// #endregion

// #region messages
/**
 * A netlink message: `struct nlmsghdr`, then `header` (the family's fixed struct),
 * then the attributes. Sequence number and port id are left 0: the socket sets the
 * sequence number as it sends.
 */
export function nlmsg(type: number, flags: number, header: Buffer, attributes: readonly Attribute[] = []): Buffer {
  const body = Buffer.concat([header, Buffer.alloc(align(header.length) - header.length), encodeAttributes(attributes)]);
  const message = Buffer.alloc(NLMSG_HDRLEN + body.length);
  message.writeUInt32LE(message.length, 0); // nlmsg_len
  message.writeUInt16LE(type, 4); // nlmsg_type
  message.writeUInt16LE(flags, 6); // nlmsg_flags
  // nlmsg_seq (8) and nlmsg_pid (12) stay 0
  body.copy(message, NLMSG_HDRLEN);
  return message;
}

export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  /** What follows the `nlmsghdr`. */
  readonly payload: Buffer;
}

/** The messages in one datagram the kernel sent. */
export function parseMessages(buffer: Buffer): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset + NLMSG_HDRLEN <= buffer.length) {
    const length = buffer.readUInt32LE(offset);
    if (length < NLMSG_HDRLEN || offset + length > buffer.length) break;
    messages.push({
      type: buffer.readUInt16LE(offset + 4),
      flags: buffer.readUInt16LE(offset + 6),
      seq: buffer.readUInt32LE(offset + 8),
      pid: buffer.readUInt32LE(offset + 12),
      payload: buffer.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align(length);
  }
  return messages;
}

/** `struct ifinfomsg` (16 bytes): which link, and its flags. */
export function ifinfomsg(fields: { family?: number; type?: number; index?: number; flags?: number; change?: number } = {}): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeUInt8(fields.family ?? AF_UNSPEC, 0); // ifi_family; 1 byte of padding follows
  buffer.writeUInt16LE(fields.type ?? 0, 2); // ifi_type (ARPHRD_*)
  buffer.writeInt32LE(fields.index ?? 0, 4); // ifi_index
  buffer.writeUInt32LE(fields.flags ?? 0, 8); // ifi_flags
  buffer.writeUInt32LE(fields.change ?? 0, 12); // ifi_change: which flags to change
  return buffer;
}

/** `struct ifaddrmsg` (8 bytes): an address's family, prefix length and link. */
export function ifaddrmsg(fields: { family: number; prefixLength?: number; flags?: number; scope?: number; index?: number }): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeUInt8(fields.family, 0); // ifa_family
  buffer.writeUInt8(fields.prefixLength ?? 0, 1); // ifa_prefixlen
  buffer.writeUInt8(fields.flags ?? 0, 2); // ifa_flags
  buffer.writeUInt8(fields.scope ?? RT_SCOPE_UNIVERSE, 3); // ifa_scope
  buffer.writeUInt32LE(fields.index ?? 0, 4); // ifa_index
  return buffer;
}

/** `struct rtmsg` (12 bytes): a route's family, prefix lengths, table and kind. */
export function rtmsg(
  fields: {
    family: number;
    dstLength?: number;
    srcLength?: number;
    tos?: number;
    table?: number;
    protocol?: number;
    scope?: number;
    type?: number;
    flags?: number;
  },
): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt8(fields.family, 0); // rtm_family
  buffer.writeUInt8(fields.dstLength ?? 0, 1); // rtm_dst_len
  buffer.writeUInt8(fields.srcLength ?? 0, 2); // rtm_src_len
  buffer.writeUInt8(fields.tos ?? 0, 3); // rtm_tos
  buffer.writeUInt8(fields.table ?? RT_TABLE_UNSPEC, 4); // rtm_table
  buffer.writeUInt8(fields.protocol ?? RTPROT_UNSPEC, 5); // rtm_protocol
  buffer.writeUInt8(fields.scope ?? RT_SCOPE_UNIVERSE, 6); // rtm_scope
  buffer.writeUInt8(fields.type ?? RTN_UNSPEC, 7); // rtm_type
  buffer.writeUInt32LE(fields.flags ?? 0, 8); // rtm_flags
  return buffer;
}

/** `struct sockaddr_nl` (12 bytes). Port id 0 lets the kernel choose one. */
export function sockaddr_nl(pid = 0, groups = 0): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16LE(AF_NETLINK, 0); // nl_family; 2 bytes of padding follow
  buffer.writeUInt32LE(pid, 4); // nl_pid
  buffer.writeUInt32LE(groups, 8); // nl_groups
  return buffer;
}
// #endregion

/** The name netlink message types go by in errors: 16 -> 'RTM_NEWLINK'. */
const rtnetlinkNames = new Map<number, string>(Object.entries(RtnetlinkMessageType).map(([name, value]) => [value, name]));

/** One message to send and what to call it should the kernel refuse it. */
export interface Request {
  readonly message: Buffer;
  /** Named in the error: 'RTM_NEWLINK'. */
  readonly operation: string;
  /** What the request was about, named in the error: the link's name. */
  readonly subject?: string;
  /** Whether to ask for (and wait for) the kernel's ack. Batch markers go without. Default: true. */
  readonly acknowledge?: boolean;
}

// #region socket
/**
 * A netlink socket in the network namespace of the thread that opened it (it stays
 * there, whatever that thread does next). Every call blocks until the kernel has
 * answered: the kernel answers at once, and the runtime wants the step done before it
 * goes on.
 */
export class NetlinkSocket {
  private sequence = Math.floor(Date.now() / 1000) & 0x7fffffff;
  private buffer = Buffer.alloc(32 * 1024);

  private constructor(readonly fd: number) {}

  /** Opens a netlink socket of `protocol` (NETLINK_ROUTE for links, addresses, routes). */
  static open(protocol: number = NETLINK_ROUTE, receiveTimeoutMs = 10_000): NetlinkSocket {
    const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    try {
      // Errors name the failing attribute in the kernel's words, and do not echo the request back.
      setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      // A kernel that never answers (it always does) must not hang the runtime.
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(receiveTimeoutMs));
      bind(fd, sockaddr_nl());
      return new NetlinkSocket(fd);
    } catch (error) {
      close(fd);
      throw error;
    }
  }

  /**
   * Sends one request with NLM_F_ACK and waits for the kernel's answer. A refusal
   * throws SyscallError naming the operation: `EEXIST: file exists, RTM_NEWLINK 'br0'`.
   */
  request(message: Buffer, operation = operationName(message), subject?: string): void {
    this.transact([{ message, operation, ...(subject !== undefined && { subject }) }]);
  }

  /**
   * Sends several messages in one datagram (as a netfilter batch must go), then
   * waits for an answer to each one that asked for an ack. Throws the first refusal.
   */
  transact(requests: readonly Request[]): void {
    const pending = new Map<number, Request>();
    const all = new Map<number, Request>();
    const datagram = Buffer.concat(
      requests.map((request) => {
        const acknowledge = request.acknowledge ?? true;
        const seq = this.nextSequence();
        const message = stamp(request.message, seq, acknowledge ? NLM_F_REQUEST | NLM_F_ACK : NLM_F_REQUEST);
        all.set(seq, request);
        if (acknowledge) pending.set(seq, request);
        return message;
      }),
    );
    send(this.fd, datagram);
    while (pending.size > 0) {
      for (const message of this.receive()) {
        const request = all.get(message.seq);
        if (request === undefined) continue; // an answer to an earlier request: not ours to read
        if (message.type !== NLMSG_ERROR) continue; // an echo or a reply we did not ask for
        const { error, detail } = parseError(message);
        if (error !== 0) throw new SyscallError(-error, request.operation, request.subject, detail);
        pending.delete(message.seq);
      }
    }
  }

  /** Sends a get request and returns the one reply (a message of the family's type). */
  query(message: Buffer, operation = operationName(message), subject?: string): NetlinkMessage {
    const seq = this.nextSequence();
    send(this.fd, stamp(message, seq, NLM_F_REQUEST));
    for (;;) {
      for (const reply of this.receive()) {
        if (reply.seq !== seq) continue;
        if (reply.type === NLMSG_ERROR) {
          const { error, detail } = parseError(reply);
          if (error !== 0) throw new SyscallError(-error, operation, subject, detail);
          continue;
        }
        return reply;
      }
    }
  }

  /** Sends a dump request (NLM_F_DUMP) and returns every message of the answer. */
  dump(message: Buffer, operation = operationName(message)): NetlinkMessage[] {
    const seq = this.nextSequence();
    send(this.fd, stamp(message, seq, NLM_F_REQUEST | NLM_F_DUMP));
    const replies: NetlinkMessage[] = [];
    for (;;) {
      for (const reply of this.receive()) {
        if (reply.seq !== seq) continue;
        if (reply.type === NLMSG_DONE) {
          // NLMSG_DONE carries an int: negative when the dump failed part-way.
          const error = reply.payload.length >= 4 ? reply.payload.readInt32LE(0) : 0;
          if (error < 0) throw new SyscallError(-error, operation);
          return replies;
        }
        if (reply.type === NLMSG_ERROR) {
          const { error, detail } = parseError(reply);
          if (error !== 0) throw new SyscallError(-error, operation, undefined, detail);
          continue;
        }
        replies.push(reply);
      }
    }
  }

  /** Closes the socket (and lets go of its network namespace). */
  close(): void {
    close(this.fd);
  }

  /** Reads one datagram: its messages. A datagram larger than the buffer grows it first. */
  private receive(): NetlinkMessage[] {
    const size = recv(this.fd, this.buffer, MSG_PEEK | MSG_TRUNC);
    if (size > this.buffer.length) this.buffer = Buffer.alloc(align(size));
    const length = recv(this.fd, this.buffer);
    return parseMessages(Buffer.from(this.buffer.subarray(0, length)));
  }

  private nextSequence(): number {
    this.sequence = (this.sequence + 1) >>> 0;
    return this.sequence;
  }
}
// #endregion

/** A copy of `message` with its sequence number set and `flags` added. */
function stamp(message: Buffer, seq: number, flags: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16LE(copy.readUInt16LE(6) | flags, 6);
  copy.writeUInt32LE(seq, 8);
  return copy;
}

function operationName(message: Buffer): string {
  const type = message.readUInt16LE(4);
  return rtnetlinkNames.get(type) ?? `netlink message ${type}`;
}

/**
 * `struct nlmsgerr`: a negative errno (0 for an ack), the request's header, and (with
 * NETLINK_EXT_ACK) attributes, one of which may be the kernel's explanation: the
 * SyscallError thrown for it carries that as its hint.
 */
export function parseError(message: NetlinkMessage): { error: number; detail?: string } {
  const error = message.payload.readInt32LE(0);
  if (!(message.flags & NLM_F_ACK_TLVS)) return { error };
  // Without NLM_F_CAPPED the whole request follows its header; its nlmsg_len says how long.
  const requestLength = message.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : message.payload.readUInt32LE(4);
  const attributes = parseAttributes(message.payload.subarray(4 + align(requestLength)));
  const detail = attributeString(attributes.get(NLMSGERR_ATTR_MSG));
  return detail ? { error, detail } : { error };
}

// #region addresses
/** 'a.b.c.d' as 4 bytes, checked. */
export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) {
    throw new TypeError(`not an IPv4 address: ${address}`);
  }
  return Buffer.from(parts.map(Number));
}

/** An address's bytes as text: 4 bytes dotted, 16 bytes as 8 hex groups (not shortened). */
export function formatAddress(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) return Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16)).join(':');
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':'); // a MAC address
}
// #endregion

// #region links
export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFF_* flags. */
  readonly flags: number;
  readonly mtu?: number;
  /** The index of the bridge (or bond) this link is a port of. */
  readonly master?: number;
  /** The driver's kind: 'veth', 'bridge'... (none for physical links and lo). */
  readonly kind?: string;
  /** The hardware address, as aa:bb:cc:dd:ee:ff. */
  readonly address?: string;
}

/** A link from an RTM_NEWLINK message (the answer to RTM_GETLINK). */
export function parseLink(message: NetlinkMessage): Link {
  const { payload } = message;
  const attributes = parseAttributes(payload.subarray(16));
  const info = attributes.get(IFLA_LINKINFO);
  const kind = info && attributeString(parseAttributes(info).get(IFLA_INFO_KIND));
  const mtu = attributes.get(IFLA_MTU)?.readUInt32LE(0);
  const master = attributes.get(IFLA_MASTER)?.readUInt32LE(0);
  const address = attributes.get(IFLA_ADDRESS);
  return {
    index: payload.readInt32LE(4),
    name: attributeString(attributes.get(IFLA_IFNAME)) ?? '',
    flags: payload.readUInt32LE(8),
    ...(mtu !== undefined && { mtu }),
    ...(master !== undefined && { master }),
    ...(kind !== undefined && { kind }),
    ...(address !== undefined && { address: formatAddress(address) }),
  };
}

export interface NewLink {
  readonly name: string;
  /** The driver: 'bridge', 'veth', 'dummy'... */
  readonly kind: string;
  /** Up from the start. */
  readonly up?: boolean;
  /** Made a port of this bridge (its index) from the start. */
  readonly master?: number;
  /** A hardware address to set, as aa:bb:cc:dd:ee:ff. */
  readonly address?: string;
  /**
   * For kind 'veth': the other end, made in the namespace `netnsFd` is open on (default:
   * the same). It starts down, and cannot start up: the kernel configures the peer
   * before the pair is linked, and opening a veth without its peer fails with ENOTCONN.
   */
  readonly peer?: { readonly name: string; readonly netnsFd?: number };
}

// #region newLink
/**
 * Creates a link: `ip link add NAME type KIND` (and, for a veth, `peer name P netns N`)
 * in one RTM_NEWLINK. Throws EEXIST when a link of that name is there already.
 */
export function newLink(netlink: NetlinkSocket, link: NewLink): void {
  const upFlags = (up: boolean | undefined) => (up ? { flags: IFF_UP, change: IFF_UP } : {});
  const info: Attribute[] = [stringAttribute(IFLA_INFO_KIND, link.kind)];
  if (link.peer) {
    const peer = link.peer;
    // VETH_INFO_PEER's value is a whole `struct ifinfomsg` followed by the peer's attributes.
    const peerAttributes = encodeAttributes([
      stringAttribute(IFLA_IFNAME, peer.name),
      ...(peer.netnsFd !== undefined ? [u32Attribute(IFLA_NET_NS_FD, peer.netnsFd)] : []),
    ]);
    info.push(nested(IFLA_INFO_DATA, [attribute(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), peerAttributes]))]));
  }
  const attributes: Attribute[] = [
    stringAttribute(IFLA_IFNAME, link.name),
    ...(link.master !== undefined ? [u32Attribute(IFLA_MASTER, link.master)] : []),
    ...(link.address !== undefined ? [attribute(IFLA_ADDRESS, macBytes(link.address))] : []),
    nested(IFLA_LINKINFO, info),
  ];
  // Either end's name may be the one taken: name both.
  const subject = link.peer ? `${link.name} (peer ${link.peer.name})` : link.name;
  netlink.request(nlmsg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(upFlags(link.up)), attributes), 'RTM_NEWLINK', subject);
}
// #endregion

/** Sets a link up (`ip link set NAME up`), found by name. */
export function setLinkUp(netlink: NetlinkSocket, name: string): void {
  netlink.request(nlmsg(RTM_NEWLINK, 0, ifinfomsg({ flags: IFF_UP, change: IFF_UP }), [stringAttribute(IFLA_IFNAME, name)]), 'RTM_NEWLINK', name);
}

/** Sets a link down (`ip link set NAME down`), found by name. */
export function setLinkDown(netlink: NetlinkSocket, name: string): void {
  netlink.request(nlmsg(RTM_NEWLINK, 0, ifinfomsg({ flags: 0, change: IFF_UP }), [stringAttribute(IFLA_IFNAME, name)]), 'RTM_NEWLINK', name);
}

/** Sets a link's hardware address (`ip link set NAME address MAC`), as aa:bb:cc:dd:ee:ff. */
export function setLinkAddress(netlink: NetlinkSocket, name: string, address: string): void {
  netlink.request(nlmsg(RTM_NEWLINK, 0, ifinfomsg(), [stringAttribute(IFLA_IFNAME, name), attribute(IFLA_ADDRESS, macBytes(address))]), 'RTM_NEWLINK', name);
}

/** Makes a link a port of a bridge (`ip link set NAME master BRIDGE`), by indexes. */
export function setLinkMaster(netlink: NetlinkSocket, name: string, master: number): void {
  netlink.request(nlmsg(RTM_NEWLINK, 0, ifinfomsg(), [stringAttribute(IFLA_IFNAME, name), u32Attribute(IFLA_MASTER, master)]), 'RTM_NEWLINK', name);
}

/** Moves a link into the network namespace `netnsFd` is open on (`ip link set NAME netns N`). */
export function setLinkNetns(netlink: NetlinkSocket, name: string, netnsFd: number): void {
  netlink.request(nlmsg(RTM_NEWLINK, 0, ifinfomsg(), [stringAttribute(IFLA_IFNAME, name), u32Attribute(IFLA_NET_NS_FD, netnsFd)]), 'RTM_NEWLINK', name);
}

/** Deletes a link (`ip link del NAME`); a veth takes its peer with it. Throws ENODEV when there is none. */
export function deleteLink(netlink: NetlinkSocket, name: string): void {
  netlink.request(nlmsg(RTM_DELLINK, 0, ifinfomsg(), [stringAttribute(IFLA_IFNAME, name)]), 'RTM_DELLINK', name);
}

/** One link, by name (`ip link show NAME`). Throws ENODEV when there is none. */
export function getLink(netlink: NetlinkSocket, name: string): Link {
  return parseLink(netlink.query(nlmsg(RTM_GETLINK, 0, ifinfomsg(), [stringAttribute(IFLA_IFNAME, name)]), 'RTM_GETLINK', name));
}

/** Every link of the socket's namespace (`ip link`). */
export function listLinks(netlink: NetlinkSocket): Link[] {
  return netlink.dump(nlmsg(RTM_GETLINK, 0, ifinfomsg())).filter((m) => m.type === RTM_NEWLINK).map(parseLink);
}

function macBytes(address: string): Buffer {
  const parts = address.split(':');
  if (parts.length !== 6 || parts.some((part) => !/^[0-9a-f]{2}$/i.test(part))) throw new TypeError(`not a MAC address: ${address}`);
  return Buffer.from(parts.map((part) => parseInt(part, 16)));
}
// #endregion

// #region routes
export interface InterfaceAddress {
  readonly family: number;
  /** The link's index. */
  readonly index: number;
  readonly address: string;
  readonly prefixLength: number;
  readonly scope: number;
  /** The local address, where it differs from `address` (point-to-point links). */
  readonly local?: string;
  readonly label?: string;
}

/** Adds an IPv4 address to a link (`ip addr add ADDRESS/PREFIX dev LINK`), with its broadcast address. */
export function addAddress(netlink: NetlinkSocket, index: number, address: string, prefixLength: number): void {
  const bytes = ipv4Bytes(address);
  const broadcast = Buffer.from(bytes);
  broadcast.writeUInt32BE((broadcast.readUInt32BE(0) | (prefixLength === 0 ? 0xffffffff : 0xffffffff >>> prefixLength)) >>> 0);
  netlink.request(
    nlmsg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifaddrmsg({ family: AF_INET, prefixLength, index }), [
      attribute(IFA_LOCAL, bytes),
      attribute(IFA_ADDRESS, bytes),
      ...(prefixLength < 31 ? [attribute(IFA_BROADCAST, broadcast)] : []),
    ]),
    'RTM_NEWADDR',
    `${address}/${prefixLength}`,
  );
}

/** Removes an IPv4 address from a link (`ip addr del ADDRESS/PREFIX dev LINK`). Throws EADDRNOTAVAIL when it has none such. */
export function deleteAddress(netlink: NetlinkSocket, index: number, address: string, prefixLength: number): void {
  netlink.request(
    nlmsg(RTM_DELADDR, 0, ifaddrmsg({ family: AF_INET, prefixLength, index }), [attribute(IFA_LOCAL, ipv4Bytes(address))]),
    'RTM_DELADDR',
    `${address}/${prefixLength}`,
  );
}

/** A link's address from an RTM_NEWADDR message (the answer to RTM_GETADDR). */
export function parseAddress(message: NetlinkMessage): InterfaceAddress {
  const { payload } = message;
  const attributes = parseAttributes(payload.subarray(8));
  const address = attributes.get(IFA_ADDRESS) ?? attributes.get(IFA_LOCAL);
  const local = attributes.get(IFA_LOCAL);
  const label = attributeString(attributes.get(IFA_LABEL));
  const result = {
    family: payload.readUInt8(0),
    prefixLength: payload.readUInt8(1),
    scope: payload.readUInt8(3),
    index: payload.readUInt32LE(4),
    address: address ? formatAddress(address) : '',
    ...(label !== undefined && { label }),
  };
  return local && address && !local.equals(address) ? { ...result, local: formatAddress(local) } : result;
}

/** Every address of `family` in the socket's namespace (`ip addr`). */
export function listAddresses(netlink: NetlinkSocket, family: number = AF_INET): InterfaceAddress[] {
  return netlink.dump(nlmsg(RTM_GETADDR, 0, ifaddrmsg({ family }))).filter((m) => m.type === RTM_NEWADDR).map(parseAddress);
}

export interface Route {
  readonly family: number;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  /** The destination network's address; absent for a default route. */
  readonly destination?: string;
  readonly destinationLength: number;
  readonly gateway?: string;
  /** The index of the link the route goes out through. */
  readonly outputIndex?: number;
  readonly preferredSource?: string;
  readonly priority?: number;
}

/** A route from an RTM_NEWROUTE message (the answer to RTM_GETROUTE). */
export function parseRoute(message: NetlinkMessage): Route {
  const { payload } = message;
  const attributes = parseAttributes(payload.subarray(12));
  const destination = attributes.get(RTA_DST);
  const gateway = attributes.get(RTA_GATEWAY);
  const outputIndex = attributes.get(RTA_OIF)?.readUInt32LE(0);
  const preferredSource = attributes.get(RTA_PREFSRC);
  const priority = attributes.get(RTA_PRIORITY)?.readUInt32LE(0);
  return {
    family: payload.readUInt8(0),
    destinationLength: payload.readUInt8(1),
    // rtm_table is one byte; RTA_TABLE holds the whole number for tables past 255.
    table: attributes.get(RTA_TABLE)?.readUInt32LE(0) ?? payload.readUInt8(4),
    protocol: payload.readUInt8(5),
    scope: payload.readUInt8(6),
    type: payload.readUInt8(7),
    ...(destination !== undefined && { destination: formatAddress(destination) }),
    ...(gateway !== undefined && { gateway: formatAddress(gateway) }),
    ...(outputIndex !== undefined && { outputIndex }),
    ...(preferredSource !== undefined && { preferredSource: formatAddress(preferredSource) }),
    ...(priority !== undefined && { priority }),
  };
}

/** Every route of `family` in every table of the socket's namespace (`ip route show table all`). */
export function listRoutes(netlink: NetlinkSocket, family: number = AF_INET): Route[] {
  return netlink.dump(nlmsg(RTM_GETROUTE, 0, rtmsg({ family }))).filter((m) => m.type === RTM_NEWROUTE).map(parseRoute);
}

export interface NewRoute {
  /** 'a.b.c.d/len'; absent for the default route. */
  readonly destination?: string;
  readonly gateway?: string;
  /** The index of the link to send through. */
  readonly outputIndex?: number;
  readonly table?: number;
}

/** Adds an IPv4 route to the main table (`ip route add DEST via GATEWAY dev LINK`). */
export function addRoute(netlink: NetlinkSocket, route: NewRoute): void {
  const [address, length] = route.destination === undefined ? [undefined, 0] : splitPrefix(route.destination);
  const table = route.table ?? RT_TABLE_MAIN;
  netlink.request(
    nlmsg(
      RTM_NEWROUTE,
      NLM_F_CREATE | NLM_F_EXCL,
      rtmsg({
        family: AF_INET,
        dstLength: length,
        table: table < 256 ? table : RT_TABLE_UNSPEC,
        protocol: RTPROT_BOOT, // what `ip route add` says: added by an administrator
        // Through a gateway the destination is anywhere; without one it is on the link.
        scope: route.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
        type: RTN_UNICAST,
      }),
      [
        ...(address !== undefined ? [attribute(RTA_DST, ipv4Bytes(address))] : []),
        ...(route.gateway !== undefined ? [attribute(RTA_GATEWAY, ipv4Bytes(route.gateway))] : []),
        ...(route.outputIndex !== undefined ? [u32Attribute(RTA_OIF, route.outputIndex)] : []),
        u32Attribute(RTA_TABLE, table),
      ],
    ),
    'RTM_NEWROUTE',
    route.destination ?? 'default',
  );
}

function splitPrefix(cidr: string): [string, number] {
  const [address, length] = cidr.split('/');
  const prefixLength = Number(length ?? 32);
  if (!address || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) throw new TypeError(`not an IPv4 prefix: ${cidr}`);
  return [address, prefixLength];
}
// #endregion
