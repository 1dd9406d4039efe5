// `pnpm rootfs import` beside GNU tar's `tar -xpf`, on the same files: a Debian minbase
// tree (~190 MiB, ~5,300 files) as .tar and .tar.gz, made once with debootstrap and kept
// in a cache folder outside the repository; where debootstrap is missing, a sample of
// /usr of the same size. The runs happen in import-runner.ts, in a mount namespace of
// their own, each on a fresh tmpfs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from './contestants';

/** What the tarballs hold, and where they are. */
export interface Tarballs {
  readonly tar: string;
  readonly gz: string;
  /** What the tree is, for the page: 'a Debian bookworm minbase tree (debootstrap --variant=minbase)'. */
  readonly what: string;
  /** Regular files in it, and their bytes. */
  readonly files: number;
  readonly bytes: number;
}

/** The tree's size when it is a sample of /usr: the Debian tree's. */
const SAMPLE_BYTES = 190 * 1024 * 1024;

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ts-container-samples', 'bench');
}

/** This host's Debian codename, or bookworm's (the release these machines run). */
function debianCodename(): string {
  const release = fs.readFileSync('/etc/os-release', 'utf8');
  const id = /^ID=(.*)$/m.exec(release)?.[1]?.replace(/"/g, '');
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(release)?.[1]?.replace(/"/g, '');
  return id === 'debian' && codename ? codename : 'bookworm';
}

function run(file: string, args: readonly string[], what: string, options: { cwd?: string } = {}): void {
  const result = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.status !== 0) {
    const said = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${what} failed (${result.error?.message ?? `status ${result.status}`}): ${said}`);
  }
}

/** Regular files and their bytes under `dir`. */
function measure(dir: string): { files: number; bytes: number } {
  let [files, bytes] = [0, 0];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += fs.lstatSync(path.join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

/**
 * The tarballs, made on first use (a minute or two: debootstrap downloads ~50 MiB of
 * packages from Debian's mirror) and kept in ~/.cache/ts-container-samples/bench.
 */
export function tarballs(progress: (message: string) => void): Tarballs {
  const cache = cacheDir();
  fs.mkdirSync(cache, { recursive: true });
  const debootstrap = which('debootstrap');
  const codename = debianCodename();
  const base = path.join(cache, debootstrap ? `debian-minbase-${codename}` : 'usr-sample');
  const record = `${base}.json`;
  if (fs.existsSync(record) && fs.existsSync(`${base}.tar`) && fs.existsSync(`${base}.tar.gz`)) {
    return { tar: `${base}.tar`, gz: `${base}.tar.gz`, ...(JSON.parse(fs.readFileSync(record, 'utf8')) as Omit<Tarballs, 'tar' | 'gz'>) };
  }
  const work = fs.mkdtempSync(path.join(cache, '.work-'));
  try {
    let what: string;
    let counted: { files: number; bytes: number };
    const tree = path.join(work, 'tree');
    if (debootstrap) {
      progress(`making the import's test tree once: debootstrap --variant=minbase ${codename} (a minute or two)`);
      // In a mount namespace of its own: the /proc and /sys debootstrap mounts in the tree go with it, whatever happens.
      run('unshare', ['--mount', '--propagation', 'private', debootstrap, '--variant=minbase', codename, tree], 'debootstrap');
      what = `a Debian ${codename} minbase tree (debootstrap --variant=minbase)`;
      counted = measure(tree);
      run('tar', ['-C', tree, '-cf', `${base}.tar.partial`, '.'], 'tar');
    } else {
      progress('making the import test tarball once: a sample of /usr (debootstrap is not installed)');
      const list = path.join(work, 'list');
      counted = sampleOfUsr(list);
      what = 'a sample of /usr of the same size (debootstrap is not installed: apt-get install debootstrap, or pnpm bench --install, for the Debian tree)';
      run('tar', ['-C', '/', '--no-recursion', '-T', list, '-cf', `${base}.tar.partial`], 'tar');
    }
    fs.renameSync(`${base}.tar.partial`, `${base}.tar`);
    run('sh', ['-c', 'gzip -c "$0" > "$1"', `${base}.tar`, `${base}.tar.gz.partial`], 'gzip');
    fs.renameSync(`${base}.tar.gz.partial`, `${base}.tar.gz`);
    fs.writeFileSync(record, JSON.stringify({ what, ...counted }));
    return { tar: `${base}.tar`, gz: `${base}.tar.gz`, what, ...counted };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    for (const partial of [`${base}.tar.partial`, `${base}.tar.gz.partial`]) fs.rmSync(partial, { force: true });
  }
}

/** Writes to `list` the names of /usr's folders, files and links, in order, until their files reach SAMPLE_BYTES. */
function sampleOfUsr(list: string): { files: number; bytes: number } {
  const names: string[] = [];
  let [files, bytes] = [0, 0];
  const walk = (dir: string): boolean => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        names.push(file.slice(1));
        if (walk(file)) return true;
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        names.push(file.slice(1));
        if (entry.isFile()) {
          files++;
          bytes += fs.lstatSync(file).size;
          if (bytes >= SAMPLE_BYTES) return true;
        }
      }
    }
    return false;
  };
  walk('/usr');
  fs.writeFileSync(list, `${names.join('\n')}\n`);
  return { files, bytes };
}

/** Seconds per run, by what ran. */
export interface ImportTimes {
  readonly tar: number[];
  readonly tarGz: number[];
  readonly importTar: number[];
  readonly importTarGz: number[];
}

/**
 * `rounds` interleaved rounds of GNU tar and `pnpm rootfs import` (without pnpm: node
 * rootfs/bin/rootfs.cjs, with `node`) on both tarballs, each run on a fresh tmpfs in a
 * mount namespace of the runner's own.
 */
export function measureImports(files: Tarballs, node: string, env: NodeJS.ProcessEnv, rounds: number): ImportTimes {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-bench-import-'));
  try {
    const runner = path.join(__dirname, 'import-runner.ts');
    const settings = JSON.stringify({ node, tar: files.tar, gz: files.gz, rounds, scratch });
    const result = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, '--require', 'tsx/cjs', runner, settings], {
      encoding: 'utf8',
      env,
      maxBuffer: 16 << 20,
    });
    if (result.status !== 0) throw new Error(`the import runs failed: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(result.stdout) as ImportTimes;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
