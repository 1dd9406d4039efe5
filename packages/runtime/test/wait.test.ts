// waitForExit with the runtime on a terminal (tmux): the first SIGINT is the terminal's
// business, unless the container has a terminal of its own.
import path from 'node:path';
import { Terminal, hasTmux, testIf } from '@samples/testing';
import anyTest from 'ava';

const test = testIf(hasTmux, 'needs tmux: apt-get install tmux', anyTest);
const fixture = path.join(__dirname, 'fixtures', 'wait-for-exit.ts');

/** Starts the fixture in a terminal; resolves with the terminal and the runtime's pid, once its child waits. */
async function startRuntime(t: { teardown(fn: () => void): void }, terminal: 'own' | 'shared') {
  const term = new Terminal(`'${process.execPath}' --require tsx/cjs '${fixture}' run ${terminal}; echo "status=$?"; sleep 60`);
  t.teardown(() => term.close());
  const screen = await term.waitFor('the child to say it waits', (text) => /runtime \d+ waiting/.test(text), 20_000);
  return { term, runtime: Number(/runtime (\d+) waiting/.exec(screen)![1]) };
}

test('with a terminal of its own, the first SIGINT to the runtime (from kill) is passed on', async (t) => {
  const { term, runtime } = await startRuntime(t, 'own');
  process.kill(runtime, 'SIGINT');
  const screen = await term.waitFor('the status line', (text) => text.includes('status='));
  t.regex(screen, /child got SIGINT\nstatus=3$/m);
});

test('sharing the runtime\'s terminal, the first SIGINT is left to the terminal; a second one kills', async (t) => {
  const { term, runtime } = await startRuntime(t, 'shared');
  process.kill(runtime, 'SIGINT');
  // Nothing should happen: give a passed-on SIGINT the time it took above, many times over.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.notRegex(term.screen(), /child got SIGINT|status=/);
  process.kill(runtime, 'SIGINT');
  const screen = await term.waitFor('the status line', (text) => text.includes('status='));
  t.regex(screen, /^status=137$/m);
});
