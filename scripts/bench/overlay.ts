// What stage 9's root costs, apart from `pnpm bench` (which starts whole stages):
//
//   node --require tsx/cjs scripts/bench/overlay.ts [RUNS]     (as root; RUNS: 200)
//
// 1. mount(2) of an overlay over 1, 10 and 100 lower layers, and the first readdir of its root;
// 2. the runtime's own steps for a container's folder: sweep, filesystem checks, lease,
//    folders and links (create), then rm -rf and the lease given back (remove).
// The layers are folders of one file each, made in a temporary folder; the mounts are made
// in a private mount namespace (unshare -m), so the host never sees them. Medians of RUNS.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContainerLayer, finishContainerLayer } from '../../packages/9-isolate-image/src/overlay';
import { MNT_DETACH, mount, umount2 } from '../../packages/syscalls/src/index';

const runs = Number(process.argv[2] ?? 200);
const LAYER_COUNTS = [1, 10, 100];

if (process.argv[3] !== 'inside') {
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, ...process.execArgv, __filename, String(runs), 'inside'], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[values.length >> 1]!;
const microseconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e3;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'overlay-bench-'));
try {
  const lowers = Array.from({ length: Math.max(...LAYER_COUNTS) }, (_, index) => {
    const dir = path.join(work, 'layers', String(index));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `file-${index}`), `${index}\n`);
    return dir;
  });

  for (const count of LAYER_COUNTS) {
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      const dir = fs.mkdtempSync(path.join(work, 'mount-'));
      for (const name of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, name));
      const options = `lowerdir=${lowers.slice(0, count).join(':')},upperdir=${dir}/upper,workdir=${dir}/work`;
      const started = process.hrtime.bigint();
      mount('overlay', path.join(dir, 'merged'), 'overlay', 0, options);
      fs.readdirSync(path.join(dir, 'merged'));
      times.push(microseconds(started));
      umount2(path.join(dir, 'merged'), MNT_DETACH);
      fs.rmSync(dir, { recursive: true });
    }
    process.stdout.write(`overlay of ${String(count).padStart(3)} layers: mount + readdir of its root ${median(times).toFixed(0)} µs\n`);
  }

  process.env.SAMPLES_CONTAINERS_DIR = path.join(work, 'containers');
  for (const count of LAYER_COUNTS) {
    const create: number[] = [];
    const remove: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = process.hrtime.bigint();
      const layer = createContainerLayer(lowers.slice(0, count), { keep: false });
      create.push(microseconds(started));
      const made = process.hrtime.bigint();
      finishContainerLayer(layer);
      remove.push(microseconds(made));
    }
    process.stdout.write(
      `a container's folder over ${String(count).padStart(3)} layers: create ${median(create).toFixed(0)} µs, remove ${median(remove).toFixed(0)} µs\n`,
    );
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
