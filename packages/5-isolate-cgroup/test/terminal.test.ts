// The headline, in a real terminal (tmux): a shell with a prompt, line editing,
// job control (Ctrl-C stops a foreground sleep, not the container) and its exit status.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { rootTest, stageCommand, testIf, waitFor } from '@samples/syscalls/testing';

const test = testIf(spawnSync('tmux', ['-V']).status === 0, 'needs tmux: apt-get install tmux', rootTest);
const stage = path.join(__dirname, '..');

const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });

test('an interactive bash: prompt, line editing, Ctrl-C on a foreground sleep, exit status', async (t) => {
  const session = `stage5-${randomBytes(4).toString('hex')}`;
  const [node, argv] = stageCommand(stage, ['/bin/bash']);
  const quoted = [node, ...argv].map((arg) => `'${arg}'`).join(' ');
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `cd '${stage}'; ${quoted}; echo "status=$?"; sleep 60`);
  t.teardown(() => tmux('kill-session', '-t', session));
  const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;
  const type = (...keys: string[]) => tmux('send-keys', '-t', session, ...keys);

  // (capture-pane drops the blank at the end of the prompt)
  await waitFor(() => screen().includes('root@container:/#'), 30_000);
  type('sleep 100', 'Enter');
  await waitFor(() => /sleep 100\n/.test(screen()));
  type('C-c');
  await waitFor(() => /\^C\nroot@container:\/#$/m.test(screen()), 10_000);
  // Line editing: type the end first, go to the start of the line, type the beginning.
  type('ntainer-ok', 'C-a', 'echo co', 'Enter');
  await waitFor(() => screen().includes('\ncontainer-ok\n'), 10_000);
  type('exit 7', 'Enter');
  await waitFor(() => screen().includes('status=7'), 10_000);
  t.pass();
});
