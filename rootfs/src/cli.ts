// `pnpm rootfs ...`: build, import, list, check and remove the root filesystems the
// containers of stages 3 to 5 run in.
import fs from 'node:fs';
import path from 'node:path';
import { CliError, ExitStatus, formatBytes, main } from '@samples/runtime';
import { buildDefaultRootfs } from './build';
import { checkRootfs, REQUIRED_FOLDERS, type Problem } from './check';
import { DEFAULT_NAME, imagesDir, isValidName, layersDir, listRootfs, readMarker, removeRootfs } from './images';
import { importRootfs } from './import';
import { listLayers, removeUnusedLayers } from './layers';
import { userPath } from './resolve';

/** A check that found problems: the tree is there but not usable as it is. */
const PROBLEMS_FOUND = 1;

const usage = () => `rootfs: the root filesystems the containers of stages 3 to 5 run in

usage: pnpm rootfs <command>

  build [--force]          build the default one from this host's binaries (offline)
  import FILE NAME         import a tarball (.tar, .tar.gz, .tgz, .tar.xz) as NAME, or a
                           layered image: an OCI layout (folder or tarball), docker save's tarball
  list                     list them, and whether each is complete
  check [NAME|PATH] [CMD]  check one (default: ${DEFAULT_NAME}) can run CMD (default: /bin/sh)
  remove NAME              remove one

They live in ${imagesDir()} (SAMPLES_ROOTFS_DIR overrides it).
A stage runs in one with --rootfs NAME or --rootfs PATH.
Exit status: 0 done, 1 check found problems, 2 usage, 125 failed, 128+N interrupted by signal N.`;

main('rootfs', async () => {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case 'build':
      return build(args);
    case 'import':
      return importCommand(args);
    case 'list':
      expect(args, 0, 'list');
      return list();
    case 'check':
      return check(args);
    case 'remove':
      return remove(expect(args, 1, 'remove NAME'));
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${usage()}\n`);
      return 0;
    case undefined:
      throw new CliError('no command given: see `pnpm rootfs --help`', ExitStatus.USAGE);
    default:
      throw new CliError(`unknown command "${command}": see \`pnpm rootfs --help\``, ExitStatus.USAGE);
  }
});

function expect(args: string[], count: number, form: string): string[] {
  if (args.length !== count || args.some((arg) => arg.startsWith('-'))) {
    throw new CliError(`usage: pnpm rootfs ${form}`, ExitStatus.USAGE);
  }
  return args;
}

function build(args: string[]): number {
  if (args.some((arg) => arg !== '--force')) throw new CliError('usage: pnpm rootfs build [--force]', ExitStatus.USAGE);
  const target = path.join(imagesDir(), DEFAULT_NAME);
  const existing = readMarker(target);
  if (existing !== undefined && !args.includes('--force')) {
    process.stdout.write(`the default root filesystem is in ${target} already (made ${existing.created}): rebuild it with --force\n`);
    return 0;
  }
  const started = Date.now();
  buildDefaultRootfs(target);
  const { files, bytes } = readMarker(target)!;
  process.stdout.write(`built the default root filesystem in ${target}: ${files} files, ${formatBytes(bytes)}, in ${seconds(started)}\n`);
  return 0;
}

async function importCommand(args: string[]): Promise<number> {
  const [file, name] = expect(args, 2, 'import FILE NAME  (FILE: .tar, .tar.gz, .tgz or .tar.xz)') as [string, string];
  const result = await importRootfs(userPath(file), name, { progress: process.stderr.isTTY });
  const skipped = result.skipped > 0 ? ` (skipped ${result.skipped} device nodes and FIFOs: the runtime makes /dev)` : '';
  if (result.image !== undefined) {
    const { format, platform, layers, newLayers, others } = result.image;
    const stored = layers > newLayers ? `, ${layers - newLayers} stored already` : '';
    const more = others > 0 ? `; the file holds ${others} more for ${platform}, not imported` : '';
    process.stdout.write(
      `imported "${name}" (${format}, ${platform}) in ${result.seconds.toFixed(1)} s: ${layers} layers (${newLayers} new${stored}), ${result.files} files, ${formatBytes(result.bytes)}${skipped}${more}; stage 9 runs it with --rootfs ${name}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `imported "${name}" in ${result.seconds.toFixed(1)} s: ${result.files} files, ${formatBytes(result.bytes)}${skipped}; use it with --rootfs ${name}\n`,
  );
  return 0;
}

function list(): number {
  const trees = listRootfs();
  if (trees.length === 0) {
    process.stdout.write(
      `no root filesystems in ${imagesDir()} yet: a stage builds the default on first use (or: pnpm rootfs build); pnpm rootfs import FILE NAME adds others\n`,
    );
    return 0;
  }
  const layers = new Map(listLayers().map((layer) => [layer.digest, layer]));
  const rows = trees.flatMap(({ name, dir, marker }) => {
    if (marker === undefined) return [[name, 'incomplete', '-', '-', `an interrupted build or import: pnpm rootfs remove ${name}`]];
    const image = marker.image;
    if (image !== undefined) {
      const missing = image.layers.filter(({ digest }) => !layers.has(digest)).length;
      const state = missing === 0 ? 'ok' : `${missing} layers missing: pnpm rootfs remove ${name}, import again`;
      // One row per layer, top first as a container sees them, and who else has it.
      const rows = [...image.layers].reverse().map(({ digest, files, bytes }, index) => {
        const others = (layers.get(digest)?.images ?? []).filter((other) => other !== name);
        const shared = others.length > 0 ? `shared with ${others.join(', ')}` : '';
        return [`  ${index === 0 ? 'top' : index === image.layers.length - 1 ? 'bottom' : '   '} ${digest.slice(7, 19)}`, '', String(files), formatBytes(bytes), shared];
      });
      return [[name, state, String(marker.files), formatBytes(marker.bytes), `${image.platform}, ${image.layers.length} layers, ${marker.source}, ${marker.created.slice(0, 10)}`], ...rows];
    }
    const problems = checkRootfs(dir).length;
    const state = problems === 0 ? 'ok' : `${problems} problem${problems > 1 ? 's' : ''}: pnpm rootfs check ${name}`;
    return [[name, state, String(marker.files), formatBytes(marker.bytes), `${marker.source}, ${marker.created.slice(0, 10)}`]];
  });
  const table = [['NAME', 'STATE', 'FILES', 'SIZE', 'MADE'], ...rows];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  for (const row of table)
    process.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  if (layers.size > 0) {
    const total = [...layers.values()].reduce((sum, layer) => sum + layer.marker.bytes, 0);
    process.stdout.write(`layers: ${layers.size} stored once each in ${layersDir()}, ${formatBytes(total)} in all\n`);
  }
  return 0;
}

function check(args: string[]): number {
  if (args.length > 2) throw new CliError('usage: pnpm rootfs check [NAME|PATH] [COMMAND]', ExitStatus.USAGE);
  const [which = DEFAULT_NAME, command = '/bin/sh'] = args;
  let dir: string;
  const problems: Problem[] = [];
  if (which.includes('/')) dir = userPath(which);
  else {
    dir = path.join(imagesDir(), which);
    if (!isValidName(which) || !fs.existsSync(dir)) {
      const make = which === DEFAULT_NAME ? 'pnpm rootfs build' : `pnpm rootfs import FILE ${which}`;
      throw new CliError(`no root filesystem named "${which}": \`pnpm rootfs list\` shows the ones there are; ${make} makes it`);
    }
    const image = readMarker(dir)?.image;
    if (image !== undefined) {
      // Its files are spread over its layers, whiteouts included: only a mount shows them together.
      process.stdout.write(`${which}: a layered image (${image.layers.length} layers, ${image.platform}), not checked: check reads plain trees; stage 9 runs it\n`);
      return 0;
    }
    if (readMarker(dir) === undefined) {
      problems.push({
        problem: 'it is incomplete (an interrupted build or import)',
        fix: `pnpm rootfs remove ${which}, then build or import it again`,
      });
    }
  }
  problems.push(...checkRootfs(dir, command));
  if (problems.length === 0) {
    process.stdout.write(
      `${which}: ok: ${command} is in ${dir} with its loader, and /${REQUIRED_FOLDERS.join(', /')} are there\n`,
    );
    return 0;
  }
  process.stdout.write(`${which} (${dir}): ${problems.length} problem${problems.length > 1 ? 's' : ''}\n`);
  for (const { problem, fix } of problems) process.stdout.write(`  ${problem}; fix: ${fix}\n`);
  return PROBLEMS_FOUND;
}

function remove([name]: string[]): number {
  removeRootfs(name!);
  const layers = removeUnusedLayers();
  process.stdout.write(`removed "${name}"${layers.length > 0 ? `, and ${layers.length} layers no other image uses` : ''}\n`);
  return 0;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
