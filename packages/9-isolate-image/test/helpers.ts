// What stage 9's tests share: how they look at a tree of the image from the host's side.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getxattr } from '@samples/syscalls';

export const stage = path.join(__dirname, '..');

/**
 * Everything about every file under `dir` that a write would change: type, mode, owner,
 * size, mtime and ctime (which any change of data, owner, mode or xattr moves), content,
 * symlink target, device number, overlayfs's opaque xattr.
 */
export function snapshot(dir: string): string[] {
  const lines: string[] = [];
  const walk = (folder: string) => {
    for (const name of fs.readdirSync(folder).sort()) {
      const file = path.join(folder, name);
      const stat = fs.lstatSync(file, { bigint: true });
      let detail = '';
      if (stat.isFile()) detail = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
      else if (stat.isSymbolicLink()) detail = fs.readlinkSync(file);
      else if (stat.isDirectory()) {
        try {
          detail = `opaque=${getxattr(file, 'trusted.overlay.opaque').toString()}`;
        } catch {
          detail = 'not opaque';
        }
      }
      lines.push(
        [path.relative(dir, file), stat.mode, stat.uid, stat.gid, stat.size, stat.rdev, stat.nlink, stat.mtimeNs, stat.ctimeNs, detail].join(' '),
      );
      if (stat.isDirectory()) walk(file);
    }
  };
  walk(dir);
  return lines;
}
