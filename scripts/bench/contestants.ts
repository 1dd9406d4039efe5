// What is compared: our stage 5 started three ways, the reference runtimes the machine
// has, and two baselines. Each does the same work: /bin/true as PID 1 of new PID, UTS
// and mount namespaces, in the project's default root filesystem (the OCI runtimes
// and our stage also in a memory cgroup of 256 MiB).
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
/** Stage 6: stage 5 plus a network namespace, measured beside it. */
export const NETWORK_STAGE_DIR = path.join(REPO, 'packages/6-isolate-network');
/** Stage 7: stage 6 plus the privileges dropped (capabilities, seccomp, masks, device rules). */
export const PRIVILEGES_STAGE_DIR = path.join(REPO, 'packages/7-isolate-privileges');
export const MEMORY_LIMIT = 256 * 1024 * 1024;

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
 * each Node start read a CA bundle (~80 ms on these machines), and without NODE_OPTIONS.
 */
export function cleanEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
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

/** Where the stage and the OCI runtimes run `/bin/true`, and how. */
export function lineup(options: { rootfs: string; bundle: string; networkBundle: string; privilegesBundle: string }): Lineup {
  const env = cleanEnvironment();
  const node = process.execPath;
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

  contestants.push(
    {
      key: 'stage5-bundle',
      label: 'stage 5, node main.cjs (bundle)',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: node, args: [path.relative(STAGE_DIR, options.bundle), 'run', ...trueCommand], cwd: STAGE_DIR, env }),
    },
    {
      key: 'stage5-tsx',
      label: 'stage 5, node --require tsx/cjs main.ts',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: node, args: ['--require', 'tsx/cjs', 'src/main.ts', 'run', ...trueCommand], cwd: STAGE_DIR, env }),
    },
  );
  const skipped: Lineup['skipped'] = [];
  const unshareForNetwork = which('unshare');
  const networkBundle = path.relative(NETWORK_STAGE_DIR, options.networkBundle);
  contestants.push({
    key: 'stage6-none',
    label: 'stage 6, node main.cjs (bundle), --network none',
    kind: 'ours',
    cgroup: true,
    command: () => ({ file: node, args: [networkBundle, 'run', '--network', 'none', ...trueCommand], cwd: NETWORK_STAGE_DIR, env }),
  });
  const privilegesBundle = path.relative(PRIVILEGES_STAGE_DIR, options.privilegesBundle);
  contestants.push({
    key: 'stage7-none',
    label: 'stage 7, node main.cjs (bundle), --network none',
    kind: 'ours',
    cgroup: true,
    command: () => ({ file: node, args: [privilegesBundle, 'run', '--network', 'none', ...trueCommand], cwd: PRIVILEGES_STAGE_DIR, env }),
  });
  if (unshareForNetwork) {
    // In a network namespace of its own each time: a first container, which makes the
    // bridge, the NAT table and forwarding, and removes them; the host's are not touched.
    contestants.push({
      key: 'stage6-bridge',
      label: 'stage 6, node main.cjs (bundle), bridge, first container (in unshare --net)',
      kind: 'ours',
      cgroup: true,
      command: () => ({ file: unshareForNetwork, args: ['--net', node, networkBundle, 'run', ...trueCommand], cwd: NETWORK_STAGE_DIR, env }),
    });
  }
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
