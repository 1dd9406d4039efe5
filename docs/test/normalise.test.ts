// What a transcript keeps and what it replaces: two runs, or two machines, must give
// the same page.
import test from 'ava';
import { normaliser, type Machine } from '../src/normalise';

const machine: Machine = { repo: ['/srv/clone/main'], hostname: 'vm' };
const normalise = (text: string) => normaliser(machine)(text);

test('the repository folder and the host name', (t) => {
  t.is(
    normalise('=> [child] chroot("/srv/clone/main/rootfs/images/default") ... ok\nvm\nvmware\n'),
    '=> [child] chroot("<repo>/rootfs/images/default") ... ok\n<host>\nvmware\n',
  );
});

test('a container cgroup (stage 7: its devices folder too): its name, its place below the runtime own cgroup, the PID written to it', (t) => {
  const trace = [
    '=> cgroup v1 (memory): /sys/fs/cgroup/memory/process_api/2137fe5c/container-989f981b',
    '=> cgroup v1 (pids): /sys/fs/cgroup/pids/container-989f981b',
    '=> cgroup v1 (devices): /sys/fs/cgroup/devices/system.slice/container-989f981b',
    '=> create cgroup container-989f981b ... ok',
    '=> write 24858 to /sys/fs/cgroup/memory/process_api/2137fe5c/container-989f981b/cgroup.procs ... ok',
    '=> cgroup v2: /sys/fs/cgroup/user.slice/container-0a1b2c3d',
  ].join('\n');
  t.is(
    normalise(trace),
    [
      '=> cgroup v1 (memory): /sys/fs/cgroup/memory/…/container-<id>',
      '=> cgroup v1 (pids): /sys/fs/cgroup/pids/…/container-<id>',
      '=> cgroup v1 (devices): /sys/fs/cgroup/devices/…/container-<id>',
      '=> create cgroup container-<id> ... ok',
      '=> write <pid> to /sys/fs/cgroup/memory/…/container-<id>/cgroup.procs ... ok',
      '=> cgroup v2: /sys/fs/cgroup/…/container-<id>',
    ].join('\n'),
  );
});

test("stage 6: a veth's random name, MAC addresses but lo's, a peer's index, a container's pid, the lease folder, a client's port", (t) => {
  t.is(
    normalise(
      [
        '=> create veth pair veth3f9a0c1 (up, a port of the bridge) and eth0 (in the container) (RTM_NEWLINK) ... ok',
        '=> open a netlink socket in the container namespace (setns to /proc/24858/ns/net and back) ... ok',
        '=> take a free address of 10.22.0.0/24 (a lease in /run/ts-container-samples/net-4026531840) ... ok',
        'veth3f9a0c1@if2  UP  aa:1b:2c:3d:4e:5f <BROADCAST,MULTICAST,UP,LOWER_UP>',
        'eth0@if5         UP             10.22.0.2/24',
        'eth0@if16        UP             10.22.0.2/24',
        'lo  UNKNOWN  00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>',
        '[::ffff:10.22.0.1]:46144: url:/',
      ].join('\n'),
    ),
    [
      '=> create veth pair veth<id> (up, a port of the bridge) and eth0 (in the container) (RTM_NEWLINK) ... ok',
      '=> open a netlink socket in the container namespace (setns to /proc/<pid>/ns/net and back) ... ok',
      '=> take a free address of 10.22.0.0/24 (a lease in /run/ts-container-samples/net-<inode>) ... ok',
      'veth<id>@if<n> UP  <mac> <BROADCAST,MULTICAST,UP,LOWER_UP>',
      'eth0@if<n>       UP             10.22.0.2/24',
      'eth0@if<n>       UP             10.22.0.2/24',
      'lo  UNKNOWN  00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>',
      '[::ffff:10.22.0.1]:<port>: url:/',
    ].join('\n'),
  );
});

test('namespace ids are numbered in order of appearance, across both terminals: equal stays equal', (t) => {
  const normaliseBoth = normaliser(machine);
  t.is(normaliseBoth('uts:[4026532176]\npid:[4026532177]'), 'uts:[#1]\npid:[#2]');
  t.is(normaliseBoth('uts:[4026531838]\nuts:[4026532176]'), 'uts:[#3]\nuts:[#1]');
});

test('ps: one layout, PID 1 kept, the others replaced', (t) => {
  const procps3 = '  PID TTY          TIME CMD\n    1 ?        00:00:00 sh\n   10 ?        00:00:00 ps\ndone';
  const procps4 = '    PID TTY          TIME CMD\n      1 ?        00:00:00 sh\n     12 ?        00:00:00 ps\ndone';
  const expected = '    PID TTY          TIME CMD\n      1 ?        00:00:00 sh\n  <pid> ?        00:00:00 ps\ndone';
  t.is(normalise(procps3), expected);
  t.is(normalise(procps4), expected);
  t.is(normalise('   10 ?        00:00:00 ps'), '   10 ?        00:00:00 ps', 'only under a ps header');
});

test('the root mount inside is the host disk, whichever it is', (t) => {
  t.is(normalise('/dev/vda on / type ext4\nproc on /proc type proc'), '<disk> on / type <fs>\nproc on /proc type proc');
});

test("stage 9: a container's folder, layer digests, an import's time, the day an image was made", (t) => {
  t.is(
    normalise(
      [
        "=> the container's folder: /srv/clone/main/rootfs/containers/0a1b2c3d4e5f (upper, work, merged; lower/0..0: the image's layers)",
        '841ed0927382b2999a912e5df2f726e9d2110d2f0e9939225f512143c6119c33/layer.tar',
        'imported "greeter" (docker-save, linux/amd64) in 0.3 s: 2 layers (2 new), 132 files, 25.1 MiB',
        'greeter                ok     132    25.1 MiB   linux/amd64, 2 layers, imported from /tmp/greeter.tar, 2026-11-30',
        '  top e4211aa09fe6            1      118 bytes',
        '  bottom 78183bae6709         131    25.1 MiB',
      ].join('\n'),
    ),
    [
      "=> the container's folder: <repo>/rootfs/containers/<id> (upper, work, merged; lower/0..0: the image's layers)",
      '<sha256>/layer.tar',
      'imported "greeter" (docker-save, linux/amd64) in <n> s: 2 layers (2 new), 132 files, 25.1 MiB',
      'greeter                ok     132    25.1 MiB   linux/amd64, 2 layers, imported from /tmp/greeter.tar, <date>',
      '  top <digest>                1      118 bytes',
      '  bottom <digest>             131    25.1 MiB',
    ].join('\n'),
  );
});
