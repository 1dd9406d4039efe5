// The default root filesystem, built offline from the host's own programs: a few dozen
// commands, every shared library each one loads (as the host's dynamic loader finds
// them), and the handful of files in /etc that a shell session reads.
import type { SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '@samples/runtime';
import { checkRootfs, CONTAINER_PATH, elfInterpreter } from './check';
import { DEFAULT_NAME, discardTree, fileFailure, finishTree, makeTopFolders, measureTree, startTree } from './images';

// #region commands
/** Without these the stages' demo cannot run: the build fails if the host lacks one. */
const REQUIRED = ['sh', 'bash', 'ls', 'cat', 'ps', 'mount', 'hostname', 'head', 'tail'];

/** A shell session's usual tools, taken when the host has them. */
const USEFUL = [
  // coreutils
  'basename', 'chmod', 'chown', 'cp', 'cut', 'date', 'dd', 'df', 'dirname', 'du', 'echo', 'env', 'false', 'id', 'ln',
  'mkdir', 'mknod', 'mktemp', 'mv', 'nproc', 'printf', 'pwd', 'readlink', 'realpath', 'rm', 'rmdir', 'seq', 'sleep', 'sort',
  'stat', 'stty', 'tee', 'test', '[', 'touch', 'tr', 'true', 'tty', 'uname', 'uniq', 'wc', 'whoami', 'yes',
  // text
  'grep', 'sed', 'awk', 'less', 'xargs', 'find',
  // procps: processes and memory, as the container sees them
  'free', 'kill', 'pgrep', 'pkill', 'top', 'uptime',
  // util-linux: the mount table and namespaces, as the container sees them; a command run as another user
  'umount', 'findmnt', 'lsns', 'setpriv',
  // ncurses
  'clear',
];

/**
 * For stage 6's network: iproute2's `ip` to look at links, addresses and routes, and
 * busybox (Debian's busybox-static) for a TCP server and clients. Taken when the host
 * has them; stage 6's page says how to get them, and its tests skip without them.
 */
const NETWORK_TOOLS = ['ip', 'busybox'];

/**
 * For stage 7's probes and page: util-linux's `ipcs` (System V IPC, as the container
 * sees it) and libcap's `capsh` (names the capabilities in a mask). Taken when the
 * host has them.
 */
const PRIVILEGE_TOOLS = ['ipcs', 'capsh'];

/** Busybox applets that become commands of their own (links to busybox), unless the host has its own. */
const BUSYBOX_APPLETS = ['nc', 'httpd', 'wget'];
// #endregion

/** Terminal descriptions, so that bash's line editing, less, top and clear work. */
const TERMINALS = ['xterm', 'xterm-256color', 'screen', 'screen-256color', 'tmux', 'tmux-256color', 'linux', 'vt100', 'vt220', 'dumb'];
const TERMINFO_DIRS = ['/etc/terminfo', '/lib/terminfo', '/usr/share/terminfo', '/usr/lib/terminfo'];

/**
 * What the default tree is made of. A tree built from an older recipe (a tool added
 * since) is rebuilt when a stage next uses it: bump RECIPE_VERSION when /etc changes.
 */
const RECIPE_VERSION = 1;
export const RECIPE = fingerprint(JSON.stringify({ RECIPE_VERSION, REQUIRED, USEFUL, NETWORK_TOOLS, PRIVILEGE_TOOLS, BUSYBOX_APPLETS, TERMINALS }));

/**
 * 12 hex digits that change when `text` does: FNV-1a, in two 32-bit lanes from two
 * starting values. Every stage start compares the recipe (this module is loaded with
 * resolve.ts), and a sha256 would load node:crypto, which costs a Node start ~4 ms.
 */
function fingerprint(text: string): string {
  let [low, high] = [0x811c9dc5, 0x3243f6a8];
  for (let i = 0; i < text.length; i++) {
    low = Math.imul(low ^ text.charCodeAt(i), 0x01000193) >>> 0;
    high = Math.imul(high ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return `${high.toString(16).padStart(8, '0').slice(0, 4)}${low.toString(16).padStart(8, '0')}`;
}

/**
 * child_process.spawnSync, loaded on first use: only a build runs programs, and
 * child_process costs every Node start that loads it ~3 ms (the container's child too,
 * which loads this module with the rest of the stage).
 */
function spawnSync(command: string, args: readonly string[], options: { encoding: 'utf8' }): SpawnSyncReturns<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:child_process') as typeof import('node:child_process')).spawnSync(command, args, options);
}

/** Where a root's commands are looked up on the host (not /usr/local: those are the admin's own). */
const HOST_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Builds the default root filesystem at `target`, replacing what is there. It is made
 * beside `target` and renamed into place once complete and checked, so an interrupted
 * build never leaves a tree that looks complete. Synchronous: the stages call it before
 * they set up the container, when only synchronous calls are safe.
 */
export function buildDefaultRootfs(target: string, options: { replace?: boolean } = {}): void {
  let tree: string | undefined;
  try {
    tree = startTree(target);
    const programs = populate(tree);
    // Each program must start in the tree: found, its loader or interpreter there too.
    const problems = ['/bin/sh', '/bin/bash', ...programs].flatMap((program) => checkRootfs(tree!, program));
    if (problems.length > 0) {
      throw new CliError(
        `the default root filesystem came out broken (${problems[0]!.problem}): please report it with your distribution's name`,
      );
    }
    const marker = {
      name: DEFAULT_NAME,
      source: `built from the binaries of ${hostName()}`,
      recipe: RECIPE,
      created: new Date().toISOString(),
      ...measureTree(tree),
    };
    finishTree(tree, target, marker, options.replace ?? true);
  } catch (error) {
    if (tree !== undefined) discardTree(tree);
    throw error instanceof CliError ? error : fileFailure(error, `building the default root filesystem in ${target}`, path.dirname(target));
  }
}

// #region populate
/** Fills `tree`; returns the programs it copied. */
function populate(tree: string): string[] {
  const copier = new HostCopier(tree);
  // The top-level folders as the host lays them out: on a merged-/usr host /bin, /sbin,
  // /lib, /lib64 are symlinks into /usr, and paths through either must work.
  for (const top of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    if (fs.lstatSync(`/${top}`, { throwIfNoEntry: false })?.isSymbolicLink()) copier.folder(`/${top}`);
  }

  const missing = REQUIRED.filter((name) => findOnHost(name) === undefined);
  if (missing.length > 0) {
    throw new CliError(
      `this host lacks ${missing.join(', ')}, which the default root filesystem needs: install them (procps for ps, util-linux for mount), or import an image (pnpm rootfs import)`,
    );
  }
  const programs = [...REQUIRED, ...USEFUL, ...NETWORK_TOOLS, ...PRIVILEGE_TOOLS, ...BUSYBOX_APPLETS].flatMap((name) => findOnHost(name) ?? []);
  for (const program of programs) copier.file(program);
  const busybox = findOnHost('busybox');
  if (busybox !== undefined) {
    // Beside busybox, so that the links are on the container's PATH wherever it is.
    const folder = copier.folder(path.dirname(busybox));
    for (const applet of BUSYBOX_APPLETS) {
      if (findOnHost(applet) === undefined) fs.symlinkSync(path.basename(busybox), path.join(tree, folder, applet));
    }
  }

  // Every shared library the programs load, found as the dynamic loader finds them.
  // glibc before 2.34 also dlopen()s libnss_files to read /etc/passwd (for `id`,
  // `whoami`, bash's \u): no listing of a program's libraries can see that.
  const libraries = sharedLibraries(programs);
  const libc = libraries.find((library) => path.basename(library).startsWith('libc.so'));
  const nssFiles = libc && path.join(path.dirname(libc), 'libnss_files.so.2');
  if (nssFiles && fs.existsSync(nssFiles)) libraries.push(nssFiles);
  for (const library of libraries) copier.file(library);

  // The builder's own terminal too (kitty, alacritty, ...), if its name is a plain one.
  const own = /^[\w.+-]+$/.test(process.env.TERM ?? '') ? [process.env.TERM!] : [];
  for (const terminal of new Set([...TERMINALS, ...own])) {
    const found = TERMINFO_DIRS.map((dir) => path.join(dir, terminal[0]!, terminal)).find((file) => fs.existsSync(file));
    if (found) copier.file(found);
  }

  writeEtc(tree);
  return programs;
}
// #endregion

/** The host's path of a command, looked up as root's shell would. */
function findOnHost(name: string): string | undefined {
  return HOST_PATH.map((dir) => path.join(dir, name)).find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * The libraries `programs` load, as the dynamic loader resolves them: each ELF program
 * names its loader (PT_INTERP), and `LOADER --list PROGRAM` prints what that loader
 * would load, e.g. "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)". (ldd runs the
 * same command, several times slower.) The loaders themselves are on the list too.
 */
function sharedLibraries(programs: string[]): string[] {
  const libraries = new Set<string>();
  for (const program of programs) {
    const loader = elfInterpreter(program);
    // Statically linked programs and scripts load no libraries.
    if (loader === undefined) continue;
    libraries.add(loader);
    const list = spawnSync(loader, ['--list', program], { encoding: 'utf8' });
    const notFound = /^\s*(\S+) => not found/m.exec(list.stdout ?? '');
    if (list.status !== 0 || notFound) {
      const why = notFound
        ? `needs ${notFound[1]}, which is missing`
        : `cannot be listed by ${loader}: ${(list.error?.message ?? list.stderr).trim()}`;
      throw new CliError(`the host's ${program} ${why}: reinstall its package, or import an image (pnpm rootfs import)`);
    }
    for (const line of list.stdout.split('\n')) {
      const library = /=> (\/\S+) \(0x/.exec(line)?.[1] ?? /^\s+(\/\S+) \(0x/.exec(line)?.[1];
      if (library) libraries.add(library);
    }
  }
  return [...libraries];
}

/**
 * Copies host files into the tree at the same paths, keeping symlinks (of a file, or of
 * a folder on its way) as symlinks and copying what they point to as well, so that
 * every path a program or the loader uses on the host works in the tree.
 */
class HostCopier {
  constructor(private readonly tree: string) {}

  /** Copies `file`, which may be a symlink (e.g. /usr/bin/sh -> dash). */
  file(file: string): void {
    const folder = this.folder(path.dirname(file));
    const name = path.basename(file);
    const inTree = path.join(this.tree, folder, name);
    if (fs.lstatSync(inTree, { throwIfNoEntry: false })) return;
    const hostFile = path.join(folder, name);
    const stat = fs.lstatSync(hostFile);
    if (stat.isSymbolicLink()) {
      const target = fs.readlinkSync(hostFile);
      fs.symlinkSync(target, inTree);
      this.file(path.resolve(folder, target));
    } else {
      fs.copyFileSync(hostFile, inTree);
      fs.chmodSync(inTree, stat.mode & 0o7777);
    }
  }

  /**
   * Makes the host folder `dir` exist in the tree, recreating each symlink on its way,
   * and returns `dir` with those symlinks resolved. Writes go only to such resolved
   * paths, which hold no symlink: nothing is ever written through a symlink (an absolute
   * one would lead out of the tree, into the host).
   */
  folder(dir: string): string {
    let resolved = '/';
    for (const part of dir.split('/').filter(Boolean)) {
      const hostPath = path.join(resolved, part);
      const stat = fs.lstatSync(hostPath);
      const inTree = path.join(this.tree, hostPath);
      if (stat.isSymbolicLink()) {
        const target = fs.readlinkSync(hostPath);
        if (!fs.lstatSync(inTree, { throwIfNoEntry: false })) fs.symlinkSync(target, inTree);
        resolved = this.folder(path.resolve(resolved, target));
      } else {
        if (!fs.existsSync(inTree)) fs.mkdirSync(inTree, { mode: stat.mode & 0o7777 });
        resolved = hostPath;
      }
    }
    return resolved;
  }
}

// #region etc
function writeEtc(tree: string): void {
  const write = (file: string, content: string, mode = 0o644) => {
    fs.writeFileSync(path.join(tree, file), content, { mode });
    fs.chmodSync(path.join(tree, file), mode);
  };
  const folder = (dir: string, mode: number) => {
    fs.mkdirSync(path.join(tree, dir), { recursive: true });
    fs.chmodSync(path.join(tree, dir), mode);
  };
  // /proc, /dev, /newtemp to mount onto, /sys, and a /tmp anyone can write.
  makeTopFolders(tree);
  folder('etc', 0o755);
  folder('root', 0o700);

  // Names for user and group IDs: id, whoami, ls -l and bash's \u read them.
  write('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  write('etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  // Look names up in those files only (glibc's defaults vary by version).
  write('etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n');
  // The runtime sets the hostname (UTS namespace); these make the name resolve.
  write('etc/hostname', 'container\n');
  write('etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\tcontainer\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  // Programs that still read /etc/mtab (df on old systems) get the container's own mounts.
  fs.symlinkSync('../proc/self/mounts', path.join(tree, 'etc/mtab'));
  // Login shells (sh -l, bash -l) read /etc/profile; interactive bash reads ~/.bashrc.
  write(
    'etc/profile',
    [`export PATH=${CONTAINER_PATH}`, 'if [ -n "$BASH_VERSION" ] && [ -r /root/.bashrc ]; then . /root/.bashrc; fi', ''].join('\n'),
  );
  write(
    'root/.bashrc',
    ["# root@container:/# names the user, the host (the container's own hostname) and the folder.", "PS1='\\u@\\h:\\w\\$ '", ''].join('\n'),
  );
}
// #endregion

function hostName(): string {
  let release: string | undefined;
  try {
    release = /^PRETTY_NAME="?([^"\n]*)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1];
  } catch {
    // An old or minimal host without /etc/os-release: the architecture says enough.
  }
  return `${release ?? 'this host'} (${os.arch()})`;
}
