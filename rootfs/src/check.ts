// Is a tree usable as a container's root? The runtime mounts onto a few folders in it,
// and the kernel must find the command, and the command's loader, inside it.
import fs from 'node:fs';
import path from 'node:path';

export interface Problem {
  readonly problem: string;
  readonly fix: string;
}

/**
 * The folders a root filesystem must have: the runtime mounts onto /proc (a proc), /dev
 * (device nodes) and /newtemp (a tmpfs), and programs expect to write in /tmp. They must
 * be real folders: the runtime reaches them from the host, where a symlink in the tree,
 * say /proc -> /, would point into the host's own tree. Not /sys: nothing is mounted
 * there before stage 7 (a read-only sysfs), and a folder that nothing uses is not worth
 * a learner's round trip; the build and an import make it all the same (TOP_FOLDERS).
 */
export const REQUIRED_FOLDERS = ['proc', 'dev', 'tmp', 'newtemp'] as const;

/**
 * The top-level folders the build and an import make where a tree lacks them, with the
 * modes Debian gives them: /proc and /sys read-only until something is mounted there,
 * /tmp writable by anyone (with the sticky bit: each removes only their own files).
 */
export const TOP_FOLDERS: Readonly<Record<string, number>> = { proc: 0o555, sys: 0o555, dev: 0o755, tmp: 0o1777, newtemp: 0o755 };

/** The PATH commands are looked up in inside the container (Debian's default for root). */
export const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * What is wrong with `dir` as a container's root, each problem with its fix; empty if
 * nothing. With `command`, also whether the container could run it: found in the tree
 * (as a path, or in CONTAINER_PATH), executable, and its ELF loader or `#!` interpreter there too.
 */
export function checkRootfs(dir: string, command?: string): Problem[] {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (stat === undefined) {
    return [{ problem: `${dir} does not exist`, fix: '`pnpm rootfs list` shows the root filesystems there are' }];
  }
  if (!stat.isDirectory()) {
    return [{ problem: `${dir} is not a directory`, fix: 'give a folder that holds a root filesystem' }];
  }
  const problems: Problem[] = [];
  for (const name of REQUIRED_FOLDERS) {
    const folder = path.join(dir, name);
    const mkdir = `mkdir ${name === 'tmp' ? '-m 1777 ' : ''}${folder}`;
    const found = fs.lstatSync(folder, { throwIfNoEntry: false });
    if (found === undefined) problems.push({ problem: `no /${name} in the tree`, fix: mkdir });
    else if (!found.isDirectory()) {
      const kind = found.isSymbolicLink() ? 'a symlink' : 'not a directory';
      problems.push({ problem: `/${name} in the tree is ${kind}`, fix: `rm ${folder} && ${mkdir}` });
    }
  }
  if (command !== undefined) problems.push(...checkCommand(dir, command));
  return problems;
}

function checkCommand(root: string, command: string): Problem[] {
  const lookup = lookUpCommand(root, command);
  switch (lookup.refused) {
    case undefined:
      return [];
    case 'missing': {
      const where = command.includes('/') ? 'in the tree' : `in the tree's PATH (${CONTAINER_PATH})`;
      return [{ problem: `no ${command} ${where}`, fix: `run a command the tree has (ls ${path.join(root, 'usr/bin')}), or add it (rootfs/README.md, "Adding a program")` }];
    }
    case 'directory':
      return [{ problem: `${command} (${lookup.file}) is a directory`, fix: 'give a program' }];
    case 'not executable':
      return [{ problem: `${command} (${lookup.file}) is not an executable file`, fix: `chmod +x ${lookup.file}, or run another command` }];
    case 'no interpreter':
      // The kernel reports a missing loader as ENOENT, as if the command itself were missing.
      return [
        {
          problem: `${command} needs ${lookup.interpreter}, which the tree lacks (exec would say "no such file or directory")`,
          fix: `copy ${lookup.interpreter} into ${root}, or run a statically linked ${command}`,
        },
      ];
  }
}

/** What the container would meet when it runs `command`: the file, or why it cannot run it. */
export interface CommandLookup {
  /** The host path, in the tree, of the file it would run (or refuse to). */
  readonly file?: string;
  /** Why it cannot: not found, a directory, no x bit, or its ELF loader or `#!` interpreter is not in the tree. */
  readonly refused?: 'missing' | 'directory' | 'not executable' | 'no interpreter';
  readonly interpreter?: string;
}

/**
 * Looks `command` up in the tree `root` as the container's exec will: as given if it
 * holds a slash, else in CONTAINER_PATH, passing over folders, and over files without
 * an x bit while an executable one comes later (as a shell does).
 */
export function lookUpCommand(root: string, command: string): CommandLookup {
  const candidates = command.includes('/') ? [command] : CONTAINER_PATH.split(':').map((folder) => path.posix.join(folder, command));
  let refused: CommandLookup | undefined;
  for (const candidate of candidates) {
    const file = resolveInside(root, candidate);
    if (file === undefined) continue;
    const stat = fs.statSync(file);
    if (stat.isDirectory()) {
      if (command.includes('/')) refused ??= { file, refused: 'directory' };
      continue;
    }
    if (!stat.isFile() || (stat.mode & 0o111) === 0) {
      refused ??= { file, refused: 'not executable' };
      continue;
    }
    const interpreter = interpreterOf(file);
    if (interpreter !== undefined && resolveInside(root, interpreter) === undefined) return { file, refused: 'no interpreter', interpreter };
    return { file };
  }
  return refused ?? { refused: 'missing' };
}

/**
 * Resolves `file` as a process chrooted to `root` would, following symlinks the way the
 * kernel does but with `root` as "/": an absolute target starts again at `root`, and
 * `..` stops there. Returns the host path it ends at, or undefined if nothing is there.
 */
export function resolveInside(root: string, file: string): string | undefined {
  const MAXSYMLINKS = 40;
  let pending = file.split('/');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const hostPath = path.join(root, ...resolved, part);
    const stat = fs.lstatSync(hostPath, { throwIfNoEntry: false });
    if (stat === undefined) return undefined;
    if (stat.isSymbolicLink()) {
      if (++links > MAXSYMLINKS) return undefined;
      const target = fs.readlinkSync(hostPath);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...target.split('/'), ...pending];
      continue;
    }
    if (pending.some((rest) => rest !== '' && rest !== '.') && !stat.isDirectory()) return undefined;
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

/** The program the kernel starts to run `file`: a script's `#!` interpreter, or an ELF's loader. */
export function interpreterOf(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(256);
    const line = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)).toString('latin1');
    return line.startsWith('#!') ? /^#!\s*(\S+)/.exec(line)?.[1] : elfInterpreter(file);
  } finally {
    fs.closeSync(fd);
  }
}

/** The dynamic loader an ELF program names (its PT_INTERP), e.g. /lib64/ld-linux-x86-64.so.2; undefined if it is static or not ELF. */
export function elfInterpreter(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const read = (length: number, position: number) => {
      const buffer = Buffer.alloc(length);
      return buffer.subarray(0, fs.readSync(fd, buffer, 0, length, position));
    };
    const header = read(64, 0);
    if (header.length < 52 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    // The ELF header: class (32/64-bit) and byte order, then where the program headers are.
    const is64 = header[4] === 2;
    const le = header[5] === 1;
    const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const u32 = (b: Buffer, at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const word = (b: Buffer, at: number) => (is64 ? Number(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at));
    const PT_INTERP = 3;
    const [phoff, phentsize, phnum] = is64
      ? [word(header, 32), u16(header, 54), u16(header, 56)]
      : [word(header, 28), u16(header, 42), u16(header, 44)];
    const table = read(phentsize * phnum, phoff);
    for (let i = 0; (i + 1) * phentsize <= table.length; i++) {
      const entry = table.subarray(i * phentsize);
      if (u32(entry, 0) !== PT_INTERP) continue;
      const [offset, size] = is64 ? [word(entry, 8), word(entry, 32)] : [word(entry, 4), word(entry, 16)];
      return read(size, offset).toString('latin1').replace(/\0.*$/s, '');
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
