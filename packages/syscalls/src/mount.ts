// <sys/mount.h>: mounting and unmounting. https://man7.org/linux/man-pages/man2/mount.2.html
import { check } from './errno';
import { declare } from './libc';

/** Flags for mount(2). */
export const MountFlags = {
  MS_RDONLY: 1,
  MS_NOSUID: 2,
  MS_NODEV: 4,
  MS_NOEXEC: 8,
  MS_REMOUNT: 32,
  MS_NOATIME: 1024,
  MS_BIND: 4096,
  MS_MOVE: 8192,
  MS_REC: 16384,
  MS_PRIVATE: 1 << 18,
  MS_SLAVE: 1 << 19,
  MS_SHARED: 1 << 20,
} as const;
export const {
  MS_RDONLY,
  MS_NOSUID,
  MS_NODEV,
  MS_NOEXEC,
  MS_REMOUNT,
  MS_NOATIME,
  MS_BIND,
  MS_MOVE,
  MS_REC,
  MS_PRIVATE,
  MS_SLAVE,
  MS_SHARED,
} = MountFlags;

/** Flags for umount2(2). */
export const UmountFlags = {
  MNT_FORCE: 1,
  MNT_DETACH: 2,
} as const;
export const { MNT_FORCE, MNT_DETACH } = UmountFlags;

const mount_ = declare('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2_ = declare('int umount2(const char *target, int flags)');

// #region mount
/**
 * Attaches a filesystem at `target`. https://man7.org/linux/man-pages/man2/mount.2.html
 * Empty `source`, `fstype` and `data` are passed as NULL, not "": some filesystems
 * reject an empty string where the kernel accepts NULL (as Go's x/sys/unix does).
 */
export function mount(source: string, target: string, fstype: string, flags: number, data = ''): void {
  check(mount_(source || null, target, fstype || null, flags, data || null), 'mount', target);
}
// #endregion

/** Detaches the filesystem at `target`. https://man7.org/linux/man-pages/man2/umount2.2.html */
export function umount2(target: string, flags = 0): void {
  check(umount2_(target, flags), 'umount2', target);
}
