// Reading an image's files by name, wherever they are: in an OCI layout folder, or inside
// an uncompressed tarball (`docker save`, an OCI archive), where each one is a byte range
// found from the tar headers alone, so a 1 GiB image is never copied to be read.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Header, type HeaderData, Pax } from 'tar';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

/**
 * The size of the chunks read from an image or a tarball, and inflated from gzip: the
 * extraction (untar.ts) runs between two chunks, and fewer, larger ones cost less
 * (64 KiB ones: +40% on a Debian tree).
 */
export const CHUNK = 1 << 20;

/** Tells compressions apart by their first bytes. */
export function compressionOf(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

/** The first `length` bytes of a file (fewer if it is shorter). */
export function readHead(file: string, length = 6, position = 0): Buffer {
  const head = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    return head.subarray(0, fs.readSync(fd, head, 0, length, position));
  } finally {
    fs.closeSync(fd);
  }
}

/** An image's files, by their names in the layout ('index.json', 'blobs/sha256/HEX'). */
export interface ImageSource {
  /** The folder or tarball, for messages. */
  readonly file: string;
  /** Whether a regular file of that name is there (symlinks and hard links followed). */
  has(name: string): boolean;
  size(name: string): number;
  /** The first bytes, to sniff a compression. */
  head(name: string, length: number): Buffer;
  stream(name: string): Readable;
}

/** An uncompressed tarball's source, which can also list what is in it. */
export interface TarSource extends ImageSource {
  readonly names: readonly string[];
}

/** Names come from the image's own JSON (docker save's manifest.json): none may leave the layout. */
export function safeName(name: string): string | undefined {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (name.startsWith('/') || parts.length === 0 || parts.includes('..')) return undefined;
  return parts.join('/');
}

/** An OCI image layout folder. */
export function folderSource(dir: string): ImageSource {
  const where = (name: string) => {
    const safe = safeName(name);
    return safe === undefined ? undefined : path.join(dir, safe);
  };
  return {
    file: dir,
    has: (name) => {
      const file = where(name);
      return file !== undefined && fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true;
    },
    size: (name) => fs.statSync(where(name)!).size,
    head: (name, length) => readHead(where(name)!, length),
    stream: (name) => fs.createReadStream(where(name)!, { highWaterMark: CHUNK }),
  };
}

interface TarMember {
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly linkpath?: string;
}

/** Not a tar: a header's checksum is wrong, or the file ends inside a header. */
export class NotATar extends Error {}

/**
 * An uncompressed tarball, indexed by walking its headers: each header says how big its
 * data is, so the next header is found without reading the data. pax and GNU long-name
 * headers are read for the names they carry.
 */
export function tarSource(file: string): TarSource {
  const members = indexTar(file);
  const resolve = (name: string, depth = 0): TarMember | undefined => {
    const safe = safeName(name);
    const member = safe === undefined ? undefined : members.get(safe);
    if (member === undefined || depth > 8) return undefined;
    // docker save (25 and later) writes the old paths, <id>/layer.tar, as symlinks to the blobs.
    if (member.type === 'SymbolicLink') return resolve(path.posix.join(path.posix.dirname(safe!), member.linkpath ?? ''), depth + 1);
    if (member.type === 'Link') return resolve(member.linkpath ?? '', depth + 1);
    return member.type === 'File' || member.type === 'OldFile' || member.type === 'ContiguousFile' ? member : undefined;
  };
  const found = (name: string) => {
    const member = resolve(name);
    if (member === undefined) throw new Error(`${file}: no ${name} in it`);
    return member;
  };
  return {
    file,
    names: [...members.keys()],
    has: (name) => resolve(name) !== undefined,
    size: (name) => found(name).size,
    head: (name, length) => {
      const member = found(name);
      return readHead(file, Math.min(length, member.size), member.offset);
    },
    stream: (name) => {
      const { offset, size } = found(name);
      // end is inclusive; an empty member must still give an empty stream.
      return size === 0
        ? fs.createReadStream(file, { start: 1, end: 0 })
        : fs.createReadStream(file, { start: offset, end: offset + size - 1, highWaterMark: CHUNK });
    },
  };
}

function indexTar(file: string): Map<string, TarMember> {
  const members = new Map<string, TarMember>();
  const fd = fs.openSync(file, 'r');
  try {
    const block = Buffer.alloc(512);
    let position = 0;
    let extended: HeaderData | undefined;
    let global: HeaderData | undefined;
    let longPath: string | undefined;
    let longLink: string | undefined;
    const readData = (offset: number, size: number) => {
      const data = Buffer.alloc(size);
      if (fs.readSync(fd, data, 0, size, offset) < size) throw new NotATar('cut short');
      return data;
    };
    for (;;) {
      const read = fs.readSync(fd, block, 0, 512, position);
      if (read === 0 || (read === 512 && block.every((byte) => byte === 0))) break;
      if (read < 512) throw new NotATar('cut short');
      const header = new Header(block, 0, extended, global);
      if (!header.cksumValid) throw new NotATar('bad header checksum');
      const size = header.size ?? 0;
      const offset = position + 512;
      position = offset + Math.ceil(size / 512) * 512;
      switch (header.type) {
        case 'ExtendedHeader':
          extended = Pax.parse(readData(offset, size).toString('utf8'), extended, false);
          continue;
        case 'GlobalExtendedHeader':
          global = Pax.parse(readData(offset, size).toString('utf8'), global, true);
          continue;
        case 'NextFileHasLongPath':
          longPath = readData(offset, size).toString('utf8').replace(/\0.*$/s, '');
          continue;
        case 'NextFileHasLongLinkpath':
          longLink = readData(offset, size).toString('utf8').replace(/\0.*$/s, '');
          continue;
      }
      const name = safeName(longPath ?? header.path ?? '');
      const linkpath = longLink ?? header.linkpath;
      if (name !== undefined) members.set(name, { type: header.type ?? 'File', offset, size, ...(linkpath ? { linkpath } : {}) });
      extended = longPath = longLink = undefined;
    }
    return members;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether names at a tarball's top say it holds an image rather than a root filesystem:
 * the files of an OCI layout or of `docker save` (old: <64 hex>/layer.tar, <64 hex>.json).
 */
export function looksLikeImage(names: readonly string[]): boolean {
  return names.some((name) => {
    const safe = safeName(name) ?? '';
    return (
      ['oci-layout', 'index.json', 'manifest.json', 'repositories'].includes(safe) ||
      safe === 'blobs' ||
      safe.startsWith('blobs/') ||
      /^[0-9a-f]{64}(\/|\.json$|$)/.test(safe)
    );
  });
}

/** Whether a folder is an OCI image layout. */
export function isImageLayout(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'oci-layout')) || fs.existsSync(path.join(dir, 'index.json'));
}
