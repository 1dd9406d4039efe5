// Where the named root filesystems live, and the two rules that keep a half-made tree
// from ever passing for a whole one: a tree is made in a hidden folder beside its final
// place and renamed into place only once complete, and only then does it carry a marker.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, mountPointsUnder } from '@samples/runtime';
import { TOP_FOLDERS } from './check';

/** The file at the top of every complete tree this package made: what it is, where from. */
export const MARKER = '.samples-rootfs.json';

/** The tree the stages use when no `--rootfs` is given. */
export const DEFAULT_NAME = 'default';

export interface Marker {
  readonly name: string;
  /** How the tree was made: 'built from the host's binaries' or 'imported from FILE'. */
  readonly source: string;
  /** ISO 8601. */
  readonly created: string;
  readonly files: number;
  readonly bytes: number;
  /** The default tree only: the recipe it was built from (see build.ts). */
  readonly recipe?: string;
  /** Set on a layered image: its folder holds this marker only, its files are in layersDir(). */
  readonly image?: ImageRecord;
}

/** A layered image, as `pnpm rootfs import` recorded it from an OCI layout or a `docker save` tarball. */
export interface ImageRecord {
  readonly format: 'oci-layout' | 'docker-save';
  /** os/architecture[/variant], as OCI names them: linux/amd64. */
  readonly platform: string;
  /** Bottom first, as the manifest lists them. Each is stored once in layersDir(), by its DiffID. */
  readonly layers: readonly { readonly digest: string; readonly files: number; readonly bytes: number }[];
  readonly config: ImageConfig;
}

/** What of the image's config the runtime uses (OCI config.md's `config` object; Docker's names). */
export interface ImageConfig {
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly User?: string;
}

/** Where named root filesystems live: <repo>/rootfs/images/<name> (gitignored). Overridable by env SAMPLES_ROOTFS_DIR (tests use a temp dir). */
export function imagesDir(): string {
  return path.resolve(process.env.SAMPLES_ROOTFS_DIR || path.join(repositoryRoot(), 'rootfs', 'images'));
}

/**
 * Where the layers of layered images live, each once, by digest: beside imagesDir()
 * (<repo>/rootfs/layers), so that the variable that moves one moves both.
 */
export function layersDir(): string {
  return path.join(path.dirname(imagesDir()), 'layers');
}

/**
 * Where containers keep their own layer (overlayfs's upper and work directories) while
 * they run: beside the layers, so that on one filesystem with them (see
 * packages/9-isolate-image/src/overlay.ts). SAMPLES_CONTAINERS_DIR moves it, for a
 * repository on a filesystem that cannot hold overlay's upper directories.
 */
export function containersDir(): string {
  return path.resolve(process.env.SAMPLES_CONTAINERS_DIR || path.join(path.dirname(imagesDir()), 'containers'));
}

/**
 * The folder holding pnpm-workspace.yaml, found upwards from this file: from the
 * source (rootfs/src) as from a stage's bundle (packages/X/node_modules/.cache/...),
 * where __dirname is elsewhere.
 */
function repositoryRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dir === path.dirname(dir)) return path.join(__dirname, '..', '..');
  }
}

// Names become folder names and appear in commands: keep them plain. A leading dot is
// kept for the hidden folders trees are made in.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isValidName(name: string): boolean {
  return NAME.test(name);
}

export interface RootfsEntry {
  readonly name: string;
  readonly dir: string;
  /** Absent when the tree is incomplete, or was not made by this package. */
  readonly marker: Marker | undefined;
}

export function readMarker(dir: string): Marker | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

/** The root filesystems in imagesDir(), complete or not, by name. */
export function listRootfs(): RootfsEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(imagesDir());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => isValidName(name) && fs.statSync(path.join(imagesDir(), name), { throwIfNoEntry: false })?.isDirectory())
    .sort()
    .map((name) => {
      const dir = path.join(imagesDir(), name);
      return { name, dir, marker: readMarker(dir) };
    });
}

// .NAME.partial-PID: being made by process PID; .NAME.old-PID: being replaced by it;
// .NAME.discarded-PID: being removed by it.
const WORK_FOLDER = /^\.(.+)\.(partial|old|discarded)-(\d+)$/;

/**
 * Makes the hidden folder to build `target` in, beside it (so that the final rename stays
 * on one filesystem). Work folders that processes now gone left behind (killed with
 * SIGKILL, or a power cut) are removed first: all of them in imagesDir() and in the
 * layer store, which are ours, and those of `target` elsewhere.
 */
export function startTree(target: string): string {
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  for (const name of fs.readdirSync(parent)) {
    const [, tree, , pid] = WORK_FOLDER.exec(name) ?? [];
    const ours = parent === imagesDir() || parent === path.join(layersDir(), 'sha256');
    if (pid === undefined || (!ours && tree !== path.basename(target))) continue;
    // This process's own: an earlier try at the same target; another's: only once it is gone.
    const stale = pid === String(process.pid) ? tree === path.basename(target) : !fs.existsSync(`/proc/${pid}`);
    if (stale) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
  const partial = path.join(parent, `.${path.basename(target)}.partial-${process.pid}`);
  fs.mkdirSync(partial);
  // The top of the tree is the container's "/": mkdir's mode went through the umask.
  fs.chmodSync(partial, 0o755);
  return partial;
}

/**
 * Marks the tree in `partial` complete and renames it to `target`. An existing `target`
 * is replaced when `replace` is set; otherwise the tree already there stays (two stages
 * that built the default at the same time), `partial` is dropped, and this says false.
 */
export function finishTree(partial: string, target: string, marker: Marker, replace: boolean): boolean {
  fs.writeFileSync(path.join(partial, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  const exists = fs.existsSync(target);
  if (exists && !replace) {
    discardTree(partial);
    return false;
  }
  const old = path.join(path.dirname(target), `.${path.basename(target)}.old-${process.pid}`);
  if (exists) {
    refuseIfMounted(target);
    fs.renameSync(target, old);
  }
  try {
    fs.renameSync(partial, target);
  } catch (error) {
    if (exists) fs.renameSync(old, target);
    const code = (error as NodeJS.ErrnoException).code;
    if (!replace && (code === 'ENOTEMPTY' || code === 'EEXIST')) {
      // Another build finished first, between the check above and this rename: keep its tree.
      discardTree(partial);
      return false;
    }
    throw error;
  }
  if (exists) fs.rmSync(old, { recursive: true, force: true, maxRetries: 3 });
  return true;
}

/**
 * Removes a tree that failed to be made. It is renamed first, so that it never looks
 * complete, and nothing that might still write into it re-creates it.
 */
export function discardTree(partial: string): void {
  const trash = partial.replace(/\.partial-(\d+)$/, '.discarded-$1');
  try {
    fs.renameSync(partial, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  fs.rmSync(trash, { recursive: true, force: true, maxRetries: 3 });
}

/** Removes a named root filesystem. */
export function removeRootfs(name: string): void {
  const dir = path.join(imagesDir(), name);
  if (!isValidName(name) || !fs.existsSync(dir)) {
    throw new CliError(`no root filesystem named "${name}": \`pnpm rootfs list\` shows the ones there are`);
  }
  refuseIfMounted(dir);
  refuseIfLayer(dir);
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * A stage-9 container mounts a plain tree as its lower layer in its own mount namespace,
 * where refuseIfMounted cannot see it; its folder in containersDir() says so.
 */
function refuseIfLayer(dir: string): void {
  const container = layersInUse().get(fs.realpathSync(dir));
  if (container !== undefined) {
    throw new CliError(
      `${dir} is in use: the container in ${container} runs on it, or kept its changes there; stop it, or remove that folder, first`,
    );
  }
}

/**
 * The real paths of every lower layer a container folder points at (containers/<id>/lower/N),
 * running or kept, each with that folder: removing a layer under a mounted overlay is
 * undefined behaviour (overlayfs.rst, "Changes to underlying filesystems").
 */
export function layersInUse(): Map<string, string> {
  const used = new Map<string, string>();
  for (const container of listFolder(containersDir())) {
    const lower = path.join(containersDir(), container, 'lower');
    for (const link of listFolder(lower)) {
      try {
        used.set(fs.realpathSync(path.join(lower, link)), path.join(containersDir(), container));
      } catch {
        // A layer gone already.
      }
    }
  }
  return used;
}

function listFolder(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Removing a tree recursively would walk into anything mounted on it: the /proc a
 * stage-3 container mounted, or a /dev bound from the host, whose files it would delete.
 * (Stages 4 and 5 mount in their own mount namespace, out of this one's sight.)
 */
function refuseIfMounted(dir: string): void {
  const mountPoints = mountPointsUnder(fs.realpathSync(dir));
  if (mountPoints.length > 0) {
    throw new CliError(`${dir} is in use: ${mountPoints.join(', ')} is mounted there; stop the container using it (or umount it) first`);
  }
}

/** Makes the top-level folders `tree` lacks (TOP_FOLDERS), with their modes; those it has keep theirs. */
export function makeTopFolders(tree: string): void {
  for (const [name, mode] of Object.entries(TOP_FOLDERS)) {
    const folder = path.join(tree, name);
    if (fs.lstatSync(folder, { throwIfNoEntry: false }) !== undefined) continue;
    fs.mkdirSync(folder);
    // mkdir's mode goes through the umask, which would turn /tmp's 1777 into 0755.
    fs.chmodSync(folder, mode);
  }
}

/** What the tree holds: regular files, and their bytes (hard links counted once). */
export function measureTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const inodes = new Set<number>();
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile()) {
        const stat = fs.lstatSync(file);
        if (inodes.has(stat.ino)) continue;
        inodes.add(stat.ino);
        files++;
        bytes += stat.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** Turns a failed file operation on a tree in `dir` into one line that says what to do. */
export function fileFailure(error: unknown, doing: string, dir: string): CliError {
  const { code, path: file, message } = error as NodeJS.ErrnoException;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new CliError(`no space left on the device while ${doing}: free some space (df -h ${dir}), then try again`);
    case 'EACCES':
    case 'EPERM':
      return new CliError(`permission denied while ${doing}${file ? ` (${file})` : ''}: run it as root`);
    case 'EROFS':
      return new CliError(`read-only filesystem while ${doing}: set SAMPLES_ROOTFS_DIR to a writable folder`);
    default:
      return new CliError(`${doing} failed: ${message}`);
  }
}
