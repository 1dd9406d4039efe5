// The container's terminal, in a real terminal (tmux), checked from the host's side:
// a shell that exits cleanly, /dev/pts/0 inside, job control, resizing, full-screen
// programs, the host terminal's modes after every way out, --user, stage 7's privileges
// inside a terminal session, the runtime's own lines in raw mode; and --no-tty.
import fs from 'node:fs';
import path from 'node:path';
import { assertInOrder, hasTmux, rootTest, testIf, waitFor } from '@samples/testing';
import { bashPrompt, containerEnded, dashPrompt, hostShell, stageLine, startContainer } from './helpers';

const test = testIf(hasTmux, 'needs tmux: apt-get install tmux', rootTest);
const DOCKER_MASK = '00000000a80425fb';

test('pnpm --filter 8-isolate-terminal start /bin/sh, then exit: status 0, no "Cannot set tty process group"; the host terminal\'s modes are back', async (t) => {
  const shell = hostShell(t);
  // As a learner types it, with the default network (a bridge): in a scratch network namespace.
  const scratchHost = `unshare --net sh -c 'ip link set lo up && exec "$@"' sh`;
  await startContainer(shell, '/bin/sh', dashPrompt, `${scratchHost} pnpm --filter 8-isolate-terminal start`);
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  t.notRegex(shell.terminal.screen(), /tty process group|job control|8-isolate-terminal:|ERR_PNPM/i);
});

test('tty is /dev/pts/0 of a devpts of its own; ps shows pts/0; the container holds no master and no socket', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, '/bin/sh', dashPrompt);
  shell.run('tty; ps -o pid,tty,comm; grep devpts /proc/mounts; echo "held=$(ls -l /proc/1/fd /proc/self/fd | grep -c -E "ptmx|socket")"; readlink /dev/ptmx');
  const screen = await shell.terminal.waitFor('the output of tty, ps, grep, readlink', (text) => /^pts\/ptmx$/m.test(text));
  t.regex(screen, /^\/dev\/pts\/0$/m);
  t.regex(screen, /^\s+1 pts\/0\s+sh$/m);
  t.regex(screen, /^devpts \/dev\/pts devpts rw,nosuid,noexec.*ptmxmode=666/m);
  t.regex(screen, /^held=0$/m, 'the runtime\'s fd 3 (a socket) and the master stay out of the container');
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test("job control: &, jobs, fg, Ctrl-Z, bg, Ctrl-C and Ctrl-\\ reach the container's foreground job, not the runtime", async (t) => {
  const shell = hostShell(t);
  const { terminal } = shell;
  await startContainer(shell, '/bin/bash', bashPrompt);
  shell.run('sleep 100 &');
  shell.run('jobs');
  await terminal.waitFor('jobs to list sleep as Running', (text) => /\[1\]\+\s+Running\s+sleep 100 &/.test(text));
  await shell.clear();
  shell.run('fg');
  await terminal.waitFor('sleep in the foreground', (text) => /^sleep 100$/m.test(text));
  terminal.type('C-z');
  await terminal.waitFor('Ctrl-Z to stop sleep', (text) => /\[1\]\+\s+Stopped\s+sleep 100/.test(text));
  await shell.clear();
  shell.run('bg');
  shell.run('jobs');
  await terminal.waitFor('sleep running again in the background', (text) => /\[1\]\+\s+Running\s+sleep 100 &/.test(text));
  await shell.clear();
  shell.run('fg');
  await terminal.waitFor('sleep in the foreground again', (text) => /^sleep 100$/m.test(text));
  terminal.type('C-c');
  await terminal.waitFor('Ctrl-C to end sleep and give the prompt back', (text) => /\^C\n.*root@container:\/# ?$/m.test(text));
  await shell.clear();
  shell.run('sleep 100');
  await terminal.waitFor('a second sleep in the foreground', (text) => /# sleep 100\n/.test(text));
  terminal.type('C-\\');
  await terminal.waitFor('Ctrl-\\ to quit sleep', (text) => /Quit.*\n.*root@container:\/# ?$/m.test(text));
  shell.run('jobs; echo "jobs-left=$(jobs | wc -l)"');
  await terminal.waitFor('no job left', (text) => text.includes('jobs-left=0'));
  shell.run('exit 3');
  t.deepEqual(await containerEnded(shell), { status: 3, modesBack: true });
});

test('the pty follows the window: stty size before and after a resize', async (t) => {
  const shell = hostShell(t, { width: 100, height: 30 });
  await startContainer(shell, '/bin/sh', dashPrompt);
  shell.run('stty size');
  await shell.terminal.waitFor('stty size: 30 100', (text) => /^30 100$/m.test(text));
  shell.terminal.resize(80, 24);
  await shell.clear();
  shell.run('stty size');
  await shell.terminal.waitFor('stty size after the resize: 24 80', (text) => /^24 80$/m.test(text));
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test('less and top draw and quit cleanly', async (t) => {
  const shell = hostShell(t, { width: 100, height: 30 });
  const { terminal } = shell;
  await startContainer(shell, '/bin/bash', bashPrompt);
  shell.run('seq 1000 | less');
  await terminal.waitFor('less to show the first 29 lines and its prompt', (text) => /^1\n2\n3\n[\s\S]*^29\n:/m.test(text));
  terminal.type('G');
  await terminal.waitFor('less at the end', (text) => /^1000\n\(END\)/m.test(text));
  terminal.type('q');
  await terminal.waitFor('the prompt after less', (text) => /seq 1000 \| less\n.*root@container:\/# ?$/m.test(text));
  shell.run('top -d 0.5');
  await terminal.waitFor('top to draw its header and PID 1', (text) => /^top - /m.test(text) && /^\s+1 root .* bash\s*$/m.test(text));
  terminal.type('q');
  await terminal.waitFor('the prompt after top', (text) => /root@container:\/# ?$/m.test(text) && !/^top - /m.test(text));
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test("modes the container sets on its terminal (stty raw -echo) stay on its pty: the host terminal's are back", async (t) => {
  const shell = hostShell(t);
  // Raw, the container's pty adds no \r to a \n any more: the script brings its own.
  await startContainer(shell, `sh -c 'stty raw -echo; printf "echo-off-%s\\r\\n" "$(stty -a | grep -c -- " -echo ")"; printf "set#\\r\\n"'`, /^set#/m);
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  t.regex(shell.terminal.screen(), /^echo-off-1$/m, 'the change was made, on the container\'s terminal');
});

test('the exit status is the command\'s, with a terminal too', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, `sh -c 'echo "exiting#"; exit 42'`, /^exiting#/m);
  t.deepEqual(await containerEnded(shell), { status: 42, modesBack: true });
});

test('a SIGINT to the runtime (kill, not a key) reaches the container', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, `sh -c 'trap "echo got SIGINT; exit 5" INT; echo "waiting#"; while :; do sleep 0.1; done'`, /^waiting#$/m);
  process.kill(shell.runtimePid(), 'SIGINT');
  t.deepEqual(await containerEnded(shell), { status: 5, modesBack: true });
  t.regex(shell.terminal.screen(), /^got SIGINT\r?$/m);
});

test('the host terminal gets its modes back after SIGTERM to the runtime', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, '/bin/bash', bashPrompt);
  const runtime = shell.runtimePid();
  t.regex(fs.readFileSync(`/proc/${runtime}/cmdline`, 'utf8'), /main\.ts\0run\0--network\0none\0\/bin\/bash/, 'the runtime is found');
  process.kill(runtime, 'SIGTERM');
  // An interactive bash ignores SIGTERM: the runtime kills it after 5 s.
  t.deepEqual(await containerEnded(shell, 15_000), { status: 137, modesBack: true });
});

test('the host terminal gets its modes back after SIGHUP to the runtime; the container is gone', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, '/bin/bash', bashPrompt);
  const runtime = shell.runtimePid();
  const container = Number(fs.readFileSync(`/proc/${runtime}/task/${runtime}/children`, 'utf8').trim());
  process.kill(runtime, 'SIGHUP');
  // The runtime passes SIGHUP on; bash exits on it (129).
  t.deepEqual(await containerEnded(shell), { status: 129, modesBack: true });
  t.false(fs.existsSync(`/proc/${container}`), 'no container process is left');
});

test('closing the terminal (tmux kill-server) leaves no runtime and no container behind', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, '/bin/bash', bashPrompt);
  const runtime = shell.runtimePid();
  const container = Number(fs.readFileSync(`/proc/${runtime}/task/${runtime}/children`, 'utf8').trim());
  shell.terminal.close();
  try {
    await waitFor('the runtime and the container to end after the hangup', () => !fs.existsSync(`/proc/${runtime}`) && !fs.existsSync(`/proc/${container}`));
  } catch (error) {
    for (const pid of [container, runtime]) if (fs.existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    throw error;
  }
  t.pass();
});

test('a paste of 200 KB into tee: input never blocks the relay', async (t) => {
  const shell = hostShell(t);
  const { terminal } = shell;
  await startContainer(shell, '/bin/sh', dashPrompt);
  const lines = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(4, '0')} ${'x'.repeat(95)}`);
  const paste = path.join(shell.scratch, 'paste');
  fs.writeFileSync(paste, `${lines.join('\n')}\n`);
  // tee writes each line back: the relay must go on reading the container's output while
  // the container's input queue is full, or tee blocks on output and never reads again.
  // (What the terminal echoes may be cut short under load: echo never blocks, it drops.)
  // /newtemp is the container's own tmpfs: nothing is left in the shared root filesystem.
  shell.run('tee /newtemp/pasted; wc -l -c < /newtemp/pasted');
  await terminal.waitFor('tee to wait for input', (text) => /# tee \/newtemp\/pasted; wc -l -c < \/newtemp\/pasted\n/.test(text));
  shell.paste(paste);
  // Ctrl-D right after the paste, not after its echo: on this kernel (6.18) the tail of
  // a paste sometimes waits in the pty until the next byte (seen without Node too).
  terminal.type('C-d');
  // 2000 lines of 101 bytes: the terminal turns the paste's CR back into NL (ICRNL).
  const screen = await terminal.waitFor("wc's count of what tee got: 2000 lines, 202000 bytes", (text) => /^\s*2000\s+202000$/m.test(text), 30_000);
  t.regex(screen, new RegExp(`^1999 ${'x'.repeat(95)}\\n\\s*2000\\s+202000$`, 'm'), "tee's copy of the last line comes last");
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test('the last lines of a fast command are never lost, to a terminal or a file', async (t) => {
  const shell = hostShell(t);
  await shell.terminal.waitFor('the host shell prompt', (text) => text.includes('host$'));
  const out = `${shell.scratch}/out`;
  shell.run(
    `for i in 1 2 3 4 5 6 7 8; do ${stageLine} sh -c 'seq 3; echo last-line'; done > ${out}; ` +
      `${stageLine} seq 100000 >> ${out}; echo done-$?`,
  );
  await shell.terminal.waitFor('nine runs to end', (text) => text.includes('done-0'), 90_000);
  const text = fs.readFileSync(out, 'utf8');
  t.is(text.match(/^last-line\r$/gm)?.length, 8, 'each run wrote its last line (through the pty: \\r\\n)');
  t.is(text.match(/\r\n/g)?.length, 8 * 4 + 100_000);
  t.regex(text, /\r\n100000\r\n$/);
});

test("--user nobody with a terminal: the pty is the user's, reopened by name; job control works", async (t) => {
  const shell = hostShell(t);
  const { terminal } = shell;
  await startContainer(shell, '--user nobody /bin/sh', /^\$ ?$/m);
  shell.run('id -u; tty; stat -c "%u %g %a" "$(tty)"; echo "reopened-$(echo ok > "$(tty)" && echo ok)"');
  const screen = await terminal.waitFor('id, tty, stat, and the reopening', (text) => /^reopened-/m.test(text));
  t.regex(screen, /^65534\n\/dev\/pts\/0\n65534 5 620\n/m, 'uid 65534 owns /dev/pts/0 (group tty, 5; mode 0620)');
  t.regex(screen, /^reopened-ok$/m);
  shell.run('sleep 100');
  await terminal.waitFor('sleep in the foreground', (text) => /\$ sleep 100\n/.test(text));
  terminal.type('C-c');
  await terminal.waitFor('Ctrl-C to end sleep', (text) => /sleep 100\n\^?C?\n?\$ ?$/m.test(text));
  shell.run('exit 0');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  t.notRegex(terminal.screen(), /tty process group|8-isolate-terminal:/i);
});

test("stage 7's privileges hold in a terminal session: Docker's 14 capabilities, no_new_privs, the filter, /proc/sys read-only", async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, '/bin/sh', dashPrompt);
  shell.run('grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; v=$(cat /proc/sys/vm/swappiness) && echo "$v" > /proc/sys/vm/swappiness; echo "probed#"');
  const screen = await shell.terminal.waitFor('the probes', (text) => /^probed#$/m.test(text));
  t.regex(screen, new RegExp(`^CapEff:\\s+${DOCKER_MASK}$`, 'm'));
  t.regex(screen, /^NoNewPrivs:\s+1$/m);
  t.regex(screen, /^Seccomp:\s+2$/m);
  t.regex(screen, /swappiness: Read-only file system$/m);
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test("the runtime's own line while the terminal is raw (an OOM kill) starts at the left edge, as does what follows", async (t) => {
  const shell = hostShell(t);
  const { terminal } = shell;
  await startContainer(shell, '--memory 64m /bin/bash', bashPrompt);
  shell.run('head -c 300M /dev/zero | tail > /dev/null');
  await terminal.waitFor("the runtime's report of the OOM kill", (text) => /out of memory: the container exceeded its 64 MiB limit/.test(text), 30_000);
  shell.run('echo "next-$((1 + 1))"');
  const screen = await terminal.waitFor('the next command to run', (text) => /^next-2$/m.test(text));
  t.regex(screen, /^(root@container:\/# )?8-isolate-terminal: out of memory: the container exceeded its 64 MiB limit$/m);
  t.notRegex(screen, /^\s+(Killed|root@container|next-2|8-isolate-terminal)/m, 'nothing begins mid-row, as after a line feed without a carriage return');
  shell.run('exit');
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
});

test('--verbose: the terminal steps after the mounts and before the privileges go; the runtime opens the pty in between', async (t) => {
  const shell = hostShell(t, { width: 200, height: 60 });
  await startContainer(shell, `--verbose --user nobody sh -c 'echo "ran#"'`, /^ran#/m);
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  const steps = shell.terminal.screen().split('\n').filter((line) => line.startsWith('=> '));
  const expected = [
    /^=> \[child\] mount tmpfs on \/dev\/shm \.\.\. ok$/,
    /^=> \[child\] mount devpts \(newinstance,ptmxmode=0666\) on \/dev\/pts; \/dev\/ptmx -> pts\/ptmx \.\.\. ok$/,
    /^=> open \/proc\/\d+\/root\/dev\/pts\/ptmx, unlock it, TIOCGPTN \.\.\. ok$/,
    /^=> TIOCSWINSZ: the size of this terminal \.\.\. ok$/,
    /^=> \[child\] say "devpts"; the runtime opens a pty in it and answers its number \.\.\. ok$/,
    /^=> raw mode on; relaying until the pty says EIO$/,
    /^=> \[child\] setsid\(\), open \/dev\/pts\/0, ioctl\(TIOCSCTTY\), fchown to 65534, dup2 onto 0, 1, 2 \.\.\. ok$/,
    /^=> \[child\] setrlimit\(RLIMIT_NOFILE, 1024:1024\) \.\.\. ok$/,
    /^=> \[child\] setgroups\(\[\]\), setgid\(65534\), setuid\(65534\) \.\.\. ok$/,
    /^=> \[child\] seccomp\(SECCOMP_SET_MODE_FILTER\): \d+ BPF instructions \.\.\. ok$/,
    /^=> \[child\] exec sh: it becomes PID 1$/,
    /^=> remove cgroup container-[0-9a-f]{8} \.\.\. ok$/,
  ];
  assertInOrder(t, steps, expected);
});

test('--no-tty from a terminal: stdio passed through as in stage 7, the terminal and session the host\'s', async (t) => {
  const shell = hostShell(t);
  await startContainer(shell, `--no-tty sh -c '[ -t 0 ] && echo "stdin-is-a-terminal"; echo "session-$(ps -o sid= -p 1 | tr -d " ")"; ls /dev/pts 2>&1 | head -1'`, /^session-/m);
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  const screen = shell.terminal.screen();
  t.regex(screen, /^stdin-is-a-terminal$/m, "the host's terminal, passed through");
  t.regex(screen, /^session-0$/m, "PID 1's session is the host's");
  t.regex(screen, /No such file or directory/, 'no /dev/pts');
});

