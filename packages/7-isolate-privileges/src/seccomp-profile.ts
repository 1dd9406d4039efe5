// The system calls a container may not make, and the seccomp filter that refuses them:
// a classic BPF program, assembled here from one table, with no libseccomp.
//
// Docker's default profile (moby/profiles seccomp/default.json) is an allowlist: ~360
// calls allowed, everything else refused with EPERM. This table is a denylist, the
// other side of it: the calls that list leaves out on x86_64 and aarch64, each with
// why, and the capability that makes Docker let it through (a container given
// CAP_SYS_ADMIN may mount, so the filter lets mount pass). Everything not in the table
// is allowed: a call added to a later kernel is allowed here, where Docker would
// refuse it. Where Docker is less strict than a reading of the risks would be, the
// table follows Docker, and says so. Calls the kernel no longer implements
// (create_module, query_module, get_kernel_syms, nfsservctl, _sysctl...) are left out:
// they fail with ENOSYS anyway.
import fs from 'node:fs';
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_X86_64,
  BPF_ABS,
  BPF_JEQ,
  BPF_JGE,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  type CapabilityName,
  type SockFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SeccompData,
  __X32_SYSCALL_BIT,
} from '@samples/syscalls';
import { CliError } from '@samples/runtime';

const EPERM = 1;
const ENOSYS = 38;

/** Refuse only when argument `arg` (its low 32 bits) is one of these calls' dangerous values. */
export type ArgumentTest =
  /** ...has any of these bits set. */
  | { readonly arg: number; readonly anyBitOf: number }
  /** ...is one of these values. */
  | { readonly arg: number; readonly oneOf: readonly number[] }
  /** ...is none of these values. */
  | { readonly arg: number; readonly noneOf: readonly number[] };

export interface Refusal {
  readonly syscall: string;
  /** Its number on x86_64 (absent: no such call there). */
  readonly x86_64?: number;
  /** Its number on aarch64 (absent: no such call there). */
  readonly aarch64?: number;
  /** Why a container may not make it. */
  readonly reason: string;
  /** Docker lets it through when the container has one of these capabilities. */
  readonly unless?: readonly CapabilityName[];
  /** Refuse only some arguments; without it, every call. */
  readonly when?: ArgumentTest;
  /** What the call fails with: EPERM, unless said otherwise. */
  readonly errno?: 'ENOSYS';
}

// Namespace flags, in clone's first argument on x86_64 and aarch64: CLONE_NEWNS,
// CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET.
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
// personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and 0xffffffff (a query).
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
const AF_ALG = 38;
const AF_VSOCK = 40;

// #region table
/** The system calls a container may not make. */
export const refusals: readonly Refusal[] = [
  // Mounts and namespaces: the container's view of the system is the runtime's to set up.
  { syscall: 'mount', x86_64: 165, aarch64: 40, reason: 'could mount over what the runtime masked or made read-only', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'umount2', x86_64: 166, aarch64: 39, reason: 'could unmount the masks over /proc and /sys', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'pivot_root', x86_64: 155, aarch64: 41, reason: 'changes the root of the mount namespace', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'open_tree', x86_64: 428, aarch64: 428, reason: 'the new mount API: clones mounts, as mount --bind', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'move_mount', x86_64: 429, aarch64: 429, reason: 'the new mount API: attaches a mount', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'fsopen', x86_64: 430, aarch64: 430, reason: 'the new mount API: opens a filesystem to mount', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'fsconfig', x86_64: 431, aarch64: 431, reason: 'the new mount API: configures it', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'fsmount', x86_64: 432, aarch64: 432, reason: 'the new mount API: makes the mount', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'fspick', x86_64: 433, aarch64: 433, reason: 'the new mount API: reconfigures a mounted filesystem', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'mount_setattr', x86_64: 442, aarch64: 442, reason: 'could make a read-only mount writable', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'unshare', x86_64: 272, aarch64: 97, reason: 'new namespaces expose kernel code meant for root (a user namespace above all)', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'setns', x86_64: 308, aarch64: 268, reason: 'could join another namespace, the host one too', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'clone', x86_64: 56, aarch64: 220, reason: 'with namespace flags, the same as unshare', unless: ['CAP_SYS_ADMIN'], when: { arg: 0, anyBitOf: CLONE_NAMESPACE_FLAGS } },
  // Its flags are in a struct in memory, which a filter cannot read: ENOSYS makes libc fall back to clone.
  { syscall: 'clone3', x86_64: 435, aarch64: 435, reason: 'its flags cannot be checked; libc falls back to clone on ENOSYS', unless: ['CAP_SYS_ADMIN'], errno: 'ENOSYS' },
  // The kernel itself.
  { syscall: 'init_module', x86_64: 175, aarch64: 105, reason: 'loads kernel code', unless: ['CAP_SYS_MODULE'] },
  { syscall: 'finit_module', x86_64: 313, aarch64: 273, reason: 'loads kernel code from a file', unless: ['CAP_SYS_MODULE'] },
  { syscall: 'delete_module', x86_64: 176, aarch64: 106, reason: 'unloads kernel code', unless: ['CAP_SYS_MODULE'] },
  { syscall: 'kexec_load', x86_64: 246, aarch64: 104, reason: 'replaces the running kernel', unless: ['CAP_SYS_BOOT'] },
  { syscall: 'kexec_file_load', x86_64: 320, aarch64: 294, reason: 'replaces the running kernel, from a file', unless: ['CAP_SYS_BOOT'] },
  { syscall: 'reboot', x86_64: 169, aarch64: 142, reason: 'reboots the host (in a PID namespace: ends it)', unless: ['CAP_SYS_BOOT'] },
  { syscall: 'bpf', x86_64: 321, aarch64: 280, reason: 'loads programs into the kernel, which can read kernel memory', unless: ['CAP_SYS_ADMIN', 'CAP_BPF'] },
  { syscall: 'perf_event_open', x86_64: 298, aarch64: 241, reason: 'observes the whole host; a history of kernel bugs', unless: ['CAP_SYS_ADMIN', 'CAP_PERFMON'] },
  { syscall: 'lookup_dcookie', x86_64: 212, aarch64: 18, reason: 'profiling: turns kernel cookies into host paths', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'fanotify_init', x86_64: 300, aarch64: 262, reason: 'watches file access on whole filesystems, the host ones too', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'io_uring_setup', x86_64: 425, aarch64: 425, reason: 'io_uring: a large attack surface, and a way around seccomp for the calls it makes' },
  { syscall: 'io_uring_enter', x86_64: 426, aarch64: 426, reason: 'io_uring, as above' },
  { syscall: 'io_uring_register', x86_64: 427, aarch64: 427, reason: 'io_uring, as above' },
  { syscall: 'userfaultfd', x86_64: 323, aarch64: 282, reason: 'stalls the kernel on a page fault: the lever of many kernel exploits' },
  // Shared by every container: not namespaced.
  { syscall: 'keyctl', x86_64: 250, aarch64: 219, reason: 'the kernel keyring is not namespaced: other containers\' keys' },
  { syscall: 'add_key', x86_64: 248, aarch64: 217, reason: 'the kernel keyring is not namespaced' },
  { syscall: 'request_key', x86_64: 249, aarch64: 218, reason: 'the kernel keyring is not namespaced' },
  { syscall: 'settimeofday', x86_64: 164, aarch64: 170, reason: 'the clock is the host\'s', unless: ['CAP_SYS_TIME'] },
  { syscall: 'clock_settime', x86_64: 227, aarch64: 112, reason: 'the clock is the host\'s', unless: ['CAP_SYS_TIME'] },
  { syscall: 'swapon', x86_64: 167, aarch64: 224, reason: 'swap is the host\'s' },
  { syscall: 'swapoff', x86_64: 168, aarch64: 225, reason: 'swap is the host\'s' },
  { syscall: 'acct', x86_64: 163, aarch64: 89, reason: 'process accounting is the host\'s', unless: ['CAP_SYS_PACCT'] },
  { syscall: 'syslog', x86_64: 103, aarch64: 116, reason: 'the kernel log is the host\'s, and leaks kernel addresses', unless: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'] },
  { syscall: 'quotactl', x86_64: 179, aarch64: 60, reason: 'disk quotas are the host\'s', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'quotactl_fd', x86_64: 443, aarch64: 443, reason: 'disk quotas are the host\'s', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'sethostname', x86_64: 170, aarch64: 161, reason: 'the hostname is the runtime\'s to set', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'setdomainname', x86_64: 171, aarch64: 162, reason: 'the domain name is the runtime\'s to set', unless: ['CAP_SYS_ADMIN'] },
  { syscall: 'vhangup', x86_64: 153, aarch64: 58, reason: 'hangs up the terminal', unless: ['CAP_SYS_TTY_CONFIG'] },
  { syscall: 'iopl', x86_64: 172, reason: 'raw access to I/O ports', unless: ['CAP_SYS_RAWIO'] },
  { syscall: 'ioperm', x86_64: 173, reason: 'raw access to I/O ports', unless: ['CAP_SYS_RAWIO'] },
  // Files and other processes. Not here, as in Docker: ptrace, process_vm_readv and
  // process_vm_writev, which Docker allows on kernels since 4.8 (4.8 closed the way
  // around seccomp through ptrace); a stricter profile would refuse them without CAP_SYS_PTRACE.
  // Stricter than Docker, which lets CAP_DAC_READ_SEARCH lift this one: a capability
  // given back for reading past file permissions must not also reopen the host's files.
  { syscall: 'open_by_handle_at', x86_64: 304, aarch64: 265, reason: 'opens any file of a filesystem by its handle, outside the container\'s root too (whatever the capabilities: Docker lifts it with CAP_DAC_READ_SEARCH)' },
  { syscall: 'kcmp', x86_64: 312, aarch64: 272, reason: 'compares other processes\' kernel objects', unless: ['CAP_SYS_PTRACE'] },
  { syscall: 'pidfd_getfd', x86_64: 438, aarch64: 438, reason: 'takes another process\'s file descriptors', unless: ['CAP_SYS_PTRACE'] },
  { syscall: 'process_madvise', x86_64: 440, aarch64: 440, reason: 'advises on another process\'s memory', unless: ['CAP_SYS_PTRACE'] },
  { syscall: 'chroot', x86_64: 161, aarch64: 51, reason: 'only with CAP_SYS_CHROOT, which Docker gives', unless: ['CAP_SYS_CHROOT'] },
  // Memory placement: NUMA policy and page migration are the host's.
  { syscall: 'mbind', x86_64: 237, aarch64: 235, reason: 'NUMA memory placement is the host\'s', unless: ['CAP_SYS_NICE'] },
  { syscall: 'set_mempolicy', x86_64: 238, aarch64: 237, reason: 'NUMA memory placement is the host\'s', unless: ['CAP_SYS_NICE'] },
  { syscall: 'get_mempolicy', x86_64: 239, aarch64: 236, reason: 'NUMA memory placement is the host\'s', unless: ['CAP_SYS_NICE'] },
  { syscall: 'set_mempolicy_home_node', x86_64: 450, aarch64: 450, reason: 'NUMA memory placement is the host\'s', unless: ['CAP_SYS_NICE'] },
  { syscall: 'migrate_pages', x86_64: 256, aarch64: 238, reason: 'moves another process\'s pages between NUMA nodes' },
  { syscall: 'move_pages', x86_64: 279, aarch64: 239, reason: 'moves another process\'s pages between NUMA nodes' },
  // Old calls nothing needs.
  { syscall: 'uselib', x86_64: 134, reason: 'obsolete (a.out libraries)' },
  { syscall: 'ustat', x86_64: 136, reason: 'obsolete (statfs replaces it)' },
  { syscall: 'sysfs', x86_64: 139, reason: 'obsolete (/proc/filesystems replaces it)' },
  // Arguments that are dangerous where the call itself is not.
  { syscall: 'personality', x86_64: 135, aarch64: 92, reason: 'flags such as ADDR_NO_RANDOMIZE weaken the defences of what the process runs next', when: { arg: 0, noneOf: SAFE_PERSONALITIES } },
  { syscall: 'socket', x86_64: 41, aarch64: 198, reason: 'AF_ALG (kernel crypto) and AF_VSOCK (to the hypervisor) reach past the network namespace', when: { arg: 0, oneOf: [AF_ALG, AF_VSOCK] } },
];
// #endregion

export type Architecture = 'x86_64' | 'aarch64';

/** The architecture Node runs on, as the table names it. */
export function nativeArchitecture(): Architecture {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new Error(`no seccomp profile for ${process.arch}: only x86_64 and aarch64 have syscall numbers here`);
}

/**
 * Refuses to go on, in one line, on a kernel without seccomp filters
 * (CONFIG_SECCOMP_FILTER), before anything is made: a container that silently ran
 * without its filter would be worse than none at all. The kernel lists the filters'
 * actions in `actionsFile` when it has them (and sysctls, which every distribution's has).
 */
export function requireSeccompFilters(actionsFile = '/proc/sys/kernel/seccomp/actions_avail'): void {
  if (fs.existsSync(actionsFile)) return;
  throw new CliError(
    `this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER; no ${actionsFile}): use a kernel with them, or run with --security-opt seccomp=unconfined to go without`,
  );
}

const AUDIT_ARCH: Record<Architecture, number> = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 };

/** The refusals that apply to a container with `capabilities`: Docker drops a rule whose capability it has. */
export function refusalsFor(capabilities: ReadonlySet<CapabilityName>): Refusal[] {
  return refusals.filter(({ unless }) => !unless?.some((capability) => capabilities.has(capability)));
}

// #region assembler
/** A jump target: a label, or 0 for the next instruction. */
type Target = string | 0;

/** An instruction before assembly: jumps go to labels. */
interface Line {
  readonly label?: string;
  readonly code: number;
  readonly k: number;
  readonly jt?: Target;
  readonly jf?: Target;
  /** Said beside it in the listing. */
  readonly comment?: string;
}

/** A seccomp filter: the instructions for the kernel, and their listing for people. */
export interface SeccompProgram {
  readonly filter: readonly SockFilter[];
  readonly listing: string;
}

const load = (offset: number, comment: string): Line => ({ code: BPF_LD | BPF_W | BPF_ABS, k: offset, comment });
const jump = (op: number, k: number, jt: Target, jf: Target, comment?: string): Line => ({
  code: BPF_JMP | op | BPF_K,
  k,
  jt,
  jf,
  ...(comment !== undefined && { comment }),
});
const ret = (label: string, k: number, comment: string): Line => ({ label, code: BPF_RET | BPF_K, k, comment });

/**
 * The filter refusing `refused` on `arch`: check the architecture (and the x32 ABI),
 * load the call's number, compare it with each refused one; the few refused for their
 * arguments only look at the argument next. Every other call is allowed.
 */
export function assembleFilter(refused: readonly Refusal[], arch: Architecture = nativeArchitecture()): SeccompProgram {
  const lines: Line[] = [
    // A call made through another ABI (int 0x80 on x86_64, 32-bit arm on aarch64)
    // numbers its calls otherwise: none of the comparisons below would mean anything.
    load(SeccompData.arch, 'A = seccomp_data.arch'),
    jump(BPF_JEQ, AUDIT_ARCH[arch], 0, 'kill', `${arch}?`),
    load(SeccompData.nr, 'A = seccomp_data.nr'),
  ];
  if (arch === 'x86_64') {
    lines.push(jump(BPF_JGE, __X32_SYSCALL_BIT, 'kill', 0, 'the x32 ABI (same arch, other numbers)?'));
  }
  const present = refused.filter((refusal) => refusal[arch] !== undefined);
  for (const refusal of present.filter(({ when }) => when === undefined)) {
    lines.push(jump(BPF_JEQ, refusal[arch]!, refusal.errno === 'ENOSYS' ? 'enosys' : 'eperm', 0, refusal.syscall));
  }
  for (const { syscall, when, [arch]: nr } of present) {
    if (when !== undefined) lines.push(...argumentCheck(syscall, when, nr!));
  }
  lines.push(
    ret('allow', SECCOMP_RET_ALLOW, 'ALLOW'),
    ret('eperm', SECCOMP_RET_ERRNO | EPERM, 'ERRNO(EPERM)'),
    ret('enosys', SECCOMP_RET_ERRNO | ENOSYS, 'ERRNO(ENOSYS)'),
    ret('kill', SECCOMP_RET_KILL_PROCESS, 'KILL_PROCESS'),
  );
  return assemble(lines);
}

// The kernel ignores the upper half of these arguments (each is an int, or clone's
// flags, of which it keeps 32 bits): comparing the low 32 bits is comparing all it reads.
function argumentCheck(syscall: string, when: ArgumentTest, nr: number): Line[] {
  const { arg } = when;
  const next = `after-${syscall}`;
  const lines: Line[] = [
    jump(BPF_JEQ, nr, 0, next, syscall),
    load(SeccompData.args + 8 * arg, `A = args[${arg}] (low 32 bits)`),
  ];
  if ('anyBitOf' in when) {
    lines.push(jump(BPF_JSET, when.anyBitOf, 'eperm', 'allow', 'any of these bits set?'));
  } else if ('oneOf' in when) {
    when.oneOf.forEach((value, index) => lines.push(jump(BPF_JEQ, value, 'eperm', index === when.oneOf.length - 1 ? 'allow' : 0)));
  } else {
    when.noneOf.forEach((value, index) => lines.push(jump(BPF_JEQ, value, 'allow', index === when.noneOf.length - 1 ? 'eperm' : 0)));
  }
  // The next comparison of the call's number starts here: A must hold it again.
  return [...lines, { ...load(SeccompData.nr, 'A = seccomp_data.nr'), label: next }];
}

/** Resolves the labels into the jt/jf distances classic BPF has: 0 to 255 instructions ahead. */
function assemble(lines: readonly Line[]): SeccompProgram {
  const labels = new Map(lines.flatMap((line, index) => (line.label ? [[line.label, index] as const] : [])));
  const distance = (from: number, target: Target | undefined): number => {
    if (target === undefined || target === 0) return 0;
    const to = labels.get(target);
    if (to === undefined) throw new Error(`seccomp filter: no label ${target}`);
    const skip = to - from - 1;
    if (skip < 0 || skip > 255) throw new Error(`seccomp filter: ${target} is ${skip} instructions away, out of a jump's reach (0-255)`);
    return skip;
  };
  const filter = lines.map((line, index) => ({ code: line.code, k: line.k >>> 0, jt: distance(index, line.jt), jf: distance(index, line.jf) }));
  return { filter, listing: list(lines, filter) };
}
// #endregion

/** The program as `tcpdump -d` prints one, with what each line checks. */
function list(lines: readonly Line[], filter: readonly SockFilter[]): string {
  // Call numbers in decimal, as tables list them; masks and architectures in hex.
  const constant = (k: number) => (k < 4096 ? `#${k}` : `#0x${k.toString(16)}`);
  return filter
    .map(({ code, jt, jf, k }, index) => {
      let text: string;
      if ((code & 0x07) === BPF_LD) text = `ld   [${k}]`;
      else if ((code & 0x07) === BPF_RET) text = `ret  ${constant(k)}`;
      else {
        const op = { [BPF_JEQ]: 'jeq', [BPF_JGE]: 'jge', [BPF_JSET]: 'jset' }[code & 0xf0] ?? `op${code}`;
        text = `${op.padEnd(4)} ${constant(k).padEnd(12)} jt ${String(index + 1 + jt).padEnd(3)} jf ${index + 1 + jf}`;
      }
      const comment = lines[index]!.comment;
      return `(${String(index).padStart(3, '0')}) ${comment ? `${text.padEnd(36)} ; ${comment}` : text}`;
    })
    .join('\n');
}
