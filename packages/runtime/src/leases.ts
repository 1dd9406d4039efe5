// What a runtime holds on the host beyond its own process: a cgroup, an address, a
// container's layer. Each is written down as a lease, under /run, with its owner. A
// runtime killed with SIGKILL cannot give back what it holds; the next run finds its
// leases, sees their owner is gone, and takes back what they name.
//
// A lease is a file named by what it holds. It is taken and taken over under an
// exclusive lock on its folder, so two runtimes asking for the same thing at the same
// moment never both get it; it is written whole (a rename), so a reader never sees half.
import fs from 'node:fs';
import path from 'node:path';
import { LOCK_EX, flock } from '@samples/syscalls';

/** Where leases live: a tmpfs, emptied at boot, as everything they name is. */
export const LEASE_DIR = '/run/ts-container-samples';

/** A process, told apart from a later one that gets the same pid by its start time. */
export interface Owner {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
  readonly start: string;
}

export interface Lease<T> {
  readonly id: string;
  readonly owner: Owner;
  readonly data: T;
}

/** This process, as an owner. */
export function self(): Owner {
  return { pid: process.pid, start: startTime(process.pid)! };
}

/** Whether `owner` still runs. */
export function isAlive(owner: Owner): boolean {
  return startTime(owner.pid) === owner.start;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function leaseFile(kind: string, id: string): string {
  return path.join(LEASE_DIR, kind, id);
}

/**
 * Takes the lease on `id` for this process, with `data` saying how to give it back.
 * False if a live process holds it. A lease whose owner is gone is taken over.
 */
export function takeLease<T>(kind: string, id: string, data: T): boolean {
  return whileLocked(kind, () => {
    const held = readLease<T>(kind, id);
    if (held !== undefined && isAlive(held.owner)) return false;
    const file = leaseFile(kind, id);
    const draft = `${file}.${process.pid}.draft`;
    fs.writeFileSync(draft, JSON.stringify({ owner: self(), data }));
    fs.renameSync(draft, file);
    return true;
  });
}

/**
 * Runs `reclaim` for each lease of `kind` whose owner is gone (what runtimes killed with
 * SIGKILL left), then drops the lease. One runtime at a time: two sweeps never reclaim
 * the same thing, and a lease taken meanwhile is not touched.
 */
export function reclaimStaleLeases<T>(kind: string, reclaim: (lease: Lease<T>) => void): void {
  // A draft lives only while its writer holds the lock: one seen under the lock was left
  // by a runtime killed between writing it and renaming it, and names nothing taken.
  whileLocked(kind, () => {
    const dir = path.join(LEASE_DIR, kind);
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.draft')) fs.rmSync(path.join(dir, name), { force: true });
  });
  for (const lease of staleLeases<T>(kind)) {
    whileLocked(kind, () => {
      const now = readLease<T>(kind, lease.id);
      if (now === undefined || isAlive(now.owner)) return;
      reclaim(now);
      fs.rmSync(leaseFile(kind, lease.id), { force: true });
    });
  }
}

function whileLocked<R>(kind: string, action: () => R): R {
  const dir = path.join(LEASE_DIR, kind);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = fs.openSync(path.join(dir, '.lock'), 'w');
  try {
    flock(lock, LOCK_EX); // held for microseconds; dropped on close, or if this process dies
    return action();
  } finally {
    fs.closeSync(lock);
  }
}

/** Gives the lease back (it may already be gone). */
export function releaseLease(kind: string, id: string): void {
  fs.rmSync(leaseFile(kind, id), { force: true });
}

function readLease<T>(kind: string, id: string): Lease<T> | undefined {
  try {
    const { owner, data } = JSON.parse(fs.readFileSync(leaseFile(kind, id), 'utf8')) as Omit<Lease<T>, 'id'>;
    return { id, owner, data };
  } catch {
    return undefined; // released meanwhile
  }
}

/** The leases of `kind`, held or not. */
export function leases<T>(kind: string): Lease<T>[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(LEASE_DIR, kind));
  } catch {
    return [];
  }
  return names.filter((name) => !name.startsWith('.') && !name.endsWith('.draft')).flatMap((id) => readLease<T>(kind, id) ?? []);
}

/** The leases of `kind` whose owner is gone. */
export function staleLeases<T>(kind: string): Lease<T>[] {
  return leases<T>(kind).filter((lease) => !isAlive(lease.owner));
}
