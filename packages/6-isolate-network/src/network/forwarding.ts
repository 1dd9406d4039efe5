// IPv4 forwarding, which a host must do for containers to reach past it, and how to
// give the host back exactly the settings it had.
//
// Writing net.ipv4.ip_forward does more than its name says: when the value changes,
// the kernel (inet_forward_change) also sets conf/default/forwarding and every link's
// conf/<link>/forwarding to the new value, and conf/all/accept_redirects to its
// opposite. Writing the old value back alone would not restore those: a host hardened
// with accept_redirects=0 would come back accepting ICMP redirects. So they are all
// read first, and written back after ip_forward, in that order.
// /proc/sys/net is the caller's network namespace's: read and write it from the main
// thread only (synchronous fs), never from the thread pool.
import fs from 'node:fs';
import path from 'node:path';

export const IPV4_SYSCTL = '/proc/sys/net/ipv4';

// #region settings
/** The settings writing ip_forward touches, with their current values; ip_forward first. */
export function readForwardingSettings(root = IPV4_SYSCTL): [string, string][] {
  const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8').trim();
  const links = fs.readdirSync(path.join(root, 'conf')).filter((name) => name !== 'all' && name !== 'default');
  return ['ip_forward', 'conf/all/accept_redirects', 'conf/default/forwarding', ...links.map((link) => `conf/${link}/forwarding`)].map(
    (file) => [file, read(file)],
  );
}

/**
 * Turns forwarding on. Returns the settings to restore afterwards, or undefined when
 * forwarding was on already (then nothing changed, and nothing is to be restored).
 */
export function enableForwarding(root = IPV4_SYSCTL): [string, string][] | undefined {
  const saved = readForwardingSettings(root);
  if (saved[0]![1] === '1') return undefined;
  fs.writeFileSync(path.join(root, 'ip_forward'), '1');
  return saved;
}

/** Writes the saved values back: ip_forward, then what writing it changed. Links gone since are skipped. */
export function restoreForwarding(saved: readonly (readonly [string, string])[], root = IPV4_SYSCTL): void {
  for (const [file, value] of saved) {
    const target = path.join(root, file);
    try {
      if (fs.readFileSync(target, 'utf8').trim() !== value) fs.writeFileSync(target, value);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
// #endregion
