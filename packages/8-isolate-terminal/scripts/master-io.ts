// Which Node stream can carry a pty master? Each way is tried on a pty of the host's
// (a child on the slave, as a container's command would be), in two scenes:
//   output: `seq 200000` then exit; is every byte read, and how does the stream end?
//   paste:  1 MB of input (lines) into `cat`, which writes each line back; does the
//           event loop stay free (a timer keeps ticking) and does the input get through?
//   unread: 1 MB of input into `sleep 1`, which never reads it; can the process exit
//           after the end (a write blocked in the thread pool keeps it from exiting)?
// The output scene's losses come and go (libuv's early EOF, libuv issue 4992): run it
// a few times.
// A way is run in a process of its own, each bounded by a timeout.
//   node --require tsx/cjs scripts/master-io.ts
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import tty from 'node:tty';
import { F_GETFL, F_SETFL, O_NONBLOCK, fcntl, ptsNumber, unlockpt } from '@samples/syscalls';

const ways = ['tty-streams', 'tty-read+nonblocking-writes', 'fs-streams', 'pipe_wrap'] as const;
type Way = (typeof ways)[number];

if (process.argv[2] === undefined) {
  for (const scene of ['output', 'paste', 'unread']) {
    for (const way of ways) {
      const run = spawnSync(process.execPath, [...process.execArgv, __filename, way, scene], { encoding: 'utf8', timeout: 20_000 });
      console.log(`${scene.padEnd(7)} ${way.padEnd(28)} ${run.error ? 'hung: killed after 20 s' : run.stdout.trim()}`);
    }
  }
} else {
  trial(process.argv[2] as Way, process.argv[3]!);
}

function trial(way: Way, scene: string): void {
  const master = fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  unlockpt(master);
  const slave = fs.openSync(`/dev/pts/${ptsNumber(master)}`, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  const command = { output: 'seq 200000', paste: 'timeout 5 cat', unread: 'sleep 1' }[scene]!;
  spawn('sh', ['-c', command], { stdio: [slave, slave, slave], detached: true });
  fs.closeSync(slave);

  let read = 0;
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const started = Date.now();
  const report = (how: string) => {
    const expected = scene === 'output' ? 1_288_895 + 200_000 : undefined; // seq's bytes + a \r per line
    const complete = expected === undefined ? '' : read === expected ? 'all bytes' : `${expected - read} bytes LOST`;
    console.log(`${how}; ${complete} read ${read} in ${Date.now() - started} ms; timer ticked ${ticks} times`);
    clearInterval(ticker);
    process.exit(0);
  };

  let reader: NodeJS.ReadableStream;
  let write: (data: Buffer) => void;
  if (way === 'tty-streams') {
    reader = new tty.ReadStream(master);
    const writer = new tty.WriteStream(master); // makes the fd blocking again
    write = (data) => writer.write(data);
  } else if (way === 'tty-read+nonblocking-writes') {
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    reader = new tty.ReadStream(master);
    write = (data) => {
      let offset = 0;
      const step = () => {
        try {
          offset += fs.writeSync(master, data, offset);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
        if (offset < data.length) setTimeout(step, 10);
      };
      step();
    };
  } else if (way === 'fs-streams') {
    reader = fs.createReadStream('', { fd: master, autoClose: false });
    const writer = fs.createWriteStream('', { fd: master, autoClose: false });
    write = (data) => writer.write(data);
  } else {
    // Node's internal binding for a libuv pipe: process.binding is deprecated (DEP0111).
    const { Pipe, constants } = (process as unknown as { binding(name: string): any }).binding('pipe_wrap');
    const handle = new Pipe(constants.SOCKET);
    handle.open(master);
    const socket = new net.Socket({ handle, readable: true, writable: true } as net.SocketConstructorOpts);
    reader = socket;
    write = (data) => socket.write(data);
  }
  reader.on('data', (chunk: Buffer) => (read += chunk.length));
  reader.on('end', () => report("'end'"));
  reader.on('error', (error: NodeJS.ErrnoException) => report(`'error' ${error.code}`));
  if (scene !== 'output') {
    const lines = Buffer.from(`${'x'.repeat(99)}\n`.repeat(10_000));
    setTimeout(() => write(lines), 100);
  }
  setTimeout(() => report('still running after 15 s'), 15_000);
}
