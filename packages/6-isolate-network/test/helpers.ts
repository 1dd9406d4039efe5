// What stage 6's tests share: how they look at a host's network, and a container
// that serves HTTP.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { leases } from '@samples/runtime';
import { CLONE_NEWNET, NETLINK_NETFILTER, NFPROTO_IPV4, NetlinkSocket, listTables, setLinkUp, unshare } from '@samples/syscalls';
import { startStageUntilReady } from '@samples/testing';
import { leaseKind, stateDirectory } from '../src/network/state';

export const stage = path.join(__dirname, '..');

/** Whether the root filesystem `rootfs` has `command` (the default takes ip and busybox from the host when there). */
export function inRootfs(rootfs: string, command: string): boolean {
  return ['usr/sbin', 'usr/bin', 'sbin', 'bin'].some((dir) => fs.existsSync(path.join(rootfs, dir, command)));
}

/**
 * Moves this test process's main thread into a new network namespace, with lo up: a
 * scratch "host" whose links, routes, nftables and ip_forward the tests may change
 * freely. The real host's network is never touched, and everything made in the scratch
 * one goes when the test process ends, even if a test failed half-way. Children spawned
 * from now on (the runtimes a test starts, `ip`) start in it too, and so do the sockets
 * this process opens (on the main thread). Call it once, at the top of a test file, as root.
 */
export function enterScratchHost(): void {
  unshare(CLONE_NEWNET);
  // A new network namespace starts with the host's ip_forward of that moment (IPv4 copies
  // init_net's: net.core.devconf_inherit_init_net=0), which a runtime elsewhere on the host
  // may have turned on: the scratch host starts as a host without containers, with it off.
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
  const netlink = NetlinkSocket.open();
  try {
    setLinkUp(netlink, 'lo');
  } finally {
    netlink.close();
  }
}

export const TOOLS_MISSING =
  'needs ip and busybox in the default root filesystem: apt-get install iproute2 busybox-static, then pnpm rootfs build --force';

// #region a host network, as the tests look at it
export const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' }).stdout;
export const forwarding = () => fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

/** nftables' tables, over netlink (nft itself may not be installed). */
export function tables(): string[] {
  const netlink = NetlinkSocket.open(NETLINK_NETFILTER);
  try {
    return listTables(netlink).map((table) => `${table.family === NFPROTO_IPV4 ? 'ip' : table.family} ${table.name}`);
  } finally {
    netlink.close();
  }
}

/** Links, addresses, routes (both families, every table), forwarding, nftables: what the runtime may change. */
export function hostNetwork() {
  settleAddresses();
  return {
    links: ip('-o', 'link').trim().split('\n'),
    addresses: ip('-o', 'addr').trim().split('\n'),
    routes: [...ip('route', 'show', 'table', 'all').trim().split('\n'), ...ip('-6', 'route', 'show', 'table', 'all').trim().split('\n')],
    forwarding: forwarding(),
    tables: tables(),
  };
}

/**
 * Waits, at most 10 s, until no IPv6 address is still "tentative": a link a test has just
 * made gets its link-local address only once duplicate-address detection is done (a
 * second or two, more on a busy machine), and a snapshot taken meanwhile would differ
 * from a later one for that reason alone.
 */
function settleAddresses(): void {
  const deadline = Date.now() + 10_000;
  while (ip('-o', 'addr').includes(' tentative')) {
    if (Date.now() > deadline) throw new Error(`timed out after 10 s waiting for IPv6 duplicate-address detection to end:\n${ip('-o', 'addr')}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

export const added = (before: readonly string[], now: readonly string[]) => now.filter((line) => !before.includes(line));
export const removed = (before: readonly string[], now: readonly string[]) => before.filter((line) => !now.includes(line));

/** The address leases of the network namespace this process is in (none once every container ended), and its state directory. */
export function leftovers() {
  const kind = leaseKind();
  return { leases: leases(kind).map((lease) => lease.id), stateDirectory: fs.existsSync(stateDirectory(kind)) };
}
// #endregion

/** GET `url` from the host, with a bound; resolves with the body. */
export function httpGet(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`)));
    request.on('error', reject);
  });
}

/**
 * Starts a container serving "hello from the container" over HTTP on its port 80
 * (busybox httpd), and resolves once it listens, with its address. SIGTERM ends it,
 * at the latest when the test ends.
 */
export async function startServing(t: ExecutionContext, options: string[] = []) {
  const script = [
    'trap "exit 143" TERM',
    'ip -4 -o addr show eth0',
    'echo "hello from the container" > /tmp/index.html',
    'httpd -p 80 -h /tmp && echo ready',
    'sleep 60 & wait',
  ].join('; ');
  const { runtime, exited, output } = await startStageUntilReady(stage, [...options, 'sh', '-c', script]);
  const stop = async () => {
    if (runtime.exitCode === null && runtime.signalCode === null) runtime.kill('SIGTERM');
    return exited;
  };
  t.teardown(stop);
  const address = /inet (\S+)\//.exec(output.text)?.[1];
  return { runtime, address: address!, stop };
}

/** GET `url` from inside the network namespace of process `pid`, with the host's node. */
export function httpGetFrom(pid: number, url: string): string {
  const script = `require('http').get(${JSON.stringify(url)}, { timeout: 5000 }, (r) => r.pipe(process.stdout)).on('error', (e) => console.log(e.message));`;
  return spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 }).stdout;
}

