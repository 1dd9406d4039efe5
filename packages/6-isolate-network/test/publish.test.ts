// --publish: the parsing rules, and the proxy on loopback (no root needed: the
// "container" is a server on 127.0.0.1).
import net from 'node:net';
import test from 'ava';
import { CliError } from '@samples/runtime';
import { tcpRequest } from '@samples/testing';
import { listenForPublish, parsePublish, parsePublishes } from '../src/network/publish';

test('HOST:CONTAINER', (t) => {
  t.deepEqual(parsePublish('8080:80'), { hostPort: 8080, containerPort: 80 });
  t.deepEqual(parsePublish('65535:65535'), { hostPort: 65535, containerPort: 65535 });
});

for (const [text, message] of [
  ['8080', /give HOST:CONTAINER, two TCP ports, like --publish 8080:80/],
  ['a:80', /give HOST:CONTAINER/],
  ['8080:80/udp', /give HOST:CONTAINER/],
  ['-1:80', /give HOST:CONTAINER/],
  ['80:80', /host port 80 is privileged \(below 1024\): choose one from 1024 to 65535/],
  ['70000:80', /port 70000 is out of range: ports go from 1 to 65535/],
  ['8080:0', /port 0 is out of range/],
] as const) {
  test(`--publish ${text}: one line, status 2`, (t) => {
    const error = t.throws(() => parsePublish(text), { instanceOf: CliError });
    t.regex(error.message, message);
    t.is(error.exitStatus, 2);
  });
}

test('one host port given twice is refused', (t) => {
  const error = t.throws(() => parsePublishes(['8080:80', '8080:81']), { instanceOf: CliError });
  t.is(error.message, '--publish: host port 8080 is given twice');
});

/** A stand-in container: echoes what it gets, prefixed, and ends when the client has. */
async function echoServer(t: { teardown(fn: () => void): void }): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('end', () => socket.end(`got ${received.length} bytes: ${received.slice(0, 20)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

test('the proxy relays both ways, passes each side end on, and closes', async (t) => {
  const containerPort = await echoServer(t);
  const proxy = await listenForPublish({ hostPort: 0, containerPort }, '127.0.0.1');
  t.teardown(() => proxy.close());
  proxy.forwardTo('127.0.0.1');
  // The client sends, then shuts its side (half-close): the answer must still come whole.
  const answer = await new Promise<string>((resolve, reject) => {
    let received = '';
    const client = net.connect({ host: '127.0.0.1', port: proxy.hostPort, allowHalfOpen: true }, () => client.end('x'.repeat(1 << 20)));
    client.setTimeout(5000, () => client.destroy(new Error('no answer through the proxy within 5 s')));
    client.on('data', (chunk) => (received += chunk.toString()));
    client.on('end', () => resolve(received));
    client.on('error', reject);
  });
  t.is(answer, `got ${1 << 20} bytes: ${'x'.repeat(20)}`);
});

test('before the container has its address, connections are closed; a refused upstream closes the client', async (t) => {
  const proxy = await listenForPublish({ hostPort: 0, containerPort: 1 }, '127.0.0.1');
  t.teardown(() => proxy.close());
  t.is(await tcpRequest('127.0.0.1', proxy.hostPort), '', 'closed at once');
  proxy.forwardTo('127.0.0.1'); // nothing listens on port 1
  t.is(await tcpRequest('127.0.0.1', proxy.hostPort).catch((error: Error) => error.message), '', 'closed, not hung');
});

test('a host port in use: one line that names it', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const error = await t.throwsAsync(listenForPublish({ hostPort: port, containerPort: 80 }, '127.0.0.1'), { instanceOf: CliError });
  t.is(error.message, `--publish ${port}:80: host port ${port} is in use: choose another`);
});

test('close() ends relayed connections too', async (t) => {
  const holdOpen = net.createServer(() => {}); // accepts and never answers
  await new Promise<void>((resolve) => holdOpen.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holdOpen.close());
  const proxy = await listenForPublish({ hostPort: 0, containerPort: (holdOpen.address() as net.AddressInfo).port }, '127.0.0.1');
  proxy.forwardTo('127.0.0.1');
  const pending = tcpRequest('127.0.0.1', proxy.hostPort, 5000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await proxy.close();
  t.is(await pending.catch((error: Error) => `error: ${error.message}`), '');
});
