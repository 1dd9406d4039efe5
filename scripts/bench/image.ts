// A large layered image for stage 9, made once per bench run in a store of its own: the
// default root filesystem as its base layer, and on top a layer holding this host's
// shared libraries (/usr/lib/<multiarch>, hundreds of MiB), imported as a learner
// imports one, with `pnpm rootfs import`. Stage 9's start time must not grow with it:
// nothing of the image is copied when a container starts, its layers are only stacked.
// Stage 9's row runs it on the default image; this adds a run on the large one.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Layer, layerFromFolder, sha256, writeOciLayout } from '../../rootfs/test/image-builder';
import { type Contestant, REPO, cleanEnvironment } from './contestants';
import { ms } from './report';
import { spread } from './measure';

const IMAGE_STAGE_DIR = path.join(REPO, 'packages/9-isolate-image');
/** The large image's median start over the default's. */
const TARGET_RATIO = 1.15;

export interface LargeImage {
  /** Its store: the SAMPLES_ROOTFS_DIR to run the stage with. */
  readonly images: string;
  readonly name: string;
  /** What the table says of it: "two layers, 700 MiB". */
  readonly description: string;
  dispose(): void;
}

const ROOTFS_CLI = path.join(__dirname, '..', '..', 'rootfs', 'src', 'cli.ts');

/** The biggest folder of libraries this host has, as a layer would hold it (its path in the image). */
function bulkFolder(): string {
  const candidates = ['usr/lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'usr/lib64', 'usr/lib'];
  const found = candidates.find((candidate) => fs.existsSync(path.join('/', candidate)));
  if (found === undefined) throw new Error('no /usr/lib on this host to make a large image from');
  return found;
}

/** Makes the image (a minute at most: the import is node-tar's). `rootfs`: the default tree, the base layer. */
export async function makeLargeImage(rootfs: string, env: NodeJS.ProcessEnv): Promise<LargeImage> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-bench-image-'));
  const dispose = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const base = await layerFromFolder(rootfs);
    // GNU tar, which streams: the layer is hundreds of MiB.
    const bulk = bulkFolder();
    const tarFile = path.join(dir, 'bulk.tar');
    const tar = spawnSync('tar', ['-C', '/', '-cf', tarFile, bulk], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar of /${bulk} failed: ${tar.stderr.trim()}`);
    const bulkTar = fs.readFileSync(tarFile);
    fs.rmSync(tarFile);
    const top: Layer = { tar: bulkTar, diffId: sha256(bulkTar) };
    writeOciLayout(path.join(dir, 'layout'), { layers: [base, top], compression: 'none', config: { Cmd: ['/bin/true'] } });
    const images = path.join(dir, 'images');
    const imported = spawnSync(process.execPath, ['--require', 'tsx/cjs', ROOTFS_CLI, 'import', path.join(dir, 'layout'), 'large'], {
      encoding: 'utf8',
      env: { ...env, SAMPLES_ROOTFS_DIR: images },
    });
    if (imported.status !== 0) throw new Error(`pnpm rootfs import of the large image failed: ${imported.stderr.trim()}`);
    fs.rmSync(path.join(dir, 'layout'), { recursive: true });
    const mib = (base.tar.length + top.tar.length) / 1024 / 1024;
    return { images, name: 'large', description: `${mib.toFixed(0)} MiB in two layers: the default tree, and /${bulk}`, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

export interface ImageLineup {
  /** Stage 9 on the large image, when it could be made (the default image is a stage row of its own). */
  readonly contestants: Contestant[];
  /** What the report says of the large image. */
  readonly note: string;
  /** The target's line, from each contestant's times by key; undefined without both. */
  target(timesOf: (key: string) => readonly number[]): { pass: boolean; text: string } | undefined;
  dispose(): void;
}

/** The stage row that runs stage 9 on the default image: the large image's run is compared with it. */
const DEFAULT_ROW = 'stage9-none';

/**
 * Stage 9 on a large image, made first. `rootfs`: the default tree; `bundle`: stage 9's,
 * as its stage row runs it (undefined where stage 9 has not landed: nothing to add).
 */
export async function imageLineup(rootfs: string, node: string, bundle: string | undefined): Promise<ImageLineup> {
  const none = { contestants: [], note: '', target: () => undefined, dispose: () => {} };
  if (bundle === undefined) return none;
  const env = cleanEnvironment(node);
  const started = Date.now();
  let large: LargeImage;
  try {
    large = await makeLargeImage(rootfs, env);
  } catch (error) {
    return { ...none, note: `stage 9 ran on the default image only: the large one could not be made (${(error as Error).message})` };
  }
  const contestant: Contestant = {
    key: 'stage9-large',
    label: `stage 9, node main.cjs (bundle), --network none, a large image (${large.description})`,
    kind: 'ours',
    cgroup: true,
    command: () => ({
      file: node,
      args: [path.relative(IMAGE_STAGE_DIR, bundle), 'run', '--network', 'none', '--rootfs', large.name, '/bin/true'],
      cwd: IMAGE_STAGE_DIR,
      env: { ...env, SAMPLES_ROOTFS_DIR: large.images },
    }),
  };
  return {
    contestants: [contestant],
    note: `stage 9's large image: ${large.description}; made and imported (pnpm rootfs import) in ${((Date.now() - started) / 1000).toFixed(0)} s, before the rounds.`,
    target(timesOf) {
      const [small, big] = [timesOf(DEFAULT_ROW), timesOf(contestant.key)];
      if (small.length === 0 || big.length === 0) return undefined;
      const [smallMs, bigMs] = [spread(small).median, spread(big).median];
      const ratio = bigMs / smallMs;
      return {
        pass: ratio <= TARGET_RATIO,
        text: `stage 9's start does not grow with the image: ${ms(bigMs)} ms on the large image (${large.description}), ${ms(smallMs)} ms on the default: ${ratio.toFixed(2)}×; target at most ${TARGET_RATIO}×`,
      };
    },
    dispose: () => large.dispose(),
  };
}
