// The layer store: each layer of every layered image, once, by its DiffID (the sha256 of
// its uncompressed tar, which config.json's rootfs.diff_ids lists): the same layer
// compressed two ways, or saved by docker and by skopeo, is one folder.
//
//   layers/sha256/<hex>/diff/                 the layer's files, whiteouts in overlayfs's form
//   layers/sha256/<hex>/.samples-rootfs.json  made last: the layer is complete
//   layers/mount-points/diff/                 proc, sys, dev, tmp, newtemp: the bottom of every stack
//
// A layer is made as a tree is (images.ts): in a hidden folder, renamed into place whole.
// Containers never write here: overlayfs mounts these folders read-only, below a
// container's own upper folder.
import fs from 'node:fs';
import path from 'node:path';
import { discardTree, finishTree, layersDir, layersInUse, listRootfs, makeTopFolders, type Marker, readMarker, startTree } from './images';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

export function isLayerDigest(digest: string): boolean {
  return DIGEST.test(digest);
}

/** The folder of a layer: layers/sha256/<hex>. */
export function layerFolder(digest: string): string {
  const [, hex] = DIGEST.exec(digest) ?? [];
  if (hex === undefined) throw new Error(`not a sha256 digest: ${digest}`);
  return path.join(layersDir(), 'sha256', hex);
}

/** The layer's files, as overlayfs takes them for a lowerdir. */
export function layerTree(digest: string): string {
  return path.join(layerFolder(digest), 'diff');
}

/** The layer's marker, if it is stored whole. */
export function storedLayer(digest: string): Marker | undefined {
  return readMarker(layerFolder(digest));
}

export interface StoredLayer {
  readonly digest: string;
  readonly marker: Marker;
  /** The images whose stack holds it. */
  readonly images: readonly string[];
}

/** Every complete layer, with the images that use it. */
export function listLayers(): StoredLayer[] {
  const users = new Map<string, string[]>();
  for (const { name, marker } of listRootfs()) {
    for (const { digest } of marker?.image?.layers ?? []) users.set(digest, [...(users.get(digest) ?? []), name]);
  }
  let hexes: string[];
  try {
    hexes = fs.readdirSync(path.join(layersDir(), 'sha256'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return hexes
    .filter((hex) => /^[0-9a-f]{64}$/.test(hex))
    .sort()
    .flatMap((hex) => {
      const digest = `sha256:${hex}`;
      const marker = storedLayer(digest);
      return marker === undefined ? [] : [{ digest, marker, images: users.get(digest) ?? [] }];
    });
}

/** Removes the layers no image lists and no container uses; returns their digests. */
export function removeUnusedLayers(): string[] {
  const inUse = layersInUse();
  const removed: string[] = [];
  for (const { digest, images } of listLayers()) {
    if (images.length > 0 || inUse.has(fs.realpathSync(layerTree(digest)))) continue;
    const folder = layerFolder(digest);
    // Renamed first, as a failed tree is: a half-removed layer never looks complete.
    const trash = path.join(path.dirname(folder), `.${path.basename(folder)}.partial-${process.pid}`);
    fs.renameSync(folder, trash);
    discardTree(trash);
    removed.push(digest);
  }
  return removed;
}

/**
 * The layer at the bottom of every layered image's stack: the folders the runtime mounts
 * onto. An image made `FROM scratch` may lack them; a folder of a higher layer, with its
 * own mode and owner, hides this one. Made once, on first use.
 */
export function mountPointsLayer(): string {
  const folder = path.join(layersDir(), 'mount-points');
  if (readMarker(folder) === undefined) {
    const partial = startTree(folder);
    const tree = path.join(partial, 'diff');
    fs.mkdirSync(tree);
    fs.chmodSync(tree, 0o755);
    makeTopFolders(tree);
    const marker = { name: 'mount-points', source: 'made by @samples/rootfs', created: new Date().toISOString(), files: 0, bytes: 0 };
    finishTree(partial, folder, marker, false);
  }
  return path.join(folder, 'diff');
}

