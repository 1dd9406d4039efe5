// pnpm bench: how long it takes to start a container that runs /bin/true, with our
// stage 5 (and stage 6, which adds a network) and with the real runtimes on this
// machine, and where our time goes.
//
//   node --require tsx/cjs scripts/bench/main.ts [--rounds N] [--quick] [--markdown] [--install]
//
// A report, not a test: it exits 0 when a target is missed, non-zero only when
// something could not be measured. Each round runs every contestant once, in turn,
// so that a noisy machine slows all of them alike; compare ratios, not milliseconds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectLayout, parseProcCgroup } from '../../packages/5-isolate-cgroup/src/cgroup';
import { bundle } from '../../packages/runtime/src/reexec';
import { resolveRootfs } from '../../rootfs/src/resolve';
import { type Charged, chargedWhileSleeping } from './charged';
import { type Contestant, type Lineup, NETWORK_STAGE_DIR, PRIVILEGES_STAGE_DIR, STAGE, STAGE_DIR, lineup, version, which } from './contestants';
import { GNU_TIME, peakRss, runOnce, type Spread, spread } from './measure';
import { type Table, barChart, mib, ms, renderTable } from './report';
import { GROUPS, STEPS, type Trace, traceOnce } from './steps';

const TARGETS = { ratioToNode: 2.5, chargedBytes: 10 * 1024 * 1024, pnpmMs: 1500 };

const usage = `usage: pnpm bench [--rounds N] [--quick] [--markdown] [--install]

  --rounds N   rounds of every contestant, interleaved (default 30)
  --quick      a short run: 5 rounds, fewer traces (under 40 s)
  --markdown   print the results as Markdown tables and Mermaid charts (for docs/)
  --install    apt-get install the reference runtimes that are missing (crun, runc, bubblewrap, time)`;

interface Options {
  rounds: number;
  quick: boolean;
  markdown: boolean;
  install: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { rounds: 30, quick: false, markdown: false, install: false };
  let rounds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') options.quick = true;
    else if (arg === '--markdown') options.markdown = true;
    else if (arg === '--install') options.install = true;
    else if (arg === '--rounds' || arg.startsWith('--rounds=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      rounds = Number(value);
      if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds ${value}: give a whole number of at least 1, like 30`, 2);
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown option ${arg}: see --help`, 2);
  }
  options.rounds = rounds ?? (options.quick ? 5 : 30);
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
 * the memory check's) anywhere near the top, container-* (our stage's) where stage 5
 * makes them: below this process's own memory cgroup on v1, there or at the root on v2.
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
      if (name.startsWith('samples-bench-') || (containerPlaces.includes(dir) && name.startsWith('container-'))) found.add(path.join(dir, name));
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

function environment(): string[] {
  const cpus = os.cpus();
  const pnpm = which('pnpm');
  return [
    `date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), kernel ${os.release()}, cgroups ${detectLayout()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `node ${process.version}, ${pnpm ? `pnpm ${version(pnpm)}` : 'no pnpm'}`,
  ];
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

function stepsTable(traces: Trace[]): { table: Table; medians: number[] } {
  const total = spread(traces.map((t) => t.total));
  const share = (value: number) => `${((value / total.median) * 100).toFixed(0)}%`;
  const medians: number[] = [];
  const rows = STEPS.map(({ id, label }) => {
    const s = spread(traces.map((t) => t.steps[id]));
    medians.push(s.median);
    return [label, ms(s.median), `${ms(s.p10)}–${ms(s.p90)}`, share(s.median)];
  });
  rows.push(['total (median of the runs; in each run the steps add up to it)', ms(total.median), `${ms(total.p10)}–${ms(total.p90)}`, '100%']);
  return {
    table: { header: ['step', 'median ms', 'p10–p90 ms', 'share'], align: ['left', 'right', 'right', 'right'], rows },
    medians,
  };
}

/** The steps summed by group in each run, then the median taken. */
function groupsTable(traces: Trace[]): Table {
  const total = spread(traces.map((t) => t.total)).median;
  const rows = (Object.keys(GROUPS) as (keyof typeof GROUPS)[]).map((group) => {
    const sums = traces.map((t) => STEPS.filter((step) => step.group === group).reduce((sum, step) => sum + t.steps[step.id], 0));
    const median = spread(sums).median;
    return [GROUPS[group], ms(median), `${((median / total) * 100).toFixed(0)}%`];
  });
  return { header: ['where the time goes', 'median ms', 'share'], align: ['left', 'right', 'right'], rows };
}

function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

async function main(): Promise<number> {
  const started = Date.now();
  const options = parseOptions(process.argv.slice(2));
  const machine = environment(); // the load average before the run
  if (process.getuid?.() !== 0) fail('containers need root: run it as root (sudo -E env "PATH=$PATH" pnpm bench)');
  if (options.install) installMissing();

  const rootfs = resolveRootfs(undefined); // builds the default root filesystem if it is not there yet
  const stageBundle = bundle(path.join(STAGE_DIR, 'src', 'main.ts')); // the file the stage re-executes; fresh
  const networkBundle = bundle(path.join(NETWORK_STAGE_DIR, 'src', 'main.ts'));
  const privilegesBundle = bundle(path.join(PRIVILEGES_STAGE_DIR, 'src', 'main.ts'));
  const cgroupsBefore = benchCgroups();
  const line: Lineup = lineup({ rootfs, bundle: stageBundle, networkBundle, privilegesBundle });
  process.once('SIGINT', () => {
    line.dispose();
    process.exit(130);
  });
  const traceCount = Math.min(options.rounds, options.quick ? 3 : 10);
  const memoryRounds = Math.min(options.rounds, options.quick ? 1 : 5);
  const hasTime = fs.existsSync(GNU_TIME);
  const notes = [...line.notes];
  if (!hasTime) notes.push(`peak RSS needs GNU time (${GNU_TIME}): apt-get install time`);
  else {
    notes.push(
      `peak RSS: GNU time's %M (wait4's ru_maxrss): the largest of the tree's processes, not their sum (our runtime's two Node processes live at once), max of ${memoryRounds} run(s).`,
    );
  }

  let errors = 0;
  let results: Result[];
  const traces: Trace[] = [];
  let traceError: string | undefined;
  let charged: Charged | undefined;
  let chargedError: string | undefined;
  const direct = line.contestants.find((c) => c.key === 'stage5-bundle')!;
  try {
    // The traced runs are interleaved with the rest too, so that they can be compared.
    results = await measureAll(line.contestants, options.rounds, hasTime ? memoryRounds : 0, async (round) => {
      if (round >= traceCount || traceError) return;
      try {
        traces.push(await traceOnce(direct.command(0)));
      } catch (error) {
        traceError = (error as Error).message;
      }
    });
    progress('reading the memory charged to the container cgroup');
    try {
      charged = await chargedWhileSleeping(direct.command(0), rootfs, options.quick ? 1 : 3);
    } catch (error) {
      chargedError = (error as Error).message;
    }
    progress('');
  } finally {
    line.dispose();
  }
  if (traceError) {
    errors++;
    process.stderr.write(`bench: tracing the steps failed: ${traceError}\n`);
  }

  const md = options.markdown;
  const out: string[] = [];
  const heading = (title: string) => out.push('', md ? `### ${title}` : `== ${title}`, '');
  heading(`Starting a container that runs /bin/true: ${options.rounds} interleaved rounds`);
  out.push(...machine.map((l) => (md ? `- ${l}` : l)));
  out.push('', ...notes.map((l) => (md ? `- ${l}` : `note: ${l}`)));
  for (const { label, reason } of line.skipped) out.push(md ? `- skipped ${label}: ${reason}` : `skipped ${label}: ${reason}`);
  for (const result of results) {
    if (!result.error) continue;
    if (result.contestant.kind !== 'reference') errors++;
    out.push(`${md ? '- ' : ''}${result.contestant.kind === 'reference' ? 'skipped' : 'FAILED'} ${result.contestant.label}: ${result.error}`);
  }

  const nodeResult = results.find((r) => r.contestant.key === 'node' && r.times.length > 0);
  if (!nodeResult) fail('`node -e 0` could not be measured');
  const node = spread(nodeResult.times);
  out.push('', renderTable(contestantsTable(results, node), md));
  if (md) {
    const sorted = results.filter((r) => r.times.length > 0).sort((a, b) => spread(a.times).median - spread(b.times).median);
    out.push('', barChart('/bin/true in a container: median ms (lower is faster)', sorted.map((r) => r.contestant.key), sorted.map((r) => spread(r.times).median), 'ms'));
  }

  if (traces.length > 0) {
    heading(`Where the time goes: the stage 5 bundle, ${traces.length} traced runs (probe.cjs preloaded in both Node processes)`);
    const { table, medians } = stepsTable(traces);
    out.push(renderTable(table, md), '', renderTable(groupsTable(traces), md));
    const setns = spread(traces.map((t) => t.setns));
    const untraced = results.find((r) => r.contestant.key === 'stage5-bundle')?.times ?? [];
    out.push(
      '',
      `${md ? '' : 'note: '}the traced runs took ${ms(spread(traces.map((t) => t.total)).median)} ms (median), the untraced ones of the same rounds ${untraced.length ? ms(spread(untraced).median) : 'n/a'} ms: the difference is the probe's. setns back to the runtime's own namespaces (${ms(setns.median)} ms) happens while the child starts, off the critical path.`,
    );
    if (md) out.push('', barChart('stage 5 bundle: median ms per step', STEPS.map((step) => step.short), medians, 'ms', true));
  }

  heading('Memory charged to the container cgroup');
  const atExec = traces.map((t) => t.atExec.peak).filter((v): v is number => v !== null);
  const atRemoval = traces.map((t) => t.peakAtRemoval).filter((v): v is number => v !== null);
  const bullet = md ? '- ' : '';
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

  heading('Targets');
  const bundleResult = results.find((r) => r.contestant.key === 'stage5-bundle');
  const tsxResult = results.find((r) => r.contestant.key === 'stage5-tsx');
  const pnpmResult = results.find((r) => r.contestant.key === 'stage5-pnpm');
  if (bundleResult?.times.length) {
    const ratio = spread(bundleResult.times).median / node.median;
    const tsxRatio = tsxResult?.times.length ? spread(tsxResult.times).median / node.median : undefined;
    out.push(
      `${bullet}${verdict(ratio < TARGETS.ratioToNode)} stage 5 started directly with node (\`node ${STAGE}/${path.relative(STAGE_DIR, stageBundle)} run /bin/true\`): ${ms(spread(bundleResult.times).median)} ms = ${ratio.toFixed(2)}× node -e 0 (${ms(node.median)} ms); target under ${TARGETS.ratioToNode}×` +
        (tsxRatio !== undefined ? `. Through tsx (\`node --require tsx/cjs src/main.ts\`): ${tsxRatio.toFixed(2)}×` : ''),
    );
  }
  const ownCharge = atExec.length > 0 ? Math.max(...atExec) : undefined;
  if (ownCharge !== undefined) {
    out.push(`${bullet}${verdict(ownCharge <= TARGETS.chargedBytes)} the runtime's own memory charged to the container's cgroup: at most ${mib(ownCharge)}; target at most ${mib(TARGETS.chargedBytes)}`);
  }
  if (pnpmResult?.times.length) {
    const median = spread(pnpmResult.times).median;
    out.push(`${bullet}${verdict(median < TARGETS.pnpmMs)} \`pnpm --filter 5-isolate-cgroup start /bin/true\`: ${ms(median)} ms; target under ${TARGETS.pnpmMs} ms`);
  }

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
