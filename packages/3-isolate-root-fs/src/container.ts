// What programs expect to find in a container besides its files: device nodes and an
// environment. Stage 3 makes them first; stages 4 and 5 reuse them.
import fs from 'node:fs';
import path from 'node:path';
import { MS_NOEXEC, MS_NOSUID, S_IFCHR, makedev, mknod, mount } from '@samples/syscalls';

/** The device files programs expect, as a minimal container runtime creates them. */
export const devices = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
] as const;

// #region dev
/** Mounts a small tmpfs on `dev` and creates the devices in it, plus the usual links. */
export function makeDev(dev: string): void {
  mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_NOEXEC, 'mode=755,size=64k');
  for (const { name, major, minor } of devices) {
    const node = path.join(dev, name);
    mknod(node, S_IFCHR | 0o666, makedev(major, minor));
    // mknod's mode goes through the umask (0022 makes it 0644): every user of the
    // container must be able to write /dev/null and open /dev/tty, as with runc.
    fs.chmodSync(node, 0o666);
  }
  for (const [name, target] of [
    ['fd', '/proc/self/fd'],
    ['stdin', '/proc/self/fd/0'],
    ['stdout', '/proc/self/fd/1'],
    ['stderr', '/proc/self/fd/2'],
  ] as const) {
    fs.symlinkSync(target, path.join(dev, name));
  }
}
// #endregion

/** A clean environment, as `docker run` gives: the host's variables stay outside. */
export function containerEnvironment(): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    HOSTNAME: 'container',
    TERM: process.env.TERM ?? 'xterm',
  };
}
