// The open_by_handle_at escape ("shocker"): from inside a pivot_rooted container, read
// a file of the host that the test made beside the root filesystem, by its handle.
// It works in stage 6 (every capability); stage 7 refuses it twice over: the
// capability it needs is gone, and the filter refuses the call. Each layer is shown
// alone: the stage without its filter (the capability refuses), and, since the stage's
// filter lets the call through once the capability is given back (as Docker's does),
// its default filter applied with the capability kept (fixtures/contain.ts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { resolveRootfs } from '@samples/rootfs';
import { canCompileStatic, isRoot, rootTest, runStage, testIf } from '@samples/testing';
import { compileInto, contain, stage, stage6 } from './helpers';

const rootfs = isRoot ? resolveRootfs(undefined, { quiet: true }) : '';
const READ_REFUSED = 'open_by_handle_at: Operation not permitted\n';
const escapeTest = testIf(canCompileStatic(), 'needs cc and a static libc: apt-get install gcc libc6-dev', rootTest);

/**
 * The program inside the root filesystem's /tmp, and the handle of a secret file the
 * test writes beside the root filesystem (outside it, on the same filesystem, which
 * a handle needs). Both are removed after the test.
 */
function prepare(t: ExecutionContext): { program: string; handle: string; secret: string } {
  const program = compileInto(t, path.join(__dirname, '..', 'escape', 'open-by-handle.c'), path.join(rootfs, 'tmp'));
  const secret = `host secret ${randomBytes(6).toString('hex')}\n`;
  const file = path.join(path.dirname(rootfs), `escape-secret-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(file, secret);
  t.teardown(() => fs.rmSync(file, { force: true }));
  const handle = spawnSync(program, ['handle', file], { encoding: 'utf8' }).stdout.trim();
  t.regex(handle, /^\d+:[0-9a-f]+$/);
  return { program: `/tmp/${path.basename(program)}`, handle, secret };
}

escapeTest('stage 6: the container reads the host file by its handle', (t) => {
  const { program, handle, secret } = prepare(t);
  const result = runStage(stage6, ['--network', 'none', program, 'read', handle]);
  t.is(result.stdout, secret);
});

escapeTest('stage 7: refused (capability and filter)', (t) => {
  const { program, handle } = prepare(t);
  const result = runStage(stage, ['--network', 'none', program, 'read', handle]);
  t.is(result.stdout, '');
  t.is(result.stderr, READ_REFUSED);
  t.is(result.status, 1);
});

escapeTest('stage 7 with --security-opt seccomp=unconfined: refused by the missing CAP_DAC_READ_SEARCH alone', (t) => {
  const { program, handle } = prepare(t);
  const result = runStage(stage, ['--network', 'none', '--security-opt', 'seccomp=unconfined', program, 'read', handle]);
  t.is(result.stdout, '');
  t.is(result.stderr, READ_REFUSED);
});

escapeTest('stage 7 with --cap-add DAC_READ_SEARCH: refused by the filter alone (Docker would let the capability lift it)', (t) => {
  const { program, handle } = prepare(t);
  const result = runStage(stage, ['--network', 'none', '--cap-add', 'DAC_READ_SEARCH', program, 'read', handle]);
  t.is(result.stdout, '');
  t.is(result.stderr, READ_REFUSED);
});

escapeTest('stage 7 with both lifted, the capability given back and no filter: the escape works again', (t) => {
  const { program, handle, secret } = prepare(t);
  const args = ['--network', 'none', '--cap-add', 'DAC_READ_SEARCH', '--security-opt', 'seccomp=unconfined', program, 'read', handle];
  t.is(runStage(stage, args).stdout, secret, 'the capability is all the kernel asks for');
});

escapeTest("stage 7's default filter, with CAP_DAC_READ_SEARCH kept: refused by the filter alone; without the filter it works", (t) => {
  const { program, handle, secret } = prepare(t);
  const filtered = contain({ rootfs, privileges: { capAdd: ['CAP_DAC_READ_SEARCH'], seccomp: 'default' } }, [program, 'read', handle]);
  t.is(filtered.stdout, '');
  t.is(filtered.stderr, READ_REFUSED);
  const unfiltered = contain({ rootfs, privileges: { capAdd: ['CAP_DAC_READ_SEARCH'], seccomp: false } }, [program, 'read', handle]);
  t.is(unfiltered.stdout, secret);
});
