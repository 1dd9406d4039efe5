// A program in the container types a line into its terminal (ioctl TIOCSTI), as if its
// user had. In stage 7 its terminal is the host's: the host's shell reads the line once
// the container has exited. In stage 8 its terminal is its own pty: the line stays
// there. Run from a host shell in a real terminal (tmux); the line only reaches that
// shell, the test's own, which prints what it read.
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { canCompileStatic, compileStatic, hasTmux, isRoot, rootTest, stageCommand, testIf } from '@samples/testing';
import { containerEnded, hostShell, stage, startContainer } from './helpers';

const escapeTest = testIf(hasTmux && canCompileStatic(), 'needs tmux, cc and a static libc: apt-get install tmux gcc libc6-dev', rootTest);
const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
/** 0 turns TIOCSTI off for all but CAP_SYS_ADMIN (Linux 6.2+); older kernels have no such switch. */
const legacyTiocsti = fs.existsSync('/proc/sys/dev/tty/legacy_tiocsti') ? fs.readFileSync('/proc/sys/dev/tty/legacy_tiocsti', 'utf8').trim() : '1';

/** The program in the root filesystem's /tmp, removed after the test; its path inside. */
function typeInto(t: { teardown(fn: () => void): void }): string {
  const name = `type-into-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const output = path.join(rootfs, 'tmp', name);
  compileStatic(path.join(stage, 'escape', 'type-into.c'), output);
  t.teardown(() => fs.rmSync(output, { force: true }));
  return `/tmp/${name}`;
}

const lineOf = (packageDir: string) => {
  const [node, argv] = stageCommand(packageDir, ['--network', 'none']);
  return [node, ...argv].map((arg) => `'${arg}'`).join(' ');
};

/** Runs the program in a container of `packageDir`, then the host shell reads a line (2 s at most) and shows it. */
async function typeFrom(t: ExecutionContext, packageDir: string): Promise<string> {
  const program = typeInto(t);
  const shell = hostShell(t);
  await startContainer(shell, `${program} 'echo typed-by-the-container'; read -t 2 typed; echo "host-read:[$typed]"`, /^host-read:/m, lineOf(packageDir));
  t.deepEqual(await containerEnded(shell), { status: 0, modesBack: true });
  return /^host-read:\[(.*)\]$/m.exec(shell.terminal.screen())![1]!;
}

testIf(legacyTiocsti !== '0', 'this kernel lets only CAP_SYS_ADMIN use TIOCSTI (dev.tty.legacy_tiocsti = 0)', escapeTest)(
  "stage 7: the host's shell reads the line the container typed into its terminal",
  async (t) => {
    t.is(await typeFrom(t, path.join(stage, '..', '7-isolate-privileges')), 'echo typed-by-the-container');
  },
);

escapeTest("stage 8: the line stays in the container's own terminal; the host's shell reads nothing", async (t) => {
  t.is(await typeFrom(t, stage), '');
});
