// Stage 6's network, as the runtime uses it: `prepareNetwork` before the container
// exists, `connect(pid)` once its network namespace does, `release()` when it ended.
//
//   bridge (the default)  a veth pair: eth0 in the container, with an address of the
//                         subnet and a default route; the other end a port of a bridge
//                         on the host, made on first use, with NAT out; --publish relays
//   none                  a network namespace with lo only
//   host                  the host's network, as stages 0-5 have it
//
// Runtimes running at once coordinate through files under /run (see state.ts); the
// last one out gives the host back as it was.
import { CLONE_NEWNET, NetlinkSocket, SyscallError, listLinks, listRoutes } from '@samples/syscalls';
import { CliError, ExitStatus, type OptionSpec, step, trace } from '@samples/runtime';
import { DEFAULT_BRIDGE, borrowing, createBridge, findBridge, giveBackBridge, removeBridge } from './bridge';
import { enableForwarding, readForwardingSettings, restoreForwarding } from './forwarding';
import { addMasquerade, forwardDropper, natUnavailableMessage, removeMasquerade } from './nat';
import { type PortMapping, type Proxy, listenForPublish, parsePublishes } from './publish';
import {
  type HostRecord,
  leaseKind,
  liveAddresses,
  readHostRecord,
  reclaimAddresses,
  releaseAddress,
  removeHostRecord,
  removeStateDirectory,
  stateDirectory,
  takeAddress,
  withHostLock,
  writeHostRecord,
} from './state';
import { DEFAULT_SUBNET, type Subnet, clashMessage, containerAddresses, findClash, formatSubnet, gatewayAddress, parseSubnet } from './subnet';
import { bringUpLoopback, connectContainer, disconnectContainer, hostEndName } from './veth';

export { DEFAULT_BRIDGE } from './bridge';
export { DEFAULT_SUBNET } from './subnet';
export type { PortMapping } from './publish';

/** --network, with Docker's names. */
export const NETWORK_MODES = ['bridge', 'none', 'host'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

// #region options
/** The options that choose the network, as every stage from 6 on has them. */
export const networkOptions = {
  network: { value: 'MODE', description: 'bridge: an address of its own, NAT out; none: only lo; host: the host network', default: 'bridge' },
  subnet: { value: 'CIDR', description: `the bridge's subnet (default: ${DEFAULT_SUBNET}, or the one in use)` },
  publish: { value: 'HOST:CONTAINER', short: 'p', repeatable: true, description: 'relay TCP connections to host port HOST to the container port CONTAINER' },
} satisfies Record<string, OptionSpec>;
// #endregion

export interface NetworkSettings {
  readonly mode: NetworkMode;
  /** --subnet, checked; undefined: the default, or the one in use. */
  readonly subnet?: Subnet;
  readonly publish: readonly PortMapping[];
}

/** The network options, checked: a mistake is one line and status 2, before anything is made. */
export function parseNetworkOptions(options: { network: string; subnet?: string | undefined; publish: readonly string[] }): NetworkSettings {
  const mode = parseNetworkMode(options.network);
  const publish = parsePublishes(options.publish);
  if (mode !== 'bridge' && options.subnet !== undefined) {
    throw new CliError(`--subnet is for --network bridge, not ${mode}`, ExitStatus.USAGE);
  }
  if (mode !== 'bridge' && publish.length > 0) {
    const why = mode === 'host' ? "the container's ports are the host's already" : 'the container has no address to relay to';
    throw new CliError(`--publish is for --network bridge: with --network ${mode} ${why}`, ExitStatus.USAGE);
  }
  return { mode, publish, ...(options.subnet !== undefined && { subnet: parseSubnet(options.subnet) }) };
}

/** 'bridge' | 'none' | 'host'; anything else is one line and status 2. */
export function parseNetworkMode(text: string): NetworkMode {
  if ((NETWORK_MODES as readonly string[]).includes(text)) return text as NetworkMode;
  throw new CliError(`--network ${text}: choose bridge (the default), none or host`, ExitStatus.USAGE);
}

/** The container's network, from before it starts until after it ended. */
export interface Network {
  /** CLONE_NEWNET, or 0 for the host's network. */
  readonly cloneFlags: number;
  /** Gives the container process `pid` its network: lo, and with bridge its eth0. Then --publish relays. */
  connect(pid: number): void;
  /** Stops relaying and gives back what the container held; the last one out restores the host. */
  release(): Promise<void>;
}

// #region prepare
/**
 * Before the container exists: listens on each --publish port and, for bridge, takes
 * an address (setting up the host's side if no container uses it yet). What can be
 * refused (a port in use, a subnet that clashes) is refused here, before anything
 * exists; a refusal leaves nothing. `warn` prints a line the container starts despite.
 */
export async function prepareNetwork(settings: NetworkSettings, warn: (line: string) => void): Promise<Network> {
  if (settings.mode !== 'bridge') {
    // What a runtime killed with SIGKILL left is swept by the next run, whatever its mode.
    sweepLeftovers();
    if (settings.mode === 'host') return { cloneFlags: 0, connect() {}, release: async () => {} };
    return { cloneFlags: CLONE_NEWNET, connect: (pid) => bringUpLoopback(pid), release: async () => {} };
  }
  const proxies: Proxy[] = [];
  try {
    for (const mapping of settings.publish) {
      proxies.push(await listenForPublish(mapping));
      trace(`listen on host port ${mapping.hostPort} for --publish ${mapping.hostPort}:${mapping.containerPort} ... ok`);
    }
    const lease = reserveAddress({ ...(settings.subnet && { subnet: settings.subnet }), warn });
    return {
      cloneFlags: CLONE_NEWNET,
      connect(pid) {
        lease.connect(pid);
        for (const proxy of proxies) {
          step(`relay host port ${proxy.hostPort} to ${lease.address}:${proxy.containerPort}`, () => proxy.forwardTo(lease.address));
        }
      },
      async release() {
        await Promise.all(proxies.map((proxy) => proxy.close()));
        lease.release();
      },
    };
  } catch (error) {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    throw error;
  }
}
// #endregion

export interface BridgeOptions {
  /** --subnet; the one in use, or DEFAULT_SUBNET, when absent. */
  readonly subnet?: Subnet;
  readonly bridge?: string;
  /** Prints a one-line warning (NAT or forwarding unavailable): the container starts anyway. */
  readonly warn?: (line: string) => void;
}

export interface Lease {
  /** The container's address. */
  readonly address: string;
  readonly gateway: string;
  readonly prefixLength: number;
  readonly bridge: string;
  /** Gives the container process `pid` its eth0, address and route. */
  connect(pid: number): void;
  /** Disconnects the container and returns the address; the last one out restores the host. Safe to call twice. */
  release(): void;
}

interface Settings {
  readonly subnet: Subnet | undefined;
  readonly bridge: string;
  readonly kind: string;
  readonly directory: string;
  readonly warn: (line: string) => void;
}

// #region reserve
/**
 * Under the host lock: sweeps what killed runtimes left, sets up the bridge, NAT and
 * forwarding if no other container uses them, and takes a free address. A refusal or
 * failure leaves nothing: what this call set up, it takes down again.
 */
export function reserveAddress(options: BridgeOptions = {}): Lease {
  const kind = leaseKind();
  const settings: Settings = {
    subnet: options.subnet,
    bridge: options.bridge ?? DEFAULT_BRIDGE,
    kind,
    directory: stateDirectory(kind),
    warn: options.warn ?? (() => {}),
  };
  const netlink = NetlinkSocket.open();
  try {
    const reserved = withHostLock(settings.directory, () => {
      try {
        return reserveLocked(netlink, settings);
      } catch (error) {
        try {
          lastOneOut(netlink, settings);
        } catch {
          // The first failure is the one to report; what is left, the next run sweeps.
        }
        throw error;
      }
    });
    return lease(netlink, settings, reserved);
  } catch (error) {
    netlink.close();
    throw error;
  }
}

interface Reserved {
  readonly subnet: Subnet;
  readonly bridgeIndex: number;
  readonly address: string;
  readonly hostEnd: string;
}

/** What reserveAddress does holding the lock. */
function reserveLocked(netlink: NetlinkSocket, settings: Settings): Reserved {
  const { bridge, kind, directory } = settings;
  const record = sweepLocked(netlink, settings);
  const wanted = settings.subnet ?? parseSubnet(record?.subnet ?? DEFAULT_SUBNET);
  if (record !== undefined && record.subnet !== formatSubnet(wanted)) {
    throw new CliError(
      `the bridge ${bridge} is in use with subnet ${record.subnet}: use that one (no --subnet), or wait until its containers end`,
      ExitStatus.USAGE,
    );
  }
  const bridgeIndex = record === undefined ? setUpHost(netlink, settings, wanted) : findBridge(netlink, bridge)?.index;
  if (bridgeIndex === undefined) throw new CliError(`the bridge ${bridge} is gone while containers use it: was it deleted by hand?`);
  const hostEnd = hostEndName();
  const address = step(`take a free address of ${formatSubnet(wanted)} (a lease in ${directory})`, () =>
    takeAddress(kind, containerAddresses(wanted), { hostEnd }),
  );
  return { subnet: wanted, bridgeIndex, address, hostEnd };
}

/**
 * What runtimes killed with SIGKILL left: their leases, and, when no runtime is left,
 * the host's side. Returns the host record still in force, if any.
 */
function sweepLocked(netlink: NetlinkSocket, { kind, directory }: Settings): HostRecord | undefined {
  reclaimAddresses(kind, ({ id, owner, data }) => {
    trace(`release ${id}, left by runtime ${owner.pid} (killed with SIGKILL?), and delete ${data.hostEnd}`);
    disconnectContainer(netlink, data.hostEnd);
  });
  const record = readHostRecord(directory);
  if (record === undefined || liveAddresses(kind).length > 0) return record;
  step(`sweep what a runtime killed with SIGKILL left: remove ${record.bridge} and its NAT table, restore forwarding`, () =>
    restoreHost(netlink, record),
  );
  removeHostRecord(directory);
  return undefined;
}

/** Sweeps leftovers of killed runtimes, for a run that uses no bridge itself. */
function sweepLeftovers(): void {
  const kind = leaseKind();
  const settings: Settings = { subnet: undefined, bridge: DEFAULT_BRIDGE, kind, directory: stateDirectory(kind), warn: () => {} };
  if (liveAddresses(kind).length > 0 || readHostRecord(settings.directory) === undefined) return;
  const netlink = NetlinkSocket.open();
  try {
    withHostLock(settings.directory, () => {
      sweepLocked(netlink, settings);
      if (liveAddresses(kind).length === 0) removeStateDirectory(settings.directory);
    });
  } finally {
    netlink.close();
  }
}

/** Called holding the lock: when no container is left, restores the host and removes the state. */
function lastOneOut(netlink: NetlinkSocket, { kind, directory }: Settings): void {
  if (liveAddresses(kind).length > 0) return;
  const record = readHostRecord(directory);
  if (record !== undefined) {
    step(`last container out: remove ${record.bridge} and its NAT table, restore forwarding`, () => restoreHost(netlink, record));
  }
  removeStateDirectory(directory);
}
// #endregion

// #region host
/**
 * The first container on this host: check the subnet, then bridge, NAT, forwarding.
 * The record on disk is written before each change, so that a runtime killed half-way
 * leaves enough for the next one to undo it.
 */
function setUpHost(netlink: NetlinkSocket, { bridge, directory, warn }: Settings, subnet: Subnet): number {
  const existing = findBridge(netlink, bridge);
  const clash = step(`check the host's routes for one that overlaps ${formatSubnet(subnet)} (RTM_GETROUTE)`, () =>
    findClash(subnet, listRoutes(netlink), existing?.index),
  );
  if (clash !== undefined) {
    const link = clash.outputIndex === undefined ? 'none' : (listLinks(netlink).find((l) => l.index === clash.outputIndex)?.name ?? String(clash.outputIndex));
    throw new CliError(clashMessage(subnet, clash, link), ExitStatus.USAGE);
  }
  let record: HostRecord =
    existing === undefined
      ? { bridge, subnet: formatSubnet(subnet), createdBridge: true }
      : { bridge, subnet: formatSubnet(subnet), createdBridge: false, borrowedBridge: borrowing(netlink, existing, subnet) };
  writeHostRecord(directory, record);
  const bridgeIndex = step(`create bridge ${bridge}, up, with ${gatewayAddress(subnet)}/${subnet.prefixLength} (RTM_NEWLINK, RTM_NEWADDR)`, () =>
    createBridge(netlink, bridge, subnet),
  );
  const natTable = bridge;
  record = { ...record, natTable };
  writeHostRecord(directory, record);
  try {
    step(`masquerade ${formatSubnet(subnet)} going out through any link but ${bridge} (nf_tables: table ip ${natTable}, one batch)`, () =>
      addMasquerade(natTable, subnet, bridge),
    );
  } catch (error) {
    const { natTable: _, ...withoutNat } = record;
    record = withoutNat;
    writeHostRecord(directory, record);
    warn(natUnavailableMessage(subnet, error));
  }
  try {
    const saved = readForwardingSettings();
    if (saved[0]![1] !== '1') {
      writeHostRecord(directory, { ...record, savedSysctls: saved });
      step('turn on IPv4 forwarding (/proc/sys/net/ipv4/ip_forward: 1)', () => enableForwarding());
    }
  } catch (error) {
    warn(`cannot turn on IPv4 forwarding (${(error as Error).message}): containers reach the host and each other, not beyond`);
  }
  try {
    const dropper = forwardDropper();
    if (dropper !== undefined) {
      warn(`the host's firewall drops forwarded packets (${dropper}, policy drop): containers reach the host and each other, not beyond`);
    }
  } catch (error) {
    // No nf_tables at all: nothing there can drop either.
    if (!(error instanceof SyscallError)) throw error;
  }
  return bridgeIndex;
}

/** Undoes what `record` says was done: the NAT table, the bridge (or what was changed on one that was there), the forwarding settings. */
function restoreHost(netlink: NetlinkSocket, record: HostRecord): void {
  const errors: unknown[] = [];
  const attempt = (action: () => void) => {
    try {
      action();
    } catch (error) {
      errors.push(error);
    }
  };
  if (record.natTable !== undefined) attempt(() => removeMasquerade(record.natTable!));
  if (record.createdBridge) attempt(() => removeBridge(netlink, record.bridge));
  else if (record.borrowedBridge !== undefined) attempt(() => giveBackBridge(netlink, record.bridge, parseSubnet(record.subnet), record.borrowedBridge!));
  if (record.savedSysctls !== undefined) attempt(() => restoreForwarding(record.savedSysctls!));
  if (errors.length > 0) throw errors[0];
}
// #endregion

function lease(netlink: NetlinkSocket, settings: Settings, { subnet, bridgeIndex, address, hostEnd }: Reserved): Lease {
  const { bridge, kind, directory } = settings;
  const gateway = gatewayAddress(subnet);
  const { prefixLength } = subnet;
  let connected = false;
  let released = false;
  return {
    address,
    gateway,
    prefixLength,
    bridge,
    connect(pid) {
      connectContainer(netlink, pid, { hostEnd, bridgeIndex, address, prefixLength, gateway });
      connected = true;
    },
    release() {
      if (released) return;
      released = true;
      try {
        if (connected) step(`delete ${hostEnd}, and the container's eth0 with it (RTM_DELLINK)`, () => disconnectContainer(netlink, hostEnd));
        withHostLock(directory, () => {
          releaseAddress(kind, address);
          lastOneOut(netlink, settings);
        });
      } finally {
        netlink.close();
      }
    },
  };
}
