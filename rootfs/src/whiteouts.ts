// How a layer says "deleted". In a layer's tar (OCI layer.md, from AUFS) it is a name:
// `.wh.NAME` deletes NAME of the layers below, `DIR/.wh..wh..opq` hides all DIR had below.
// To overlayfs those would be plain files; its own words are a character device 0/0
// named NAME, and the xattr trusted.overlay.opaque="y" on DIR
// (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").
// A layer is stored in overlayfs's words, so that it can be mounted as it is.
import fs from 'node:fs';
import path from 'node:path';
import { S_IFCHR, WHITEOUT_DEV, mknod, setxattr } from '@samples/syscalls';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

// #region whiteouts
/** A whiteout name the layer cannot mean: it says what is wrong. */
export class BadWhiteout extends Error {}

/**
 * The whiteouts of one layer, collected while it is extracted and made once it is: the
 * spec lets `.wh..wh..opq` come after the files of its folder, and a whiteout of a name
 * the same layer also has means "replaced", not "gone".
 */
export class Whiteouts {
  private readonly opaque = new Set<string>();
  private readonly deleted = new Set<string>();

  /** Takes the entry if its name is a whiteout (then it is not extracted); false otherwise. */
  take(entryPath: string): boolean {
    const parts = entryPath.split('/').filter((part) => part !== '' && part !== '.');
    const name = parts.pop() ?? '';
    if (!name.startsWith(WHITEOUT_PREFIX)) return false;
    const dir = parts.join('/');
    if (name === OPAQUE_WHITEOUT) this.opaque.add(dir);
    // Other .wh..wh.* names are AUFS's own bookkeeping (.wh..wh.plnk): nothing to delete.
    else if (!name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
      const target = name.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..') {
        throw new BadWhiteout(`"${entryPath}" is a whiteout of "${target}", which names nothing to delete`);
      }
      this.deleted.add(path.posix.join(dir, target));
    }
    return true;
  }

  get count(): number {
    return this.opaque.size + this.deleted.size;
  }

  /** Makes them in the extracted layer `tree`, in overlayfs's form. */
  apply(tree: string): void {
    const root = fs.realpathSync(tree);
    for (const dir of this.opaque) makeOpaque(root, dir);
    for (const file of this.deleted) {
      const where = path.join(root, file);
      const existing = fs.lstatSync(where, { throwIfNoEntry: false });
      // The layer deleted a folder and made a new one of the same name: only the new one's files show.
      if (existing?.isDirectory()) makeOpaque(root, file);
      else if (existing === undefined) {
        makeFolder(root, path.dirname(file));
        mknod(where, S_IFCHR, WHITEOUT_DEV);
      }
      // A file of this layer under the deleted name replaces the lower one by itself.
    }
  }
}

// #endregion

function makeOpaque(root: string, dir: string): void {
  setxattr(makeFolder(root, dir), OPAQUE_XATTR, 'y');
}

/**
 * Makes `dir` in the layer, one folder at a time, and makes sure each is a folder of the
 * layer's own: the entry guard checked each name against the symlinks made *before* it,
 * and a symlink the tar makes after a whiteout below it (`a/.wh.x`, then `a -> /etc`)
 * must not lead a write outside. A parent the tar did not list is made as Docker makes
 * it: 0755, root's.
 */
function makeFolder(root: string, dir: string): string {
  let where = root;
  for (const part of dir.split('/').filter((name) => name !== '' && name !== '.')) {
    where = path.join(where, part);
    const stat = fs.lstatSync(where, { throwIfNoEntry: false });
    if (stat === undefined) fs.mkdirSync(where, { mode: 0o755 });
    else if (!stat.isDirectory()) {
      throw new BadWhiteout(`the whiteout in "${dir}" goes through "${part}", which is not a folder in the layer`);
    }
  }
  return where;
}
