// pnpm bench: how long it takes to start a container that runs /bin/true, with our
// stage 5 (and every Part 2 stage that has landed) and with the real runtimes on this
// machine, where our time goes, and how an import of a Debian tree compares with GNU tar.
//
//   node --require tsx/cjs scripts/bench/main.ts [--rounds N] [--quick] [--node PATH] ...
//
// A report, not a test: it exits 0 when a target is missed, non-zero only when
// something could not be measured. Each round runs every contestant once, in turn,
// so that a noisy machine slows all of them alike; compare ratios, not milliseconds.
// It says whether the machine was quiet: on a busy one, the contestants that start more
// processes suffer more from waiting for a CPU, and the ratios mislead.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectLayout, parseProcCgroup } from '../../packages/5-isolate-cgroup/src/cgroup';
import { bundle } from '../../packages/runtime/src/reexec';
import { resolveRootfs } from '../../rootfs/src/resolve';
import { type Charged, chargedWhileSleeping } from './charged';
import {
  type Contestant,
  type Lineup,
  REPO,
  STAGE,
  STAGE_DIR,
  STAGE_ROWS,
  cleanEnvironment,
  lineup,
  stageLabel,
  stageRowCommand,
  version,
  which,
} from './contestants';
import { imageLineup } from './image';
import { type ImportTimes, type Tarballs, measureImports, tarballs } from './imports';
import { GNU_TIME, peakRss, runOnce, type Spread, spread } from './measure';
import { type Table, barChart, mib, ms, renderTable } from './report';
import { GROUPS, STEPS, type Trace, traceOnce } from './steps';

/** Issue #17's targets, as ratios measured side by side in one run. */
const TARGETS = { ratioToNode: 2.5, pnpmRatioToNode: 5, chargedBytes: 1024 * 1024, importRatioToTar: 3 };

/**
 * A quiet machine: other processes used under this share of the CPUs in the second
 * before the run and during it (from /proc/stat, less this process tree's own ticks).
 * The load average is shown, not judged: it lags a minute behind.
 */
const QUIET_SHARE = 0.1;

const usage = `usage: pnpm bench [--rounds N] [--quick] [--node PATH] [--import-rounds N] [--no-import] [--markdown] [--install]

  --rounds N          rounds of every contestant, interleaved (default 30)
  --quick             a short run: 5 rounds, fewer traces, 2 import rounds (about a minute)
  --node PATH         the Node that runs every contestant (default: the one running this;
                      also SAMPLES_BENCH_NODE=PATH); its folder goes first on PATH, for pnpm
  --import-rounds N   rounds of the import beside GNU tar (default 5)
  --no-import         leave the import out
  --markdown          print the results as Markdown tables and Mermaid charts (for docs/)
  --install           apt-get install what is missing (crun, runc, bubblewrap, time, debootstrap)`;

interface Options {
  rounds: number;
  quick: boolean;
  markdown: boolean;
  install: boolean;
  node: string;
  importRounds: number;
  import: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    rounds: 30,
    quick: false,
    markdown: false,
    install: false,
    node: process.env.SAMPLES_BENCH_NODE || process.execPath,
    importRounds: 5,
    import: true,
  };
  let rounds: number | undefined;
  let importRounds: number | undefined;
  const count = (name: string, value: string | undefined) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) fail(`${name} ${value}: give a whole number of at least 1, like 30`, 2);
    return parsed;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (name === '--quick') options.quick = true;
    else if (name === '--markdown') options.markdown = true;
    else if (name === '--install') options.install = true;
    else if (name === '--no-import') options.import = false;
    else if (name === '--rounds') rounds = count(name, value());
    else if (name === '--import-rounds') importRounds = count(name, value());
    else if (name === '--node') {
      const node = value();
      if (node === undefined) fail('--node needs the path of a node executable', 2);
      options.node = path.resolve(node);
    } else if (name === '-h' || name === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown option ${arg}: see --help`, 2);
  }
  options.rounds = rounds ?? (options.quick ? 5 : 30);
  options.importRounds = importRounds ?? (options.quick ? 2 : 5);
  const checked = spawnSync(options.node, ['--version'], { encoding: 'utf8' });
  if (checked.status !== 0) fail(`--node ${options.node}: not a node that runs (${checked.error?.message ?? checked.stderr.trim()})`, 2);
  return options;
}

function fail(message: string, status = 1): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(status);
}

function progress(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${message}`);
}

function installMissing(): void {
  const wanted = [
    ['crun', 'crun'],
    ['runc', 'runc'],
    ['bwrap', 'bubblewrap'],
    [GNU_TIME, 'time'],
    ['debootstrap', 'debootstrap'],
  ].filter(([program]) => (program!.startsWith('/') ? !fs.existsSync(program!) : !which(program!)));
  if (wanted.length === 0) return;
  const packages = wanted.map(([, pkg]) => pkg!);
  process.stderr.write(`installing ${packages.join(', ')} with apt-get\n`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...packages]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) fail(`apt-get ${args[0]} failed: install ${packages.join(' ')} by hand, or run without --install`);
  }
}

/**
 * Cgroups the benchmark's containers may leave: samples-bench-* (the OCI runtimes' and
 * the memory check's) anywhere near the top, container-* (our stages') and floor-* (the
 * floor's) where stage 5 makes them: below this process's own memory cgroup on v1, there
 * or at the root on v2.
 */
function benchCgroups(): Set<string> {
  const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const v1Memory = own.find((entry) => entry.controllers.includes('memory'));
  const containerPlaces = v1Memory
    ? [path.join('/sys/fs/cgroup/memory', v1Memory.path)]
    : ['/sys/fs/cgroup', path.join('/sys/fs/cgroup', own.find((entry) => entry.controllers.length === 0)?.path ?? '/')];
  const places = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((name) => path.join('/sys/fs/cgroup', name)), ...containerPlaces];
  const found = new Set<string>();
  for (const dir of new Set(places)) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // a file, not a hierarchy
    }
    for (const name of names) {
      if (name.startsWith('samples-bench-') || (containerPlaces.includes(dir) && /^(container|floor)-/.test(name))) found.add(path.join(dir, name));
    }
  }
  return found;
}

interface Result {
  readonly contestant: Contestant;
  readonly times: number[];
  readonly rss: number[];
  error?: string;
}

/**
 * Runs every contestant once per round, in turn (each round starts with the next one),
 * after one warm-up run each. In the first `memoryRounds` rounds each also runs under
 * GNU time for its peak RSS; `extra(round)` runs at the end of each round.
 */
async function measureAll(
  contestants: Contestant[],
  rounds: number,
  memoryRounds: number,
  extra: (round: number) => Promise<void>,
): Promise<Result[]> {
  const results: Result[] = contestants.map((contestant) => ({ contestant, times: [], rss: [] }));
  let run = 0;
  const attempt = async (result: Result, measure: (command: ReturnType<Contestant['command']>) => Promise<void>) => {
    if (result.error) return;
    const current = run++;
    try {
      await measure(result.contestant.command(current));
    } catch (error) {
      result.error = (error as Error).message;
      result.contestant.cleanup?.(current);
    }
  };
  progress('warming up: each contestant once');
  for (const result of results) await attempt(result, async (command) => void (await runOnce(command)));
  for (let round = 0; round < rounds; round++) {
    progress(`round ${round + 1} of ${rounds}`);
    for (let i = 0; i < results.length; i++) {
      const result = results[(round + i) % results.length]!;
      await attempt(result, async (command) => {
        const { start, end } = await runOnce(command);
        result.times.push(end - start);
      });
      if (round < memoryRounds) await attempt(result, async (command) => void result.rss.push(await peakRss(command)));
    }
    await extra(round);
  }
  progress('');
  return results;
}

function environment(node: string): string[] {
  const cpus = os.cpus();
  const pnpm = which('pnpm');
  return [
    `date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), kernel ${os.release()}, cgroups ${detectLayout()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `node ${version(node)}${node === process.execPath ? '' : ` (${node})`}, ${pnpm ? `pnpm ${version(pnpm)}` : 'no pnpm'}`,
  ];
}

/** CPU time in clock ticks: all CPUs' busy and total (/proc/stat), and this process's with its reaped children (/proc/self/stat). */
interface CpuTicks {
  readonly busy: number;
  readonly total: number;
  readonly ours: number;
}

function cpuTicks(): CpuTicks {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3]! + (fields[4] ?? 0); // idle, iowait
  const total = fields.reduce((sum, value) => sum + value, 0);
  // utime, stime, cutime, cstime: fields 14 to 17, counted after the ')' that ends the command's name.
  const self = fs.readFileSync('/proc/self/stat', 'utf8');
  const [utime, stime, cutime, cstime] = self.slice(self.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  return { busy: total - idle, total, ours: utime! + stime! + cutime! + cstime! };
}

/** The share of all CPUs' time that other processes used between two readings. */
function othersShare(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  return total > 0 ? Math.max(0, after.busy - before.busy - (after.ours - before.ours)) / total : 0;
}

interface Quietness {
  /** The 1-minute load average before the run. */
  readonly load: number;
  /** Other processes' share of the CPUs in the second before the run, and during it. */
  readonly before: number;
  during?: number;
}

function isQuiet(q: Quietness): boolean {
  return q.before < QUIET_SHARE && (q.during ?? 0) < QUIET_SHARE;
}

function describeQuietness(q: Quietness): string {
  const pct = (share: number) => `${(share * 100).toFixed(0)}%`;
  const facts = `other processes used ${pct(q.before)} of the ${os.cpus().length} CPUs in the second before the run and ${pct(q.during ?? 0)} during it (1-minute load average ${q.load.toFixed(2)} before)`;
  return isQuiet(q)
    ? `a quiet machine: ${facts}`
    : `NOT a quiet machine: ${facts}; quiet means under ${pct(QUIET_SHARE)}: the ratios below are not the machine's, run it again when it is idle`;
}

function contestantsTable(results: Result[], node: Spread): Table {
  const sorted = [...results].filter((r) => r.times.length > 0).sort((a, b) => spread(a.times).median - spread(b.times).median);
  return {
    header: ['contestant', 'cgroup', 'median ms', 'p10–p90 ms', '× node -e 0', 'peak RSS'],
    align: ['left', 'left', 'right', 'right', 'right', 'right'],
    rows: sorted.map(({ contestant, times, rss }) => {
      const s = spread(times);
      return [
        contestant.label,
        contestant.cgroup ? 'yes' : 'no',
        ms(s.median),
        `${ms(s.p10)}–${ms(s.p90)}`,
        `${(s.median / node.median).toFixed(2)}`,
        rss.length ? `${(Math.max(...rss) / 1024).toFixed(1)} MiB` : 'n/a',
      ];
    }),
  };
}

/** The traced runs of each stage row, by key. */
type TracesByRow = Map<string, Trace[]>;

/** The steps' medians, one column per traced stage; stage 5's spread and share beside its own. */
function stepsTable(traced: TracesByRow): { table: Table; medians: number[] } {
  const keys = [...traced.keys()];
  const stage5 = traced.get('stage5-bundle') ?? [];
  const total = spread(stage5.map((t) => t.total));
  const share = (value: number) => `${((value / total.median) * 100).toFixed(0)}%`;
  const median = (traces: Trace[], value: (trace: Trace) => number) => (traces.length ? ms(spread(traces.map(value)).median) : 'n/a');
  const medians: number[] = [];
  const rows = STEPS.map(({ id, label }) => {
    const s = spread(stage5.map((t) => t.steps[id]));
    medians.push(s.median);
    return [label, ms(s.median), `${ms(s.p10)}–${ms(s.p90)}`, share(s.median), ...keys.slice(1).map((key) => median(traced.get(key)!, (t) => t.steps[id]))];
  });
  rows.push([
    'total (median of the runs; in each run the steps add up to it)',
    ms(total.median),
    `${ms(total.p10)}–${ms(total.p90)}`,
    '100%',
    ...keys.slice(1).map((key) => median(traced.get(key)!, (t) => t.total)),
  ]);
  const labels = keys.slice(1).map((key) => `${stageLabel(STAGE_ROWS.find((row) => row.key === key)!)} ms`);
  return {
    table: {
      header: ['step', 'stage 5 median ms', 'p10–p90 ms', 'share', ...labels],
      align: ['left', 'right', 'right', 'right', ...labels.map(() => 'right' as const)],
      rows,
    },
    medians,
  };
}

/** The steps summed by group in each run, then the median taken; one column per traced stage. */
function groupsTable(traced: TracesByRow): Table {
  const keys = [...traced.keys()];
  const rows = (Object.keys(GROUPS) as (keyof typeof GROUPS)[]).map((group) => [
    GROUPS[group],
    ...keys.flatMap((key) => {
      const traces = traced.get(key)!;
      if (traces.length === 0) return key === 'stage5-bundle' ? ['n/a', 'n/a'] : ['n/a'];
      const sums = traces.map((t) => STEPS.filter((step) => step.group === group).reduce((sum, step) => sum + t.steps[step.id], 0));
      const median = spread(sums).median;
      const total = spread(traces.map((t) => t.total)).median;
      return key === 'stage5-bundle' ? [ms(median), `${((median / total) * 100).toFixed(0)}%`] : [ms(median)];
    }),
  ]);
  const labels = keys.slice(1).map((key) => `${stageLabel(STAGE_ROWS.find((row) => row.key === key)!)} ms`);
  return {
    header: ['where the time goes', 'stage 5 median ms', 'share', ...labels],
    align: ['left', 'right', 'right', ...labels.map(() => 'right' as const)],
    rows,
  };
}

function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

/** One line of the import's figures: the median of each, and the ratio. */
function importRow(label: string, ours: number[], tar: number[]): string[] {
  const [o, t] = [spread(ours), spread(tar)];
  return [label, `${o.median.toFixed(2)} s`, `${o.p10.toFixed(2)}–${o.p90.toFixed(2)} s`, `${t.median.toFixed(2)} s`, `${(o.median / t.median).toFixed(2)}×`];
}

async function main(): Promise<number> {
  const started = Date.now();
  const options = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail('containers need root: run it as root (sudo -E env "PATH=$PATH" pnpm bench)');
  if (options.install) installMissing();
  const { node } = options;
  const env = cleanEnvironment(node);

  const rootfs = resolveRootfs(undefined); // builds the default root filesystem if it is not there yet
  // The files the stages re-execute, fresh.
  const bundles = new Map(STAGE_ROWS.map((row) => [row.key, bundle(path.join(REPO, 'packages', row.stage, 'src', 'main.ts'))]));
  const stageBundle = bundles.get('stage5-bundle')!;
  let files: Tarballs | undefined;
  let importError: string | undefined;
  if (options.import) {
    try {
      files = tarballs(progress);
    } catch (error) {
      importError = (error as Error).message;
    }
    progress('');
  }

  progress('making a large image for stage 9 (pnpm rootfs import of hundreds of MiB)');
  const stage9 = await imageLineup(rootfs, node, bundles.get('stage9-none'));
  progress('');

  // From here on the machine should be idle but for this: measured before and during.
  const machine = environment(node);
  const load = os.loadavg()[0]!;
  const beforeStart = cpuTicks();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  const atStart = cpuTicks();
  const quietness: Quietness = { load, before: othersShare(beforeStart, atStart) };

  const cgroupsBefore = benchCgroups();
  const line: Lineup = lineup({ rootfs, node, bundles });
  line.contestants.push(...stage9.contestants);
  const dispose = () => {
    line.dispose();
    stage9.dispose();
  };
  process.once('SIGINT', () => {
    dispose();
    process.exit(130);
  });
  const traceCount = Math.min(options.rounds, options.quick ? 3 : 10);
  const memoryRounds = Math.min(options.rounds, options.quick ? 1 : 5);
  const hasTime = fs.existsSync(GNU_TIME);
  const notes = [...line.notes, ...(stage9.note ? [stage9.note] : [])];
  if (!hasTime) notes.push(`peak RSS needs GNU time (${GNU_TIME}): apt-get install time`);
  else {
    notes.push(
      `peak RSS: GNU time's %M (wait4's ru_maxrss): the largest of the tree's processes, not their sum (our runtime's two Node processes live at once), max of ${memoryRounds} run(s).`,
    );
  }

  let errors = 0;
  let results: Result[];
  const traced: TracesByRow = new Map(STAGE_ROWS.map((row) => [row.key, []]));
  const traceErrors = new Map<string, string>();
  let charged: Charged | undefined;
  let chargedError: string | undefined;
  let imports: ImportTimes | undefined;
  try {
    // The traced runs are interleaved with the rest too, so that they can be compared.
    results = await measureAll(line.contestants, options.rounds, hasTime ? memoryRounds : 0, async (round) => {
      if (round >= traceCount) return;
      for (const row of STAGE_ROWS) {
        if (traceErrors.has(row.key)) continue;
        try {
          traced.get(row.key)!.push(await traceOnce(stageRowCommand(row, bundles.get(row.key)!, node, env)));
        } catch (error) {
          traceErrors.set(row.key, (error as Error).message);
        }
      }
    });
    progress('reading the memory charged to the container cgroup');
    try {
      charged = await chargedWhileSleeping(stageRowCommand(STAGE_ROWS[0]!, stageBundle, node, env), rootfs, options.quick ? 1 : 3);
    } catch (error) {
      chargedError = (error as Error).message;
    }
    if (files) {
      progress(`importing the test tree beside GNU tar: ${options.importRounds} rounds`);
      try {
        imports = measureImports(files, node, env, options.importRounds);
      } catch (error) {
        importError = (error as Error).message;
      }
    }
    progress('');
  } finally {
    dispose();
  }
  quietness.during = othersShare(atStart, cpuTicks());
  for (const [key, message] of traceErrors) {
    errors++;
    process.stderr.write(`bench: tracing ${key} failed: ${message}\n`);
  }

  const md = options.markdown;
  const out: string[] = [];
  const bullet = md ? '- ' : '';
  const heading = (title: string) => out.push('', md ? `### ${title}` : `== ${title}`, '');
  heading(`Starting a container that runs /bin/true: ${options.rounds} interleaved rounds`);
  out.push(...machine.map((l) => `${bullet}${l}`));
  out.push(`${bullet}${describeQuietness(quietness)}`);
  out.push('', ...notes.map((l) => (md ? `- ${l}` : `note: ${l}`)));
  for (const { label, reason } of line.skipped) out.push(md ? `- skipped ${label}: ${reason}` : `skipped ${label}: ${reason}`);
  for (const result of results) {
    if (!result.error) continue;
    if (result.contestant.kind !== 'reference') errors++;
    out.push(`${bullet}${result.contestant.kind === 'reference' ? 'skipped' : 'FAILED'} ${result.contestant.label}: ${result.error}`);
  }

  const nodeResult = results.find((r) => r.contestant.key === 'node' && r.times.length > 0);
  if (!nodeResult) fail('`node -e 0` could not be measured');
  const nodeSpread = spread(nodeResult.times);
  out.push('', renderTable(contestantsTable(results, nodeSpread), md));
  if (md) {
    const sorted = results.filter((r) => r.times.length > 0).sort((a, b) => spread(a.times).median - spread(b.times).median);
    out.push('', barChart('/bin/true in a container: median ms (lower is faster)', sorted.map((r) => r.contestant.key), sorted.map((r) => spread(r.times).median), 'ms'));
  }

  const stage5Traces = traced.get('stage5-bundle')!;
  if (stage5Traces.length > 0) {
    heading(
      `Where the time goes: each stage's bundle, ${stage5Traces.length} traced runs each (probe.cjs preloaded in both Node processes)`,
    );
    const { table, medians } = stepsTable(traced);
    out.push(renderTable(table, md), '', renderTable(groupsTable(traced), md));
    const setns = spread(stage5Traces.map((t) => t.setns));
    const untraced = results.find((r) => r.contestant.key === 'stage5-bundle')?.times ?? [];
    out.push(
      '',
      `${md ? '' : 'note: '}stage 5's traced runs took ${ms(spread(stage5Traces.map((t) => t.total)).median)} ms (median), the untraced ones of the same rounds ${untraced.length ? ms(spread(untraced).median) : 'n/a'} ms: the difference is the probe's. setns back to the runtime's own namespaces (${ms(setns.median)} ms) happens while the child starts, off the critical path.`,
    );
    if (md) out.push('', barChart('stage 5 bundle: median ms per step', STEPS.map((step) => step.short), medians, 'ms', true));
  }

  heading('Memory charged to the container cgroup (stage 5)');
  const atExec = stage5Traces.map((t) => t.atExec.peak).filter((v): v is number => v !== null);
  const atRemoval = stage5Traces.map((t) => t.peakAtRemoval).filter((v): v is number => v !== null);
  if (atExec.length > 0) {
    out.push(`${bullet}the runtime's own charge, read by the child just before execve (peak so far): median ${mib(spread(atExec).median)}, max ${mib(Math.max(...atExec))} over ${atExec.length} runs`);
  }
  if (atRemoval.length > 0) {
    out.push(`${bullet}the whole container (runtime and /bin/true), read by the runtime just before rmdir: median ${mib(spread(atRemoval).median)}, max ${mib(Math.max(...atRemoval))}`);
  }
  if (charged) {
    const container = spread(charged.container).median;
    const alone = spread(charged.sleepAlone).median;
    out.push(
      `${bullet}from outside (${charged.file} while \`sleep\` runs): container ${mib(container)}, a cgroup where only sleep ran (started by sh and chroot) ${mib(alone)}: difference ${mib(container - alone)} (medians of ${charged.container.length} runs)`,
    );
  } else if (chargedError) {
    out.push(`${bullet}the check from outside could not run: ${chargedError}`);
  }

  if (options.import) {
    heading(`Importing a root filesystem beside GNU tar: ${options.importRounds} interleaved rounds`);
    if (files) {
      out.push(
        `${bullet}the tree: ${files.what}, ${files.files} files, ${mib(files.bytes)}; .tar ${mib(fs.statSync(files.tar).size)}, .tar.gz ${mib(fs.statSync(files.gz).size)} (gzip -6), kept in ${path.dirname(files.tar)}`,
        `${bullet}each run on a fresh tmpfs, in a mount namespace of the bench's own: both extract into the same empty file system, and the host's disk stays out of it. GNU tar: \`tar -xpf FILE -C DIR\`; ours: \`node rootfs/bin/rootfs.cjs import FILE NAME\` (what \`pnpm rootfs import\` runs), Node's start included.`,
      );
    }
    if (imports) {
      out.push(
        '',
        renderTable(
          {
            header: ['file', 'import median', 'p10–p90', 'GNU tar median', '× GNU tar'],
            align: ['left', 'right', 'right', 'right', 'right'],
            rows: [importRow('.tar', imports.importTar, imports.tar), importRow('.tar.gz', imports.importTarGz, imports.tarGz)],
          },
          md,
        ),
      );
    } else {
      errors++;
      out.push(`${bullet}FAILED: ${importError ?? 'no figures'}`);
    }
  }

  heading(`Targets (issue #17), node ${version(node)}`);
  out.push(`${bullet}${describeQuietness(quietness)}`);
  const ratioOf = (key: string) => {
    const times = results.find((r) => r.contestant.key === key)?.times ?? [];
    return times.length ? { median: spread(times).median, ratio: spread(times).median / nodeSpread.median } : undefined;
  };
  const direct = ratioOf('stage5-bundle');
  const floor = ratioOf('floor');
  if (direct) {
    const tsx = ratioOf('stage5-tsx');
    out.push(
      `${bullet}${verdict(direct.ratio <= TARGETS.ratioToNode)} stage 5 started directly with node (\`node ${STAGE}/${path.relative(STAGE_DIR, stageBundle)} run /bin/true\`): ${ms(direct.median)} ms = ${direct.ratio.toFixed(2)}× node -e 0 (${ms(nodeSpread.median)} ms); target at most ${TARGETS.ratioToNode}×` +
        (floor ? `. The design's floor (floor.cjs: the same kernel steps by two Node processes, no stage code): ${floor.ratio.toFixed(2)}×` : '') +
        (tsx ? `. Through tsx (\`node --require tsx/cjs src/main.ts\`): ${tsx.ratio.toFixed(2)}×` : ''),
    );
  }
  const ownCharge = atExec.length > 0 ? Math.max(...atExec) : undefined;
  if (ownCharge !== undefined) {
    out.push(`${bullet}${verdict(ownCharge <= TARGETS.chargedBytes)} the runtime's own memory charged to the container's cgroup: at most ${mib(ownCharge)}; target at most ${mib(TARGETS.chargedBytes)}`);
  }
  const pnpm = ratioOf('stage5-pnpm');
  const start = ratioOf('stage5-start');
  if (pnpm) {
    out.push(
      `${bullet}${verdict(pnpm.ratio <= TARGETS.pnpmRatioToNode)} \`pnpm --filter 5-isolate-cgroup start /bin/true\`: ${ms(pnpm.median)} ms = ${pnpm.ratio.toFixed(2)}× node -e 0; target at most ${TARGETS.pnpmRatioToNode}×` +
        (start ? `. The launcher it runs, alone (\`node ../runtime/start.cjs src/main.ts run /bin/true\`): ${start.ratio.toFixed(2)}×` : ''),
    );
  }
  if (imports) {
    for (const [label, ours, tar] of [
      ['.tar', imports.importTar, imports.tar],
      ['.tar.gz', imports.importTarGz, imports.tarGz],
    ] as const) {
      const ratio = spread(ours).median / spread(tar).median;
      out.push(
        `${bullet}${verdict(ratio <= TARGETS.importRatioToTar)} importing the ${label}: ${spread(ours).median.toFixed(2)} s = ${ratio.toFixed(2)}× GNU tar -xpf (${spread(tar).median.toFixed(2)} s); target at most ${TARGETS.importRatioToTar}×`,
      );
    }
  }

  const imageTarget = stage9.target((key) => results.find((r) => r.contestant.key === key)?.times ?? []);
  if (imageTarget) out.push(`${bullet}${verdict(imageTarget.pass)} ${imageTarget.text}`);

  const left = [...benchCgroups()].filter((dir) => !cgroupsBefore.has(dir));
  if (left.length > 0) {
    errors++;
    out.push('', `cgroups left behind: ${left.join(', ')} (remove with rmdir)`);
  }
  out.push('', `${md ? '' : 'note: '}the run took ${((Date.now() - started) / 1000).toFixed(0)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  process.stdout.write(`${out.join('\n').trimStart()}\n`);
  return errors > 0 ? 1 : 0;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
