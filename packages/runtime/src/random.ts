// Random names for what a runtime makes on the host (a cgroup, a veth), without
// node:crypto: loading it costs every Node start that does ~4 ms, and a stage's code is
// loaded twice per container (the runtime and its child).
import fs from 'node:fs';

/** `size` random bytes from the kernel's generator, as node:crypto's randomBytes gives them. */
export function randomBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    for (let filled = 0; filled < size; ) filled += fs.readSync(fd, bytes, filled, size - filled, null);
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}
