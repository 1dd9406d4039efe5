// Reading and writing the files of a cgroup filesystem, the same in v1 and v2.
import fs from 'node:fs';
import type { CgroupFiles } from './types';

/** The real thing: Node's fs on /sys/fs/cgroup. */
export const cgroupfs: CgroupFiles = {
  mkdir: (dir) => fs.mkdirSync(dir),
  rmdir: (dir) => fs.rmdirSync(dir),
  read: (file) => fs.readFileSync(file, 'utf8'),
  write: (file, text) => fs.writeFileSync(file, text),
  exists: (file) => fs.existsSync(file),
};

/** The cgroup a process is in, per hierarchy, from /proc/<pid>/cgroup ("4:memory:/a/b"). */
export function parseProcCgroup(text: string): { controllers: string[]; path: string }[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, controllers = '', cgroupPath = '/'] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
      return { controllers: controllers ? controllers.split(',') : [], path: cgroupPath };
    });
}

/** rmdir, retried for a moment: right after the last process exits the kernel may still say EBUSY. */
export function removeDirectory(files: CgroupFiles, dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      files.rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Reads "key value" lines (memory.events, memory.oom_control) into a map. */
export function readKeyedFile(files: CgroupFiles, file: string): Map<string, number> {
  const entries = files
    .read(file)
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/))
    .filter((fields): fields is [string, string] => fields.length === 2)
    .map(([key, value]) => [key, Number(value)] as const);
  return new Map(entries);
}

/** Kills every process listed in `procsFile` (cgroup.procs), for cgroups without cgroup.kill. */
export function killAll(files: CgroupFiles, procsFile: string): void {
  const pids = files.read(procsFile).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Runs `action` for each item, all of them even if some throw; then throws the first error. */
export function forEachThenThrow<T>(items: readonly T[], action: (item: T) => void): void {
  const errors: unknown[] = [];
  for (const item of items) {
    try {
      action(item);
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/** Takes down a cgroup whose setup failed; the setup's error is the one to report, not this one's. */
export function destroyAfterFailure(cgroup: { destroy(): void }): void {
  try {
    cgroup.destroy();
  } catch {
    // The first failure is what the user sees; rmdir of an empty cgroup rarely fails.
  }
}
