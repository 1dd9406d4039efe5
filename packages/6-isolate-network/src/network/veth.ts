// The container's side: a veth pair, one end a port of the host's bridge, the other
// the container's eth0, with an address and a default route through the bridge.
//
// The pair is made by one RTM_NEWLINK from the host, with the peer created straight in
// the container's network namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER), so there is
// no moving step. The rest (lo and eth0 up, the address, the route) must be done inside
// the container's namespace: through a netlink socket opened there, by a moment's
// setns of the runtime's main thread. The socket stays in that namespace afterwards.
import fs from 'node:fs';
import { CLONE_NEWNET, NetlinkSocket, SyscallError, addAddress, addRoute, deleteLink, getLink, newLink, setLinkUp } from '@samples/syscalls';
import { randomBytes, step, withNamespace } from '@samples/runtime';
import { unsupported } from './bridge';

/** The container's end of the pair, as Docker names it. */
export const CONTAINER_INTERFACE = 'eth0';

/** A name for the host's end: veth and 7 hex digits, as Docker: unique without coordination, under IFNAMSIZ. */
export function hostEndName(): string {
  return `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
}

/** Opens a netlink socket inside the network namespace of process `pid`. */
export function openNetlinkIn(pid: number): NetlinkSocket {
  return withNamespace(`/proc/${pid}/ns/net`, CLONE_NEWNET, () => NetlinkSocket.open());
}

/** `ip link set lo up`, inside the container: a new network namespace starts with lo down. */
export function bringUpLoopback(pid: number): void {
  const inside = step(`open a netlink socket in the container's network namespace (setns to /proc/${pid}/ns/net and back)`, () =>
    openNetlinkIn(pid),
  );
  try {
    step('bring up lo in the container (RTM_NEWLINK)', () => setLinkUp(inside, 'lo'));
  } finally {
    inside.close();
  }
}

export interface VethOptions {
  readonly hostEnd: string;
  readonly bridgeIndex: number;
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway: string;
}

// #region veth
/** Connects the container `pid` to the bridge: its eth0 up, with an address and a default route. */
export function connectContainer(netlink: NetlinkSocket, pid: number, options: VethOptions): void {
  const { hostEnd, bridgeIndex } = options;
  const netns = fs.openSync(`/proc/${pid}/ns/net`, 'r');
  try {
    // #region veth-pair
    step(`create veth pair ${hostEnd} (up, a port of the bridge) and ${CONTAINER_INTERFACE} (in the container) (RTM_NEWLINK)`, () => {
      try {
        newLink(netlink, { name: hostEnd, kind: 'veth', up: true, master: bridgeIndex, peer: { name: CONTAINER_INTERFACE, netnsFd: netns } });
      } catch (error) {
        throw unsupported(error, 'veth', 'CONFIG_VETH');
      }
    });
    // #endregion
  } finally {
    fs.closeSync(netns);
  }
  try {
    configureInside(pid, options);
  } catch (error) {
    disconnectContainer(netlink, hostEnd);
    throw error;
  }
}

function configureInside(pid: number, { address, prefixLength, gateway }: VethOptions): void {
  const inside = step(`open a netlink socket in the container's network namespace (setns to /proc/${pid}/ns/net and back)`, () =>
    openNetlinkIn(pid),
  );
  try {
    // #region inside
    // A veth cannot be created up: the kernel sets the peer up before the pair is linked.
    step(`bring up lo and ${CONTAINER_INTERFACE} in the container (RTM_NEWLINK)`, () => {
      setLinkUp(inside, 'lo');
      setLinkUp(inside, CONTAINER_INTERFACE);
    });
    const index = getLink(inside, CONTAINER_INTERFACE).index;
    step(`add ${address}/${prefixLength} to ${CONTAINER_INTERFACE} (RTM_NEWADDR)`, () => addAddress(inside, index, address, prefixLength));
    step(`add a default route via ${gateway} (RTM_NEWROUTE)`, () => addRoute(inside, { gateway, outputIndex: index }));
    // #endregion
  } finally {
    inside.close();
  }
}
// #endregion

/**
 * Deletes the host's end, which takes the container's with it. The kernel would do
 * this itself when the container's namespace goes, but later: a namespace is torn
 * down by a kernel worker, after its last process has gone. One already gone is no error.
 */
export function disconnectContainer(netlink: NetlinkSocket, hostEnd: string): void {
  try {
    deleteLink(netlink, hostEnd);
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'ENODEV')) throw error;
  }
}
