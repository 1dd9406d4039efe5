// <sys/stat.h>, <sys/statfs.h>, <sys/sysmacros.h>: device nodes and filesystem types.
import { check } from './errno';
import { declare } from './libc';

export const S_IFCHR = 0o020000;

/** The device number of an overlayfs whiteout: a character device 0/0 hides a lower file of its name. */
export const WHITEOUT_DEV = 0n;

/** Filesystem magic numbers as statfs reports them in f_type (see statfs(2)). */
export const FilesystemMagic = {
  CGROUP_SUPER_MAGIC: 0x27e0eb,
  CGROUP2_SUPER_MAGIC: 0x63677270,
  DEVPTS_SUPER_MAGIC: 0x1cd1,
  OVERLAYFS_SUPER_MAGIC: 0x794c7630,
  PROC_SUPER_MAGIC: 0x9fa0,
  RAMFS_MAGIC: 0x858458f6,
  TMPFS_MAGIC: 0x01021994,
} as const;

const mknod_ = declare('int mknod(const char *path, uint32_t mode, uint64_t dev)');
const statfs_ = declare('int statfs(const char *path, _Out_ uint8_t *buf)');
const fstatfs_ = declare('int fstatfs(int fd, _Out_ uint8_t *buf)');

/** A device number from its major and minor parts, as makedev(3) builds it. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** Creates a filesystem node (here: a device file). https://man7.org/linux/man-pages/man2/mknod.2.html */
export function mknod(path: string, mode: number, dev: bigint): void {
  check(mknod_(path, mode, dev), 'mknod', path);
}

/** The type of the filesystem `path` is on (f_type of statfs(2)). https://man7.org/linux/man-pages/man2/statfs.2.html */
export function statfsType(path: string): number {
  const buf = Buffer.alloc(256); // struct statfs is 120 bytes on 64-bit Linux
  check(statfs_(path, buf), 'statfs', path);
  // f_type is the first field, a long (__fsword_t).
  return Number(buf.readBigInt64LE(0));
}

/** The type of the filesystem the open file `fd` is on (f_type of fstatfs(2)). https://man7.org/linux/man-pages/man2/fstatfs.2.html */
export function fstatfsType(fd: number): number {
  const buf = Buffer.alloc(256);
  check(fstatfs_(fd, buf), 'fstatfs');
  return Number(buf.readBigInt64LE(0));
}
