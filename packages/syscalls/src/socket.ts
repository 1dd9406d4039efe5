// <sys/socket.h>: sockets, as far as netlink needs them (Node's `net` and `dgram`
// cover TCP and UDP, but cannot open an AF_NETLINK socket).
// https://man7.org/linux/man-pages/man7/socket.7.html
import { check } from './errno';
import { declare } from './libc';

/** Address families (the `domain` of socket(2)). */
export const AddressFamily = {
  AF_UNSPEC: 0,
  AF_UNIX: 1,
  AF_INET: 2,
  AF_BRIDGE: 7,
  AF_INET6: 10,
  AF_NETLINK: 16,
} as const;
export const { AF_UNSPEC, AF_UNIX, AF_INET, AF_BRIDGE, AF_INET6, AF_NETLINK } = AddressFamily;

/** Socket types, and the flags that may be or-ed into the type. */
export const SocketType = {
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
} as const;
export const { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_NONBLOCK, SOCK_CLOEXEC } = SocketType;

/** Option levels and names for setsockopt(2) (x86_64, arm64 and riscv64 share them). */
export const SocketOption = {
  SOL_SOCKET: 1,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  SOL_NETLINK: 270,
} as const;
export const { SOL_SOCKET, SO_SNDBUF, SO_RCVBUF, SO_RCVTIMEO, SO_SNDTIMEO, SOL_NETLINK } = SocketOption;

/** Flags for send(2) and recv(2). */
export const MessageFlags = {
  MSG_PEEK: 0x2,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
} as const;
export const { MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT } = MessageFlags;

const socket_ = declare('int socket(int domain, int type, int protocol)');
const bind_ = declare('int bind(int sockfd, const uint8_t *addr, uint32_t addrlen)');
const send_ = declare('long send(int sockfd, const uint8_t *buf, size_t len, int flags)');
const recv_ = declare('long recv(int sockfd, _Out_ uint8_t *buf, size_t len, int flags)');
const setsockopt_ = declare('int setsockopt(int sockfd, int level, int optname, const uint8_t *optval, uint32_t optlen)');
const getsockname_ = declare('int getsockname(int sockfd, _Out_ uint8_t *addr, _Inout_ uint32_t *addrlen)');

/** Creates a socket and returns its fd. https://man7.org/linux/man-pages/man2/socket.2.html */
export function socket(domain: number, type: number, protocol: number): number {
  return check(socket_(domain, type, protocol), 'socket');
}

/** Gives a socket its local address (a `struct sockaddr_*` in a Buffer). https://man7.org/linux/man-pages/man2/bind.2.html */
export function bind(fd: number, address: Buffer): void {
  check(bind_(fd, address, address.length), 'bind');
}

/** Sends `data` on a socket; returns how many bytes went. https://man7.org/linux/man-pages/man2/send.2.html */
export function send(fd: number, data: Buffer, flags = 0): number {
  return check(send_(fd, data, data.length, flags), 'send');
}

/**
 * Receives one message into `buffer`; returns its length (with MSG_TRUNC, its full
 * length even when it did not fit). https://man7.org/linux/man-pages/man2/recv.2.html
 */
export function recv(fd: number, buffer: Buffer, flags = 0): number {
  return check(recv_(fd, buffer, buffer.length, flags), 'recv');
}

/** Sets a socket option to the bytes of `value`. https://man7.org/linux/man-pages/man2/setsockopt.2.html */
export function setsockopt(fd: number, level: number, name: number, value: Buffer): void {
  check(setsockopt_(fd, level, name, value, value.length), 'setsockopt');
}

/** Sets an int socket option. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value);
  setsockopt(fd, level, name, buffer);
}

/** A socket's own address, as bytes of a `struct sockaddr_*`. https://man7.org/linux/man-pages/man2/getsockname.2.html */
export function getsockname(fd: number): Buffer {
  const address = Buffer.alloc(128); // sizeof(struct sockaddr_storage)
  const length = Buffer.alloc(4);
  length.writeUInt32LE(address.length);
  check(getsockname_(fd, address, length), 'getsockname');
  return address.subarray(0, length.readUInt32LE());
}

/** A `struct timeval` for SO_RCVTIMEO and SO_SNDTIMEO (two 64-bit longs on 64-bit Linux). */
export function timeval(milliseconds: number): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeBigInt64LE(BigInt(Math.floor(milliseconds / 1000)), 0);
  buffer.writeBigInt64LE(BigInt((milliseconds % 1000) * 1000), 8);
  return buffer;
}
