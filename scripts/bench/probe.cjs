// A preload for the step-cost runs of the benchmark, not part of any stage:
//   SAMPLES_BENCH_TRACE=/tmp/trace.jsonl NODE_OPTIONS="--require /abs/probe.cjs" node main.cjs run /bin/true
// NODE_OPTIONS reaches the re-executed child too (it inherits the environment), so both
// processes of the runtime record when each step starts and ends, without a line of
// stage code changed. It wraps what the stages call (koffi's libc functions, a few fs
// calls, child_process.spawn once a stage loads it) and times them, and appends one JSON line per process to
// the trace file: {pid, role, events: [{name, start, end?, ...}]}, times in ms since
// the epoch (performance.timeOrigin + performance.now(): microseconds, one clock for all).
//
// It does no I/O between a libc call and the stage's reading of errno: events are kept
// in memory and written when the process exits, or, in the container, just before
// execve replaces it.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');

const now = () => performance.timeOrigin + performance.now();
const preloaded = now();
const role = process.argv[2] ?? 'unknown';
const events = [
  { name: 'process start', start: performance.timeOrigin },
  { name: 'preload', start: preloaded },
];
const record = (name, start, extra) => events.push({ name, start, end: now(), ...extra });

const original = {
  writeSync: fs.writeSync,
  readSync: fs.readSync,
  readFileSync: fs.readFileSync,
  openSync: fs.openSync,
  mkdirSync: fs.mkdirSync,
  rmdirSync: fs.rmdirSync,
  writeFileSync: fs.writeFileSync,
};
const out = original.openSync(process.env.SAMPLES_BENCH_TRACE, 'a');

let flushed = false;
function flush() {
  if (flushed) return;
  flushed = true;
  original.writeSync(out, `${JSON.stringify({ pid: process.pid, role, events })}\n`);
}
process.on('exit', () => {
  events.push({ name: 'exit', start: now() });
  flush();
});

// The memory cgroup hierarchy, opened now: after pivot_root the container cannot name
// it any more, but /proc/self/fd/N still leads there.
const cgroupRoot = fs.existsSync('/sys/fs/cgroup/memory') ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup';
const cgroupRootFd = original.openSync(cgroupRoot, 'r');
const v1 = cgroupRoot.endsWith('/memory');
const files = v1
  ? { usage: 'memory.usage_in_bytes', peak: 'memory.max_usage_in_bytes' }
  : { usage: 'memory.current', peak: 'memory.peak' };

function readNumber(file) {
  try {
    return Number(original.readFileSync(file, 'utf8'));
  } catch {
    return null; // memory.peak needs Linux 5.19
  }
}

/** This process's memory cgroup: usage and peak so far, in bytes. */
function ownCgroupMemory() {
  const lines = original.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const line = lines.find((l) => (v1 ? /^\d+:[^:]*\bmemory\b[^:]*:/.test(l) : l.startsWith('0::')));
  const dir = `/proc/self/fd/${cgroupRootFd}${line.slice(line.lastIndexOf(':') + 1)}`;
  return { cgroup: line.slice(line.lastIndexOf(':') + 1), usage: readNumber(`${dir}/${files.usage}`), peak: readNumber(`${dir}/${files.peak}`) };
}

// koffi: time its loading (its index, or its native module as the bundles load it),
// then every libc function the stage declares and calls. child_process: wrapped when the
// stage loads it (the probe must not load it itself: when it is loaded is measured too).
let koffiSeen = false;
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'node:child_process' || request === 'child_process') return wrapChildProcess(load.apply(this, arguments));
  const isKoffi = !koffiSeen && (request === 'koffi' || /\/koffi\/index\.c?js$|[\\/]koffi\.node$/.test(request));
  if (!isMain && !isKoffi) return load.apply(this, arguments);
  const start = now();
  if (isKoffi) koffiSeen = true;
  const result = load.apply(this, arguments);
  if (isMain) return result;
  record('require koffi', start);
  wrapKoffi(result);
  return result;
};

function wrapKoffi(koffi) {
  const koffiLoad = koffi.load;
  koffi.load = function (...args) {
    const start = now();
    const lib = koffiLoad.apply(this, args);
    record(`koffi.load ${args[0]}`, start);
    // A native object with read-only methods: hand out a stand-in that inherits them.
    return Object.create(lib, {
      func: {
        value(prototype, ...rest) {
          const fn = lib.func(prototype, ...rest);
          const name = /(\w+)\s*\(/.exec(String(prototype))?.[1] ?? String(prototype);
          return name === 'execve' ? wrapExecve(fn) : wrapCall(name, fn);
        },
      },
    });
  };
}

function wrapCall(name, fn) {
  return function (...args) {
    const start = now();
    try {
      return fn(...args);
    } finally {
      record(name, start);
    }
  };
}

function wrapExecve(fn) {
  return function (...args) {
    events.push({ name: 'execve', start: now(), memory: ownCgroupMemory() });
    flush();
    return fn(...args);
  };
}

// The main module: the stage's own code, loaded and run to the end of its first tick.
const runMain = Module.runMain;
Module.runMain = function (...args) {
  const start = now();
  const result = runMain.apply(this, args);
  record('load main module', start);
  return result;
};

// fs: the cgroup files, and the child's handshake on fd 3.
const isCgroup = (file) => typeof file === 'string' && file.startsWith('/sys/fs/cgroup/');
fs.mkdirSync = function (file, ...rest) {
  const start = now();
  try {
    return original.mkdirSync.call(this, file, ...rest);
  } finally {
    if (isCgroup(file)) record('mkdir cgroup', start, { file });
  }
};
fs.writeFileSync = function (file, ...rest) {
  const start = now();
  try {
    return original.writeFileSync.call(this, file, ...rest);
  } finally {
    if (isCgroup(file)) record('write cgroup file', start, { file });
  }
};
fs.readFileSync = function (file, ...rest) {
  const start = now();
  try {
    return original.readFileSync.call(this, file, ...rest);
  } finally {
    if (isCgroup(file)) record('read cgroup file', start, { file });
  }
};
fs.rmdirSync = function (file, ...rest) {
  if (!isCgroup(file)) return original.rmdirSync.call(this, file, ...rest);
  // The container's cgroup is about to go: its peak is all the container ever used.
  const memory = file.startsWith(`${cgroupRoot}/`) ? { peak: readNumber(`${file}/${files.peak}`) } : undefined;
  const start = now();
  try {
    return original.rmdirSync.call(this, file, ...rest);
  } finally {
    record('rmdir cgroup', start, { file, ...(memory && { memory }) });
  }
};
fs.writeSync = function (fd, ...rest) {
  const start = now();
  try {
    return original.writeSync.call(this, fd, ...rest);
  } finally {
    if (fd === 3 && role === 'child') record('handshake: ready', start);
  }
};
fs.readSync = function (fd, ...rest) {
  const start = now();
  try {
    return original.readSync.call(this, fd, ...rest);
  } finally {
    if (fd === 3 && role === 'child') record('handshake: go', start);
  }
};
function wrapChildProcess(childProcess) {
  if (childProcess.spawn.probed) return childProcess;
  const spawn = childProcess.spawn;
  childProcess.spawn = function (...args) {
    const start = now();
    try {
      return spawn.apply(this, args);
    } finally {
      record('spawn', start);
    }
  };
  childProcess.spawn.probed = true;
  return childProcess;
}
