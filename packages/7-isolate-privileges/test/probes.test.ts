// The proof of stage 7, from the host's side: each rule has a probe, a few harmless
// lines of shell, and every probe runs in a stage 6 container and in a stage 7
// container. It must work in stage 6 and be refused in stage 7, so a rule that stops
// working fails here. Then --privileged (everything back but the namespaces and the
// limits) and --security-opt seccomp=unconfined (only the filter goes).
//
// No probe changes the host, whatever the rules do: a value is written back as it was
// read, mounts go on throwaway folders inside the container, device nodes are opened
// read-only and never read, the clock is never set, no module is loaded. What a probe
// needs from the host (an IPC queue, a compiled program) the test makes, and removes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { canCompileStatic, compileStatic, isRoot, rootTest, runStage, testIf } from '@samples/testing';
import { MASKED_PATHS, READONLY_PATHS } from '../src/paths';
import { fixtures, securityFields, someBlockDevice, stage, stage6 } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const DOCKER_MASK = '00000000a80425fb';
const host = securityFields(fs.readFileSync('/proc/self/status', 'utf8'));
/** The hard limit on open files this test runs with: stage 6's command gets it (Node raised its soft limit to it). */
const hostFiles = /^Max open files\s+\d+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '';

// #region probes
/** The seccomp probe (fixtures/seccomp-probe.c), compiled into the root filesystem's /tmp for these tests. */
const seccompProbe = `/tmp/seccomp-probe-${process.pid}`;
/** A System V message queue of the host, made for these tests (its id, once made). */
let hostQueue = '';
/** A block device of this machine; where it has none, a number no driver has (opening it: ENXIO, unless a rule says EPERM first). */
const block = someBlockDevice();
/** sysfs where the container has none (stage 6) is mounted on a throwaway folder first. */
const sysfs = 'd=$(mktemp -d -p /newtemp); mount -t sysfs sysfs "$d" 2>/dev/null || d=/sys';

interface Probe {
  /** The rule, as the page's table names it. */
  readonly rule: string;
  /** Lines of sh run in the container; their output, stdout and stderr, is the result. */
  readonly script: () => string;
  /** The result in stage 6: the probe works. */
  readonly works: () => string | RegExp;
  /** The result in stage 7: refused. */
  readonly refused: () => string | RegExp;
  /** Which of the two --privileged gives, and --security-opt seccomp=unconfined. */
  readonly privileged: 'works' | 'refused';
  readonly unconfined: 'works' | 'refused';
  /** Commands the root filesystem must have; 'seccomp-probe': a C compiler on the host. */
  readonly needs?: readonly string[];
}

/** Whether the host's `file` has a first byte (read alone: /proc/kcore is the size of the kernel's address space). */
function hasContent(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    return fs.statSync(file).isFile() && fs.readSync(fd, Buffer.alloc(1), 0, 1, null) === 1;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
const hostFilesWithContent = MASKED_PATHS.filter(hasContent);
const hostFoldersWithContent = MASKED_PATHS.filter((folder) => fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory() && fs.readdirSync(folder).length > 0);
const readonlyPresent = READONLY_PATHS.filter((file) => fs.existsSync(file));

const probes: Record<string, Probe> = {
  capabilities: {
    rule: "capabilities: Docker's 14, in every set",
    script: () => "grep -E '^Cap(Prm|Eff|Bnd|Amb):' /proc/self/status",
    works: () => `CapPrm:\t${host.CapBnd}\nCapEff:\t${host.CapBnd}\nCapBnd:\t${host.CapBnd}\nCapAmb:\t0000000000000000\n`,
    refused: () => `CapPrm:\t${DOCKER_MASK}\nCapEff:\t${DOCKER_MASK}\nCapBnd:\t${DOCKER_MASK}\nCapAmb:\t0000000000000000\n`,
    privileged: 'works',
    unconfined: 'refused',
  },
  'no-new-privs': {
    rule: 'no_new_privs',
    script: () => 'grep NoNewPrivs /proc/self/status',
    works: () => 'NoNewPrivs:\t0\n',
    refused: () => 'NoNewPrivs:\t1\n',
    privileged: 'works',
    unconfined: 'refused',
  },
  'seccomp-mode': {
    rule: 'seccomp: a filter',
    script: () => "grep '^Seccomp:' /proc/self/status",
    works: () => 'Seccomp:\t0\n',
    refused: () => 'Seccomp:\t2\n',
    privileged: 'works',
    unconfined: 'works',
  },
  'seccomp-calls': {
    // unshare(0) asks for no capability: only the filter can refuse it.
    rule: 'seccomp: unshare(0), personality(ADDR_NO_RANDOMIZE)',
    script: () => `${seccompProbe} unshare personality`,
    works: () => 'unshare ok\npersonality ok\n',
    refused: () => 'unshare EPERM\npersonality EPERM\n',
    privileged: 'works',
    unconfined: 'works',
    needs: ['seccomp-probe'],
  },
  ptrace: {
    // Not refused, as in Docker on kernels since 4.8: the one row that stays open.
    rule: 'ptrace of its own child: allowed',
    script: () => `${seccompProbe} ptrace`,
    works: () => 'ptrace ok\n',
    refused: () => 'ptrace ok\n',
    privileged: 'works',
    unconfined: 'works',
    needs: ['seccomp-probe'],
  },
  'proc-sys': {
    // vm.swappiness is the host's own, not a namespace's: written back as read.
    rule: '/proc/sys read-only',
    script: () => 'v=$(cat /proc/sys/vm/swappiness) && echo "$v" > /proc/sys/vm/swappiness && echo written',
    works: () => 'written\n',
    refused: () => /^sh: \d+: cannot create \/proc\/sys\/vm\/swappiness: Read-only file system\n$/,
    privileged: 'works',
    unconfined: 'refused',
  },
  sys: {
    // printk's "time" parameter is the host's: written back as read.
    rule: '/sys read-only',
    script: () => `${sysfs}; v=$(cat "$d/module/printk/parameters/time") && echo "$v" > "$d/module/printk/parameters/time" && echo written`,
    works: () => 'written\n',
    refused: () => /cannot create \/sys\/module\/printk\/parameters\/time: Read-only file system\n$/,
    privileged: 'works',
    unconfined: 'refused',
    needs: ['mktemp', 'mount'],
  },
  'masked-files': {
    rule: `masked files (${hostFilesWithContent.join(', ')})`,
    // Its first byte at most: /proc/kcore is the size of the kernel's address space.
    script: () => hostFilesWithContent.map((file) => `echo "${file} $(head -c 1 ${file} | wc -c)"`).join('; '),
    works: () => hostFilesWithContent.map((file) => `${file} 1\n`).join(''),
    refused: () => hostFilesWithContent.map((file) => `${file} 0\n`).join(''),
    privileged: 'works',
    unconfined: 'refused',
    needs: ['head', 'wc'],
  },
  'masked-folders': {
    rule: `masked folders (${hostFoldersWithContent.join(', ')})`,
    script: () => `${sysfs}; ${hostFoldersWithContent.map((folder) => `echo "${folder} $(ls -A ${folder.replace(/^\/sys\//, '$d/')} | wc -l)"`).join('; ')}`,
    works: () => new RegExp(`^${hostFoldersWithContent.map((folder) => `${folder} [1-9]\\d*\\n`).join('')}$`),
    refused: () => hostFoldersWithContent.map((folder) => `${folder} 0\n`).join(''),
    privileged: 'works',
    unconfined: 'refused',
    needs: ['mktemp', 'mount', 'wc'],
  },
  'readonly-paths': {
    rule: `read-only ${readonlyPresent.join(', ')}`,
    script: () => readonlyPresent.map((file) => `echo "${file} $(findmnt -n -o VFS-OPTIONS --mountpoint ${file} | cut -d, -f1)"`).join('; '),
    works: () => readonlyPresent.map((file) => `${file} \n`).join(''),
    refused: () => readonlyPresent.map((file) => `${file} ro\n`).join(''),
    privileged: 'works',
    unconfined: 'refused',
    needs: ['findmnt', 'cut'],
  },
  ipc: {
    rule: 'IPC namespace',
    script: () => `echo "ours $(ipcs -q | grep -cw ${hostQueue})"; echo "all $(ipcs -q -m -s | grep -c '^0x')"`,
    works: () => /^ours 1\nall [1-9]\d*\n$/,
    refused: () => 'ours 0\nall 0\n',
    privileged: 'refused', // namespaces stay, in Docker too
    unconfined: 'refused',
    needs: ['ipcs'],
  },
  'cgroup-namespace': {
    rule: 'cgroup namespace',
    script: () => 'cat /proc/self/cgroup',
    works: () => /:\/\S*container-[0-9a-f]{8}\n/,
    refused: () => /^(\d+:[^:\n]*:\/\n)+$/,
    privileged: 'refused',
    unconfined: 'refused',
  },
  devices: {
    rule: 'device rules: a block node, and /dev/kmsg (1:11), made with mknod, opened read-only',
    script: () =>
      [
        `mknod /dev/probe-block b ${block?.join(' ') ?? '60 0'} && true < /dev/probe-block && echo block opened`,
        'mknod /dev/probe-kmsg c 1 11 && true < /dev/probe-kmsg && echo kmsg opened',
      ].join('; '),
    works: () => (block === undefined ? /^sh: \d+: cannot open \/dev\/probe-block: No such device or address\nkmsg opened\n$/ : 'block opened\nkmsg opened\n'),
    refused: () => /^sh: \d+: cannot open \/dev\/probe-block: Operation not permitted\nsh: \d+: cannot open \/dev\/probe-kmsg: Operation not permitted\n$/,
    privileged: 'works',
    unconfined: 'refused',
    needs: ['mknod'],
  },
  'open-files': {
    rule: 'rlimits: 1024 open files',
    script: () => 'ulimit -n',
    works: () => `${hostFiles}\n`,
    refused: () => '1024\n',
    privileged: 'refused', // limits stay, in Docker too
    unconfined: 'refused',
  },
  'net-admin': {
    // In the container's own network namespace: lo's MTU, set to what it is.
    rule: 'CAP_NET_ADMIN: ip link set lo mtu 65536',
    script: () => 'ip link set lo mtu 65536 && echo changed',
    works: () => 'changed\n',
    refused: () => 'RTNETLINK answers: Operation not permitted\n',
    privileged: 'works',
    unconfined: 'refused',
    needs: ['ip'],
  },
  mount: {
    rule: 'CAP_SYS_ADMIN and seccomp: mount a tmpfs on a throwaway folder',
    script: () => 'd=$(mktemp -d -p /newtemp) && mount -t tmpfs probe "$d" && echo mounted',
    works: () => 'mounted\n',
    refused: () => /^mount: \/newtemp\/tmp\.\w+: permission denied\.\n/,
    privileged: 'works',
    unconfined: 'refused',
    needs: ['mktemp', 'mount'],
  },
  hostname: {
    // Its own UTS namespace, given the name it has.
    rule: 'CAP_SYS_ADMIN and seccomp: sethostname',
    script: () => 'hostname "$(hostname)" && echo set',
    works: () => 'set\n',
    refused: () => 'hostname: you must be root to change the host name\n',
    privileged: 'works',
    unconfined: 'refused',
  },
  chown: {
    // One of the 14: stage 7's root still owns the container's files.
    rule: 'CAP_CHOWN, one of the 14: kept',
    script: () => 'f=$(mktemp -p /newtemp) && chown 65534 "$f" && echo chowned',
    works: () => 'chowned\n',
    refused: () => 'chowned\n',
    privileged: 'works',
    unconfined: 'works',
    needs: ['mktemp', 'chown'],
  },
};
// #endregion

/** Every probe in one shell script, each output after a line `@@ NAME`. */
function script(names: readonly string[]): string {
  return names.map((name) => `echo '@@ ${name}'; (${probes[name]!.script()}) 2>&1`).join('\n');
}

function results(output: string): Map<string, string> {
  const parts = output.split(/^@@ (\S+)\n/m).slice(1);
  const map = new Map<string, string>();
  for (let i = 0; i < parts.length; i += 2) map.set(parts[i]!, parts[i + 1]!);
  return map;
}

const inRootfs = (command: string) => ['usr/sbin', 'usr/bin', 'sbin', 'bin'].some((dir) => fs.existsSync(path.join(rootfs, dir, command)));
const canCompile = isRoot && canCompileStatic();
const hasIpcmk = spawnSync('sh', ['-c', 'command -v ipcmk && command -v ipcrm']).status === 0;

/** Why a probe cannot run here, or undefined. */
function missing(probe: Probe): string | undefined {
  for (const need of probe.needs ?? []) {
    if (need === 'seccomp-probe' && !canCompile) return 'needs cc and a static libc: apt-get install gcc libc6-dev';
    if (need !== 'seccomp-probe' && isRoot && !inRootfs(need)) return `needs ${need} in the default root filesystem: install it on the host, then pnpm rootfs build --force`;
  }
  if (probe === probes.ipc && !hasIpcmk) return 'needs ipcmk and ipcrm on the host: apt-get install util-linux';
  return undefined;
}

const runnable = Object.keys(probes).filter((name) => missing(probes[name]!) === undefined);
const runs = new Map<string, Map<string, string>>();

if (isRoot) {
  anyTest.before('the probe program compiled, a host IPC queue made; each stage run once with every probe', () => {
    if (canCompile) compileStatic(path.join(fixtures, 'seccomp-probe.c'), path.join(rootfs, seccompProbe));
    if (hasIpcmk) {
      const made = spawnSync('ipcmk', ['--queue'], { encoding: 'utf8' });
      hostQueue = /(\d+)/.exec(made.stdout)?.[1] ?? '';
      if (hostQueue === '') throw new Error(`ipcmk --queue said: ${made.stdout}${made.stderr}`);
    }
    const text = script(runnable);
    const start = (name: string, dir: string, options: string[]) => {
      const result = runStage(dir, ['--network', 'none', ...options, 'sh', '-c', text]);
      if (result.status !== 0) throw new Error(`${name} ended with ${result.status}: ${result.stderr}`);
      runs.set(name, results(result.stdout));
    };
    start('stage 6', stage6, []);
    start('stage 7', stage, []);
    start('--privileged', stage, ['--privileged']);
    start('seccomp=unconfined', stage, ['--security-opt', 'seccomp=unconfined']);
  });

  anyTest.after.always('the probe program and the host IPC queue removed', () => {
    fs.rmSync(path.join(rootfs, seccompProbe), { force: true });
    if (hostQueue !== '') spawnSync('ipcrm', ['--queue-id', hostQueue]);
  });
}

function check(t: ExecutionContext, run: string, name: string, expected: string | RegExp) {
  const output = runs.get(run)?.get(name);
  if (output === undefined) return t.fail(`${run} printed nothing for ${name}`);
  if (typeof expected === 'string') t.is(output, expected, run);
  else t.regex(output, expected, run);
}

for (const [name, probe] of Object.entries(probes)) {
  const reason = missing(probe);
  const kept = String(probe.works()) === String(probe.refused());
  testIf(reason === undefined, reason ?? '', rootTest)(`${probe.rule}: ${kept ? 'the same in stages 6 and 7' : 'works in stage 6, refused in stage 7'}`, (t) => {
    check(t, 'stage 6', name, probe.works());
    check(t, 'stage 7', name, probe.refused());
    check(t, '--privileged', name, probe[probe.privileged]());
    check(t, 'seccomp=unconfined', name, probe[probe.unconfined]());
  });
}
