// The host's side: a Linux bridge that every container's veth is a port of, with the
// subnet's first address, so that containers reach each other and the host, and the
// host reaches them (the kernel adds the route to the subnet with the address).
import {
  IFF_UP,
  type Link,
  NetlinkSocket,
  SyscallError,
  addAddress,
  deleteAddress,
  deleteLink,
  getLink,
  listAddresses,
  newLink,
  setLinkAddress,
  setLinkDown,
  setLinkUp,
} from '@samples/syscalls';
import { CliError, randomBytes } from '@samples/runtime';
import { type Subnet, gatewayAddress } from './subnet';

export const DEFAULT_BRIDGE = 'samples0';

/** The bridge, if a link of that name exists and is a bridge. */
export function findBridge(netlink: NetlinkSocket, name: string): Link | undefined {
  try {
    const link = getLink(netlink, name);
    if (link.kind !== 'bridge') {
      throw new CliError(`a link named ${name} exists and is not a bridge (${link.kind ?? 'a device'}): remove it, or rename it`);
    }
    return link;
  } catch (error) {
    if (error instanceof SyscallError && error.code === 'ENODEV') return undefined;
    throw error;
  }
}

/** What using a bridge that was there already changes on it, to be undone afterwards. */
export interface BorrowedBridge {
  /** It was down: the runtime sets it up. */
  readonly setUp: boolean;
  /** It lacked the gateway address: the runtime adds it. */
  readonly addedAddress: boolean;
  /** Its MAC address, which follows its ports' unless set: the containers' veths change it. */
  readonly mac?: string;
}

/** What createBridge will change on `existing`, a bridge that is there already. */
export function borrowing(netlink: NetlinkSocket, existing: Link, subnet: Subnet): BorrowedBridge {
  const gateway = gatewayAddress(subnet);
  const has = listAddresses(netlink).some(({ index, address, prefixLength }) => index === existing.index && address === gateway && prefixLength === subnet.prefixLength);
  return { setUp: !(existing.flags & IFF_UP), addedAddress: !has, ...(existing.address !== undefined && { mac: existing.address }) };
}

/**
 * Gives back a bridge that was there before: its address, MAC address and state as
 * they were. (Not its queueing discipline: the kernel gives a link one the first time
 * it goes up, and `ip link` shows `qdisc noqueue` where it said `noop`.)
 */
export function giveBackBridge(netlink: NetlinkSocket, name: string, subnet: Subnet, borrowed: BorrowedBridge): void {
  const link = findBridge(netlink, name);
  if (link === undefined) return;
  if (borrowed.addedAddress) {
    try {
      deleteAddress(netlink, link.index, gatewayAddress(subnet), subnet.prefixLength);
    } catch (error) {
      if (!(error instanceof SyscallError && error.code === 'EADDRNOTAVAIL')) throw error;
    }
  }
  if (borrowed.mac !== undefined && link.address !== borrowed.mac) setLinkAddress(netlink, name, borrowed.mac);
  if (borrowed.setUp) setLinkDown(netlink, name);
}

// #region bridge
/**
 * `ip link add NAME address MAC up type bridge; ip addr add GATEWAY/LEN dev NAME`.
 * A bridge that is there already (EEXIST) is set up and given the address, if it
 * lacks them (see `borrowing`, which says what to undo afterwards). The fixed MAC address
 * matters: a bridge without one takes the lowest of its ports', so it would change
 * as containers come and go, and neighbours' ARP caches would go stale.
 */
export function createBridge(netlink: NetlinkSocket, name: string, subnet: Subnet): number {
  try {
    newLink(netlink, { name, kind: 'bridge', up: true, address: randomLocalMac() });
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'EEXIST')) throw unsupported(error, 'bridge', 'CONFIG_BRIDGE');
    setLinkUp(netlink, name);
  }
  const index = getLink(netlink, name).index;
  try {
    addAddress(netlink, index, gatewayAddress(subnet), subnet.prefixLength);
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'EEXIST')) throw error;
  }
  return index;
}
// #endregion

/** `ip link del NAME`: its ports are let go, its address and route go with it. A bridge already gone is no error. */
export function removeBridge(netlink: NetlinkSocket, name: string): void {
  try {
    deleteLink(netlink, name);
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'ENODEV')) throw error;
  }
}

/** A kernel without a link type answers EOPNOTSUPP ("Unknown device type"): say which option it lacks. */
export function unsupported(error: unknown, kind: string, option: string): unknown {
  if (error instanceof SyscallError && error.code === 'ENOTSUP') {
    return new CliError(`this kernel has no ${kind} support (${option}): use --network none or --network host`);
  }
  return error;
}

/** A random unicast MAC address with the locally administered bit set (02:...). */
export function randomLocalMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}
