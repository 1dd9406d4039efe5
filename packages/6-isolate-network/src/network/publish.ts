// --publish HOST:CONTAINER: the runtime listens on the host's port and relays each TCP
// connection to the container's address, as Docker's userland proxy (docker-proxy)
// does. The listening socket is opened before the container starts, so that a port in
// use is reported before anything is made.
import type { AddressInfo, Socket } from 'node:net';
import { CliError, ExitStatus } from '@samples/runtime';

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
}

/** The lowest port a host port may be: the ones below are privileged, for system services. */
export const FIRST_UNPRIVILEGED_PORT = 1024;

// #region parse
/** '8080:80' -> { hostPort: 8080, containerPort: 80 }; one line (status 2) for anything else. */
export function parsePublish(text: string): PortMapping {
  const match = /^(\d+):(\d+)$/.exec(text);
  if (!match) {
    throw new CliError(`--publish ${text}: give HOST:CONTAINER, two TCP ports, like --publish 8080:80`, ExitStatus.USAGE);
  }
  const [hostPort, containerPort] = [Number(match[1]), Number(match[2])];
  for (const port of [hostPort, containerPort]) {
    if (port < 1 || port > 65535) {
      throw new CliError(`--publish ${text}: port ${port} is out of range: ports go from 1 to 65535`, ExitStatus.USAGE);
    }
  }
  if (hostPort < FIRST_UNPRIVILEGED_PORT) {
    throw new CliError(
      `--publish ${text}: host port ${hostPort} is privileged (below ${FIRST_UNPRIVILEGED_PORT}): choose one from ${FIRST_UNPRIVILEGED_PORT} to 65535`,
      ExitStatus.USAGE,
    );
  }
  return { hostPort, containerPort };
}

/** Every --publish, checked together: one host port cannot go to two places. */
export function parsePublishes(texts: readonly string[]): PortMapping[] {
  const mappings = texts.map(parsePublish);
  const seen = new Set<number>();
  for (const { hostPort } of mappings) {
    if (seen.has(hostPort)) throw new CliError(`--publish: host port ${hostPort} is given twice`, ExitStatus.USAGE);
    seen.add(hostPort);
  }
  return mappings;
}
// #endregion

export interface Proxy {
  /** The port it listens on (the one asked for, or the one the kernel chose for 0). */
  readonly hostPort: number;
  /** The container's port it relays to. */
  readonly containerPort: number;
  /** Starts relaying connections to the container, once it has its address. Until then they are closed. */
  forwardTo(containerAddress: string): void;
  /** Stops listening and closes every relayed connection. */
  close(): Promise<void>;
}

// #region proxy
/**
 * Listens on `hostPort` of every host address (as Docker does), or of `listenAddress`.
 * Resolves once listening; a port in use rejects with one line naming it (status 125).
 */
export function listenForPublish(mapping: PortMapping, listenAddress?: string): Promise<Proxy> {
  // Loaded here, on first use: only a runtime given --publish listens, and node:net costs
  // each Node start that loads it ~2 ms (the container's child too, which loads this
  // module with the rest of the stage and never relays).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('node:net') as typeof import('node:net');
  let target: string | undefined;
  const connections = new Set<Socket>();
  // allowHalfOpen: a client that shuts down its sending side (as `nc -N` or an HTTP/1.0
  // client may) must still get the whole answer. Each side's end is passed on as it comes.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (target === undefined) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: target, port: mapping.containerPort, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    // One side failing (reset, refused, unreachable) ends the other: nothing is left half-open.
    const abort = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', abort);
    upstream.once('error', abort);
    // Both directions ended (each side sent FIN): the sockets close themselves; a side
    // that closes before its FIN was passed on takes the other with it.
    client.once('close', () => upstream.destroySoon());
    upstream.once('close', () => client.destroySoon());
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new CliError(`--publish ${mapping.hostPort}:${mapping.containerPort}: host port ${mapping.hostPort} is in use: choose another`)
          : error,
      );
    });
    server.listen({ port: mapping.hostPort, ...(listenAddress !== undefined && { host: listenAddress }) }, () => {
      resolve({
        hostPort: (server.address() as AddressInfo).port,
        containerPort: mapping.containerPort,
        forwardTo(containerAddress) {
          target = containerAddress;
        },
        close() {
          for (const socket of connections) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}
// #endregion
