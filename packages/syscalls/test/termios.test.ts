// Terminal modes and window sizes, on a pty of the host's own (no root needed), checked
// against stty; the constants against the C headers.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  F_DUPFD_CLOEXEC,
  FilesystemMagic,
  SIZEOF_TERMIOS,
  TCSADRAIN,
  TCSAFLUSH,
  TCSANOW,
  TIOCGPTN,
  TIOCGWINSZ,
  TIOCSCTTY,
  TIOCSPTLCK,
  TIOCSWINSZ,
  cfmakeraw,
  ptsNumber,
  tcgetattr,
  tcgetwinsize,
  tcsetattr,
  tcsetwinsize,
  unlockpt,
} from '../src/index';
import { testIf } from '@samples/testing';

/** A new pty of the host's: the master and the path of its other side, both closed when the test ends. */
function openPty(t: { teardown(fn: () => void): void }): { master: number; slave: number; slavePath: string } {
  const master = fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  unlockpt(master);
  const slavePath = `/dev/pts/${ptsNumber(master)}`;
  const slave = fs.openSync(slavePath, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  t.teardown(() => {
    fs.closeSync(slave);
    fs.closeSync(master);
  });
  return { master, slave, slavePath };
}

const stty = (slavePath: string, ...args: string[]) => spawnSync('stty', ['-F', slavePath, ...args], { encoding: 'utf8' }).stdout;

test('cfmakeraw turns echo, line editing, key signals and output processing off; tcsetattr applies it', (t) => {
  const { slave, slavePath } = openPty(t);
  const cooked = tcgetattr(slave);
  t.is(cooked.length, SIZEOF_TERMIOS);
  t.regex(stty(slavePath, '-a'), /(^| )icanon( |$)/m, 'a new pty starts cooked');
  const raw = cfmakeraw(cooked);
  t.notDeepEqual(raw, cooked);
  t.deepEqual(tcgetattr(slave), cooked, 'cfmakeraw changes a copy, not the saved modes');
  tcsetattr(slave, TCSANOW, raw);
  const modes = stty(slavePath, '-a');
  for (const off of ['-icanon', '-echo', '-isig', '-opost', '-icrnl', '-ixon']) t.regex(modes, new RegExp(`(^| )${off}( |$)`, 'm'));
  t.regex(modes, /(^| )cs8( |$)/m);
  tcsetattr(slave, TCSADRAIN, cooked);
  t.regex(stty(slavePath, '-a'), /(^| )icanon( |$)/m, 'the saved modes come back');
});

test('tcsetwinsize on the master is the size the other side reads, as stty sees it', (t) => {
  const { master, slave, slavePath } = openPty(t);
  tcsetwinsize(master, { ws_row: 24, ws_col: 80 });
  t.deepEqual(tcgetwinsize(slave), { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 });
  t.is(stty(slavePath, 'size'), '24 80\n');
  tcsetwinsize(master, { ws_row: 50, ws_col: 132, ws_xpixel: 1320, ws_ypixel: 1000 });
  t.deepEqual(tcgetwinsize(slave), { ws_row: 50, ws_col: 132, ws_xpixel: 1320, ws_ypixel: 1000 });
});

test('tcgetattr on a file that is no terminal: ENOTTY', (t) => {
  const fd = fs.openSync('/dev/null', 'r');
  t.teardown(() => fs.closeSync(fd));
  t.throws(() => tcgetattr(fd), { code: 'ENOTTY', message: /^ENOTTY: .*, tcgetattr$/ });
});

const compiles = spawnSync('sh', ['-c', 'echo "#include <termios.h>\nint main(void){return 0;}" | cc -x c -o /dev/null -']).status === 0;

testIf(compiles, 'needs cc and the C headers (Debian packages gcc, libc6-dev, linux-libc-dev)', test)(
  'the terminal constants and struct sizes have the values the C headers give them',
  (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'termios-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const values = { TIOCSCTTY, TIOCGWINSZ, TIOCSWINSZ, TIOCGPTN, TIOCSPTLCK, TCSANOW, TCSADRAIN, TCSAFLUSH, F_DUPFD_CLOEXEC };
    const expressions = { ...Object.fromEntries(Object.keys(values).map((name) => [name, name])), DEVPTS_SUPER_MAGIC: 'DEVPTS_SUPER_MAGIC', SIZEOF_TERMIOS: 'sizeof(struct termios)' };
    const source = [
      ...['sys/ioctl.h', 'termios.h', 'fcntl.h', 'linux/magic.h', 'stdio.h'].map((header) => `#include <${header}>`),
      'int main(void) {',
      ...Object.entries(expressions).map(([name, expression]) => `  printf("%s %ld\\n", "${name}", (long)(${expression}));`),
      '  return 0;',
      '}',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'constants.c'), source);
    const compile = spawnSync('cc', ['-o', path.join(dir, 'constants'), path.join(dir, 'constants.c')], { encoding: 'utf8' });
    t.is(compile.stderr, '', 'every name exists in the headers');
    const output = spawnSync(path.join(dir, 'constants'), { encoding: 'utf8' }).stdout;
    const fromC = Object.fromEntries(output.trim().split('\n').map((line) => line.split(' ')).map(([name, value]) => [name, Number(value)]));
    t.deepEqual({ ...values, DEVPTS_SUPER_MAGIC: FilesystemMagic.DEVPTS_SUPER_MAGIC, SIZEOF_TERMIOS }, fromC);
  },
);
