import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { getpid, gethostname } from '../src/index';
import { rootTest } from '@samples/testing';

test('gethostname reads the UTS namespace own name, as os.hostname does', (t) => {
  t.is(gethostname(), os.hostname());
});

test('getpid is the process id Node knows', (t) => {
  t.is(getpid(), process.pid);
});

rootTest('setgroups, setgid and setuid change every thread of Node, not only the caller', (t) => {
  const index = JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'));
  const script = `
    const s = require(${index});
    s.setgroups([5, 6]);
    s.setgid(7);
    s.setuid(8);
    const fs = require('fs');
    const ids = fs.readdirSync('/proc/self/task').map((tid) => {
      const status = fs.readFileSync('/proc/self/task/' + tid + '/status', 'utf8');
      return ['Uid', 'Gid', 'Groups'].map((field) => new RegExp('^' + field + ':(.*)$', 'm').exec(status)[1].trim().split(/\\s+/).join(',')).join(' ');
    });
    console.log(ids.length > 1, [...new Set(ids)].join('|'));
  `;
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(result.stderr, '');
  t.is(result.stdout.trim(), 'true 8,8,8,8 7,7,7,7 5,6');
});
