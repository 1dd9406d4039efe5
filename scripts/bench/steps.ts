// Where the time goes inside our runtime: runs of a stage's bundle with probe.cjs
// preloaded into both of its Node processes, cut into the steps of one container start.
// The steps are stage 5's; what a later stage adds falls into the step it happens in
// (stage 6's network: before the cgroup, before "go", after the cgroup is gone).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Command, runOnce } from './measure';

const PROBE = path.join(__dirname, 'probe.cjs');

interface ProbeEvent {
  readonly name: string;
  readonly start: number;
  readonly end?: number;
  readonly file?: string;
  readonly memory?: { usage?: number | null; peak: number | null };
}

interface ProbeRecord {
  readonly role: string;
  readonly events: ProbeEvent[];
}

/** The steps of one container start, in the order they happen on the critical path. */
export const STEPS = [
  { id: 'start', group: 'node', short: 'node start', label: 'node start: runtime (exec node, Node bootstrap)' },
  { id: 'load', group: 'code', short: 'load bundle', label: 'load the stage bundle (runtime)' },
  { id: 'koffi', group: 'koffi', short: 'koffi', label: 'koffi load, dlopen libc (runtime)' },
  { id: 'setup', group: 'code', short: 'set-up', label: 'runtime: options, root filesystem, checks (stage 6: the network) until the cgroup' },
  { id: 'cgroupCreate', group: 'kernel', short: 'cgroup create', label: 'cgroup create (mkdir, memory limit)' },
  { id: 'unshare', group: 'kernel', short: 'unshare', label: 'namespaces: unshare' },
  { id: 'spawn', group: 'node', short: 'spawn child', label: 're-exec: spawn until the child node runs' },
  { id: 'childBoot', group: 'node', short: 'child: node boot', label: 're-exec: Node bootstrap (child)' },
  { id: 'childLoad', group: 'code', short: 'child: load bundle', label: 're-exec: load the stage bundle (child)' },
  { id: 'childKoffi', group: 'koffi', short: 'child: koffi', label: 're-exec: koffi load (child)' },
  { id: 'cgroupJoin', group: 'kernel', short: 'cgroup join', label: 'cgroup join (handshake over fd 3; stage 6: and the veth)' },
  { id: 'mounts', group: 'kernel', short: 'mounts', label: 'mounts: private, bind, proc, dev, tmpfs, pivot_root' },
  { id: 'execPrepare', group: 'exec', short: 'exec prepare', label: 'exec: prepare (stdio, fds, signals)' },
  { id: 'exec', group: 'exec', short: 'execve, exit', label: 'exec: execve, /bin/true, exit seen by runtime' },
  { id: 'cgroupRemove', group: 'kernel', short: 'cgroup remove', label: 'cgroup remove' },
  { id: 'drain', group: 'node', short: 'loop drains', label: 'runtime: event loop drains (stage 6: the network given back)' },
  { id: 'exit', group: 'node', short: 'node exit', label: 'runtime: Node exits' },
  { id: 'other', group: 'other', short: 'other', label: 'other (JS between the steps, probe)' },
] as const;

export type StepId = (typeof STEPS)[number]['id'];

/** The steps summed by kind: what the time is spent on. */
export const GROUPS = {
  node: 'Node itself: start the runtime, start the child, exit',
  code: "the stage's code: load the bundle (twice), set up until the cgroup",
  koffi: 'koffi: load it and libc, twice',
  kernel: 'the isolation: namespaces, cgroup create/join/remove, mounts',
  exec: 'exec: prepare, execve, /bin/true runs, exit seen',
  other: 'other: JS between the steps, the probe',
} as const;

/** One traced run: milliseconds per step, and memory readings. */
export interface Trace {
  readonly total: number;
  readonly steps: Record<StepId, number>;
  /** setns back into the runtime's own namespaces: after the spawn, beside the child's start. */
  readonly setns: number;
  /** The container's cgroup just before execve: what the runtime's child had charged to it. */
  readonly atExec: { usage: number | null; peak: number | null };
  /** The container's cgroup peak just before its removal: the runtime and /bin/true. */
  readonly peakAtRemoval: number | null;
}

const MOUNT_CALLS = new Set(['mount', 'sethostname', 'mknod', 'chdir', 'syscall', 'umount2']);

/** Runs `command` (the stage's bundle) once with the probe in both of its Node processes. */
export async function traceOnce(command: Command): Promise<Trace> {
  const file = path.join(os.tmpdir(), `samples-bench-trace-${process.pid}.jsonl`);
  fs.rmSync(file, { force: true });
  try {
    const env = { ...command.env, NODE_OPTIONS: `--require ${PROBE}`, SAMPLES_BENCH_TRACE: file };
    const { start, end } = await runOnce({ ...command, env });
    const records = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as ProbeRecord);
    return analyse(records, start, end);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function analyse(records: ProbeRecord[], start: number, end: number): Trace {
  const runtime = records.find((record) => record.role === 'run')?.events;
  const child = records.find((record) => record.role === 'child')?.events;
  if (!runtime || !child) throw new Error('the probe recorded no runtime or no child: did the container start?');
  const first = (events: ProbeEvent[], name: string, after = -Infinity) => {
    const event = events.find((e) => e.name === name && e.start >= after);
    if (!event) throw new Error(`the probe recorded no "${name}"`);
    return event;
  };
  const last = (events: ProbeEvent[], test: (e: ProbeEvent) => boolean, before = Infinity) =>
    events.filter((e) => test(e) && e.start < before).pop();
  const endOf = (event: ProbeEvent) => event.end ?? event.start;

  const runtimeMain = first(runtime, 'load main module');
  const runtimeKoffi = first(runtime, 'require koffi');
  const runtimeLibc = first(runtime, 'koffi.load libc.so.6');
  const mkdir = first(runtime, 'mkdir cgroup');
  const unshare = first(runtime, 'unshare');
  const limitsWritten = last(runtime, (e) => e.name === 'write cgroup file', unshare.start) ?? mkdir;
  const spawn = first(runtime, 'spawn');
  const childMain = first(child, 'load main module');
  const childKoffi = first(child, 'require koffi');
  const childLibc = first(child, 'koffi.load libc.so.6');
  const ready = first(child, 'handshake: ready');
  const go = last(child, (e) => e.name === 'handshake: go')!;
  const execve = first(child, 'execve');
  const firstMount = first(child, 'mount', endOf(go));
  const lastMount = last(child, (e) => MOUNT_CALLS.has(e.name), execve.start)!;
  const noticed = first(runtime, 'read cgroup file', execve.start);
  const removed = last(runtime, (e) => e.name === 'rmdir cgroup')!;
  const exit = first(runtime, 'exit');

  const measured: Omit<Record<StepId, number>, 'other'> = {
    start: first(runtime, 'preload').start - start,
    load: endOf(runtimeMain) - runtimeMain.start,
    koffi: endOf(runtimeLibc) - runtimeKoffi.start,
    setup: mkdir.start - endOf(runtimeLibc),
    cgroupCreate: endOf(limitsWritten) - mkdir.start,
    unshare: endOf(unshare) - unshare.start,
    spawn: first(child, 'process start').start - spawn.start,
    childBoot: first(child, 'preload').start - first(child, 'process start').start,
    childLoad: endOf(childMain) - childMain.start,
    childKoffi: endOf(childLibc) - childKoffi.start,
    cgroupJoin: endOf(go) - ready.start,
    mounts: endOf(lastMount) - firstMount.start,
    execPrepare: execve.start - endOf(lastMount),
    exec: noticed.start - execve.start,
    cgroupRemove: endOf(removed) - noticed.start,
    drain: exit.start - endOf(removed),
    exit: end - exit.start,
  };
  const total = end - start;
  const other = total - Object.values(measured).reduce((sum, ms) => sum + ms, 0);
  const steps = { ...measured, other };
  const setns = runtime.filter((e) => e.name === 'setns').reduce((sum, e) => sum + endOf(e) - e.start, 0);
  return {
    total,
    steps,
    setns,
    atExec: { usage: execve.memory?.usage ?? null, peak: execve.memory?.peak ?? null },
    peakAtRemoval: removed.memory?.peak ?? null,
  };
}
