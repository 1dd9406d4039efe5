// What a stage's `--rootfs` means: a name under imagesDir(), or a path; the default
// is built on first use.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, ExitStatus, findExecutable, type OptionSpec } from '@samples/runtime';
import { RECIPE, buildDefaultRootfs } from './build';
import { checkRootfs, lookUpCommand, type Problem } from './check';
import { DEFAULT_NAME, type ImageConfig, imagesDir, isValidName, MARKER, type Marker, readMarker } from './images';
import { layerTree, mountPointsLayer, storedLayer } from './layers';

/** The `--rootfs` option of every stage that runs in a root filesystem. */
export const rootfsOption = {
  value: 'NAME|PATH',
  description: 'the root filesystem (see `pnpm rootfs list`)',
  default: DEFAULT_NAME,
} satisfies OptionSpec;

/**
 * Resolves `--rootfs` (a name under imagesDir(), or a path containing '/'; undefined =
 * 'default') to the absolute, real directory to use as the container's root.
 * If it is the default and absent, builds it first and says so in one line on stderr
 * (unless `quiet`). Synchronous: stages call it before they create namespaces.
 * Unknown name, missing path, or a tree that is incomplete or lacks a required folder:
 * throws CliError (exit status 125) with one line that names every problem and what to run.
 */
export function resolveRootfs(nameOrPath: string | undefined, options: { quiet?: boolean } = {}): string {
  const found = find(nameOrPath, options);
  if (found.marker?.image !== undefined) {
    // Flattening it once would double its size on disk and hide what stage 9 is about; see rootfs/README.md.
    throw new CliError(
      `the root filesystem "${found.wanted}" is a layered image (${found.marker.image.layers.length} layers), which stages 3 to 8 cannot run in: run it with stage 9 (pnpm --filter 9-isolate-image start --rootfs ${found.wanted} ...), or import a flat tarball of it (docker export)`,
    );
  }
  return usable(found.dir, found.label);
}

/** Where stage 9 keeps each container's own layer over the layers resolveImage names. */
export { containersDir } from './images';

/** What a stage-9 container's root is made of: overlayfs's lower layers and the image's config. */
export interface ResolvedImage {
  /** The real folders to stack, the top one first, as overlayfs's lowerdir lists them. */
  readonly layers: readonly string[];
  /** Empty for a plain tree. */
  readonly config: ImageConfig;
  /**
   * A plain tree's folder (its one layer), which the runtime can look into from the
   * host's side; undefined for a layered image, whose files are merged only in the container.
   */
  readonly tree?: string;
}

/**
 * resolveRootfs for stage 9: a plain tree (the default, an imported tarball, a path) is
 * one read-only layer; a layered image is its layers, top first, above the mount points.
 */
export function resolveImage(nameOrPath: string | undefined, options: { quiet?: boolean } = {}): ResolvedImage {
  const found = find(nameOrPath, options);
  const image = found.marker?.image;
  if (image === undefined) {
    const tree = usable(found.dir, found.label);
    return { layers: [tree], config: {}, tree };
  }
  const layers = [...image.layers].reverse().map(({ digest }) => {
    if (storedLayer(digest) === undefined) {
      throw new CliError(
        `the image "${found.wanted}" lacks its layer ${digest} (removed by hand?): pnpm rootfs remove ${found.wanted}, then import it again`,
      );
    }
    return fs.realpathSync(layerTree(digest));
  });
  return { layers: [...layers, fs.realpathSync(mountPointsLayer())], config: image.config };
}

/** Finds `--rootfs` without using it: its folder, its marker, and how to name it in messages. */
function find(nameOrPath: string | undefined, options: { quiet?: boolean }): { dir: string; label: string; wanted: string; marker?: Marker } {
  const wanted = nameOrPath ?? DEFAULT_NAME;
  if (wanted.includes('/')) return { dir: userPath(wanted), label: wanted, wanted };
  if (!isValidName(wanted)) {
    throw new CliError(`--rootfs ${wanted}: not a root filesystem's name; a path needs a '/' (e.g. ./${wanted})`);
  }
  const dir = path.join(imagesDir(), wanted);
  if (!fs.existsSync(dir)) {
    if (wanted !== DEFAULT_NAME) {
      throw new CliError(
        `no root filesystem named "${wanted}": \`pnpm rootfs list\` shows the ones there are; \`pnpm rootfs import FILE ${wanted}\` makes it from a tarball`,
      );
    }
    if (!options.quiet) process.stderr.write(`building the default root filesystem in ${dir} (once; rebuild: pnpm rootfs build --force)\n`);
    buildDefaultRootfs(dir, { replace: false });
  }
  let marker = readMarker(dir);
  if (wanted === DEFAULT_NAME && marker !== undefined && marker.recipe !== RECIPE) marker = rebuildDefault(dir, options) ?? marker;
  if (marker === undefined) {
    const again = wanted === DEFAULT_NAME ? 'pnpm rootfs build --force' : `pnpm rootfs remove ${wanted}, then import it again`;
    throw new CliError(`the root filesystem "${wanted}" is incomplete (no ${MARKER} in ${dir}: an interrupted build or import?): ${again}`);
  }
  return { dir, label: `"${wanted}"`, wanted, marker };
}

/**
 * The default tree was built from an older recipe (a tool was added since): build it
 * again, saying so. If a stage-3 container is using it right now, it stays as it is.
 */
function rebuildDefault(dir: string, options: { quiet?: boolean }): Marker | undefined {
  if (!options.quiet) process.stderr.write(`rebuilding the default root filesystem in ${dir}: its recipe changed since it was built\n`);
  try {
    buildDefaultRootfs(dir, { replace: true });
  } catch (error) {
    if (error instanceof CliError && /is in use/.test(error.message)) return undefined;
    throw error;
  }
  return readMarker(dir);
}

/**
 * Fails, with the status a shell would give, unless the container can run `command` in
 * the tree `rootfs` (resolved from `given`, the `--rootfs` value). A stage calls it
 * before it makes anything: the lookup is the one the kernel will make inside, done
 * from the host's side, so a typo costs no namespace, mount or cgroup. The message says
 * where the command was looked for: the host may well have it, the container cannot.
 */
export function requireCommand(rootfs: string, command: string, given: string = DEFAULT_NAME): void {
  const lookup = lookUpCommand(rootfs, command);
  const tree = `the root filesystem ${given.includes('/') ? given : `"${given}"`}`;
  const check = `pnpm rootfs check ${given} ${command}`;
  switch (lookup.refused) {
    case undefined:
      return;
    case 'missing': {
      const onHost = hostCommand(command);
      const host = onHost === undefined ? '' : ` (the host's ${onHost} is not in it)`;
      throw new CliError(
        `command not found: ${command}, in ${tree}${host}: rootfs/README.md says how to add a program; \`${check}\` checks the tree`,
        ExitStatus.NOT_FOUND,
      );
    }
    case 'directory':
      throw new CliError(`cannot run ${command}: it is a directory`, ExitStatus.NOT_EXECUTABLE);
    case 'not executable':
      throw new CliError(`cannot run ${command}: permission denied (it is not executable)`, ExitStatus.NOT_EXECUTABLE);
    case 'no interpreter':
      // The kernel says ENOENT for a missing loader, as for a missing command: 127 too.
      throw new CliError(
        `cannot run ${command}: it needs ${lookup.interpreter}, which ${tree} lacks; \`${check}\` checks the tree`,
        ExitStatus.NOT_FOUND,
      );
  }
}

/** Where the host itself would find `command`, if anywhere. */
function hostCommand(command: string): string | undefined {
  try {
    return findExecutable(command);
  } catch {
    return undefined;
  }
}

/** A path the learner typed: pnpm runs a package's scripts in the package's folder, and INIT_CWD is where they typed it. */
export function userPath(file: string): string {
  return path.resolve(process.env.INIT_CWD ?? process.cwd(), file);
}

function usable(dir: string, label: string): string {
  const problems = checkRootfs(dir);
  if (problems.length > 0) throw new CliError(`root filesystem ${label}: ${describeProblems(problems)}`);
  // The runtime bind-mounts the tree onto itself and pivots into it: it wants the real folder.
  return fs.realpathSync(dir);
}

/**
 * Every problem in one line, then what fixes them all: a learner who fixes one problem
 * should not have to run the stage again to hear of the next. The folders to make are
 * made by one mkdir.
 */
export function describeProblems(problems: readonly Problem[]): string {
  if (problems.length === 1) return `${problems[0]!.problem}: ${problems[0]!.fix}`;
  const folders = problems.flatMap(({ fix }) => /^mkdir (\S+)$/.exec(fix)?.[1] ?? []);
  const others = problems.map(({ fix }) => fix).filter((fix) => !/^mkdir \S+$/.test(fix));
  const fixes = [...(folders.length > 0 ? [`mkdir ${folders.join(' ')}`] : []), ...others];
  return `${problems.map(({ problem }) => problem).join('; ')}: ${fixes.join(' && ')}`;
}
