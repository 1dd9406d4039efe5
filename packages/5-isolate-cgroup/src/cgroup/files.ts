// Reading and writing the files of a cgroup filesystem, the same in v1 and v2.
import fs from 'node:fs';

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
export function removeDirectory(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
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
export function readKeyedFile(file: string): Map<string, number> {
  const entries = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/))
    .filter((fields): fields is [string, string] => fields.length === 2)
    .map(([key, value]) => [key, Number(value)] as const);
  return new Map(entries);
}

/** Kills every process listed in `procsFile` (cgroup.procs), for cgroups without cgroup.kill. */
export function killAll(procsFile: string): void {
  const pids = fs.readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
