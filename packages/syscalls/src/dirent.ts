// <dirent.h>: reading a directory as libc returns it, with the entry type the filesystem
// stores (d_type). Node's own readdir hides a missing type behind an lstat.
// https://man7.org/linux/man-pages/man3/readdir.3.html
import { check } from './errno';
import { declare, errno, ffi } from './libc';

/** d_type values. DT_UNKNOWN: the filesystem does not store types (XFS made with ftype=0). */
export const DirentType = {
  DT_UNKNOWN: 0,
  DT_FIFO: 1,
  DT_CHR: 2,
  DT_DIR: 4,
  DT_BLK: 6,
  DT_REG: 8,
  DT_LNK: 10,
  DT_SOCK: 12,
} as const;
export const { DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK } = DirentType;

export interface Dirent {
  readonly d_ino: bigint;
  readonly d_type: number;
  readonly d_name: string;
}

/** An open directory stream: the address of the DIR opendir returned. */
export type Dir = bigint;

// struct dirent as glibc lays it out on 64-bit Linux (readdir is readdir64 there):
// { ino64_t d_ino; off64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[]; }
const D_INO = 0;
const D_TYPE = 18;
const D_NAME = 19;

const opendir_ = declare('void *opendir(const char *path)');
const readdir_ = declare('void *readdir(void *dir)');
const closedir_ = declare('int closedir(void *dir)');

/** Opens a directory stream. https://man7.org/linux/man-pages/man3/opendir.3.html */
export function opendir(path: string): Dir {
  const dir = opendir_(path);
  // It says failure with NULL, not -1: check() reads errno all the same.
  check(dir === null ? -1 : 0, 'opendir', path);
  return dir!;
}

/** The next entry, or undefined at the end. https://man7.org/linux/man-pages/man3/readdir.3.html */
export function readdir(dir: Dir): Dirent | undefined {
  const koffi = ffi();
  // NULL means the end, or an error: only errno tells them apart, so clear it first.
  koffi.errno(0);
  const entry = readdir_(dir);
  if (entry === null) {
    check(errno() === 0 ? 0 : -1, 'readdir');
    return undefined;
  }
  return {
    d_ino: BigInt(koffi.decode(entry, D_INO, 'uint64_t') as number | bigint),
    d_type: koffi.decode(entry, D_TYPE, 'uint8_t') as number,
    // -1: up to the NUL that ends the name.
    d_name: koffi.decode(entry, D_NAME, 'char', -1) as string,
  };
}

/** Closes a directory stream. https://man7.org/linux/man-pages/man3/closedir.3.html */
export function closedir(dir: Dir): void {
  check(closedir_(dir), 'closedir');
}
