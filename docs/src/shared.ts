// What a stage-5 container still shares with the host, or may still do to it: one row
// each, with a harmless command that shows it from inside, what runc and Docker do by
// default, and the stage that closes it. The pages show the table (`<!-- table: shared -->`);
// docs/test/shared.test.ts runs every command in stage 5, and in each later stage there
// is, so that the table stays true as those stages land.
//
// Harmless means: nothing the host would notice. A setting is written back with the value
// just read; a device is opened read-only; a mount is made in the container's own mount
// namespace and goes with it.
import fs from 'node:fs';
import path from 'node:path';
import { resolveRootfs } from '@samples/rootfs';

export interface SharedThing {
  /** What is still shared, or still allowed. */
  readonly what: string;
  /** Typed into the container's shell (bash, in the default root filesystem). */
  readonly command: string;
  /** What the command shows, in words. */
  readonly shows: string;
  /** What runc's default spec (`runc spec`) and `docker run` do about it. */
  readonly elsewhere: string;
  /** The stage that closes it, by its number; undefined when none of the planned ones does. */
  readonly closedBy?: 6 | 7 | 8 | 9;
  /** Whether the command's output says it is still shared (run as root, from the host's side where it compares). */
  readonly stillShared: (output: string) => boolean;
  /**
   * Whether the command runs from a terminal, as a person starts a shell: what the row
   * says is about the terminal (from a pipe there is none to share, in any stage).
   */
  readonly fromTerminal?: boolean;
  /** Why it cannot be shown on this machine, if so. */
  readonly unavailable?: () => string | undefined;
  /** Takes back what the command left on the host, if anything (the image row's file). */
  readonly afterwards?: () => void;
}

const hostLine = (file: string, prefix: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .find((line) => line.startsWith(prefix));
const lines = (output: string) => output.trim().split('\n');
const sameNamespace = (type: string) => (output: string) => output.trim() === fs.readlinkSync(`/proc/self/ns/${type}`);

/** The file the image row's command writes, and where it lands on the host if the image is shared. */
const IMAGE_PROBE = 'shared-probe';
const imageProbe = () => path.join(resolveRootfs(undefined, { quiet: true }), 'etc', IMAGE_PROBE);

/** The first block device the host has, as /proc/partitions lists it: its driver is there, opening it loads none. */
const firstDisk = () => fs.readFileSync('/proc/partitions', 'utf8').split('\n')[2]?.trim();

export const shared: readonly SharedThing[] = [
  {
    what: 'every capability of root on the host: to mount, trace any process, change the clock, load modules...',
    command: 'grep CapEff /proc/self/status',
    shows: "the mask of root on the host (`000001ffffffffff` on a Linux 6 with all 41)",
    elsewhere: 'runc: 3 (`CAP_AUDIT_WRITE`, `CAP_KILL`, `CAP_NET_BIND_SERVICE`); Docker: 14 (`CapEff: 00000000a80425fb`)',
    closedBy: 7,
    stillShared: (output) => output.trim() === hostLine('/proc/self/status', 'CapEff:'),
  },
  {
    what: 'every system call: no seccomp filter',
    command: 'grep Seccomp: /proc/self/status',
    shows: '`Seccomp: 0`, no filter',
    elsewhere: 'runc: none unless the spec has one; Docker: its default profile (`Seccomp: 2`), which refuses `mount`, `reboot`, `kexec_load` and dozens more',
    closedBy: 7,
    stillShared: (output) => /^Seccomp:\s+0$/m.test(output),
  },
  {
    what: '`/proc/sys` writable: settings of the whole host',
    command: 'v=$(cat /proc/sys/vm/swappiness); echo $v > /proc/sys/vm/swappiness && echo "wrote $v back"',
    shows: "`wrote 60 back`: the host's `vm.swappiness`, written with the value it had",
    elsewhere: 'both mount `/proc/sys` read-only (and `/proc/irq`, `/proc/sysrq-trigger`...), and mask `/proc/kcore` and others',
    closedBy: 7,
    stillShared: (output) => /^wrote \d+ back$/m.test(output),
  },
  {
    what: "any device: a node made with `mknod` opens the host's disk",
    command: 'set -- $(sed -n 3p /proc/partitions); mknod /dev/disk b $1 $2 && head -c 512 /dev/disk | wc -c',
    shows: "`512`, the bytes of the first sector of the host's first disk, read (`/proc/partitions` is the host's too)",
    elsewhere: 'runc: no `CAP_MKNOD`, and a device cgroup that refuses all but the usual devices; Docker: `mknod` works, opening the node does not (its device cgroup)',
    closedBy: 7,
    stillShared: (output) => lines(output).at(-1) === '512',
    unavailable: () => {
      const name = firstDisk()?.split(/\s+/)[3];
      if (name === undefined) return 'this machine has no block device: /proc/partitions lists none';
      try {
        fs.closeSync(fs.openSync(`/dev/${name}`, 'r'));
        return undefined;
      } catch (error) {
        return `root on this host may not read /dev/${name} itself (${(error as NodeJS.ErrnoException).code}): nothing to compare with`;
      }
    },
  },
  {
    what: 'mounting any filesystem, anywhere in its tree',
    command: 'mount -t tmpfs probe /newtemp && echo mounted',
    shows: '`mounted`, a tmpfs over `/newtemp` (in the container\'s mount namespace: it goes with it)',
    elsewhere: 'neither gives `CAP_SYS_ADMIN`; Docker\'s seccomp profile and AppArmor refuse `mount` as well',
    closedBy: 7,
    stillShared: (output) => /^mounted$/m.test(output),
  },
  {
    what: "the host's network: its interfaces, addresses and ports",
    command: 'readlink /proc/self/ns/net',
    shows: "the host's own `net:[…]`",
    elsewhere: 'a network namespace of its own: runc, with only `lo`; Docker, with a veth pair to a bridge, and NAT',
    closedBy: 6,
    stillShared: sameNamespace('net'),
  },
  {
    what: "the host's System V IPC (shared memory, semaphores) and POSIX message queues",
    command: 'readlink /proc/self/ns/ipc',
    shows: "the host's own `ipc:[…]`",
    elsewhere: 'both: an IPC namespace of its own',
    closedBy: 7,
    stillShared: sameNamespace('ipc'),
  },
  {
    what: "the host's cgroup tree, by name: the container's path and its parents'",
    command: 'cat /proc/self/cgroup',
    shows: 'the whole path on the host, down to `/…/container-<id>`',
    elsewhere: 'a cgroup namespace, where the container\'s cgroup reads `/`: runc and Docker on cgroup v2, neither on v1',
    closedBy: 7,
    stillShared: (output) => /\/container-[0-9a-f]{8}$/m.test(output),
  },
  {
    what: "the image's files, read-write, one copy for every container",
    command: `echo probe > /etc/${IMAGE_PROBE} && echo written`,
    shows: `\`written\`, and the host finds the file in \`rootfs/images/default/etc\`, as will every container after (\`rm\` it there)`,
    elsewhere: 'runc: `"readonly": true` for the root in its default spec; Docker: the image stays read-only, each container writes to a layer of its own (overlayfs), dropped with it',
    closedBy: 9,
    stillShared: (output) => /^written$/m.test(output) && fs.existsSync(imageProbe()),
    afterwards: () => fs.rmSync(imageProbe(), { force: true }),
  },
  {
    what: "the host's terminal and session: no terminal of its own",
    command: 'ps -o sid= -p 1',
    shows: "`0`: PID 1's session is the host's, outside the PID namespace (why an interactive `sh` cannot give the terminal back: [stage 2](2-isolate-process.md#what-a-pid-namespace-does-not-hide-the-terminal))",
    elsewhere: 'with `-t` (`"terminal": true` in runc\'s spec), a pseudo-terminal made for the container, whose session it leads; without, none',
    closedBy: 8,
    fromTerminal: true,
    stillShared: (output) => output.trim() === '0',
  },
  {
    what: "the host's memory figures: `free`, `top` and `/proc/meminfo` show the host's",
    command: 'head -1 /proc/meminfo',
    shows: "the host's `MemTotal`, not the limit ([why](5-isolate-cgroup.md#why-do-top-and-free-show-the-hosts-memory))",
    elsewhere: 'the same: neither changes `/proc/meminfo` (LXCFS does, for LXC and Incus)',
    stillShared: (output) => output.trim() === hostLine('/proc/meminfo', 'MemTotal:'),
  },
];

/** The stages that close things (shared/design/stages.md, Part 2), by number. */
export const CLOSING_STAGES: Readonly<Record<number, { readonly name: string; readonly adds: string }>> = {
  6: { name: '6-isolate-network', adds: 'network' },
  7: { name: '7-isolate-privileges', adds: 'privileges' },
  8: { name: '8-isolate-terminal', adds: 'terminal' },
  9: { name: '9-isolate-image', adds: 'image' },
};

/** "7, privileges", a link to the stage's page once it has one (the pages showing the table are in docs/ too). */
function closingStage(stage: number): string {
  const { name, adds } = CLOSING_STAGES[stage]!;
  const text = `${stage}, ${adds}`;
  return fs.existsSync(path.join(__dirname, '..', `${name}.md`)) ? `[${text}](${name}.md)` : text;
}

/** The table, as the pages show it (`<!-- table: shared -->`). */
export function sharedTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = shared.map(({ what, command, shows, elsewhere, closedBy }) => {
    const closed = closedBy === undefined ? 'none planned' : closingStage(closedBy);
    return `| ${cell(what)} | \`${cell(command)}\`<br>shows ${cell(shows)} | ${cell(elsewhere)} | ${closed} |`;
  });
  return [
    '| still shared, or still allowed | from inside a stage-5 container | runc (`runc spec`) and Docker (`docker run`), by default | closed by stage |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
