// The transcripts' terminal: a real one (a pseudo-terminal), what it showed as text, and
// an interactive shell typed into as a learner types.
import os from 'node:os';
import test from 'ava';
import { record } from '../src/session';
import { screenText } from '../src/terminal';

test('what a terminal shows: no colours or bracketed paste, a carriage return writes over the line', (t) => {
  t.is(screenText('\x1b[?2004hroot@box:/# ls\r\n\x1b[?2004l\r\x1b[01;34mbin\x1b[0m\r\n'), 'root@box:/# ls\nbin\n');
  t.is(screenText('importing [####------]  40%\r\x1b[Kdone\n'), 'done\n', 'erased, then written');
  t.is(screenText('12345\rab\n'), 'ab345\n', 'written over');
  t.is(screenText('\x1b]0;a title\x07text'), 'text');
});

test('a command line runs on a terminal: stdin, stdout and stderr are one, in the order written', async (t) => {
  const { terminal, host } = await record([{ run: 'tty -s && echo on-a-terminal; echo out; echo err >&2; echo again' }], os.tmpdir());
  t.deepEqual(terminal, ['$ tty -s && echo on-a-terminal; echo out; echo err >&2; echo again', 'on-a-terminal', 'out', 'err', 'again']);
  t.deepEqual(host, []);
});

test('an interactive bash: each line typed once the prompt is back, its output, then exit', async (t) => {
  // --norc and a prompt of its own: the same on every machine.
  const start = "env -i TERM=xterm PS1='box# ' bash --norc";
  const { terminal } = await record(
    [{ start }, { inside: 'echo one; echo two >&2' }, { inside: 'set -o | grep -E "^monitor"' }, { inside: 'exit' }],
    os.tmpdir(),
  );
  t.deepEqual(terminal, [
    `$ ${start}`,
    'container# echo one; echo two >&2',
    'one',
    'two',
    'container# set -o | grep -E "^monitor"',
    'monitor        \ton',
    'container# exit',
    'exit',
  ]);
});

test('a shell that never reads the terminal is an error that says so, with what the terminal showed', async (t) => {
  const error = await t.throwsAsync(record([{ start: 'echo started; exit 3' }, { inside: 'true' }], os.tmpdir()));
  t.regex(error.message, /^the command ended while waiting for the container's bash to read the terminal \(is the command bash\?\); the terminal showed:\nstarted\n/);
});
