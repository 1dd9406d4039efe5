#!/usr/bin/env node
// @ts-check
// `npm run doctor`: is this machine ready for the workshop? It checks what the stages
// need, one line each, and prints the fix under every failure. Exit status 0 when every
// required check passed, 1 otherwise.
//
// It runs before `npm run setup`, on whatever Node the machine has (if only to say that
// it is too old): plain JavaScript, no dependencies, nothing newer than Node 12 knows.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
// The one detector the stages use too: plain JavaScript, loaded by path (no node_modules yet).
const { cgroupLayout } = require('../packages/5-isolate-cgroup/src/cgroup/layout.cjs');

/**
 * One line of the report. `FAIL` is a required check that failed; `warn` is something
 * that still works, or an optional tool; `skip` could not be checked here.
 * @typedef {{ status: 'ok' | 'FAIL' | 'warn' | 'skip', label: string, fix?: string }} Result
 */

/**
 * @param {Result['status']} status
 * @param {string} label
 * @param {string} [fix]
 * @returns {Result}
 */
function result(status, label, fix) {
  return fix === undefined ? { status: status, label: label } : { status: status, label: label, fix: fix };
}

/**
 * "6.1.0-18-amd64" -> [6, 1]; "2.36" -> [2, 36].
 * @param {string} version
 * @returns {number[]}
 */
function numbers(version) {
  return version.split(/[.-]/).slice(0, 3).map(function (part) {
    return parseInt(part, 10) || 0;
  });
}

/**
 * @param {string} version
 * @param {number[]} minimum
 */
function atLeast(version, minimum) {
  const have = numbers(version);
  for (let i = 0; i < minimum.length; i++) {
    const part = have[i] || 0;
    const wanted = minimum[i] || 0;
    if (part !== wanted) return part > wanted;
  }
  return true;
}

/**
 * Runs a program; undefined when it is not installed.
 * @param {string} command
 * @param {string[]} args
 */
function run(command, args) {
  const outcome = spawnSync(command, args, { encoding: 'utf8' });
  if (outcome.error) return undefined;
  return { status: outcome.status, output: (outcome.stdout + outcome.stderr).trim() };
}

/** @param {string} program */
function has(program) {
  const found = run('sh', ['-c', 'command -v ' + program]);
  return found !== undefined && found.status === 0;
}

const isLinux = process.platform === 'linux';
const NEEDS_LINUX = 'needs Linux';

function checkLinux() {
  if (isLinux) return result('ok', 'Linux (' + process.arch + ')');
  return result(
    'FAIL',
    'Linux: this is ' + process.platform,
    'the stages need a Linux kernel: use WSL 2, a Linux VM or a remote Linux machine (docs/develop-on-windows-macos.md)',
  );
}

function checkKernel() {
  if (!isLinux) return result('skip', 'kernel: ' + NEEDS_LINUX);
  const release = os.release();
  // exec() marks the runtime's file descriptors with close_range(CLOSE_RANGE_CLOEXEC).
  if (atLeast(release, [5, 11])) return result('ok', 'kernel ' + release + ' (5.11 or newer)');
  return result('FAIL', 'kernel ' + release + ': too old', 'use Linux 5.11 or newer (close_range with CLOSE_RANGE_CLOEXEC): Debian 12, Ubuntu 22.04 or later');
}

function checkLibc() {
  if (!isLinux) return result('skip', 'glibc: ' + NEEDS_LINUX);
  if (!process.report) return result('skip', 'glibc: this Node cannot tell the version');
  const report = process.report.getReport();
  const header = report && /** @type {{ header?: { glibcVersionRuntime?: string } }} */ (report).header;
  const glibc = header && header.glibcVersionRuntime;
  if (glibc === undefined) return result('FAIL', 'glibc: not found (musl?)', 'the stages load libc.so.6 (glibc): use a glibc distribution such as Debian, Ubuntu or Fedora');
  if (atLeast(glibc, [2, 34])) return result('ok', 'glibc ' + glibc + ' (2.34 or newer)');
  return result('FAIL', 'glibc ' + glibc + ': too old', 'use glibc 2.34 or newer (it has close_range): Debian 12, Ubuntu 22.04 or later');
}

function isRoot() {
  if (process.geteuid && process.geteuid() === 0) return true;
  const CAP_SYS_ADMIN = 21;
  const status = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  // The mask has 64 bits: the low 32 are enough for bit 21.
  return status !== null && ((parseInt((status[1] || '').slice(-8), 16) >>> CAP_SYS_ADMIN) & 1) === 1;
}

function checkRoot() {
  if (!isLinux) return result('skip', 'root: ' + NEEDS_LINUX);
  if (isRoot()) return result('ok', process.geteuid && process.geteuid() === 0 ? 'root' : 'CAP_SYS_ADMIN (not root, but enough)');
  return result(
    'FAIL',
    'root: running as ' + os.userInfo().username,
    'creating namespaces needs root (CAP_SYS_ADMIN): work as root (sudo -i), or run each command with sudo -E env "PATH=$PATH" ...',
  );
}

function checkNamespaces() {
  if (!isLinux) return result('skip', 'namespaces: ' + NEEDS_LINUX);
  const missing = ['uts', 'pid', 'mnt'].filter(function (type) {
    return !fs.existsSync('/proc/self/ns/' + type);
  });
  if (missing.length > 0) {
    return result('FAIL', 'namespaces: no ' + missing.join(', '), 'use a kernel built with namespaces (CONFIG_UTS_NS, CONFIG_PID_NS): any distribution kernel is');
  }
  // The kernel has them; whether this process may make them is only known by trying.
  if (!isRoot()) return result('skip', 'namespaces: uts, pid, mnt exist; making one needs root, so not tried');
  const tried = run('unshare', ['--uts', '--pid', '--mount', '--fork', 'true']);
  if (tried === undefined) return result('skip', 'namespaces: uts, pid, mnt exist; not tried: no unshare command (util-linux)');
  if (tried.status === 0) return result('ok', 'namespaces: uts, pid, mnt (made one of each)');
  return result(
    'FAIL',
    'namespaces: cannot create them: ' + tried.output,
    'inside a container? give it CAP_SYS_ADMIN (docker run --privileged), or use a VM',
  );
}

/**
 * The controllers the kernel offers in the layout in use.
 * @param {'v1' | 'v2' | 'hybrid'} layout
 * @returns {string[]}
 */
function availableControllers(layout) {
  if (layout === 'v2') return fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').trim().split(/\s+/);
  // /proc/cgroups: name, hierarchy, cgroups, enabled. Hierarchy 0: not mounted as v1.
  return fs
    .readFileSync('/proc/cgroups', 'utf8')
    .split('\n')
    .map(function (line) {
      return line.split(/\s+/);
    })
    .filter(function (fields) {
      return fields[0] !== '' && fields[0] !== '#subsys_name' && fields[1] !== '0' && fields[3] === '1';
    })
    .map(function (fields) {
      return fields[0] || '';
    });
}

function checkCgroups() {
  if (!isLinux) return result('skip', 'cgroups: ' + NEEDS_LINUX);
  const layout = cgroupLayout();
  if (layout === undefined) {
    return result('FAIL', 'cgroups: none mounted at /sys/fs/cgroup', 'mount them: mount -t cgroup2 none /sys/fs/cgroup (systemd does this at boot)');
  }
  const name = layout === 'hybrid' ? 'cgroup v1 (hybrid)' : 'cgroup ' + layout;
  const available = availableControllers(layout);
  const missing = ['memory', 'pids', 'cpu'].filter(function (controller) {
    return available.indexOf(controller) === -1;
  });
  if (missing.indexOf('memory') !== -1) {
    return result('FAIL', name + ': no memory controller', 'stage 5 needs it: add cgroup_enable=memory to the kernel command line (Raspberry Pi OS leaves it off) and reboot');
  }
  if (missing.length > 0) {
    return result('warn', name + ': memory, but no ' + missing.join(', '), 'stage 5 runs; its --' + missing.map(function (c) { return c === 'cpu' ? 'cpus' : c; }).join(' and --') + ' option cannot work here');
  }
  return result('ok', name + ': memory, pids, cpu');
}

function checkNode() {
  const version = process.versions.node;
  if (!atLeast(version, [20])) return result('FAIL', 'Node ' + version + ': too old', 'install Node 20 or newer: https://nodejs.org, or your distribution\'s nodejs package');
  // ava 7's own range (^20.19 || ^22.20 || ^24.12 || >=25): a release line's early versions lack what it uses.
  const major = numbers(version)[0] || 0;
  const forTests = major === 20 ? [20, 19] : major === 22 ? [22, 20] : major === 24 ? [24, 12] : major >= 25 ? [25] : undefined;
  if (forTests === undefined || !atLeast(version, forTests)) {
    const wanted = forTests === undefined ? '22.20 or 24.12 or newer' : forTests.join('.') + ' or newer';
    return result('warn', 'Node ' + version + ': the stages run; `pnpm test` needs ' + wanted + ' (ava)', 'update Node to ' + wanted);
  }
  return result('ok', 'Node ' + version);
}

function checkPnpm() {
  if (!isLinux) return result('skip', 'pnpm: ' + NEEDS_LINUX);
  const pnpm = run('pnpm', ['--version']);
  if (pnpm === undefined) return result('FAIL', 'pnpm: not installed', 'npm run setup (it installs pnpm 12, then the dependencies)');
  if (atLeast(pnpm.output, [12])) return result('ok', 'pnpm ' + pnpm.output);
  return result('FAIL', 'pnpm ' + pnpm.output + ': too old', 'npm install --global pnpm@12');
}

function checkDependencies() {
  if (!isLinux) return result('skip', 'dependencies: ' + NEEDS_LINUX);
  const install = 'pnpm install (or npm run setup, which installs pnpm first)';
  try {
    require.resolve('tsx/cjs', { paths: [ROOT] });
  } catch (error) {
    return result('FAIL', 'dependencies: not installed', install);
  }
  try {
    const koffi = require(require.resolve('koffi', { paths: [path.join(ROOT, 'packages', 'syscalls')] }));
    koffi.load('libc.so.6');
    return result('ok', 'dependencies installed (koffi loads libc)');
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return result('FAIL', 'dependencies: koffi does not load: ' + message, install + '; if it still fails: rm -rf node_modules && pnpm install');
  }
}

function checkRootfs() {
  if (!isLinux) return result('skip', 'default root filesystem: ' + NEEDS_LINUX);
  const images = path.resolve(process.env.SAMPLES_ROOTFS_DIR || path.join(ROOT, 'rootfs', 'images'));
  const tree = path.join(images, 'default');
  const shown = path.relative(ROOT, tree).indexOf('..') === 0 ? tree : path.relative(ROOT, tree);
  if (fs.existsSync(path.join(tree, '.samples-rootfs.json'))) return result('ok', 'default root filesystem: ' + shown);
  const missing = programsTheBuildNeeds().filter(function (program) {
    return !has(program);
  });
  if (missing.length > 0) {
    return result('FAIL', 'default root filesystem: not built, and the host lacks ' + missing.join(', '), 'install them (ps: procps, mount: util-linux), then pnpm rootfs build');
  }
  return result('warn', 'default root filesystem: not built yet', 'nothing to do: the first stage that needs it builds it (a second or so); or now: pnpm rootfs build');
}

/**
 * The host programs the default root filesystem cannot be built without, read from the
 * builder itself so that the list is never copied.
 * @returns {string[]}
 */
function programsTheBuildNeeds() {
  const source = fs.readFileSync(path.join(ROOT, 'rootfs', 'src', 'build.ts'), 'utf8');
  const list = /const REQUIRED = \[([^\]]*)\]/.exec(source);
  return list === null ? [] : (list[1] || '').split(',').map(function (name) {
    return name.trim().replace(/^'|'$/g, '');
  }).filter(Boolean);
}

function checkCompiler() {
  if (!isLinux) return result('skip', 'optional: a C compiler: ' + NEEDS_LINUX);
  const libc = run('cc', ['-print-file-name=libc.a']);
  if (libc === undefined) return result('warn', 'optional: no C compiler, for the chroot-escape exercise', 'install gcc and libc6-dev (Debian, Ubuntu) or gcc and glibc-static (Fedora)');
  if (!path.isAbsolute(libc.output)) return result('warn', 'optional: cc, but no static libc, for the chroot-escape exercise', 'install libc6-dev (Debian, Ubuntu) or glibc-static (Fedora)');
  return result('ok', 'optional: cc with a static libc, for the chroot-escape exercise');
}

function checkNetwork() {
  if (!isLinux) return result('skip', 'stage 6: veth and bridge: ' + NEEDS_LINUX);
  if (!isRoot()) return result('skip', 'stage 6: veth and bridge exist; making them needs root, so not tried');
  if (!has('ip') || !has('unshare')) {
    return result('warn', 'stage 6: veth and bridge not tried: no ip command', 'install iproute2 (stage 6 page and tests use ip; the runtime itself does not)');
  }
  // In a scratch network namespace of its own: the host's network is not touched.
  const tried = run('unshare', ['--net', 'sh', '-c', 'ip link add doctor0 type bridge && ip link add doctor1 type veth peer name doctor2']);
  if (tried !== undefined && tried.status === 0) return result('ok', 'stage 6: veth and bridge (made one of each, in a scratch network namespace)');
  return result(
    'warn',
    'stage 6: cannot make a veth pair or a bridge: ' + (tried === undefined ? 'unshare failed' : tried.output),
    'use a kernel with CONFIG_VETH and CONFIG_BRIDGE (distribution kernels have them); meanwhile stage 6 runs with --network none or host',
  );
}

function checkSeccomp() {
  if (!isLinux) return result('skip', 'stage 7: seccomp filters: ' + NEEDS_LINUX);
  // The kernel lists the filters' actions here when it has them (CONFIG_SECCOMP_FILTER).
  if (fs.existsSync('/proc/sys/kernel/seccomp/actions_avail')) return result('ok', 'stage 7: seccomp filters');
  return result(
    'warn',
    'stage 7: this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)',
    'use a distribution kernel (they all have them); meanwhile stage 7 runs with --security-opt seccomp=unconfined',
  );
}

function checkNetworkTools() {
  if (!isLinux) return result('skip', 'optional: busybox: ' + NEEDS_LINUX);
  if (has('busybox')) return result('ok', 'optional: busybox, for a web server and clients in the default root filesystem (stage 6)');
  return result('warn', 'optional: no busybox, for a web server and clients in the default root filesystem (stage 6)', 'install busybox-static, then pnpm rootfs build --force');
}

function checkTmux() {
  if (!isLinux) return result('skip', 'optional: tmux: ' + NEEDS_LINUX);
  if (has('tmux')) return result('ok', 'optional: tmux, to watch the host beside the container');
  return result('warn', 'optional: no tmux, to watch the host beside the container', 'a second terminal does as well; or install tmux');
}

const checks = [checkLinux, checkKernel, checkLibc, checkRoot, checkNamespaces, checkCgroups, checkNetwork, checkSeccomp, checkNode, checkPnpm, checkDependencies, checkRootfs, checkNetworkTools, checkCompiler, checkTmux];

function main() {
  process.stdout.write('Is this machine ready for the workshop?\n\n');
  /** @type {Result[]} */
  const results = checks.map(function (check) {
    return check();
  });
  results.forEach(function (each) {
    process.stdout.write('  ' + (each.status + '    ').slice(0, 6) + each.label + '\n');
    if (each.fix !== undefined) process.stdout.write('        ' + (each.status === 'FAIL' ? 'fix' : 'tip') + ': ' + each.fix + '\n');
  });
  const failed = results.filter(function (each) {
    return each.status === 'FAIL';
  }).length;
  process.stdout.write(
    failed === 0
      ? '\nReady: every required check passed.\n'
      : '\nNot ready: ' + failed + ' check' + (failed === 1 ? '' : 's') + ' failed. Apply the fixes above, then run npm run doctor again.\n',
  );
  process.exitCode = failed === 0 ? 0 : 1;
}

if (require.main === module) main();
