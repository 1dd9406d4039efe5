// The import runs of pnpm bench (imports.ts starts this), as root, inside
// `unshare --mount --propagation private`: each run on a fresh tmpfs mounted on the
// scratch folder, so that both extractors meet the same empty file system, and the
// host's disk, its writeback and other users' I/O stay out of the figures. The mounts
// are this mount namespace's: they go with it, whatever happens.
//
//   node --require tsx/cjs import-runner.ts '{"node": ..., "tar": ..., "gz": ..., "rounds": N, "scratch": DIR}'
//
// Prints the seconds of each run, by what ran, as JSON.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MNT_DETACH, mount, umount2 } from '../../packages/syscalls/src/index';
import type { ImportTimes } from './imports';
import { now } from './measure';

const { node, tar, gz, rounds, scratch } = JSON.parse(process.argv[2]!) as { node: string; tar: string; gz: string; rounds: number; scratch: string };
const ROOTFS = path.join(__dirname, '..', '..', 'rootfs', 'bin', 'rootfs.cjs');
const tree = path.join(scratch, 'tree');
const images = path.join(scratch, 'images');

/** What is timed: GNU tar into an empty folder, and an import of the same file. */
const variants: { key: keyof ImportTimes; file: string; args: string[] }[] = [
  { key: 'tar', file: 'tar', args: ['-xpf', tar, '-C', tree] },
  { key: 'importTar', file: node, args: [ROOTFS, 'import', tar, 'bench'] },
  { key: 'tarGz', file: 'tar', args: ['-xpf', gz, '-C', tree] },
  { key: 'importTarGz', file: node, args: [ROOTFS, 'import', gz, 'bench'] },
];

function once(variant: (typeof variants)[number]): number {
  mount('tmpfs', scratch, 'tmpfs', 0, 'size=2g');
  try {
    fs.mkdirSync(tree);
    const start = now();
    const result = spawnSync(variant.file, variant.args, { encoding: 'utf8', env: { ...process.env, SAMPLES_ROOTFS_DIR: images } });
    const seconds = (now() - start) / 1000;
    if (result.status !== 0) throw new Error(`${variant.file} ${variant.args.join(' ')}: status ${result.status}: ${result.stderr.trim()}`);
    return seconds;
  } finally {
    umount2(scratch, MNT_DETACH);
  }
}

const times: ImportTimes = { tar: [], tarGz: [], importTar: [], importTarGz: [] };
// A warm-up each: the tarballs in the page cache, the rootfs command's bundle fresh.
for (const variant of variants) once(variant);
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < variants.length; i++) {
    const variant = variants[(round + i) % variants.length]!;
    times[variant.key].push(once(variant));
  }
}
process.stdout.write(JSON.stringify(times));
