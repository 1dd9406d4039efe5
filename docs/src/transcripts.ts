// The runs the pages show, by name (`<!-- transcript: NAME -->`). Each is re-run by
// `pnpm docs:build` and by the docs test, so a page never shows output the code no
// longer gives. Commands run from the repository's root; `<repo>` is its folder.
import { spawnSync } from 'node:child_process';
import { resolveRootfs } from '@samples/rootfs';
import { cgroupLayout } from '../../packages/5-isolate-cgroup/src/cgroup/layout.cjs';
import { fenced } from './generate';
import { normaliser, type Machine } from './normalise';
import { record, type Step } from './session';

export interface Transcript {
  /** Creating namespaces needs root: without it the transcript is neither re-run nor checked. */
  readonly root: boolean;
  /** What it needs besides the project's requirements: the chroot escape is compiled here. */
  readonly needsStaticCompiler?: true;
  /** Commands it runs that the project does not require, with the Debian package of each. */
  readonly needsCommands?: Readonly<Record<string, string>>;
  /**
   * Shows cgroup files, which differ between v1 and v2: recorded and checked on this
   * kind only. The v2 ones also show where the runtime's own cgroup is, which differs
   * between v2 machines: they are recorded and checked in the project's v2 VM only.
   */
  readonly cgroup?: 'v1' | 'v2';
  readonly steps: readonly Step[];
}

/** The chroot escape (packages/3-isolate-root-fs/escape), built into the root filesystem. */
const buildEscape: Step = {
  host: 'cc -static -o rootfs/images/default/tmp/chroot-escape packages/3-isolate-root-fs/escape/chroot-escape.c',
};
const removeEscape: Step = { host: 'rm -r rootfs/images/default/tmp/chroot-escape rootfs/images/default/.escape' };

export const transcripts: Record<string, Transcript> = {
  '0-basic': {
    root: false,
    steps: [
      { run: 'pnpm -s -C packages/0-basic start hostname' },
      { run: `printf 'one\\ntwo\\n' | pnpm -s -C packages/0-basic start wc -l` },
      { run: `pnpm -s -C packages/0-basic start sh -c 'exit 42'; echo "exit status $?"` },
      { run: 'pnpm -s -C packages/0-basic start no-such-command; echo "exit status $?"' },
    ],
  },
  '1-isolate-uts': {
    root: true,
    steps: [
      { host: 'hostname; readlink /proc/self/ns/uts' },
      { run: `pnpm -s -C packages/1-isolate-uts start sh -c 'hostname container-1; hostname; readlink /proc/self/ns/uts'` },
      { host: 'hostname' },
    ],
  },
  '2-isolate-process': {
    root: true,
    steps: [
      { host: 'readlink /proc/self/ns/pid' },
      { start: 'pnpm -s -C packages/2-isolate-process start --verbose bash' },
      { inside: 'hostname' },
      { inside: 'echo "my PID is $$"' },
      { inside: 'readlink /proc/self/ns/pid' },
      { inside: 'exit' },
      { host: 'hostname' },
    ],
  },
  '2-sh-exit': {
    root: true,
    steps: [
      { run: `pnpm -s -C packages/0-basic start sh -ic 'exit 3'; echo "exit status $?"` },
      { run: `pnpm -s -C packages/2-isolate-process start sh -ic 'exit 3'; echo "exit status $?"` },
      { run: `pnpm -s -C packages/2-isolate-process start bash -ic 'exit 3'; echo "exit status $?"` },
      { run: 'pnpm -s -C packages/3-isolate-root-fs start ps -o pid,pgid,sid,tpgid,comm' },
    ],
  },
  '3-isolate-root-fs': {
    root: true,
    steps: [
      { start: 'pnpm -s -C packages/3-isolate-root-fs start --verbose bash' },
      { inside: 'ps' },
      { inside: 'ls <repo>' },
      { host: 'grep -c <repo>/rootfs/images/default /proc/self/mountinfo' },
      { inside: 'exit' },
      { host: 'grep -c <repo>/rootfs/images/default /proc/self/mountinfo' },
    ],
  },
  '3-chroot-escape': {
    root: true,
    needsStaticCompiler: true,
    steps: [
      buildEscape,
      { run: 'pnpm -s -C packages/3-isolate-root-fs start /tmp/chroot-escape /bin/ls <repo>/packages' },
      removeEscape,
    ],
  },
  '4-isolate-mount': {
    root: true,
    steps: [
      { host: 'grep -c newtemp /proc/self/mountinfo' },
      { start: 'pnpm -s -C packages/4-isolate-mount start --verbose bash' },
      { inside: `mount | cut -d' ' -f1-5` },
      { inside: 'touch /newtemp/hello; ls /newtemp' },
      { inside: 'df -h /newtemp' },
      { host: 'grep -c newtemp /proc/self/mountinfo' },
      { host: 'ls -A rootfs/images/default/newtemp | wc -l' },
    ],
  },
  '4-chroot-escape': {
    root: true,
    needsStaticCompiler: true,
    steps: [
      buildEscape,
      { run: 'pnpm -s -C packages/4-isolate-mount start /tmp/chroot-escape /bin/ls <repo>/packages; echo "exit status $?"' },
      removeEscape,
    ],
  },
  '5-isolate-cgroup': {
    root: true,
    cgroup: 'v1',
    steps: [
      { start: 'pnpm -s -C packages/5-isolate-cgroup start --verbose --memory 100m --pids 20 bash' },
      { host: 'cat <cgroup:memory>/memory.limit_in_bytes <cgroup:pids>/pids.max' },
      { inside: 'exit' },
      { host: 'ls <cgroup:memory>' },
    ],
  },
  '5-isolate-cgroup-v2': {
    root: true,
    cgroup: 'v2',
    steps: [
      { start: 'pnpm -s -C packages/5-isolate-cgroup start --verbose --memory 100m --pids 20 bash' },
      { host: 'cat <cgroup>/memory.max <cgroup>/pids.max' },
      { host: 'cat /sys/fs/cgroup/cgroup.subtree_control' },
      { inside: 'exit' },
      { host: 'ls <cgroup>' },
    ],
  },
  '6-network-none': {
    root: true,
    needsCommands: { ip: 'iproute2' },
    steps: [{ run: `pnpm -s -C packages/6-isolate-network start --network none sh -c 'ip -br link; ip -br addr; ip route'` }],
  },
  '6-isolate-network': {
    root: true,
    // The --verbose trace names the cgroup's folders, which differ between v1 and v2.
    cgroup: 'v1',
    needsCommands: { ip: 'iproute2', nft: 'nftables' },
    steps: [
      { host: 'ip -br link show samples0; cat /proc/sys/net/ipv4/ip_forward' },
      { start: 'pnpm -s -C packages/6-isolate-network start --verbose bash' },
      { inside: 'ip -4 -br addr; ip route' },
      { host: 'ip -4 -br addr show samples0; ip -br link show master samples0' },
      { host: 'ip route show 10.22.0.0/24; cat /proc/sys/net/ipv4/ip_forward' },
      { host: 'nft list table ip samples0' },
      { inside: 'exit' },
      { host: 'ip -br link show samples0; cat /proc/sys/net/ipv4/ip_forward; nft list ruleset' },
    ],
  },
  '6-publish': {
    root: true,
    needsCommands: { busybox: 'busybox-static', curl: 'curl' },
    steps: [
      { start: 'pnpm -s -C packages/6-isolate-network start -p 8080:80 bash' },
      { inside: `echo '<h1>hello from the container</h1>' > /newtemp/index.html` },
      // Without -f, httpd puts itself in the background: no job whose end bash reports
      // (sometimes, depending on timing) at the next prompt.
      { inside: 'httpd -p 80 -h /newtemp' },
      { host: 'curl -s localhost:8080' },
      { inside: 'pkill httpd' },
      { host: 'curl -sS localhost:8080' },
    ],
  },
  '7-isolate-privileges': {
    root: true,
    // The --verbose trace names the cgroup's folders, which differ between v1 and v2.
    cgroup: 'v1',
    needsCommands: { capsh: 'libcap2-bin', ipcs: 'util-linux' },
    steps: [
      { start: 'pnpm -s --filter 7-isolate-privileges start --verbose --network none bash' },
      { inside: 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status' },
      { inside: 'capsh --decode=00000000a80425fb' },
      { host: 'cat <cgroup:devices>/devices.list' },
      { inside: 'v=$(cat /proc/sys/vm/swappiness); echo "$v" > /proc/sys/vm/swappiness' },
      { inside: 'mount -t tmpfs none /newtemp' },
      { inside: 'mknod /dev/disk b 8 0 && true < /dev/disk' },
      { inside: 'cut -d: -f3 /proc/self/cgroup | sort -u; ipcs -q' },
      { inside: 'exit' },
    ],
  },
  '7-options': {
    root: true,
    needsCommands: { ip: 'iproute2' },
    steps: [
      { run: `pnpm -s --filter 7-isolate-privileges start --network none --user nobody sh -c 'id; grep CapEff /proc/self/status'` },
      { run: `pnpm -s --filter 7-isolate-privileges start --network none --read-only sh -c 'touch /file; touch /newtemp/file && echo "/newtemp: written"'` },
      { run: `pnpm -s --filter 7-isolate-privileges start --network none --cap-drop ALL --cap-add NET_ADMIN sh -c 'grep CapEff /proc/self/status; ip link set lo mtu 1500 && echo "lo: mtu 1500"'` },
      { run: `pnpm -s --filter 7-isolate-privileges start --network none --security-opt seccomp=unconfined grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status` },
      { run: `pnpm -s --filter 7-isolate-privileges start --network none --privileged sh -c 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status; mount -t tmpfs none /newtemp && echo mounted'` },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --user postgres true; echo "exit status $?"' },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --cap-add SUPERPOWER true; echo "exit status $?"' },
    ],
  },
  '7-seccomp-filter': {
    root: false,
    steps: [{ run: 'node --require tsx/cjs packages/7-isolate-privileges/scripts/program.ts seccomp' }],
  },
  '7-device-program': {
    root: false,
    steps: [{ run: 'node --require tsx/cjs packages/7-isolate-privileges/scripts/program.ts devices' }],
  },
  '7-escape': {
    root: true,
    needsStaticCompiler: true,
    steps: [
      { run: 'cc -static -o rootfs/images/default/tmp/open-by-handle packages/7-isolate-privileges/escape/open-by-handle.c' },
      { run: `echo 'a file of the host, beside the root filesystem' > rootfs/images/outside.txt` },
      { run: 'pnpm -s --filter 6-isolate-network start --network none /tmp/open-by-handle read "$(rootfs/images/default/tmp/open-by-handle handle rootfs/images/outside.txt)"' },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --network none /tmp/open-by-handle read "$(rootfs/images/default/tmp/open-by-handle handle rootfs/images/outside.txt)"; echo "exit status $?"' },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --network none --security-opt seccomp=unconfined /tmp/open-by-handle read "$(rootfs/images/default/tmp/open-by-handle handle rootfs/images/outside.txt)"; echo "exit status $?"' },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --network none --cap-add DAC_READ_SEARCH /tmp/open-by-handle read "$(rootfs/images/default/tmp/open-by-handle handle rootfs/images/outside.txt)"; echo "exit status $?"' },
      { run: 'pnpm -s -C packages/7-isolate-privileges start --network none --cap-add DAC_READ_SEARCH --security-opt seccomp=unconfined /tmp/open-by-handle read "$(rootfs/images/default/tmp/open-by-handle handle rootfs/images/outside.txt)"' },
      { run: 'rm rootfs/images/default/tmp/open-by-handle rootfs/images/outside.txt' },
    ],
  },
  '8-isolate-terminal': {
    root: true,
    // The --verbose trace names the cgroup's folders, which differ between v1 and v2.
    cgroup: 'v1',
    steps: [
      { start: 'pnpm -s -C packages/8-isolate-terminal start --verbose --network none bash' },
      { inside: 'tty; stty size' },
      { inside: 'ps -o pid,pgid,sid,tty,comm -p 1' },
      { inside: 'grep devpts /proc/mounts; ls /dev/pts' },
      { inside: 'exit' },
    ],
  },
  '8-motivation': {
    root: true,
    steps: [
      { run: `pnpm -s -C packages/7-isolate-privileges start --network none sh -ic 'exit 3'; echo "exit status $?"` },
      { run: `pnpm -s -C packages/8-isolate-terminal start --network none sh -ic 'exit 3'; echo "exit status $?"` },
      { run: `pnpm -s -C packages/7-isolate-privileges start --network none sh -c 'tty; exec ps -o pid,pgid,sid,tpgid,comm'` },
      { run: `pnpm -s -C packages/8-isolate-terminal start --network none sh -c 'tty; exec ps -o pid,pgid,sid,tpgid,comm'` },
    ],
  },
  '8-pipes': {
    root: true,
    steps: [
      { run: 'seq 100000 | pnpm -s -C packages/8-isolate-terminal start --network none wc -l' },
      { run: 'pnpm -s -C packages/8-isolate-terminal start --network none seq 3 | od -c' },
      { run: 'pnpm -s -C packages/8-isolate-terminal start --network none --no-tty tty; echo "exit status $?"' },
      { run: 'echo | pnpm -s -C packages/8-isolate-terminal start --tty true; echo "exit status $?"' },
    ],
  },
  '8-escape': {
    root: true,
    needsStaticCompiler: true,
    steps: [
      { run: 'cc -static -o rootfs/images/default/tmp/type-into packages/8-isolate-terminal/escape/type-into.c' },
      { run: `pnpm -s -C packages/7-isolate-privileges start --network none /tmp/type-into 'echo typed by the container'; read -t 1 line; echo "the host's shell read: \${line:-nothing}"` },
      { run: `pnpm -s -C packages/8-isolate-terminal start --network none /tmp/type-into 'echo typed by the container'; read -t 1 line; echo "the host's shell read: \${line:-nothing}"` },
      { run: 'rm rootfs/images/default/tmp/type-into' },
    ],
  },
  '9-isolate-image': {
    root: true,
    // The --verbose trace names the cgroup's folders, which differ between v1 and v2.
    cgroup: 'v1',
    steps: [
      { start: 'pnpm -s -C packages/9-isolate-image start --verbose --network none bash' },
      { inside: 'findmnt -n -o FSTYPE,OPTIONS /' },
      { inside: 'rm -rf /usr/bin; echo new > /root/note; ls /' },
      { host: 'ls -d rootfs/containers/*' },
      { host: 'find rootfs/containers/*/upper -mindepth 1 -printf "%y %m %p\\n" | sort' },
      { host: 'ls rootfs/images/default/usr/bin | wc -l; ls rootfs/images/default/root/note' },
      { host: 'grep -c rootfs/containers /proc/self/mountinfo' },
      { inside: 'exit' },
      { host: 'ls -A rootfs/containers | wc -l' },
    ],
  },
  '9-keep': {
    root: true,
    steps: [
      { run: `pnpm -s -C packages/9-isolate-image start --network none --keep sh -c 'rm /etc/hostname; echo hi > /root/note'` },
      { run: 'dir=$(ls -d rootfs/containers/*); find "$dir/upper" -mindepth 1 -printf "%y %p\\n" | sort; rm -rf "$dir"' },
    ],
  },
  '9-saved-image': {
    root: true,
    steps: [
      { run: 'node --require tsx/cjs packages/9-isolate-image/scripts/example-image.ts /tmp/greeter.tar; tar -tf /tmp/greeter.tar' },
      { run: 'pnpm -s rootfs import /tmp/greeter.tar greeter' },
      { run: 'pnpm -s rootfs list' },
      { run: 'pnpm -s -C packages/9-isolate-image start --network none --rootfs greeter' },
      { start: 'pnpm -s -C packages/9-isolate-image start --network none --rootfs greeter bash' },
      { inside: 'rm -rf /usr /etc /srv /bin /sbin /lib* /root' },
      { inside: 'ls /; echo /*' },
      { inside: 'exit' },
      { run: 'pnpm -s -C packages/9-isolate-image start --network none --rootfs greeter' },
      { run: 'pnpm -s -C packages/8-isolate-terminal start --network none --rootfs greeter true; echo "exit status $?"' },
      { run: 'pnpm -s rootfs remove greeter; rm /tmp/greeter.tar' },
    ],
  },
  '5-host-memory': {
    root: true,
    steps: [
      { run: 'pnpm -s -C packages/5-isolate-cgroup start --memory 100m head -1 /proc/meminfo > /tmp/inside' },
      { run: 'head -1 /proc/meminfo | diff - /tmp/inside && echo "the same MemTotal inside and out"; rm /tmp/inside' },
    ],
  },
  '5-out-of-memory': {
    root: true,
    steps: [
      { run: `head -c 300M /dev/zero | pnpm -s -C packages/5-isolate-cgroup start --memory 100m tail > /dev/null; echo "exit status $?"` },
    ],
  },
};

/** Why this machine cannot re-run the transcript called `name` now, or undefined when it can. */
export function whyNot(name: string): string | undefined {
  const transcript = transcripts[name];
  if (transcript === undefined) throw new Error(`no transcript named "${name}": add it to docs/src/transcripts.ts`);
  if (transcript.root && process.getuid?.() !== 0) return 'needs root';
  if (transcript.needsStaticCompiler && !canCompileStatic()) return 'needs cc and a static libc (gcc, libc6-dev)';
  const missing = Object.entries(transcript.needsCommands ?? {}).filter(([command]) => !hasCommand(command));
  if (missing.length > 0) return `needs ${missing.map(([command, pkg]) => `${command} (${pkg})`).join(', ')}`;
  if (transcript.cgroup === 'v2' && process.env.CGROUP2_VM !== '1') {
    return `recorded in the cgroup v2 VM: scripts/cgroup2-vm/run.sh -g /outer -- pnpm docs:build ${name}`;
  }
  const layout = cgroupLayout() === 'v2' ? 'v2' : 'v1';
  if (transcript.cgroup !== undefined && transcript.cgroup !== layout) return `shows cgroup ${transcript.cgroup} files; this machine has ${layout}`;
  return undefined;
}

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function canCompileStatic(): boolean {
  return spawnSync('sh', ['-c', 'echo "int main(void) { return 0; }" | cc -static -x c -o /dev/null -']).status === 0;
}

/** Runs the transcript called `name` and returns it as a page shows it. */
export async function runTranscript(name: string, repo: string, machine: Machine): Promise<string> {
  const transcript = transcripts[name];
  if (transcript === undefined) throw new Error(`no transcript named "${name}": add it to docs/src/transcripts.ts`);
  // The default root filesystem is built on first use, which a transcript should not show.
  if (transcript.root) resolveRootfs(undefined, { quiet: true });
  const { terminal, host } = await record(transcript.steps, repo);
  const normalise = normaliser(machine);
  const show = (lines: string[]) => fenced(normalise(lines.join('\n')), 'console');
  const recorded = transcript.cgroup ? `<sub>Recorded on a machine with cgroup ${transcript.cgroup}.</sub>\n\n` : '';
  if (host.length === 0) return `${recorded}${show(terminal)}`;
  return `${recorded}In one terminal:\n\n${show(terminal)}\nOn the host, in a second terminal:\n\n${show(host)}`;
}
