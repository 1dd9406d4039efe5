// makeRaw puts the terminal's modes back on every way out of the runtime, checked in a
// real terminal (tmux): stty -g before and after must be the same. The relay ends once
// the container is gone, even when the pty never said EIO.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import anyTest from 'ava';
import { unlockpt } from '@samples/syscalls';
import { Terminal, hasTmux, testIf, waitFor } from '@samples/testing';
import { relay } from '../src/relay';

const test = testIf(hasTmux, 'needs tmux: apt-get install tmux', anyTest);
const fixture = path.join(__dirname, 'fixtures', 'raw-then-fail.ts');

const endings = { restore: 0, throw: 1, reject: 1, exit: 3 };

for (const [how, status] of Object.entries(endings)) {
  test(`the terminal gets its modes back when the runtime ends by ${how}`, async (t) => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'raw-'));
    const terminal = new Terminal(
      `stty -g > ${scratch}/before; '${process.execPath}' --require tsx/cjs '${fixture}' ${how}; echo "status=$?"; stty -g > ${scratch}/after; sleep 60`,
      { cwd: __dirname },
    );
    t.teardown(() => {
      terminal.close();
      fs.rmSync(scratch, { recursive: true, force: true });
    });
    const screen = await terminal.waitFor('the fixture to end', (text) => /status=\d+/.test(text), 20_000);
    await terminal.waitFor('the modes saved after it', () => fs.existsSync(`${scratch}/after`) && fs.statSync(`${scratch}/after`).size > 0);
    t.regex(screen, new RegExp(`^status=${status}$`, 'm'));
    t.regex(screen, /^raw\n {3}stairs$/m, 'the fixture went raw: no \\r added to its \\n');
    if (how === 'restore') t.regex(screen, /^cooked\nlines$/m, 'restore() put the modes back at once: \\n is \\r\\n again');
    t.is(fs.readFileSync(`${scratch}/after`, 'utf8'), fs.readFileSync(`${scratch}/before`, 'utf8'));
  });
}

anyTest("a pty whose other side was never opened (the child died before): the relay ends once the container is gone", async (t) => {
  // A pty of the host's own, never given to anyone: its master would never say EIO.
  const master = fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  unlockpt(master);
  const input = new PassThrough();
  const output = new PassThrough();
  let gone!: () => void;
  const relayed = relay(master, { input: input as unknown as NodeJS.ReadStream, output: output as unknown as NodeJS.WriteStream }, new Promise<void>((resolve) => (gone = resolve)));
  let ended = false;
  void relayed.then(() => (ended = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.false(ended, 'still relaying while the container runs');
  gone();
  await waitFor('the relay to end once the container is gone', () => ended, 5000);
  t.pass();
});
