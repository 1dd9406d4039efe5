// Stage 9's root filesystem: the image, read-only, under a layer of the container's own.
// overlayfs stacks the image's layers (lowerdir) under an empty folder of the container's
// (upperdir): reads fall through to the image, the first write to a file copies it up,
// a delete leaves a whiteout in the upper folder. The image's files are never written,
// so every container starts from the same image, and starting one copies nothing.
//
//   containers/<id>/lower/0 ... N   symlinks to the layers, 0 the top: short names for the mount options
//   containers/<id>/upper/           the container's changes: what `--keep` keeps
//   containers/<id>/work/            overlayfs's scratch space (same filesystem as upper)
//   containers/<id>/merged/          the mount point, mounted in the container's mount namespace only
//   containers/<id>/keep             there with --keep: the folder outlives its runtime
//
// containers/ is beside rootfs/layers (containersDir(), or SAMPLES_CONTAINERS_DIR), so
// that upper and lower are on one filesystem: overlayfs then reports the inode numbers
// of a normal filesystem (overlayfs.rst, "Inode properties"), and a container's writes go
// to disk, not to memory as they would on a tmpfs.
//
// While a runtime uses its folder it holds a lease on it, as stage 5 does on its cgroup
// (@samples/runtime's leases): the folder of a runtime killed with SIGKILL is found by its
// lease, whose owner is gone, and removed by the next run.
import fs from 'node:fs';
import path from 'node:path';
// Only the resolving part: the importer (node-tar, xz) is not loaded on every start.
import { containersDir } from '@samples/rootfs/resolve';
import { CliError, leases, randomBytes, readMountinfo, reclaimStaleLeases, releaseLease, takeLease } from '@samples/runtime';
import { DT_UNKNOWN, FilesystemMagic, SyscallError, chdir, closedir, mount, opendir, readdir, setxattr, statfsType } from '@samples/syscalls';

export interface ContainerLayer {
  readonly id: string;
  readonly dir: string;
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
  /** The image's layers, the top one first, as lowerdir lists them. */
  readonly lowers: readonly string[];
  readonly keep: boolean;
}

/** The leases on container folders, in @samples/runtime's lease folder. */
const LEASE = 'container-layers';
interface ContainerLease {
  readonly dir: string;
}

/** A container's id: its folder's name. */
const CONTAINER_ID = /^[0-9a-f]{12}$/;
const KEEP = 'keep';
/** requireUpperCapable's folder in containersDir(), named by the runtime's pid. */
const PROBE = '.probe-';

// #region checks
/**
 * Fails in one line unless the kernel has overlayfs. Where it is a module not loaded yet
 * (Debian's kernels), `modprobe overlay` loads it, as Docker's overlay2 driver does
 * before it looks.
 */
export function requireOverlayfs(filesystems = fs.readFileSync('/proc/filesystems', 'utf8')): void {
  if (!/^nodev\toverlay$/m.test(filesystems)) {
    throw new CliError(
      'this kernel has no overlayfs ("overlay" is not in /proc/filesystems): load it (modprobe overlay), or use a kernel built with CONFIG_OVERLAY_FS',
    );
  }
}

/**
 * Fails in one line unless `dir` can hold an upper layer. overlayfs records whiteouts as
 * 0/0 character devices and opaque folders in trusted.* xattrs, and merges folders by
 * the entry types readdir returns (d_type), so the filesystem needs both (overlayfs.rst, "Upper and Lower"); and
 * an overlay cannot be the upper layer of another (a repository inside a Docker
 * container is on one). ext4, xfs (ftype=1), btrfs and tmpfs can; overlay, NFS, FUSE
 * and ramfs cannot.
 */
export function requireUpperCapable(dir: string): void {
  const refuse = (why: string) =>
    new CliError(
      `${dir} is on ${filesystemOf(dir)}, which cannot hold a container's upper layer (${why}): set SAMPLES_CONTAINERS_DIR to a folder on ext4, xfs, btrfs or tmpfs`,
    );
  if (statfsType(dir) === FilesystemMagic.OVERLAYFS_SUPER_MAGIC) throw refuse('an overlay cannot be the upper layer of another');
  // (Should this runtime be killed before it removes its probe, the sweep does.)
  const probe = path.join(dir, `${PROBE}${process.pid}`);
  fs.mkdirSync(probe);
  try {
    try {
      setxattr(probe, 'trusted.samples-probe', 'y');
    } catch (error) {
      if (error instanceof SyscallError && ['ENOTSUP', 'EOPNOTSUPP', 'EPERM'].includes(error.code)) throw refuse('no trusted.* xattrs');
      throw error;
    }
    if (typeOfEntry(dir, path.basename(probe)) === DT_UNKNOWN) throw refuse('readdir gives no entry types (d_type)');
  } finally {
    fs.rmdirSync(probe);
  }
}

/** The d_type readdir gives for `name` in `dir`. */
function typeOfEntry(dir: string, name: string): number | undefined {
  const handle = opendir(dir);
  try {
    for (let entry = readdir(handle); entry !== undefined; entry = readdir(handle)) {
      if (entry.d_name === name) return entry.d_type;
    }
    return undefined;
  } finally {
    closedir(handle);
  }
}

/** The type of the filesystem `dir` is on, by name, as the mount table says it (for messages). */
function filesystemOf(dir: string): string {
  const real = fs.realpathSync(dir);
  // The mount it is on: the longest mount point it is at or under, the last one mounted there.
  let best = { mountPoint: '', fsType: 'an unknown filesystem' };
  for (const mount of readMountinfo()) {
    const point = mount.mountPoint;
    const inside = real === point || real.startsWith(point === '/' ? '/' : `${point}/`);
    if (inside && point.length >= best.mountPoint.length) best = mount;
  }
  return best.fsType;
}
// #endregion

// #region create
/**
 * Makes a container's folder in containersDir(), with its own empty upper layer over
 * `lowers` (the image's layers, top first), after sweeping the folders dead runtimes
 * left. Runs in the runtime, before any namespace exists.
 */
export function createContainerLayer(lowers: readonly string[], options: { keep: boolean }): ContainerLayer {
  const parent = containersDir();
  const made = fs.mkdirSync(parent, { recursive: true, mode: 0o700 });
  try {
    requireUpperCapable(parent);
  } catch (error) {
    if (made !== undefined) fs.rmSync(made, { recursive: true });
    throw error;
  }
  sweepContainerLayers();
  // The lease comes before the folder: a folder without one is no running runtime's.
  let id: string;
  do id = randomBytes(6).toString('hex');
  while (fs.existsSync(path.join(parent, id)) || !takeLease<ContainerLease>(LEASE, id, { dir: path.join(parent, id) }));
  const layer = layerOf(path.join(parent, id), lowers, options.keep);
  try {
    fs.mkdirSync(layer.dir, { mode: 0o700 });
    if (layer.keep) fs.writeFileSync(path.join(layer.dir, KEEP), '');
    for (const dir of [layer.upper, layer.work, layer.merged, path.join(layer.dir, 'lower')]) fs.mkdirSync(dir);
    // The top of the upper layer is the container's "/": mkdir's mode went through the umask.
    fs.chmodSync(layer.upper, 0o755);
    lowers.forEach((lower, index) => fs.symlinkSync(lower, path.join(layer.dir, 'lower', String(index))));
  } catch (error) {
    removeFolder(layer.dir);
    releaseLease(LEASE, id);
    throw error;
  }
  return layer;
}

function layerOf(dir: string, lowers: readonly string[], keep: boolean): ContainerLayer {
  return {
    id: path.basename(dir),
    dir,
    upper: path.join(dir, 'upper'),
    work: path.join(dir, 'work'),
    merged: path.join(dir, 'merged'),
    lowers,
    keep,
  };
}

/** A container's layer from its folder, as the child finds it from the path it is given. */
export function openContainerLayer(dir: string): ContainerLayer {
  const lowerDir = path.join(dir, 'lower');
  const count = fs.readdirSync(lowerDir).length;
  const lowers = Array.from({ length: count }, (_, index) => fs.readlinkSync(path.join(lowerDir, String(index))));
  return layerOf(dir, lowers, fs.existsSync(path.join(dir, KEEP)));
}
// #endregion

// #region mount
/** mount(2) copies its options into one page: more than that, and the kernel cuts them. */
const PAGE_SIZE = 4096;

/**
 * The overlay's mount options, relative to the container's folder. lowerdir lists the
 * layers top first ("stacked beginning from the rightmost one and going left"); each is
 * the short symlink lower/N rather than its path in the store (~90 bytes), so that 400
 * layers fit the page mount(2) copies, the way containers/storage's l/ links do. The
 * paths in the options need no escaping of ':' or ',' either.
 */
export function overlayOptions(layer: ContainerLayer): string {
  const lowerdir = layer.lowers.map((_, index) => `lower/${index}`).join(':');
  const options = `lowerdir=${lowerdir},upperdir=upper,workdir=work`;
  if (options.length >= PAGE_SIZE) {
    throw new CliError(`the image has ${layer.lowers.length} layers, more than one overlay mount can list: flatten it (docker export), then import that`);
  }
  return options;
}

/**
 * Mounts the overlay on the container's merged folder, and returns it. Runs in the
 * child, in its new mount namespace, after "/" was made private (or the mount would
 * show on the host): the relative paths in the options are resolved from the working
 * directory.
 */
export function mountOverlay(layer: ContainerLayer): string {
  chdir(layer.dir);
  try {
    mount('overlay', layer.merged, 'overlay', 0, overlayOptions(layer));
  } catch (error) {
    // ENODEV: the kernel has no overlayfs after all (requireOverlayfs ran in the runtime).
    if (error instanceof SyscallError && error.code === 'ENODEV') requireOverlayfs('');
    throw error;
  }
  return layer.merged;
}
// #endregion

// #region remove
/**
 * After the container ended (its mount namespace, and the overlay with it, are gone once
 * its last process is): removes its folder, or with --keep returns the line that says where
 * its changes are and how to remove them. Either way the runtime gives its lease back.
 */
export function finishContainerLayer(layer: ContainerLayer): string | undefined {
  if (!layer.keep) removeFolder(layer.dir);
  releaseLease(LEASE, layer.id);
  if (!layer.keep) return undefined;
  return `the container's changes are kept in ${layer.upper} (whiteouts are 0/0 character devices); remove them with: rm -rf ${layer.dir}`;
}

/**
 * Removes the folders of containers whose runtime is gone without removing them (killed
 * with SIGKILL, a power cut), except those kept with --keep. Returns them.
 */
export function sweepContainerLayers(): string[] {
  const swept: string[] = [];
  const remove = (dir: string) => {
    if (fs.existsSync(dir) && !fs.existsSync(path.join(dir, KEEP))) {
      removeFolder(dir);
      swept.push(dir);
    }
  };
  // A runtime that died: its lease names its folder, and its owner is gone.
  reclaimStaleLeases<ContainerLease>(LEASE, ({ data }) => remove(data.dir));
  // Leases live in /run, which a reboot empties: a folder no lease names is one a runtime
  // left before it. (Listed before the leases are read: a lease is taken before its folder
  // is made and given back after it is removed, so a running runtime's folder has one.)
  const parent = containersDir();
  const all = fs.readdirSync(parent);
  const names = all.filter((name) => CONTAINER_ID.test(name));
  const leased = new Set(leases<ContainerLease>(LEASE).map(({ id }) => id));
  for (const name of names) if (!leased.has(name)) remove(path.join(parent, name));
  // The probe of a runtime killed while it looked at the filesystem.
  for (const name of all.filter((name) => name.startsWith(PROBE))) {
    if (!fs.existsSync(`/proc/${name.slice(PROBE.length)}`)) remove(path.join(parent, name));
  }
  return swept;
}

function removeFolder(dir: string): void {
  // overlayfs made work/work with mode 000: root removes it all the same.
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
// #endregion
