// What is compared: our stage 5 started four ways, the later stages from their bundles,
// the floor of our design, the reference runtimes the machine has, and two baselines.
// Each does the same work: /bin/true as PID 1 of new PID, UTS and mount namespaces, in
// the project's default root filesystem (the OCI runtimes and our stages also in a
// memory cgroup of 256 MiB).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectLayout } from '../../packages/5-isolate-cgroup/src/cgroup';
import { findExecutable } from '../../packages/runtime/src/process';
import type { Command } from './measure';

export const REPO = path.resolve(__dirname, '..', '..');
export const STAGE = 'packages/5-isolate-cgroup';
export const STAGE_DIR = path.join(REPO, STAGE);
export const MEMORY_LIMIT = 256 * 1024 * 1024;

/** A stage measured from its bundle (`node main.cjs run ARGS /bin/true`), with its step costs traced. */
export interface StageRow {
  /** A short key: 'stage6-none'. */
  readonly key: string;
  /** Its package folder, under packages/. */
  readonly stage: string;
  /** What the row adds to the stage's name in the tables. */
  readonly label: string;
  /** Options before the command. */
  readonly args: readonly string[];
  /** Run inside `unshare --net`: a network namespace of the bench's own, so that the host's network is never touched. */
  readonly ownNetwork?: boolean;
}

/**
 * Stage 5 and every Part 2 stage after it, one line each: a stage appears in the bench
 * once its src/main.ts exists. A stage whose container needs options to run /bin/true
 * gives them here.
 */
export const STAGE_ROWS: readonly StageRow[] = [
  { key: 'stage5-bundle', stage: '5-isolate-cgroup', label: '', args: [] },
  { key: 'stage6-none', stage: '6-isolate-network', label: '--network none', args: ['--network', 'none'] },
  // A first container: it makes the bridge, the NAT table and forwarding, and removes them.
  { key: 'stage6-bridge', stage: '6-isolate-network', label: 'bridge, first container (in unshare --net)', args: [], ownNetwork: true },
  // Stages 7 on build on stage 6: --network none, so that the host's network is never touched.
  { key: 'stage7-none', stage: '7-isolate-privileges', label: '--network none', args: ['--network', 'none'] },
  { key: 'stage8-none', stage: '8-isolate-terminal', label: '--network none', args: ['--network', 'none'] },
  { key: 'stage9-none', stage: '9-isolate-image', label: '--network none', args: ['--network', 'none'] },
].filter((row) => fs.existsSync(path.join(REPO, 'packages', row.stage, 'src', 'main.ts')));

/** The stage's number and what the row adds: 'stage 6, --network none'. */
export function stageLabel(row: StageRow): string {
  return `stage ${row.stage.split('-')[0]}${row.label ? `, ${row.label}` : ''}`;
}

export interface Contestant {
  /** A short key: 'runc', 'stage5-bundle'. */
  readonly key: string;
  /** What the table shows. */
  readonly label: string;
  readonly kind: 'baseline' | 'ours' | 'reference';
  /** Whether it makes a cgroup for the container. */
  readonly cgroup: boolean;
  /** The command of run number `run`: OCI runtimes need a fresh container id each time. */
  command(run: number): Command;
  /** Tidies up after a failed run (an OCI container left behind). */
  cleanup?(run: number): void;
}

export interface Lineup {
  readonly contestants: Contestant[];
  /** Reference runtimes that are not installed, with what to do. */
  readonly skipped: { label: string; reason: string }[];
  readonly notes: string[];
  /** Removes the OCI bundles. */
  dispose(): void;
}

/**
 * The environment of every command: this one without NODE_EXTRA_CA_CERTS, which makes
 * each Node start read a CA bundle (~80 ms on these machines), and without NODE_OPTIONS;
 * with `node`'s folder first on PATH, so that `pnpm start` runs that Node too.
 */
export function cleanEnvironment(node = process.execPath): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  env.PATH = [path.dirname(node), ...(env.PATH ?? '').split(':').filter((dir) => dir !== path.dirname(node))].join(':');
  return env;
}

export function which(name: string): string | undefined {
  try {
    return findExecutable(name, process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  } catch {
    return undefined;
  }
}

/** The first line of `program --version`, e.g. 'crun version 1.8.1'. */
export function version(program: string): string {
  const result = spawnSync(program, ['--version'], { encoding: 'utf8' });
  return String(result.stdout ?? '').split('\n')[0]!.trim() || program;
}

/** The command that starts a stage row's bundle, with `node`. */
export function stageRowCommand(row: StageRow, bundle: string, node: string, env: NodeJS.ProcessEnv): Command {
  const cwd = path.join(REPO, 'packages', row.stage);
  const args = [path.relative(cwd, bundle), 'run', ...row.args, '/bin/true'];
  return row.ownNetwork ? { file: findExecutable('unshare'), args: ['--net', node, ...args], cwd, env } : { file: node, args, cwd, env };
}

/** Where the stages and the OCI runtimes run `/bin/true`, and how; `bundles` are the stage rows' own, by key. */
export function lineup(options: { rootfs: string; node: string; bundles: ReadonlyMap<string, string> }): Lineup {
  const { node } = options;
  const env = cleanEnvironment(node);
  const trueCommand = ['/bin/true'];
  const contestants: Contestant[] = [
    { key: 'true', label: '/bin/true', kind: 'baseline', cgroup: false, command: () => ({ file: '/bin/true', args: [], env }) },
    { key: 'node', label: 'node -e 0', kind: 'baseline', cgroup: false, command: () => ({ file: node, args: ['-e', '0'], env }) },
  ];
  const notes: string[] = [];
  const caCerts = process.env.NODE_EXTRA_CA_CERTS;
  if (caCerts) {
    contestants.push({
      key: 'node-ca',
      label: 'node -e 0, NODE_EXTRA_CA_CERTS set',
      kind: 'baseline',
      cgroup: false,
      command: () => ({ file: node, args: ['-e', '0'], env: { ...env, NODE_EXTRA_CA_CERTS: caCerts } }),
    });
  }
  notes.push(
    `NODE_EXTRA_CA_CERTS ${caCerts ? `(set to ${caCerts} here) ` : ''}and NODE_OPTIONS are unset for every command measured${caCerts ? ', except in the row that shows what the first costs' : ''}.`,
  );

  for (const row of STAGE_ROWS) {
    const bundle = options.bundles.get(row.key)!;
    contestants.push({
      key: row.key,
      label: `${stageLabel(row).replace(/^(stage \d+)/, '$1, node main.cjs (bundle)')}`,
      kind: 'ours',
      cgroup: true,
      command: () => stageRowCommand(row, bundle, node, env),
    });
  }
  contestants.push(
    {
      // What `pnpm start` runs: the launcher, which runs the same bundle once it finds it fresh.
      key: 'stage5-start',
      label: 'stage 5, node ../runtime/start.cjs (what pnpm start runs)',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: node, args: ['../runtime/start.cjs', 'src/main.ts', 'run', ...trueCommand], cwd: STAGE_DIR, env }),
    },
    {
      key: 'stage5-tsx',
      label: 'stage 5, node --require tsx/cjs main.ts',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: node, args: ['--require', 'tsx/cjs', 'src/main.ts', 'run', ...trueCommand], cwd: STAGE_DIR, env }),
    },
    {
      // The same kernel steps as stage 5, by two Node processes, without a line of stage code.
      key: 'floor',
      label: "the design's floor: floor.cjs, two Node processes, stage 5's kernel steps, no stage code",
      kind: 'baseline',
      cgroup: true,
      command: () => ({ file: node, args: [path.join(__dirname, 'floor.cjs'), 'run', options.rootfs], cwd: STAGE_DIR, env }),
    },
  );
  const skipped: Lineup['skipped'] = [];
  const pnpm = which('pnpm');
  if (pnpm) {
    contestants.push({
      key: 'stage5-pnpm',
      label: 'stage 5, pnpm --filter … start',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: pnpm, args: ['--filter', '5-isolate-cgroup', 'start', ...trueCommand], cwd: REPO, env }),
    });
  } else {
    skipped.push({ label: 'stage 5 through pnpm', reason: 'pnpm is not installed: npm install --global pnpm@12' });
  }

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'samples-bench-oci-'));
  const layout = detectLayout();
  for (const runtime of ['crun', 'runc'] as const) {
    const binary = which(runtime);
    if (!binary) {
      skipped.push({ label: runtime, reason: `not installed: apt-get install ${runtime} (or pnpm bench --install)` });
      continue;
    }
    const bundleDir = path.join(scratch, runtime);
    fs.mkdirSync(bundleDir);
    const id = (run: number) => `samples-bench-${runtime}-${process.pid}-${run}`;
    // crun 1.8 refuses cgroup v1 while a cgroup2 tree is mounted beside it (the hybrid
    // layout): give it a mount namespace of its own where that tree is unmounted.
    const hybridCrun = runtime === 'crun' && layout === 'hybrid';
    contestants.push({
      key: runtime,
      label: `${version(binary).replace(/ version/, '')}${hybridCrun ? ' (in unshare -m)' : ''}`,
      kind: 'reference',
      cgroup: true,
      command(run) {
        fs.writeFileSync(path.join(bundleDir, 'config.json'), JSON.stringify(ociConfig(options.rootfs, id(run), trueCommand)));
        return hybridCrun
          ? { file: findExecutable('unshare'), args: ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec crun run --bundle "$0" "$1"', bundleDir, id(run)], env }
          : { file: binary, args: ['run', '--bundle', bundleDir, id(run)], env };
      },
      cleanup(run) {
        spawnSync(binary, ['delete', '--force', id(run)], { stdio: 'ignore' });
      },
    });
    if (hybridCrun) {
      contestants.push({
        key: 'crun-wrapper',
        label: "crun's wrapper alone, exec /bin/true",
        kind: 'baseline',
        cgroup: false,
        command: () => ({ file: findExecutable('unshare'), args: ['-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec /bin/true'], env }),
      });
      notes.push(
        'crun runs inside `unshare -m sh -c "umount /sys/fs/cgroup/unified && exec crun run ..."`, which it needs on hybrid cgroups; its times include that wrapper, measured alone in its own row.',
      );
    }
  }

  const bwrap = which('bwrap');
  if (bwrap) {
    contestants.push({
      key: 'bwrap',
      label: `${version(bwrap)}, no cgroup`,
      kind: 'reference',
      cgroup: false,
      command: () => ({
        file: bwrap,
        args: ['--unshare-pid', '--unshare-uts', '--hostname', 'container', '--bind', options.rootfs, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/newtemp', ...trueCommand],
        env,
      }),
    });
  } else {
    skipped.push({ label: 'bubblewrap', reason: 'not installed: apt-get install bubblewrap (or pnpm bench --install)' });
  }
  const unshare = which('unshare');
  if (unshare) {
    contestants.push({
      key: 'unshare',
      label: `${version(unshare).replace(/ from /, ' ')}, no cgroup`,
      kind: 'reference',
      cgroup: false,
      command: () => ({ file: unshare, args: ['--pid', '--fork', '--uts', '--mount', '--root', options.rootfs, '--mount-proc', ...trueCommand], env }),
    });
  } else {
    skipped.push({ label: 'util-linux unshare', reason: 'not installed: apt-get install util-linux' });
  }
  notes.push(
    'runc and crun get a minimal OCI config: namespaces pid, uts, mount; mounts /proc, a tmpfs /dev and /newtemp; a 256 MiB memory limit; no masked or read-only paths (our runtime has none). They still join a cgroup in every v1 hierarchy, set capabilities and rlimits, and create device nodes.',
    'bwrap: --unshare-pid --unshare-uts --bind ROOTFS / --proc /proc --dev /dev --tmpfs /newtemp. unshare: --pid --fork --uts --mount --root ROOTFS --mount-proc (a chroot, no /dev, no pivot_root).',
  );

  return {
    contestants,
    skipped,
    notes,
    dispose: () => fs.rmSync(scratch, { recursive: true, force: true }),
  };
}

/** An OCI runtime configuration as `runc spec` writes it, cut down to what our stage does. */
function ociConfig(rootfs: string, id: string, args: readonly string[]): object {
  const capabilities = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=container'],
      cwd: '/',
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities, ambient: capabilities },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: false },
    hostname: 'container',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/newtemp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
    ],
    linux: {
      // Relative: runc puts it below its own cgroup (as our stage does); crun below the root.
      cgroupsPath: id,
      resources: { memory: { limit: MEMORY_LIMIT } },
      namespaces: [{ type: 'pid' }, { type: 'uts' }, { type: 'mount' }],
    },
  };
}
