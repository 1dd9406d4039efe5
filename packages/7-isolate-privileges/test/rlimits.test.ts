import test from 'ava';
import { RLIM_INFINITY } from '@samples/syscalls';
import { CliError } from '@samples/runtime';
import { rootTest } from '@samples/testing';
import { parseUlimits } from '../src/rlimits';
import { contain } from './helpers';

test('--ulimit: NAME=SOFT[:HARD], -1 for none; the default NOFILE stays unless named', (t) => {
  t.deepEqual(parseUlimits(''), [{ resource: 'RLIMIT_NOFILE', soft: 1024n, hard: 1024n }]);
  t.deepEqual(parseUlimits('nofile=2048:4096,nproc=64,core=-1'), [
    { resource: 'RLIMIT_NOFILE', soft: 2048n, hard: 4096n },
    { resource: 'RLIMIT_NPROC', soft: 64n, hard: 64n },
    { resource: 'RLIMIT_CORE', soft: RLIM_INFINITY, hard: RLIM_INFINITY },
  ]);
  const error = t.throws(() => parseUlimits('files=10'), { instanceOf: CliError });
  t.is(error.message, '--ulimit takes NAME=SOFT[:HARD] (e.g. nofile=1024:4096): not "files=10"');
  t.throws(() => parseUlimits('nofile=10:5'), { message: '--ulimit nofile=10:5: the soft limit is above the hard one' });
});

rootTest('before: Node raised its soft limit on open files to the hard one, and the command inherits that', (t) => {
  // Node started with 1024 of 4096 allowed, as from a login shell; the command gets 4096.
  const result = contain({}, ['sh', '-c', 'ulimit -n; ulimit -Hn'], {}, ['prlimit', '--nofile=1024:4096']);
  t.is(result.stdout, '4096\n4096\n');
});

rootTest('after: 1024 open files, soft and hard, as runc; --ulimit changes it', (t) => {
  t.is(contain({ privileges: {} }, ['sh', '-c', 'ulimit -n; ulimit -Hn']).stdout, '1024\n1024\n');
  t.is(contain({ privileges: { ulimit: 'nofile=512:2048' } }, ['sh', '-c', 'ulimit -n; ulimit -Hn']).stdout, '512\n2048\n');
});
