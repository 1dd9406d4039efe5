// `pnpm soak [--runs N] [--concurrency C] [--stages 3,4,5] [--tty]`: starts the stages
// from 3 on, many times and several at once, and ends each in a random way at a random
// moment: SIGKILL, SIGTERM or SIGINT between 0 and 700 ms, or left alone. Each run's
// stdin is not a terminal (stage 8 passes pipes through, as the earlier stages do);
// with --tty each runs on a terminal of its own (util-linux's `script`), so that stage
// 8 makes the container's pty and relays it. Then one more
// run of each stage (which sweeps what SIGKILLed runtimes left), and a look at the host:
// everything must be as it was. One line of figures; exit status 1 on any leak, or on a
// run that ended in a way no user should see (a stack trace, an unexplained error).
//
// It looks only at what it made itself, so a container in another terminal is no leak:
// the runtimes it started (their leases), the processes that carry its marker, the
// places its stages mount, and the containers' folders made while it ran (stage 9).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containersDir, resolveRootfs } from '@samples/rootfs';
import { isAlive, leases, mountsUnder } from '@samples/runtime';

const REPO = path.join(__dirname, '..', '..');
const SIGNALS = ['SIGKILL', 'SIGTERM', 'SIGINT', 'none'] as const;
type Action = (typeof SIGNALS)[number];
/** How long one run may take before the soak calls it hung (SIGTERM's grace period is 5 s). */
const RUN_TIMEOUT_MS = 30_000;

/** What a run's stderr may say: anything else is an anomaly. */
const EXPECTED_LINES = [
  // Stage 3 has no mount namespace: a second container on the same tree is refused.
  /^3-isolate-root-fs: the root filesystem .* is in use by another stage-3 container/,
  // The child of a runtime killed with SIGKILL, if it was still waiting for it.
  /^[\w-]+: the runtime went away before the container started$/,
];

interface Options {
  runs: number;
  concurrency: number;
  stages: string[];
  /** Each run on a pseudo-terminal of its own. */
  tty: boolean;
}

interface Outcome {
  stage: string;
  action: Action;
  delayMs: number;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  hung: boolean;
}

function parseOptions(argv: string[]): Options {
  const available = fs
    .readdirSync(path.join(REPO, 'packages'))
    .filter((name) => /^\d+-/.test(name) && Number.parseInt(name, 10) >= 3)
    .filter((name) => fs.existsSync(path.join(REPO, 'packages', name, 'src', 'main.ts')))
    .sort();
  const options: Options = { runs: 100, concurrency: 4, stages: available, tty: false };
  for (let i = 0; i < argv.length; i++) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (name === '--tty') {
      options.tty = true;
      continue;
    }
    if (name === '--help' || name === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const number = Number(value);
    if (name === '--runs' && Number.isInteger(number) && number > 0) options.runs = number;
    else if (name === '--concurrency' && Number.isInteger(number) && number > 0) options.concurrency = number;
    else if (name === '--stages' && value) {
      options.stages = value.split(',').map((wanted) => available.find((stage) => stage.startsWith(`${wanted}-`) || stage === wanted) ?? '');
      if (options.stages.includes('')) usage(`--stages ${value}: the stages are ${available.join(', ')}`);
    } else usage(`unknown option or value: ${name} ${value ?? ''}`);
    i++;
  }
  return options;
}

const USAGE = 'usage: pnpm soak [--runs N] [--concurrency C] [--stages 3,4,5] [--tty]';

function usage(problem: string): never {
  process.stderr.write(`soak: ${problem}\n${USAGE}\n`);
  process.exit(2);
}

// #region snapshot
/** What the host looks like where the soak's containers could leave something. */
interface Snapshot {
  hostname: string;
  /** Mounts at or below the images folder (stage 3 mounts proc and dev there). */
  mounts: string[];
  /** Network links, and IP forwarding (stage 6 makes a bridge and turns forwarding on). */
  links: string[];
  ipForward: string;
  /** Every file of the default root filesystem: path, type, mode, size, mtime. */
  rootfs: string;
  /** The containers' own folders (stage 9's overlay layers) in containersDir(). */
  containers: string[];
}

function snapshot(imagesDir: string, rootfs: string): Snapshot {
  return {
    hostname: os.hostname(),
    mounts: mountsUnder(imagesDir).map(({ mountPoint, fsType }) => `${mountPoint} ${fsType}`),
    links: fs.readdirSync('/sys/class/net').sort(),
    ipForward: fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(),
    rootfs: fingerprint(rootfs),
    containers: listFolder(containersDir()),
  };
}

function listFolder(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function fingerprint(dir: string): string {
  const lines: string[] = [];
  const walk = (folder: string) => {
    for (const name of fs.readdirSync(folder).sort()) {
      const file = path.join(folder, name);
      const stat = fs.lstatSync(file);
      lines.push(`${path.relative(dir, file)} ${stat.mode.toString(8)} ${stat.size} ${stat.mtimeMs}`);
      if (stat.isDirectory()) walk(file);
    }
  };
  walk(dir);
  return lines.join('\n');
}
// #endregion

// #region run
/** One run: a stage starts a short command, and is ended by `action` after `delayMs`. */
function runOnce(stage: string, action: Action, delayMs: number, marker: string, runtimes: Set<number>, tty = false): Promise<Outcome> {
  // The command ends by itself after a second; it turns SIGINT and SIGTERM into exits,
  // as a well-behaved PID 1 does. $0 carries the marker, so leftovers can be found.
  const command = ['sh', '-c', 'trap "exit 130" INT; trap "exit 143" TERM; sleep 1 & wait', marker];
  const packageDir = path.join(REPO, 'packages', stage);
  const argv = [process.execPath, '--require', 'tsx/cjs', 'src/main.ts', 'run', ...command];
  // On a terminal: script runs `exec RUNTIME` on a new pty (the runtime becomes script's
  // child), and shows what the terminal shows, stderr among it. Its stdin stays open,
  // never written to: a closed one would end script at once.
  const quoted = argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const runtime = tty
    ? spawn('script', ['--quiet', '--return', '--command', `exec ${quoted}`, '/dev/null'], {
        cwd: packageDir,
        stdio: ['pipe', 'pipe', 'ignore'],
        env: { ...process.env, SHELL: '/bin/sh' },
      })
    : spawn(argv[0]!, argv.slice(1), { cwd: packageDir, stdio: ['ignore', 'ignore', 'pipe'] });
  const runtimePid = () => (tty ? childOf(runtime.pid!) : runtime.pid);
  let stderr = '';
  (tty ? runtime.stdout : runtime.stderr)!.on('data', (chunk: Buffer) => (stderr += chunk.toString().replaceAll('\r\n', '\n')));
  // The signal goes to the runtime itself (not to script), once it has started.
  const send = () => {
    const pid = runtimePid();
    if (pid === undefined) return void (timer = setTimeout(send, 10));
    runtimes.add(pid);
    try {
      process.kill(pid, action);
    } catch {
      // it ended meanwhile
    }
  };
  let timer = action === 'none' ? undefined : setTimeout(send, delayMs);
  if (tty) {
    const note = setInterval(() => {
      const pid = runtimePid();
      if (pid !== undefined) runtimes.add(pid);
    }, 20);
    runtime.once('close', () => clearInterval(note));
  } else if (runtime.pid) runtimes.add(runtime.pid);
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    runtime.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    // 'close', not 'exit': after a SIGKILL the child may still write to the same stderr.
    runtime.once('close', (status, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      // script says a runtime killed by signal N as status 128 + N.
      const killedBy = tty && status !== null && status > 128 ? (os.constants.signals as Record<string, number>) : undefined;
      const name = killedBy && Object.keys(killedBy).find((each) => killedBy[each] === status! - 128 && SIGNALS.includes(each as Action));
      if (name !== undefined) resolve({ stage, action, delayMs, status: null, signal: name as NodeJS.Signals, stderr, hung });
      else resolve({ stage, action, delayMs, status, signal, stderr, hung });
    });
  });
}

/** Whether a run ended as a user could expect from what was done to it. */
function anomaly(outcome: Outcome): string | undefined {
  const { stage, action, delayMs, status, signal, stderr, hung } = outcome;
  const what = `${stage}, ${action}${action === 'none' ? '' : ` after ${delayMs} ms`}`;
  if (hung) return `${what}: still running after ${RUN_TIMEOUT_MS / 1000} s`;
  const unexpected = stderr.split('\n').filter((line) => line !== '' && !EXPECTED_LINES.some((expected) => expected.test(line)));
  if (unexpected.length > 0) return `${what}: said ${JSON.stringify(unexpected.join('\n'))}`;
  const refused = status === 125 && /is in use by another stage-3 container/.test(stderr);
  const allowed: Record<Action, (number | NodeJS.Signals)[]> = {
    none: [0],
    // Before its listeners exist the runtime dies of the signal; after, the command gets
    // it (143/130), or ended already (0), or had no trap yet and was killed (137).
    SIGTERM: ['SIGTERM', 143, 137, 0],
    SIGINT: ['SIGINT', 130, 0],
    SIGKILL: ['SIGKILL', 0],
  };
  const ended = signal ?? status;
  if (!refused && ended !== null && !allowed[action].includes(ended)) return `${what}: ended with ${ended}`;
  return undefined;
}
// #endregion

// #region leaks
/** What the soak left on the host, compared with `before`; empty if nothing. */
function leaks(before: Snapshot, after: Snapshot, marker: string, runtimes: Set<number>): string[] {
  const found: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) found.push(`${what}: ${JSON.stringify(a)} before, ${JSON.stringify(b)} after`);
  };
  same('hostname', before.hostname, after.hostname);
  same('mounts below the root filesystems', before.mounts, after.mounts);
  // The bridge, a veth's host end and IP forwarding belong to whichever runtimes hold a
  // network lease: while another one (a container in another terminal) holds one, they
  // may be its. A link gone meanwhile was someone else's container ending.
  const othersNetwork = leaseKinds()
    .filter((kind) => kind.startsWith('net-'))
    .flatMap((kind) => leases<unknown>(kind))
    .some((lease) => isAlive(lease.owner) && !runtimes.has(lease.owner.pid));
  if (!othersNetwork) {
    const newLinks = after.links.filter((link) => !before.links.includes(link));
    if (newLinks.length > 0) found.push(`network links made and left: ${JSON.stringify(newLinks)}`);
    same('net.ipv4.ip_forward', before.ipForward, after.ipForward);
  }
  if (before.rootfs !== after.rootfs) found.push('the default root filesystem changed');
  // Containers' folders made since (stage 9) that no live runtime holds: the sweep run
  // must have removed those of killed runtimes, and the others removed their own.
  const layersHeld = new Set(leases<{ dir: string }>('container-layers').filter((lease) => isAlive(lease.owner)).map((lease) => lease.data.dir));
  for (const name of after.containers.filter((name) => !before.containers.includes(name))) {
    const dir = path.join(containersDir(), name);
    if (!layersHeld.has(dir)) found.push(`container folder ${dir} is held by no runtime`);
  }
  // Leases of the soak's runtimes (all gone now) that no sweep took back.
  for (const kind of leaseKinds()) {
    for (const lease of leases<unknown>(kind)) {
      if (runtimes.has(lease.owner.pid) && !isAlive(lease.owner)) found.push(`a ${kind} lease left by runtime ${lease.owner.pid}: ${lease.id}`);
    }
  }
  // Container cgroups below this process's own (where its runtimes made theirs) that no
  // live runtime holds: a leak even if its lease was dropped.
  const held = new Set(leases<{ paths: string[] }>('cgroups').filter((lease) => isAlive(lease.owner)).flatMap((lease) => lease.data.paths));
  for (const dir of containerCgroups()) if (!held.has(dir)) found.push(`cgroup ${dir} is held by no runtime`);
  // Processes of the soak's containers: the runtime's child and the command carry the marker.
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes(marker) && Number(pid) !== process.pid) {
      found.push(`process ${pid} still runs: ${cmdline.split('\0').join(' ').trim()}`);
    }
  }
  return found;
}

/** The container-* cgroups at most three levels below this process's own, in each hierarchy. */
function containerCgroups(): string[] {
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((line) => line.split(':'));
  const roots = own.flatMap(([, controllers, cgroupPath]) => {
    if (controllers === '') return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? [path.join('/sys/fs/cgroup', cgroupPath ?? '/')] : [];
    const hierarchy = ['memory', 'pids', 'cpu'].find((name) => controllers?.split(',').includes(name));
    return hierarchy ? [path.join('/sys/fs/cgroup', hierarchy, cgroupPath ?? '/')] : [];
  });
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.filter((each) => each.isDirectory())) {
      const child = path.join(dir, entry.name);
      if (/^container-[0-9a-f]{8}$/.test(entry.name)) found.push(child);
      else if (depth < 3) walk(child, depth + 1);
    }
  };
  // On v2 the runtime may go up to an ancestor that can hand controllers down: start there.
  for (const root of new Set(roots.map((root) => (fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? path.dirname(root) : root)))) walk(root, 0);
  return [...new Set(found)];
}

function leaseKinds(): string[] {
  try {
    return fs.readdirSync('/run/ts-container-samples');
  } catch {
    return [];
  }
}
// #endregion

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('the stages need root: run it as root');
  const rootfs = resolveRootfs(undefined, { quiet: true });
  const imagesDir = path.dirname(rootfs);
  const marker = `soak-${randomBytes(6).toString('hex')}`;
  const before = snapshot(imagesDir, rootfs);
  const runtimes = new Set<number>();
  const started = Date.now();

  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < options.runs) {
      next++;
      const stage = options.stages[Math.floor(Math.random() * options.stages.length)]!;
      const action = SIGNALS[Math.floor(Math.random() * SIGNALS.length)]!;
      const outcome = await runOnce(stage, action, Math.floor(Math.random() * 700), marker, runtimes, options.tty);
      outcomes.push(outcome);
      if (process.stderr.isTTY) process.stderr.write(`\rsoak: ${outcomes.length}/${options.runs}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  if (process.stderr.isTTY) process.stderr.write('\r');

  // The sweep: one run of each stage, left alone, takes back what killed runtimes left.
  for (const stage of options.stages) outcomes.push(await runOnce(stage, 'none', 0, marker, runtimes, options.tty));
  // What is left must stay: a host that changes meanwhile (another runtime's container
  // starting or ending) is looked at again, up to 10 times a second apart.
  let left = leaks(before, snapshot(imagesDir, rootfs), marker, runtimes);
  for (let attempt = 1; attempt < 10 && left.length > 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    left = leaks(before, snapshot(imagesDir, rootfs), marker, runtimes);
  }

  const anomalies = outcomes.flatMap((outcome) => anomaly(outcome) ?? []);
  const count = <K extends string>(key: (outcome: Outcome) => K) =>
    Object.entries(
      outcomes.reduce<Record<string, number>>((counts, outcome) => ({ ...counts, [key(outcome)]: (counts[key(outcome)] ?? 0) + 1 }), {}),
    )
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(
    `soak: ${outcomes.length} runs (${options.runs} + ${options.stages.length} sweeping) in ${seconds} s, ${options.concurrency} at a time${options.tty ? ', each on a terminal of its own' : ''}; ` +
      `stages: ${count((outcome) => outcome.stage.split('-')[0]!)}; ended by: ${count((outcome) => outcome.action)}; ` +
      `exits: ${count((outcome) => String(outcome.signal ?? outcome.status))}; anomalies ${anomalies.length}; leaks ${left.length}\n`,
  );
  for (const line of anomalies) process.stdout.write(`  anomaly: ${line}\n`);
  for (const line of left) process.stdout.write(`  leak: ${line}\n`);
  return anomalies.length + left.length === 0 ? 0 : 1;
}

main().then(
  (status) => (process.exitCode = status),
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 125;
  },
);

/** The first child of `pid` (script's: the runtime), if it has one yet. */
function childOf(pid: number): number | undefined {
  try {
    const [first] = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return first === undefined ? undefined : Number(first);
  } catch {
    return undefined; // gone
  }
}
