// The headline, in a real terminal (tmux): a shell with a prompt, line editing,
// job control (Ctrl-C stops a foreground sleep, not the container) and its exit status.
import path from 'node:path';
import { Terminal, hasTmux, rootTest, stageCommand, testIf } from '@samples/testing';

const test = testIf(hasTmux, 'needs tmux: apt-get install tmux', rootTest);
const stage = path.join(__dirname, '..');

test('an interactive bash: prompt, line editing, Ctrl-C on a foreground sleep, exit status', async (t) => {
  const [node, argv] = stageCommand(stage, ['/bin/bash']);
  const quoted = [node, ...argv].map((arg) => `'${arg}'`).join(' ');
  const terminal = new Terminal(`${quoted}; echo "status=$?"; sleep 60`, { cwd: stage });
  t.teardown(() => terminal.close());

  // (capture-pane drops the blank at the end of the prompt)
  await terminal.waitFor('the prompt', (screen) => screen.includes('root@container:/#'), 30_000);
  terminal.type('sleep 100', 'Enter');
  await terminal.waitFor('sleep to start', (screen) => /sleep 100\n/.test(screen));
  terminal.type('C-c');
  await terminal.waitFor('^C and a new prompt', (screen) => /\^C\nroot@container:\/#$/m.test(screen));
  // Line editing: type the end first, go to the start of the line, type the beginning.
  terminal.type('ntainer-ok', 'C-a', 'echo co', 'Enter');
  const edited = await terminal.waitFor('the edited line to run', (screen) => screen.includes('\ncontainer-ok\n'));
  t.regex(edited, /root@container:\/# echo container-ok\ncontainer-ok\n/, 'the line as edited, and its output');
  terminal.type('exit 7', 'Enter');
  const after = await terminal.waitFor('the runtime to exit', (screen) => screen.includes('status='));
  t.regex(after, /status=7\n/, 'the shell exit status is the runtime own');
});
