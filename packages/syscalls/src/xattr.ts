// <sys/xattr.h>: extended attributes, name-value pairs a file carries beside its data.
// Overlayfs keeps its own bookkeeping in them (trusted.overlay.*). https://man7.org/linux/man-pages/man7/xattr.7.html
import os from 'node:os';
import { check } from './errno';
import { declare, errno } from './libc';

/** Flags for setxattr(2). */
export const XattrFlags = {
  /** Fail with EEXIST if the attribute exists already. */
  XATTR_CREATE: 1,
  /** Fail with ENODATA if the attribute does not exist yet. */
  XATTR_REPLACE: 2,
} as const;
export const { XATTR_CREATE, XATTR_REPLACE } = XattrFlags;

const setxattr_ = declare('int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const lsetxattr_ = declare('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
// They return ssize_t, a type koffi does not know: long has its width on Linux.
const getxattr_ = declare('long getxattr(const char *path, const char *name, _Out_ void *value, size_t size)');
const lgetxattr_ = declare('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)');

/** Sets the attribute `name` of the file `path` (symlinks followed). https://man7.org/linux/man-pages/man2/setxattr.2.html */
export function setxattr(path: string, name: string, value: string | Buffer, flags = 0): void {
  const data = Buffer.from(value);
  check(setxattr_(path, name, data, data.length, flags), 'setxattr', path);
}

/** setxattr on the symlink itself, not its target. https://man7.org/linux/man-pages/man2/lsetxattr.2.html */
export function lsetxattr(path: string, name: string, value: string | Buffer, flags = 0): void {
  const data = Buffer.from(value);
  check(lsetxattr_(path, name, data, data.length, flags), 'lsetxattr', path);
}

/**
 * The value of the attribute `name` of `path` (symlinks followed); throws ENODATA if it has none.
 * https://man7.org/linux/man-pages/man2/getxattr.2.html
 */
export function getxattr(path: string, name: string): Buffer {
  return readValue(getxattr_, 'getxattr', path, name);
}

/** getxattr on the symlink itself. https://man7.org/linux/man-pages/man2/lgetxattr.2.html */
export function lgetxattr(path: string, name: string): Buffer {
  return readValue(lgetxattr_, 'lgetxattr', path, name);
}

// Asking with size 0 gives the value's length; should the value grow before the second
// call, that one says ERANGE: ask again.
function readValue(get: typeof getxattr_, syscall: string, path: string, name: string): Buffer {
  for (;;) {
    const size = check(get(path, name, null, 0), syscall, path);
    const value = Buffer.alloc(size);
    const read = get(path, name, value, size);
    if (read === -1 && errno() === os.constants.errno.ERANGE) continue;
    return value.subarray(0, check(read, syscall, path));
  }
}
