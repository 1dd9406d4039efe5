import fs from 'node:fs';
import { resolveRootfs } from '@samples/rootfs';
import { mountsUnder } from '@samples/runtime';
import { describeMounts, isRoot, rootTest } from '@samples/testing';
import { MASKED_PATHS, READONLY_PATHS } from '../src/paths';
import { contain } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
// Where a mount of the container would land on the host, had it leaked: its root, and
// the host's /proc and /sys (the masks and read-only binds are made on their twins).
const hostMounts = () => describeMounts(['/proc', '/sys', rootfs].flatMap((dir) => mountsUnder(dir)));

interface Mount {
  /** The part of the source filesystem mounted: '/null' for a file of /dev bound. */
  readonly root: string;
  readonly options: string[];
  readonly type: string;
}

/** The container's mounts by mount point, from its /proc/self/mountinfo. */
function mountsOf(mountinfo: string): Map<string, Mount> {
  return new Map(
    mountinfo
      .trim()
      .split('\n')
      .map((line) => {
        const fields = line.split(' ');
        const type = fields[fields.indexOf('-') + 1]!;
        return [fields[4]!, { root: fields[3]!, options: fields[5]!.split(','), type }];
      }),
  );
}

rootTest('masked: /dev/null over files, an empty read-only tmpfs over directories; paths this kernel lacks are skipped', (t) => {
  const result = contain({ rootfs, kernelPaths: true }, ['cat', '/proc/self/mountinfo']);
  t.is(result.stderr, '');
  const mounts = mountsOf(result.stdout);
  let checked = 0;
  for (const path of MASKED_PATHS) {
    const onHost = fs.statSync(path, { throwIfNoEntry: false });
    if (onHost === undefined) {
      t.false(mounts.has(path), `${path} is not on this kernel: nothing mounted`);
      continue;
    }
    checked++;
    const mount = mounts.get(path);
    if (onHost.isDirectory()) t.like(mount, { type: 'tmpfs', options: ['ro', 'relatime'] }, path);
    else t.is(mount?.root, '/null', `${path} is the container's /dev/null`);
  }
  t.true(checked > 0, 'this kernel has some of them');
});

rootTest('read-only: the kernel controls under /proc, and /sys; a tmpfs on /dev/shm', (t) => {
  const mounts = mountsOf(contain({ rootfs, kernelPaths: true }, ['cat', '/proc/self/mountinfo']).stdout);
  for (const path of READONLY_PATHS) {
    if (!fs.existsSync(path)) continue; // e.g. no /proc/sysrq-trigger without CONFIG_MAGIC_SYSRQ
    t.like(mounts.get(path), { type: 'proc' }, path);
    t.is(mounts.get(path)?.options[0], 'ro', path);
  }
  t.like(mounts.get('/sys'), { type: 'sysfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'relatime'] });
  t.like(mounts.get('/dev/shm'), { type: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'noexec', 'relatime'] });
});

rootTest('a masked file reads as nothing; the host still has it', (t) => {
  const path = MASKED_PATHS.find((candidate) => fs.statSync(candidate, { throwIfNoEntry: false })?.isFile());
  if (path === undefined) return t.pass('no masked file on this kernel');
  t.not(fs.readFileSync(path, 'utf8'), '');
  t.is(contain({ rootfs, kernelPaths: true }, ['cat', path]).stdout, '');
});

rootTest('writing back what /proc/sys holds: refused after, allowed before (in the container own UTS namespace either way)', (t) => {
  // kernel.hostname belongs to the UTS namespace the container has: the write, when it
  // works, puts back the value it read there, and never reaches the host.
  const probe = ['sh', '-c', 'name=$(cat /proc/sys/kernel/hostname) && echo "$name" > /proc/sys/kernel/hostname && echo written'];
  const before = contain({ rootfs }, probe);
  t.is(before.stdout, 'written\n');
  const after = contain({ rootfs, kernelPaths: true }, probe);
  t.regex(after.stderr, /Read-only file system/);
  t.is(after.stdout, '');
});

rootTest('--read-only: the root cannot be written; the mounts on it keep their own flags', (t) => {
  const result = contain({ rootfs, kernelPaths: true, readOnlyRoot: true }, ['sh', '-c', 'touch /probe-file; touch /dev/shm/x && echo shm-writable; cat /proc/self/mountinfo']);
  t.regex(result.stderr, /touch: cannot touch '\/probe-file': Read-only file system/);
  t.true(result.stdout.startsWith('shm-writable\n'));
  t.is(mountsOf(result.stdout.slice('shm-writable\n'.length)).get('/')?.options[0], 'ro');
  t.false(fs.existsSync(`${rootfs}/probe-file`));
});

rootTest('the host mount table is the same before and after', (t) => {
  const before = hostMounts();
  contain({ rootfs, kernelPaths: true, readOnlyRoot: true }, ['true']);
  t.deepEqual(hostMounts(), before);
});
