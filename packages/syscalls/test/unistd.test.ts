import os from 'node:os';
import test from 'ava';
import { getpid, gethostname } from '../src/index';

test('gethostname reads the UTS namespace own name, as os.hostname does', (t) => {
  t.is(gethostname(), os.hostname());
});

test('getpid is the process id Node knows', (t) => {
  t.is(getpid(), process.pid);
});
