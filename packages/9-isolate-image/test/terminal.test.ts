// Stage 8's terminal holds in stage 9: started from a real terminal (tmux), the container
// gets a pty of its own, on the overlay root; its folder goes when it ends, as without
// a terminal, and the runtime's last line comes after the terminal's modes are back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasTmux, rootTest, stageCommand, Terminal, testIf } from '@samples/testing';
import { stage } from './helpers';

const test = testIf(hasTmux, 'needs tmux: apt-get install tmux', rootTest);

test('from a terminal: /dev/pts/0 of its own, on the overlay; the folder goes at the end, --keep keeps it', async (t) => {
  const containers = fs.mkdtempSync(path.join(os.tmpdir(), 'image-terminal-'));
  t.teardown(() => fs.rmSync(containers, { recursive: true, force: true }));
  const [node, argv] = stageCommand(stage, ['--network', 'none']);
  const line = (...args: string[]) => [node, ...argv, ...args].map((arg) => `'${arg}'`).join(' ');
  const terminal = new Terminal(
    `env SAMPLES_CONTAINERS_DIR=${containers} sh -c "${line('sh', '-c', 'tty; findmnt -n -o FSTYPE /')}; echo status \\$?; ${line('--keep', 'true')}; echo status \\$?; sleep 60"`,
    { cwd: stage, width: 400, height: 20 },
  );
  t.teardown(() => terminal.close());
  const screen = await terminal.waitFor('both runs to end', (text) => (text.match(/^status \d+$/gm) ?? []).length === 2, 30_000);
  t.regex(screen, /^\/dev\/pts\/0\noverlay\nstatus 0\n/m, 'a pty of its own; the root is the overlay');
  t.regex(screen, /^9-isolate-image: the container's changes are kept in \S+\/upper \(whiteouts are 0\/0 character devices\); remove them with: rm -rf \S+\nstatus 0$/m);
  t.is(fs.readdirSync(containers).length, 1, 'the first folder removed, the kept one there');
});
