// The stages a learner writes by hand, in the order of the workshop: one entry each.
// This is the one place where a stage joins the workshop (rustlings keeps its exercises
// in one manifest too). An entry says where the stage's new step is in its sources (a
// region, `// #region NAME` ... `// #endregion`), what stands there meanwhile, and which
// of the stage's own tests prove its isolation claims. The hint each TODO carries is not
// here: it is quoted from the stage's page, from the blocks marked
// `<!-- hint: NAME -->` ... `<!-- /hint -->` (NAME: the step's region), so it says what
// the page says.

export interface Step {
  /** The file that holds the step, from the stage's folder: 'src/main.ts'. */
  readonly file: string;
  /** The region that holds the step, in that file; its body is what the learner writes. */
  readonly region: string;
  /** What to write, in a few words: the first line of the TODO. Never the answer. */
  readonly task: string;
  /** The hint blocks to quote from the stage's page; the region's name if not given. */
  readonly hint?: string;
  /**
   * What stands in the region until the learner has written it, so that the copy
   * compiles and runs: the stage before's way of doing it, where it had one. Without it,
   * the region is left empty.
   */
  readonly standIn?: StandIn;
}

export interface StandIn {
  /** Why it is there, in a few words: "stage 0's way: no namespace". */
  readonly note: string;
  /** The code, indented as the region's first line is. */
  readonly code: string;
  /** Imports it needs that the stage's file does not have. */
  readonly imports?: readonly string[];
}

export interface Claim {
  /** The title of one of the stage's own tests, as ava shows it. */
  readonly test: string;
  /** Its file, from the stage's folder. */
  readonly file?: string;
  /** One line for the learner when it fails: where to look, never the answer. */
  readonly hint: string;
}

export interface WorkshopStage {
  /** The stage's package folder in packages/, which is also its page's name in docs/. */
  readonly stage: string;
  readonly steps: readonly Step[];
  /**
   * The tests that prove what the stage adds, in the order a learner gets them to pass.
   * Only tests that are harmless when the step is missing or wrong belong here (one that
   * fills memory without a limit does not): `check --all` runs the whole suite, and only
   * once these pass.
   */
  readonly claims: readonly Claim[];
}

export const DEFAULT_TEST_FILE = 'test/main.test.ts';

export const WORKSHOP: readonly WorkshopStage[] = [
  {
    stage: '1-isolate-uts',
    steps: [
      {
        file: 'src/main.ts',
        region: 'uts-namespace',
        task: 'start the command in a new UTS namespace, with spawnInNamespaces (from @samples/runtime) instead of spawn',
        standIn: {
          note: "stage 0's way, no namespace",
          code: "const child = spawn(file, args, { stdio: 'inherit' });",
          imports: ["import { spawn } from 'node:child_process';"],
        },
      },
    ],
    claims: [
      {
        test: 'the command has its own UTS namespace, and nothing else of its own',
        hint: 'inside, /proc/self/ns/uts must name another namespace than the host: spawn with the flag for a new UTS namespace',
      },
      {
        test: 'renaming the host inside never renames the host',
        hint: '`hostname x` inside renamed the host: the command runs in the host UTS namespace',
      },
    ],
  },
  {
    stage: '2-isolate-process',
    steps: [
      {
        file: 'src/main.ts',
        region: 'reexec',
        task: 're-execute this program as "child" (selfCommand) in new UTS and PID namespaces, and keep the process as `container`',
        standIn: {
          note: "stage 1's way: the command itself, in a new UTS namespace",
          code: [
            'const { command: [file, ...args] } = parseArgs(program, argv);',
            "const container = spawnInNamespaces(file, args, CLONE_NEWUTS, { stdio: 'inherit' });",
          ].join('\n'),
        },
      },
      {
        file: 'src/main.ts',
        region: 'hostname',
        task: 'name the container\'s host "container", from inside it',
      },
    ],
    claims: [
      {
        test: 'the command is PID 1 of its own PID namespace, named "container"',
        hint: 'run must start this file again as "child" with CLONE_NEWUTS|CLONE_NEWPID, and child must set the hostname before it execs',
      },
      {
        test: 'its children see it as their parent, PID 1',
        hint: 'the command must be the first process of the new PID namespace: child execs it, it does not spawn it',
      },
      {
        test: 'the host hostname is unchanged, also after a failure',
        hint: 'the hostname is set in child, inside the new UTS namespace, never in run',
      },
    ],
  },
  {
    stage: '3-isolate-root-fs',
    steps: [
      {
        file: 'src/main.ts',
        region: 'root',
        task: 'give the container its root filesystem (rootfs), then its own /proc and /dev inside it',
      },
    ],
    claims: [
      {
        test: '/ inside is the root filesystem, and the working directory is in it',
        hint: 'chroot into rootfs, and chdir("/") right after: a working directory outside the root is a way out',
      },
      {
        test: 'ps inside sees only the container processes',
        hint: 'ps reads /proc: mount a proc on /proc from the child, after chroot',
      },
      {
        test: 'proc is mounted on the rootfs while it runs (no mount namespace), and gone afterwards',
        hint: "the proc must be mounted after chroot, so that the host sees it at <rootfs>/proc, where run takes it down",
      },
    ],
  },
  {
    stage: '4-isolate-mount',
    steps: [
      {
        file: 'src/container.ts',
        region: 'mount-namespace',
        task: 'give the calling thread a mount namespace of its own, whose mounts never propagate to the host',
      },
      {
        file: 'src/container.ts',
        region: 'root',
        task: 'in that namespace, make rootfs the root, with proc, /dev (makeDev) and a tmpfs on /newtemp, and no path back to the host',
        standIn: {
          note: "stage 3's way without its mounts: a chroot, which the host's mount table and a root process can see past",
          code: ["sethostname('container');", 'chroot(rootfs);', "chdir('/');"].join('\n'),
          imports: ["import { chroot } from '@samples/syscalls';"],
        },
      },
    ],
    claims: [
      {
        test: 'the host mount table is unchanged while the container runs, and after',
        hint: 'a mount namespace of its own first (unshare), before any mount',
      },
      {
        test: 'even where / is a shared mount (systemd hosts), nothing propagates to the host',
        hint: 'right after unshare, make every mount private, recursively, before mounting anything',
      },
      {
        test: 'the container has its own mounts: proc, a minimal /dev, a tmpfs on /newtemp, nothing of the host',
        hint: 'mount proc, /dev and /newtemp by their host paths inside rootfs, pivot_root into it, then detach the old root',
      },
      {
        test: '/dev has null, zero, full, random, urandom and tty, and they work',
        hint: 'makeDev (stage 3 exports it) on <rootfs>/dev, before pivot_root',
      },
      {
        test: '/ inside is the root filesystem',
        hint: 'pivot_root wants a mount point: bind rootfs onto itself first, then chdir into it and pivot_root(".", ".")',
      },
      {
        test: 'ps inside sees only the container processes; the command is PID 1',
        hint: 'mount a proc on <rootfs>/proc, from the child, before pivot_root',
      },
    ],
  },
  {
    stage: '5-isolate-cgroup',
    steps: [
      {
        file: 'src/main.ts',
        region: 'cgroup',
        task: "create the container's cgroup, put the child in it when it says it is ready, report OOM kills, and remove the cgroup however the container ends",
        standIn: {
          note: "stage 4's way, no cgroup",
          code: [
            'const container = step(\'re-execute self as "child" with CLONE_NEWUTS|CLONE_NEWPID\', () =>',
            "  spawnInNamespaces(node, self, CLONE_NEWUTS | CLONE_NEWPID, { stdio: 'inherit' }),",
            ');',
            'return waitForExit(container);',
          ].join('\n'),
        },
      },
      {
        file: 'src/main.ts',
        region: 'join',
        task: 'in the child: die with the runtime (prctl PR_SET_PDEATHSIG), and wait until the runtime has put this process in the cgroup',
      },
    ],
    claims: [
      {
        test: 'the container runs in a cgroup of its own with the limits asked for, removed afterwards',
        hint: 'createCgroup before the child starts, cgroup.add(pid) once it says it is ready (releaseWhenReady), cgroup.destroy() in a finally',
      },
      {
        test: 'a fork bomb is held by the pids limit',
        hint: 'the child must be in the cgroup before the command starts: it waits for the runtime (waitForRuntime), and the runtime starts it with stdioWithSync()',
      },
      {
        test: 'a kill for a limit above the container own: reported as such, not as the container exceeding its limit',
        hint: 'the runtime reports OOM kills while the container runs: watchForOomKills, stopped when it ends',
      },
      {
        test: 'after the command is killed from the host, the cgroup is removed',
        hint: 'remove the cgroup in a finally, however waitForExit ends',
      },
    ],
  },
  {
    stage: '6-isolate-network',
    steps: [
      {
        file: 'src/network/veth.ts',
        region: 'veth-pair',
        hint: 'veth',
        task: 'one RTM_NEWLINK (newLink): a veth pair, the host end up and a port of the bridge, its peer eth0 made in the container (netns)',
      },
      {
        file: 'src/network/veth.ts',
        region: 'inside',
        hint: 'veth',
        task: "inside the container's namespace, through `inside`: lo and eth0 up, eth0's address, a default route via the gateway",
      },
    ],
    claims: [
      {
        test: 'the container sees only its own links: lo and eth0, up; /proc/net/dev agrees',
        hint: 'newLink with kind veth and a peer named eth0 in the container (netnsFd); then, inside, setLinkUp on lo and eth0',
      },
      {
        test: 'the host reaches a TCP server in the container at its address, and through --publish on its own port',
        hint: "eth0 needs its address inside the container (addAddress), and the host's end must be a port of the bridge (master)",
      },
      {
        test: 'two containers reach each other, each at its own address',
        hint: "both host ends are ports of the same bridge (master: bridgeIndex), and both are up",
      },
      {
        test: 'NAT: a container reaches "the internet" through the host, which the server sees as the source; nothing of it is left',
        hint: 'beyond its subnet a container needs a default route via the gateway (addRoute)',
      },
    ],
  },
  {
    stage: '7-isolate-privileges',
    steps: [
      {
        file: 'src/capabilities.ts',
        region: 'bounding-set',
        hint: 'capabilities',
        task: 'take every capability but those in `keep` out of the bounding set (prctl PR_CAPBSET_DROP), one at a time',
      },
      {
        file: 'src/capabilities.ts',
        region: 'capset',
        hint: 'capabilities',
        task: 'effective and permitted become `keep` (capabilityMask, capset), inheritable and ambient empty',
      },
    ],
    claims: [
      {
        test: 'after: Docker 14 in effective, permitted and bounding; nothing inheritable or ambient',
        file: 'test/capabilities.test.ts',
        hint: 'CapBnd must be the 14: drop the others from the bounding set; CapEff and CapPrm too: capset with the mask of `keep`',
      },
      {
        test: '--cap-drop ALL leaves none, --cap-add puts some back',
        file: 'test/capabilities.test.ts',
        hint: 'the sets follow `keep`, whatever it holds: an empty set drops every capability',
      },
      {
        test: 'the kernel enforces it: without CAP_SYS_ADMIN, root cannot make a namespace (no filter: the capability says no)',
        file: 'test/capabilities.test.ts',
        hint: "CAP_SYS_ADMIN must leave the effective set (capset), not only the bounding set",
      },
    ],
  },
  {
    stage: '8-isolate-terminal',
    steps: [
      {
        file: 'src/pty.ts',
        region: 'take-terminal',
        task: 'make `slave` the controlling terminal of a new session (setsid, TIOCSCTTY), and stdin, stdout and stderr (dup2); keep it as `fd`',
        standIn: {
          note: 'the pty opened, but not yet the container\'s terminal: the command keeps the runtime\'s stdio',
          code: 'const fd = fs.openSync(slave, O_RDWR | O_NOCTTY);',
        },
      },
    ],
    claims: [
      {
        test: 'tty is /dev/pts/0 of a devpts of its own; ps shows pts/0; the container holds no master and no socket',
        file: 'test/terminal.test.ts',
        hint: 'the shell must read and write the pty: dup2 the slave onto 0, 1 and 2; ps shows its TTY only once the pty controls its session (setsid, then TIOCSCTTY)',
      },
      {
        test: "job control: &, jobs, fg, Ctrl-Z, bg, Ctrl-C and Ctrl-\\ reach the container's foreground job, not the runtime",
        file: 'test/terminal.test.ts',
        hint: 'keys become signals for the foreground group of the session the pty controls: setsid first, then ioctl(fd, TIOCSCTTY, 0)',
      },
      {
        test: "modes the container sets on its terminal (stty raw -echo) stay on its pty: the host terminal's are back",
        file: 'test/terminal.test.ts',
        hint: 'stty changes the terminal on its stdin: fd 0 must be the pty (dup2), never the runtime\'s',
      },
    ],
  },
  {
    stage: '9-isolate-image',
    steps: [
      {
        file: 'src/main.ts',
        region: 'overlay',
        task: "in the child's own mount namespace, mount the overlay of the container's folder (openContainerLayer(dir)) and make it the root",
        standIn: {
          note: "stage 8's way: the image's own folder as the root, read-write (a plain tree is its only layer)",
          code: ['enterMountNamespace();', 'enterRoot(openContainerLayer(dir).lowers[0]!);'].join('\n'),
        },
      },
    ],
    claims: [
      {
        test: 'inside, the file the top layer deleted is gone and the folder it replaced holds only its files',
        file: 'test/overlay.test.ts',
        hint: "every layer of the image must be below, top first, as overlayOptions lists them: the root is the overlay mounted on the folder's merged, not a layer",
      },
      {
        test: "after one container deletes /usr/bin and another writes a file, the image's files are byte for byte what they were, and a third sees neither",
        file: 'test/overlay.test.ts',
        hint: "a container's writes must land in its own upper folder: enterRoot gets the overlay (mountOverlay's merged folder), never the image's",
      },
      {
        test: '--keep: the upper layer holds exactly the changes, and one line says where and how to remove it',
        file: 'test/overlay.test.ts',
        hint: "the changes are in the folder's upper only if the overlay's upperdir is it: mount with the options overlayOptions gives",
      },
      {
        test: 'a runtime killed with SIGKILL leaves its folder, held by a lease whose owner is gone; the next run sweeps it; the host never sees the overlay',
        file: 'test/overlay.test.ts',
        hint: 'mount the overlay after enterMountNamespace: in the container\'s private mount namespace, where the host never sees it',
      },
    ],
  },
];

/** The number a learner types: 1 for '1-isolate-uts'. */
export function stageNumber(stage: string): number {
  return Number(/^\d+/.exec(stage)![0]);
}
