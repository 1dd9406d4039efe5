// The headline, in a real terminal (tmux): `pnpm --filter 6-isolate-network start
// /bin/bash` gives a shell whose network is its own, and which the host reaches. The
// runtime runs inside `unshare --net` (a scratch host, as in main.test.ts): the tmux
// server is started by this test, in the real host's namespace.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { resolveRootfs } from '@samples/rootfs';
import { Terminal, hasTmux, isRoot, rootTest, stageCommand, testIf, waitFor } from '@samples/testing';
import { TOOLS_MISSING, inRootfs, stage } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const hasTools = !isRoot || (inRootfs(rootfs, 'ip') && inRootfs(rootfs, 'busybox'));
const test = testIf(hasTmux && hasTools, hasTmux ? TOOLS_MISSING : 'needs tmux: apt-get install tmux', rootTest);

/** The pid of the only child of `pid`. */
const childOf = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0]);

test('an interactive bash with a network of its own, which the host reaches', async (t) => {
  const [node, argv] = stageCommand(stage, ['/bin/bash']);
  const quoted = [node, ...argv].map((arg) => `'${arg}'`).join(' ');
  const terminal = new Terminal(`unshare --net sh -c 'ip link set lo up && exec "$@"' sh ${quoted}; echo "status=$?"; sleep 60`, { cwd: stage });
  t.teardown(() => terminal.close());

  await terminal.waitFor('the prompt', (screen) => screen.includes('root@container:/#'), 30_000);
  terminal.type('ip -4 -br addr show eth0; ip route show default', 'Enter');
  const shown = await terminal.waitFor('its address and route', (screen) => screen.includes('default via'));
  t.regex(shown, /eth0@if\d+ +UP +10\.22\.0\.2\/24 *\ndefault via 10\.22\.0\.1 dev eth0/);
  terminal.type('httpd -p 80 -h /etc && echo serving', 'Enter');
  await terminal.waitFor('httpd to listen', (screen) => /^serving$/m.test(screen));

  // The scratch host: the namespace of the runtime (the child of the pane's shell).
  const pane = terminal.panePid();
  let runtime = 0;
  await waitFor('the runtime to be the child of the pane', () => (runtime = childOf(pane)) > 0);
  const script = "require('http').get('http://10.22.0.2/hostname', { timeout: 5000 }, (r) => r.pipe(process.stdout)).on('error', (e) => console.log(e.message));";
  const fetched = spawnSync('nsenter', [`--net=/proc/${runtime}/ns/net`, process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(fetched.stdout, 'container\n', 'the host fetched /etc/hostname from the container');

  terminal.type('exit 7', 'Enter');
  const after = await terminal.waitFor('the runtime to exit', (screen) => screen.includes('status='));
  t.regex(after, /status=7\n/);
});
