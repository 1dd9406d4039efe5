// The one test on the real host (every other runs its runtimes in a scratch network
// namespace): while a container runs, the host has a bridge more; once it ended, the
// host's links, addresses, routes, forwarding settings and nftables tables are exactly
// what they were. Its traffic goes only to the container's address. Skipped while
// another stage 6 container runs here, whose bridge this test would share.
import fs from 'node:fs';
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs';
import { isRoot, rootTest, testIf } from '@samples/testing';
import { leaseKind, liveAddresses, stateDirectory } from '../src/network/state';
import { TOOLS_MISSING, added, hostNetwork, httpGet, inRootfs, ip, startServing } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const hasTools = isRoot && inRootfs(rootfs, 'ip') && inRootfs(rootfs, 'busybox');
const kind = isRoot ? leaseKind() : '';

/** Why this host cannot be used now, or undefined. */
function whyNot(): string | undefined {
  if (!isRoot) return undefined; // rootTest says so
  if (!hasTools) return TOOLS_MISSING;
  const others = liveAddresses(kind);
  if (others.length > 0) return `another stage 6 container runs on this host (${others.join(', ')}): run it when that one has ended`;
  if (fs.existsSync(stateDirectory(kind)) || ip('-o', 'link').includes(': samples0:')) {
    return `${stateDirectory(kind)} or a link samples0 is here already (left by a runtime killed with SIGKILL?): the next stage 6 run sweeps it`;
  }
  return undefined;
}

const reason = whyNot();
const test = testIf(reason === undefined, reason ?? '', rootTest);

/** Every IPv4 forwarding and accept_redirects setting: writing ip_forward changes them all. */
function forwardingSettings(): Record<string, string> {
  const root = '/proc/sys/net/ipv4/conf';
  return Object.fromEntries(
    fs.readdirSync(root).flatMap((link) =>
      ['forwarding', 'accept_redirects'].map((name) => [`${link}/${name}`, fs.readFileSync(path.join(root, link, name), 'utf8').trim()]),
    ),
  );
}

test('on the real host: a bridge while a container runs, reached at the container address; afterwards the host exactly as before', async (t) => {
  const before = { ...hostNetwork(), settings: forwardingSettings() };
  const serving = await startServing(t);
  const during = hostNetwork();
  t.deepEqual(
    added(before.links, during.links).map((line) => line.split(': ')[1]!.split('@')[0]!.replace(/^veth[0-9a-f]{7}$/, 'veth…')).sort(),
    ['samples0', 'veth…'],
  );
  t.is(await httpGet(`http://${serving.address}/`), 'hello from the container\n');
  t.is(await serving.stop(), 143);
  t.deepEqual({ ...hostNetwork(), settings: forwardingSettings() }, before);
  t.false(fs.existsSync(stateDirectory(kind)));
});
