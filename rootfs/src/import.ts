// Real images: a root filesystem imported from a tarball (`docker export`, an Alpine
// minirootfs, a tar of a debootstrap tree), with node-tar doing the tar and gzip work
// and xz-decompress (WebAssembly, no native addon) the xz.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ReadableStream } from 'node:stream/web';
import { CliError, ExitStatus, formatBytes } from '@samples/runtime';
import { type ReadEntry, Unpack } from 'tar';
import { XzReadableStream } from 'xz-decompress';
import { discardTree, fileFailure, finishTree, imagesDir, isValidName, makeTopFolders, startTree } from './images';

export interface ImportResult {
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
  /** Device nodes and FIFOs, which are not made: the runtime makes /dev itself. */
  readonly skipped: number;
  readonly seconds: number;
}

/** An entry refused because it would write outside the tree. */
class RefusedEntry extends Error {}

/** xz-decompress failed: the data is damaged, or cut short. */
class XzError extends Error {
  constructor(readonly truncated: boolean) {
    super(truncated ? 'truncated' : 'damaged');
  }
}

/** The import stopped by SIGINT, SIGTERM or SIGHUP. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Imports the tarball `file` (.tar, .tar.gz/.tgz, .tar.xz; recognised by content, not
 * name) as the root filesystem `name`. Owners (when run as root), modes, symlinks and
 * hard links are kept. The whole import is refused if one entry would write outside the
 * tree. Nothing is registered unless it all went well: the tree is made in a hidden
 * folder and renamed into place at the end; on a failure, a full disk, SIGINT, SIGTERM
 * or SIGHUP the folder is removed.
 */
export async function importRootfs(file: string, name: string, options: { progress?: boolean } = {}): Promise<ImportResult> {
  if (!isValidName(name)) {
    throw new CliError(
      `"${name}" cannot name a root filesystem: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
      ExitStatus.USAGE,
    );
  }
  const target = path.join(imagesDir(), name);
  if (fs.existsSync(target)) {
    throw new CliError(
      `a root filesystem named "${name}" exists already: remove it first (pnpm rootfs remove ${name}), or choose another name`,
    );
  }
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (stat === undefined) throw new CliError(`no such file: ${file}`);
  if (stat.isDirectory()) {
    throw new CliError(`${file} is a folder, not a tarball: a stage can use it as it is (--rootfs ${path.resolve(file)}), or tar it first`);
  }
  const compression = sniffCompression(file);

  const started = process.hrtime.bigint();
  let tree: string | undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let stop: ((error: Error) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => stop?.(new Interrupted(signal));
  for (const signal of signals) process.on(signal, onSignal);
  try {
    tree = startTree(target);
    const extracted = await extract(file, stat.size, compression, tree, options.progress ?? false, (abort) => (stop = abort));
    makeTopFolders(tree);
    const marker = {
      name,
      source: `imported from ${path.resolve(file)}`,
      created: new Date().toISOString(),
      files: extracted.files,
      bytes: extracted.bytes,
    };
    if (!finishTree(tree, target, marker, false)) {
      throw new CliError(
        `a root filesystem named "${name}" appeared while importing: remove it first (pnpm rootfs remove ${name}), or choose another name`,
      );
    }
    return { dir: target, ...extracted, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } catch (error) {
    if (tree !== undefined) discardTree(tree);
    throw describeImportFailure(error, file);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}

type Compression = 'gzip' | 'xz' | 'none';

/** Tells compressions apart by their magic bytes; node-tar says when what is left is no tar. */
function sniffCompression(file: string): Compression {
  const magic = Buffer.alloc(6);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, magic, 0, magic.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    throw new CliError(
      `${file} is zstd-compressed, which is not supported here: decompress it first (zstd -d ${file}), then import the .tar`,
    );
  }
  if (magic.subarray(0, 3).toString('latin1') === 'BZh') {
    throw new CliError(
      `${file} is bzip2-compressed, which is not supported here: decompress it first (bunzip2 -k ${file}), then import the .tar`,
    );
  }
  return 'none';
}

/** Device nodes and FIFOs: the runtime makes /dev itself. */
const NOT_MADE: readonly string[] = ['CharacterDevice', 'BlockDevice', 'FIFO'];

// #region extract
/** Streams the tarball into `tree`; `onStart` receives the function that stops it. */
function extract(
  file: string,
  size: number,
  compression: Compression,
  tree: string,
  showProgress: boolean,
  onStart: (stop: (error: Error) => void) => void,
): Promise<{ files: number; bytes: number; skipped: number }> {
  return new Promise((resolve, reject) => {
    const guard = new EntryGuard();
    const modes = new ModeKeeper();
    const progress = progressBar(path.basename(file), size, showProgress);
    let [entries, files, bytes, skipped] = [0, 0, 0, 0];
    let failed = false;
    let closed = false;
    /**
     * Stops the import. node-tar may still be making folders and writing files for the
     * entries it has read, and with preservePaths it makes a path's missing parents too:
     * removed now, the tree would come back. So it is given no more data, and the error
     * is passed on only once node-tar is done with what it had ('close').
     */
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      progress.end();
      source.unpipe(unpack);
      input.destroy();
      source.destroy();
      if (closed) reject(error);
      else {
        unpack.once('close', () => reject(error));
        // Not from inside node-tar's own write (a filter or an error event may have called this).
        if (!sourceEnded) setImmediate(() => unpack.end());
      }
    };
    onStart(fail);

    const input = fs.createReadStream(file).on('error', fail);
    input.on('data', () => progress.update(input.bytesRead));
    // Decompressed here, not by node-tar: node-tar aborts on a decompression error, and an
    // aborted Unpack never says when it is done.
    const source: Readable =
      compression === 'xz'
        ? Readable.fromWeb(new XzReadableStream(Readable.toWeb(input) as ReadableStream<Uint8Array>) as ReadableStream).on(
            'error',
            (error) =>
              // xz-embedded's XZ_BUF_ERROR (8): the input ended before the stream did.
              fail(new XzError(/error code 8$/.test(error.message))),
          )
        : compression === 'gzip'
          ? input.pipe(createGunzip()).on('error', fail)
          : input;
    let sourceEnded = false;
    source.once('end', () => (sourceEnded = true));

    const unpack = new Unpack({
      cwd: tree,
      // Every warning (a damaged archive, an entry it cannot make, a write that failed)
      // is an error: an image with holes in it is not one to run.
      strict: true,
      // Keep absolute symlink targets (/usr/lib64/ld-linux-x86-64.so.2 -> /lib/...): they
      // mean the container's root, but node-tar would cut the '/' off and break them. This
      // also turns off node-tar's own path checks: EntryGuard makes them, before any write.
      preservePaths: true,
      preserveOwner: process.getuid?.() === 0,
      filter: (_path, stat) => {
        const entry = stat as ReadEntry;
        if (failed) return false;
        entries++;
        const refusal = guard.refusal(entry);
        if (refusal !== undefined) {
          fail(new RefusedEntry(`refused the entry "${entry.path}": ${refusal} outside the tree; nothing was imported`));
          return false;
        }
        if (NOT_MADE.includes(entry.type)) {
          skipped++;
          return false;
        }
        modes.remember(entry);
        if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
          files++;
          bytes += entry.size;
        }
        return true;
      },
    });
    // node-tar passes over entries of types it does not know (GNU sparse files, ...):
    // a tree with files missing is not one to run.
    unpack.on('ignoredEntry', (entry: ReadEntry) => {
      if (!NOT_MADE.includes(entry.type)) {
        fail(new CliError(`${file}: "${entry.path}" is a ${entry.type} entry, which this import cannot make; nothing was imported`));
      }
    });
    // A tar ends with zero blocks; without them it was cut short, maybe between two
    // entries, which node-tar alone does not notice.
    let ended = false;
    unpack.on('nullBlock', () => (ended = true));
    unpack.on('error', fail).on('close', () => {
      closed = true;
      if (failed) return;
      progress.end();
      try {
        if (!ended) throw cutShort(file);
        if (entries === 0) throw new CliError(`${file} holds no files: is it the right one?`);
        modes.restore(tree);
        resolve({ files, bytes, skipped });
      } catch (error) {
        fail(error as Error);
      }
    });
    source.pipe(unpack);
  });
}
// #endregion

// #region guard
/**
 * Refuses each entry that would write outside the tree: an absolute path, a '..' in a
 * path or a hard link's target, or a path through a symlink the archive made before
 * (`link -> /etc`, then `link/passwd`). The tree starts empty, so the archive's own
 * symlinks are the only ones in it, and checking names is enough. (node-tar's own
 * checks would skip such entries with a warning; refusing the whole import says loudly
 * that the archive is not what it claims.)
 */
class EntryGuard {
  private readonly symlinks = new Set<string>();

  refusal(entry: ReadEntry): string | undefined {
    const refusal =
      this.check(entry.path) ?? (entry.type === 'Link' ? this.check(entry.linkpath ?? '', 'its hard link target ') : undefined);
    const name = normalize(entry.path).join('/');
    if (entry.type === 'SymbolicLink') this.symlinks.add(name);
    else this.symlinks.delete(name);
    return refusal;
  }

  private check(file: string, what = ''): string | undefined {
    if (file.startsWith('/')) return `${what}is an absolute path, which could point`;
    const parts = normalize(file);
    if (parts.includes('..')) return `${what}contains '..', which could lead`;
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) return `${what}goes through the symlink ${prefix}, which could lead`;
    }
    return undefined;
  }
}

function normalize(file: string): string[] {
  return file.split('/').filter((part) => part !== '' && part !== '.');
}
// #endregion

/**
 * Puts back the modes node-tar does not keep: it creates files through the umask,
 * adds u+rwx to every folder, and chown() after chmod() clears set-user-ID bits.
 */
class ModeKeeper {
  private readonly modes = new Map<string, number>();

  remember(entry: ReadEntry): void {
    // A hard link shares its target's mode; a symlink's mode is not used.
    if (entry.mode === undefined || entry.type === 'Link' || entry.type === 'SymbolicLink') return;
    this.modes.set(normalize(entry.path).join('/'), entry.mode & 0o7777);
  }

  restore(tree: string): void {
    for (const [file, mode] of this.modes) {
      const where = path.join(tree, file);
      const stat = fs.lstatSync(where, { throwIfNoEntry: false });
      if (stat && !stat.isSymbolicLink() && (stat.mode & 0o7777) !== mode) fs.chmodSync(where, mode);
    }
  }
}

/** A progress bar on stderr while it is a terminal: bytes of the tarball read. */
function progressBar(label: string, total: number, enabled: boolean) {
  const width = 30;
  let last = 0;
  const draw = (done: number) => {
    const fraction = total > 0 ? Math.min(done / total, 1) : 1;
    const filled = Math.round(fraction * width);
    process.stderr.write(
      `\rimporting ${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(done)} of ${formatBytes(total)}`,
    );
  };
  return {
    update(done: number) {
      const now = Date.now();
      if (!enabled || now - last < 100) return;
      last = now;
      draw(done);
    },
    end() {
      if (enabled && last > 0) process.stderr.write('\r\x1b[K');
    },
  };
}

/** One line for whatever stopped the import; the tree is gone by then. */
function describeImportFailure(error: unknown, file: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof Interrupted) {
    return new CliError(`import ${error.message}: nothing was imported`, 128 + (os.constants.signals[error.signal] ?? 0));
  }
  if (error instanceof RefusedEntry) return new CliError(`${file}: ${error.message}`);
  if (error instanceof XzError) return error.truncated ? cutShort(file) : notATarball(file);
  const { code, syscall, tarCode, message } = error as NodeJS.ErrnoException & { tarCode?: string };
  // node-tar's words for a damaged tar, zlib's for damaged gzip.
  if (tarCode === 'TAR_BAD_ARCHIVE' || tarCode === 'TAR_ENTRY_INVALID' || code?.startsWith('Z_')) {
    return /truncated|unexpected end/i.test(message) ? cutShort(file) : notATarball(file);
  }
  if (syscall !== undefined) return fileFailure(error, `importing ${file}`, imagesDir());
  return new CliError(`importing ${file} failed: ${message}; nothing was imported`);
}

function notATarball(file: string): CliError {
  return new CliError(`${file} is not a tarball (.tar, .tar.gz or .tar.xz), or is damaged: nothing was imported`);
}

function cutShort(file: string): CliError {
  return new CliError(`${file} ends too early (a download or copy cut short?): get it again; nothing was imported`);
}
