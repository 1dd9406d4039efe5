// Unpacking a tar stream into an empty folder, with the checks every import makes:
// nothing written outside the folder, every entry made or the import stopped, modes kept.
// Plain tarballs (import.ts) and image layers (oci.ts) both come through here.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CliError } from '@samples/runtime';
import { type ReadEntry, Unpack } from 'tar';
import { Whiteouts } from './whiteouts';

/** An entry refused because it would write outside the tree. */
export class RefusedEntry extends Error {}

/** Lets a signal stop whichever step of an import is running, and the ones after it. */
export class Interruption {
  private reason: Error | undefined;
  private stopCurrent: ((error: Error) => void) | undefined;

  interrupt(error: Error): void {
    this.reason = error;
    this.stopCurrent?.(error);
  }

  /** Given to each step that streams: how to stop it. */
  readonly onStart = (stop: (error: Error) => void): void => {
    this.stopCurrent = stop;
    if (this.reason) stop(this.reason);
  };

  /** Between steps. */
  check(): void {
    if (this.reason) throw this.reason;
  }
}

/** Device nodes and FIFOs: the runtime makes /dev itself. */
const NOT_MADE: readonly string[] = ['CharacterDevice', 'BlockDevice', 'FIFO'];

// #region unpack
export interface Unpacked {
  readonly files: number;
  readonly bytes: number;
  /** Device nodes and FIFOs, not made. */
  readonly skipped: number;
  /** A layer's whiteouts, collected, not made: see whiteouts.ts. */
  readonly whiteouts: Whiteouts;
  /** The modes to put back once all is in place. */
  readonly modes: ModeKeeper;
}

/**
 * Unpacks the tar `stream` into `tree` with the checks every import makes (EntryGuard,
 * strict). With `layer`, whiteout entries (`.wh.*`) are collected rather than made.
 * `label` names the tarball in messages.
 */
export function unpack(
  stream: Readable,
  tree: string,
  label: string,
  options: { onStart: (stop: (error: Error) => void) => void; onEnd?: () => void; layer?: boolean },
): Promise<Unpacked> {
  return new Promise((resolve, reject) => {
    const guard = new EntryGuard();
    const modes = new ModeKeeper();
    const whiteouts = new Whiteouts();
    // The entries the filter passes over on purpose; node-tar reports them as ignored too.
    const passedOver = new WeakSet<ReadEntry>();
    let [entries, files, bytes, skipped] = [0, 0, 0, 0];
    let failure: Error | undefined;
    let closed = false;
    /**
     * Stops the unpacking. Not with node-tar's abort(): after it node-tar never says when
     * its last write is done, and a folder still on its way (parents included) would be
     * made again after the caller removed the tree. Rather: no entry is made any more,
     * the input is cut, and the promise settles once node-tar has closed.
     */
    const fail = (error: Error) => {
      if (failure !== undefined) return;
      failure = error;
      options.onEnd?.();
      stream.unpipe(unpacker);
      stream.destroy();
      if (closed) reject(error);
      // Not from inside node-tar's own write (the filter runs there).
      else setImmediate(() => unpacker.end());
    };
    options.onStart(fail);

    const unpacker = new Unpack({
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
        if (failure !== undefined) {
          passedOver.add(entry);
          return false;
        }
        entries++;
        const refusal = guard.refusal(entry);
        if (refusal !== undefined) {
          passedOver.add(entry);
          fail(new RefusedEntry(`refused the entry "${entry.path}": ${refusal} outside the tree; nothing was imported`));
          return false;
        }
        try {
          if (options.layer && whiteouts.take(entry.path)) {
            passedOver.add(entry);
            return false;
          }
        } catch (error) {
          passedOver.add(entry);
          fail(error as Error);
          return false;
        }
        if (NOT_MADE.includes(entry.type)) {
          skipped++;
          passedOver.add(entry);
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
    unpacker.on('ignoredEntry', (entry: ReadEntry) => {
      if (!passedOver.has(entry)) {
        fail(new CliError(`${label}: "${entry.path}" is a ${entry.type} entry, which this import cannot make; nothing was imported`));
      }
    });
    // A tar ends with zero blocks; without them it was cut short, maybe between two
    // entries, which node-tar alone does not notice.
    let ended = false;
    unpacker.on('nullBlock', () => (ended = true));
    unpacker.on('error', fail).on('close', () => {
      closed = true;
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      options.onEnd?.();
      try {
        if (!ended) throw cutShort(label);
        if (entries === 0 && !options.layer) throw new CliError(`${label} holds no files: is it the right one?`);
        resolve({ files, bytes, skipped, whiteouts, modes });
      } catch (error) {
        reject(error);
      }
    });
    stream.pipe(unpacker);
  });
}// #endregion

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
export class ModeKeeper {
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

export function cutShort(file: string): CliError {
  return new CliError(`${file} ends too early (a download or copy cut short?): get it again; nothing was imported`);
}
