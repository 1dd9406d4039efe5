// @samples/syscalls: typed wrappers over the libc calls a container runtime makes,
// one module per C header, C names kept, one error type (SyscallError).
export { SyscallError, check, errnoName } from './errno';
export { ffi } from './libc';
export * from './bpf';
export * from './bpf-common';
export * from './capability';
export * from './dirent';
export * from './fcntl';
export * from './file';
export * from './ioctl';
export * from './mount';
export * from './netlink';
export * from './nftables';
export * from './prctl';
export * from './resource';
export * from './sched';
export * from './seccomp';
export * from './signal';
export * from './socket';
export * from './stat';
export * from './termios';
export * from './unistd';
export * from './xattr';
