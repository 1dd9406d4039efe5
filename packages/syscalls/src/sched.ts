// <sched.h>: namespaces. https://man7.org/linux/man-pages/man7/namespaces.7.html
import { check } from './errno';
import { declare } from './libc';

/** Namespace flags for unshare(2), setns(2) and clone(2). */
export const CloneFlags = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
} as const;
export const {
  CLONE_NEWNS,
  CLONE_NEWCGROUP,
  CLONE_NEWUTS,
  CLONE_NEWIPC,
  CLONE_NEWUSER,
  CLONE_NEWPID,
  CLONE_NEWNET,
} = CloneFlags;

/** The name of each namespace's file in /proc/<pid>/ns/. */
export const namespaceFiles: Record<keyof typeof CloneFlags, string> = {
  CLONE_NEWNS: 'mnt',
  CLONE_NEWCGROUP: 'cgroup',
  CLONE_NEWUTS: 'uts',
  CLONE_NEWIPC: 'ipc',
  CLONE_NEWUSER: 'user',
  CLONE_NEWPID: 'pid',
  CLONE_NEWNET: 'net',
};

const unshare_ = declare('int unshare(int flags)');
const setns_ = declare('int setns(int fd, int nstype)');

/** Moves the calling thread into new namespaces. https://man7.org/linux/man-pages/man2/unshare.2.html */
export function unshare(flags: number): void {
  check(unshare_(flags), 'unshare');
}

/** Moves the calling thread into the namespace `fd` refers to. https://man7.org/linux/man-pages/man2/setns.2.html */
export function setns(fd: number, nstype: number): void {
  check(setns_(fd, nstype), 'setns');
}
