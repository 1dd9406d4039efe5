// `npm run doctor` on this machine: one line per check, a fix under each failure, and
// an exit status that says whether any required check failed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { isRoot, rootTest } from '@samples/testing';

const doctor = path.join(__dirname, '..', '..', 'scripts', 'doctor.cjs');
const CHECK = /^ {2}(ok|FAIL|warn|skip) {2,}\S/;

function runDoctor(prefix: string[] = []) {
  const [file, ...args] = [...prefix, process.execPath, doctor];
  const result = spawnSync(file, args, { encoding: 'utf8' });
  const lines = result.stdout.split('\n');
  const checks = lines.filter((line) => CHECK.test(line));
  return { status: result.status, stderr: result.stderr, lines, checks };
}

test('every check is one line; every failure is followed by its fix', (t) => {
  const { status, stderr, lines, checks } = runDoctor();
  t.is(stderr, '');
  t.true(checks.length >= 10);
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('  FAIL')) t.regex(lines[i + 1] ?? '', /^ {8}fix: \S/, line);
  }
  const failed = checks.filter((line) => line.startsWith('  FAIL')).length;
  t.is(status, failed === 0 ? 0 : 1);
  t.regex(lines.at(-2) ?? '', failed === 0 ? /^Ready: / : /^Not ready: /);
});

test('what this machine is: Linux, a Node new enough, the dependencies installed', (t) => {
  const { checks } = runDoctor();
  t.true(checks.includes(`  ok    Linux (${process.arch})`));
  t.true(checks.includes(`  ok    Node ${process.versions.node}`));
  t.true(checks.includes('  ok    dependencies installed (koffi loads libc)'));
  t.true(checks.some((line) => /^ {2}(ok|warn)\s+cgroup (v2|v1|v1 \(hybrid\)): memory\b/.test(line)));
  t.true(checks.includes(isRoot ? '  ok    root' : `  FAIL  root: running as ${os.userInfo().username}`));
  if (isRoot) t.true(checks.includes('  ok    stage 6: veth and bridge (made one of each, in a scratch network namespace)'));
  const seccomp = fs.existsSync('/proc/sys/kernel/seccomp/actions_avail');
  t.true(checks.includes(seccomp ? '  ok    stage 7: seccomp filters' : '  warn  stage 7: this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)'));
});

rootTest('as an unprivileged user: root fails, with its fix, the namespace check says it was skipped, and the status is 1', (t) => {
  const { status, lines } = runDoctor(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all']);
  t.is(status, 1);
  const at = lines.indexOf('  FAIL  root: running as nobody');
  t.not(at, -1);
  t.regex(lines[at + 1]!, /^ {8}fix: creating namespaces needs root \(CAP_SYS_ADMIN\)/);
  t.true(lines.includes('  skip  namespaces: uts, pid, mnt exist; making one needs root, so not tried'), 'a check not run says skip, not ok');
  t.true(lines.includes('  skip  stage 6: veth and bridge exist; making them needs root, so not tried'));
});
