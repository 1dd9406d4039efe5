// What differs between two runs of the same transcript, or two machines, and is not
// the point: each is replaced by a placeholder that says what stood there.
import fs from 'node:fs';
import os from 'node:os';

export interface Machine {
  /** The repository's folder, as given and with symlinks resolved (the stages print that): `<repo>`. */
  readonly repo: readonly string[];
  /** The host's name: a line that is just this is `<host>`. */
  readonly hostname: string;
}

export function thisMachine(repo: string): Machine {
  // The longer first, in case one is a prefix of the other.
  const folders = [...new Set([fs.realpathSync(repo), repo])].sort((a, b) => b.length - a.length);
  return { repo: folders, hostname: os.hostname() };
}

/**
 * A function that replaces the volatile values in the texts of one transcript (both
 * of its terminals: what is equal in one and the other stays equal).
 */
export function normaliser(machine: Machine): (text: string) => string {
  const namespaces = new Map<string, string>();
  return (text) => relayoutPs(
    machine.repo
      .reduce((result, folder) => result.replaceAll(folder, '<repo>'), text)
      .replace(new RegExp(`^${escapeRegExp(machine.hostname)}$`, 'gm'), '<host>')
      // A container's cgroup is made below the runtime's own, which depends on the
      // machine and the session (v1: per controller): `…` stands for that part.
      .replace(/(\/sys\/fs\/cgroup(?:\/(?:memory|pids|cpu|devices))?)\/(?:\S*\/)?container-[0-9a-f]{8}\b/g, '$1/…/container-<id>')
      .replace(/\bcontainer-[0-9a-f]{8}\b/g, 'container-<id>')
      .replace(/\bwrite \d+ to\b/g, 'write <pid> to')
      // Stage 6: the host's end of a veth is named at random, a link's MAC address
      // (but lo's) is random, a link's peer is named by its index, a container's
      // namespace by its pid, and the runtimes' leases by the host's network namespace.
      .replace(/\bveth[0-9a-f]{7}\b/g, 'veth<id>')
      .replace(/\b(?!00:00:00:00:00:00)(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b/g, '<mac>')
      // (ip -br pads a link's name to a column: the width is kept, whatever the digits)
      .replace(/@if(\d+)( *)/g, (_, digits: string, spaces: string) => `@if<n>${' '.repeat(Math.max(spaces.length ? 1 : 0, digits.length + spaces.length - 3))}`)
      .replace(/\/proc\/\d+\/ns\//g, '/proc/<pid>/ns/')
      // Stage 8: the runtime opens the container's pty through the container's root.
      .replace(/\/proc\/\d+\/root\//g, '/proc/<pid>/root/')
      .replace(/\/run\/ts-container-samples\/net-\d+/g, '/run/ts-container-samples/net-<inode>')
      // busybox httpd -v logs each client as [address]:port; the port is any free one.
      .replace(/^(\[[0-9a-f.:]+\]):\d+:/gm, '$1:<port>:')
      // Namespace ids (inode numbers) differ per boot: number them in order of
      // appearance, so that equal stays equal and different stays different.
      .replace(/\b(cgroup|ipc|mnt|net|pid|time|user|uts):\[(\d+)\]/g, (_, type: string, id: string) => {
        if (!namespaces.has(id)) namespaces.set(id, `#${namespaces.size + 1}`);
        return `${type}:[${namespaces.get(id)}]`;
      })
      // `mount | cut -d' ' -f1-5` inside: the root is the host's disk, whatever it is.
      .replace(/^\S+ on \/ type \S+$/gm, '<disk> on / type <fs>')
      // Stage 9: a container's folder is named at random. A layer made from the default
      // root filesystem has the digest of this machine's build of it (`pnpm rootfs list`
      // shows 12 digits, padded to keep the columns); an import takes its time; an image
      // is listed with the day it was made.
      .replace(/\/containers\/[0-9a-f]{12}\b/g, '/containers/<id>')
      .replace(/\b[0-9a-f]{64}\b/g, '<sha256>')
      .replace(/^( {2}(?:top|bottom| {3}) )[0-9a-f]{12}\b/gm, (_, before: string) => `${before}${'<digest>'.padEnd(12)}`)
      .replace(/^(imported "[^"]+" .*) in \d+\.\d s: /gm, '$1 in <n> s: ')
      .replace(/, \d{4}-\d{2}-\d{2}$/gm, ', <date>'),
  );
}

/**
 * `ps` output in one layout (procps 3 and 4 pad the PID column differently), with
 * every PID but 1 as `<pid>`: a container's PIDs after 1 depend on how many threads
 * Node had before the exec (each took a PID), which depends on the machine.
 */
function relayoutPs(text: string): string {
  const lines = text.split('\n');
  let inTable = false;
  return lines
    .map((line) => {
      if (/^\s*PID\s+TTY\s+TIME\s+CMD$/.test(line)) {
        inTable = true;
        return '    PID TTY          TIME CMD';
      }
      const row = inTable ? /^\s*(\d+)\s+(\S+)\s+(\d+:\d\d:\d\d)\s+(.*)$/.exec(line) : null;
      if (!row) {
        inTable = false;
        return line;
      }
      const [, pid, tty, time, command] = row as unknown as [string, string, string, string, string];
      return `${(pid === '1' ? pid : '<pid>').padStart(7)} ${tty.padEnd(8)} ${time.padStart(8)} ${command}`;
    })
    .join('\n');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
