// Unpacking a tar stream into an empty folder, with the checks every import makes:
// nothing written outside the folder, every entry made or the import stopped, modes kept.
// Plain tarballs (import.ts) and image layers (oci.ts) both come through here; the
// extraction itself is untar.ts, synchronous, chunk by chunk.
import type { Readable } from 'node:stream';
import { CliError } from '@samples/runtime';
import { type TarEntry, TarFormatError, Untar } from './untar';
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
}

/** The entry types that are regular files, whose bytes count. */
const FILES: readonly string[] = ['File', 'OldFile', 'ContiguousFile'];

/**
 * Unpacks the tar `stream` into `tree` with the checks every import makes (EntryGuard;
 * every entry made, or the import stopped). With `layer`, whiteout entries (`.wh.*`)
 * are collected rather than made. `label` names the tarball in messages. A tar that is
 * damaged rejects with TarFormatError; one cut short, with one line that says so.
 */
export function unpack(
  stream: Readable,
  tree: string,
  label: string,
  options: { onStart: (stop: (error: Error) => void) => void; onEnd?: () => void; layer?: boolean },
): Promise<Unpacked> {
  return new Promise((resolve, reject) => {
    const guard = new EntryGuard();
    const whiteouts = new Whiteouts();
    let [entries, files, bytes, skipped] = [0, 0, 0, 0];
    let settled = false;
    const untar = new Untar(tree, {
      // Owners only as root: anyone else cannot give files away.
      preserveOwner: process.getuid?.() === 0,
      filter: (entry) => {
        entries++;
        const refusal = guard.refusal(entry);
        if (refusal !== undefined) throw new RefusedEntry(`refused the entry "${entry.path}": ${refusal} outside the tree; nothing was imported`);
        if (options.layer && whiteouts.take(entry.path)) return false;
        if (NOT_MADE.includes(entry.type)) {
          skipped++;
          return false;
        }
        if (FILES.includes(entry.type)) {
          files++;
          bytes += entry.size;
        }
        return true;
      },
      // A GNU sparse file and the like: a tree with files missing is not one to run.
      onUnsupported: (entry) => {
        throw new CliError(`${label}: "${entry.path}" is a ${entry.type} entry, which this import cannot make; nothing was imported`);
      },
    });
    /**
     * Stops the unpacking for good. The extraction is synchronous, chunk by chunk: once
     * this returns, nothing more is written, and the caller may remove the tree.
     */
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      untar.abort();
      options.onEnd?.();
      stream.destroy();
      reject(error instanceof TarFormatError && error.truncated ? cutShort(label) : error);
    };
    options.onStart(fail);

    stream.on('data', (chunk: Buffer | Uint8Array) => {
      if (settled) return;
      try {
        // A web stream's chunks (xz) are Uint8Arrays: the same bytes, seen as a Buffer.
        untar.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (error) {
        fail(error as Error);
      }
    });
    stream.on('end', () => {
      if (settled) return;
      try {
        untar.end();
        if (entries === 0 && !options.layer) throw new CliError(`${label} holds no files: is it the right one?`);
      } catch (error) {
        fail(error as Error);
        return;
      }
      settled = true;
      options.onEnd?.();
      resolve({ files, bytes, skipped, whiteouts });
    });
    stream.on('error', fail);
    // Destroyed by whoever feeds it (a failed decompression) before its end: never left waiting.
    stream.on('close', () => fail(new Error(`${label}: the tar stream stopped before its end`)));
  });
}
// #endregion

// #region guard
/**
 * Refuses each entry that would write outside the tree: an absolute path, a '..' in a
 * path or a hard link's target, or a path through a symlink the archive made before
 * (`link -> /etc`, then `link/passwd`). The tree starts empty, so the archive's own
 * symlinks are the only ones in it, and checking names is enough. (Skipping such an
 * entry with a warning, as node-tar does, would hide it; refusing the whole import says
 * loudly that the archive is not what it claims.)
 */
class EntryGuard {
  private readonly symlinks = new Set<string>();

  refusal(entry: Pick<TarEntry, 'path' | 'type' | 'linkpath'>): string | undefined {
    const refusal =
      this.check(entry.path) ?? (entry.type === 'Link' ? this.check(entry.linkpath, 'its hard link target ') : undefined);
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

export function cutShort(file: string): CliError {
  return new CliError(`${file} ends too early (a download or copy cut short?): get it again; nothing was imported`);
}
