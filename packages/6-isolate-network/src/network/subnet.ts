// The containers' subnet: which one by default, whether it clashes with the host's
// routes, and the addresses in it (the bridge takes the first, containers the rest).
import { RT_TABLE_LOCAL, type Route } from '@samples/syscalls';
import { CliError, ExitStatus } from '@samples/runtime';

// #region default
/**
 * 10.22.0.0/24 unless --subnet says otherwise. A /24 holds 253 containers, plenty for
 * one machine, and a small range is less likely to overlap anything. It lies in
 * private space (RFC 1918) away from the ranges other tools take by default, which
 * is where clashes come from: Docker (172.17.0.0/16, then 172.18-31 and 192.168/16),
 * Podman (10.88.0.0/16), libvirt (192.168.122.0/24), Kubernetes and k3s (10.96.0.0/12,
 * 10.244.0.0/16, 10.42.0.0/16), the AWS default VPC (172.31.0.0/16), home routers
 * (192.168.0.0/24, 192.168.1.0/24, 10.0.0.0/24) and WSL 2 (somewhere in 172.16.0.0/12).
 * Should it clash all the same, the runtime says so in one line before doing anything.
 */
export const DEFAULT_SUBNET = '10.22.0.0/24';
// #endregion

export interface Subnet {
  /** The network address as a 32-bit number. */
  readonly network: number;
  readonly prefixLength: number;
}

/** '10.22.0.0/24' -> a Subnet. Host bits set ('10.22.0.5/24') or a range too small for a container are refused. */
export function parseSubnet(text: string): Subnet {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  const octets = match?.slice(1, 5).map(Number) ?? [];
  const prefixLength = Number(match?.[5]);
  if (!match || octets.some((octet) => octet > 255) || prefixLength > 32) {
    throw new CliError(`--subnet ${text}: give an IPv4 network with its prefix length, like ${DEFAULT_SUBNET}`, ExitStatus.USAGE);
  }
  if (prefixLength > 29 || prefixLength < 8) {
    throw new CliError(`--subnet ${text}: the prefix length must be from 8 to 29 (a bridge and at least one container)`, ExitStatus.USAGE);
  }
  const address = octets.reduce((value, octet) => value * 256 + octet, 0);
  const network = (address & mask(prefixLength)) >>> 0;
  if (network !== address) {
    throw new CliError(`--subnet ${text}: that is an address, not a network: did you mean ${format(network)}/${prefixLength}?`, ExitStatus.USAGE);
  }
  return { network, prefixLength };
}

/** 10.22.0.0/24 as text. */
export function formatSubnet(subnet: Subnet): string {
  return `${format(subnet.network)}/${subnet.prefixLength}`;
}

/** The bridge's address: the subnet's first host address (10.22.0.1), the containers' gateway. */
export function gatewayAddress(subnet: Subnet): string {
  return format(subnet.network + 1);
}

/** The addresses containers may take, in order: all but the network, the gateway and the broadcast address. */
export function containerAddresses(subnet: Subnet): string[] {
  const size = 2 ** (32 - subnet.prefixLength);
  return Array.from({ length: size - 3 }, (_, i) => format(subnet.network + 2 + i));
}

// #region clash
/**
 * The first of the host's routes whose destination overlaps `subnet`: sending to a
 * container would then be ambiguous. The default route (0.0.0.0/0 overlaps
 * everything, by design) and the local table (the host's own addresses, each also
 * covered by a route of the main table) do not count, nor do routes through
 * `ownBridge`, the runtime's own bridge from an earlier container.
 */
export function findClash(subnet: Subnet, routes: readonly Route[], ownBridge?: number): Route | undefined {
  return routes.find((route) => {
    if (route.destinationLength === 0 || route.table === RT_TABLE_LOCAL) return false;
    if (ownBridge !== undefined && route.outputIndex === ownBridge) return false;
    const destination = parseAddress(route.destination ?? '0.0.0.0');
    const shorter = Math.min(route.destinationLength, subnet.prefixLength);
    return ((destination & mask(shorter)) >>> 0) === ((subnet.network & mask(shorter)) >>> 0);
  });
}
// #endregion

/** The one line for a clash: which route, and what to do. */
export function clashMessage(subnet: Subnet, route: Route, linkName: string): string {
  return (
    `the subnet ${formatSubnet(subnet)} overlaps the host's route to ${route.destination}/${route.destinationLength} ` +
    `(dev ${linkName}): choose another with --subnet, like --subnet 10.123.0.0/24`
  );
}

function mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function format(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.');
}

function parseAddress(text: string): number {
  return text.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}
