// What runtimes sharing a host's network must agree on, on disk: which container has
// which address (a lease each, in the project's one lease mechanism), and what the
// first of them changed on the host, so that the last one can put it back. All of it
// sits in one directory per network namespace: the bridge, the nftables ruleset and
// ip_forward belong to a network namespace, and a runtime started inside a scratch
// namespace (as the tests start theirs) has a host of its own.
//
//   /run/ts-container-samples/net-<netns inode>/
//     10.22.0.2     a lease per container address: its runtime (pid, start time), its veth
//     .lock         the leases module's lock, held for a moment per lease
//     .host.lock    flock(2)ed while a runtime sets up, checks or takes down the host's side
//     .host.json    what the first runtime set up, and the host's values it changed
import fs from 'node:fs';
import path from 'node:path';
import { LOCK_EX, LOCK_NB, LOCK_UN, SyscallError, flock } from '@samples/syscalls';
import type { BorrowedBridge } from './bridge';
import { CliError, LEASE_DIR, type Lease, isAlive, leases, reclaimStaleLeases, releaseLease, takeLease } from '@samples/runtime';

/** How long a runtime waits for another to finish changing the host's network. */
const LOCK_TIMEOUT_MS = 10_000;

/** What an address lease records besides its holder: the host's end of the container's veth. */
export interface AddressLease {
  readonly hostEnd: string;
}

/** The lease kind of the network namespace the calling thread is in: `net-<its inode>`. */
export function leaseKind(): string {
  // stat follows the magic link to the namespace itself: its inode names it.
  return `net-${fs.statSync('/proc/thread-self/ns/net').ino}`;
}

/** The kind's directory: the leases and the host record. */
export function stateDirectory(kind: string): string {
  return path.join(LEASE_DIR, kind);
}

// #region lock
/**
 * Runs `action` holding the directory's host lock, creating the directory if needed.
 *
 * Why flock: the kernel drops it when the holder dies, even by SIGKILL, so a killed
 * runtime never leaves the others waiting, and it needs no daemon. The last runtime
 * out removes the directory while holding the lock; one that was waiting then holds a
 * lock on a file that is no longer there, so after each acquisition the lock file
 * must still be the one at the path, else it starts again.
 */
export function withHostLock<T>(directory: string, action: () => T, timeoutMs = LOCK_TIMEOUT_MS): T {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const lockFile = path.join(directory, '.host.lock');
    let fd: number;
    try {
      // libuv opens every file close-on-exec: the container never inherits the lock.
      fd = fs.openSync(lockFile, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // the directory went between mkdir and open
      throw error;
    }
    try {
      lockWithin(fd, deadline, lockFile);
      if (sameFile(fd, lockFile)) {
        try {
          return action();
        } finally {
          flock(fd, LOCK_UN);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

function lockWithin(fd: number, deadline: number, lockFile: string): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
      return;
    } catch (error) {
      // EWOULDBLOCK is EAGAIN on Linux (Node names it so).
      if (!(error instanceof SyscallError && error.code === 'EAGAIN')) throw error;
    }
    if (Date.now() > deadline) {
      throw new CliError(`another runtime has held ${lockFile} for too long: is one stopped (Ctrl-Z)?`);
    }
    // A synchronous sleep: setup runs step by step, with no event loop turn in between.
    Atomics.wait(sleeper, 0, 0, 5);
  }
}

function sameFile(fd: number, file: string): boolean {
  try {
    return fs.fstatSync(fd).ino === fs.statSync(file).ino;
  } catch {
    return false;
  }
}
// #endregion

// #region leases
/**
 * Takes the first free address of `candidates` for this process. Taken under the
 * leases module's lock: of two runtimes that try the same address, exactly one gets it.
 */
export function takeAddress(kind: string, candidates: readonly string[], lease: AddressLease): string {
  const address = candidates.find((candidate) => takeLease<AddressLease>(kind, candidate, lease));
  if (address === undefined) throw new CliError(`no free address left: ${candidates.length} containers are running on this bridge`);
  return address;
}

/** Gives an address back. */
export function releaseAddress(kind: string, address: string): void {
  releaseLease(kind, address);
}

/** The addresses whose runtime still runs. */
export function liveAddresses(kind: string): string[] {
  return leases<AddressLease>(kind)
    .filter((lease) => isAlive(lease.owner))
    .map((lease) => lease.id);
}

/** Drops the leases of runtimes that are gone (killed, say), after `reclaim` took back what each held. */
export function reclaimAddresses(kind: string, reclaim: (lease: Lease<AddressLease>) => void): void {
  reclaimStaleLeases<AddressLease>(kind, reclaim);
}
// #endregion

// #region record
/** What the first runtime set up on the host, and the values it changed there. */
export interface HostRecord {
  readonly bridge: string;
  readonly subnet: string;
  /** Whether the runtime created the bridge (else it was there, and stays). */
  readonly createdBridge: boolean;
  /** For a bridge that was there: what the runtime changed on it. */
  readonly borrowedBridge?: BorrowedBridge;
  /** The nftables table made for NAT, if NAT could be set up. */
  readonly natTable?: string;
  /** /proc/sys/net/ipv4 files and the values they had, in the order to write them back. */
  readonly savedSysctls?: readonly (readonly [string, string])[];
}

const HOST_RECORD = '.host.json';

export function readHostRecord(directory: string): HostRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(directory, HOST_RECORD), 'utf8')) as HostRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Written before the host is changed, and again after each change, so a killed runtime leaves a true record. */
export function writeHostRecord(directory: string, record: HostRecord): void {
  const file = path.join(directory, HOST_RECORD);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Forgets the host record, once what it says has been undone. */
export function removeHostRecord(directory: string): void {
  fs.rmSync(path.join(directory, HOST_RECORD), { force: true });
}

/** Removes the directory, once nothing is left to restore (called holding the host lock). */
export function removeStateDirectory(directory: string): void {
  fs.rmSync(directory, { recursive: true, force: true });
}
// #endregion
