import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RLIMIT_NOFILE, getrlimit } from '../src/index';

test('getrlimit reads what /proc/self/limits shows', (t) => {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((text) => text.startsWith('Max open files'))!;
  const [, soft, hard] = line.split(/\s{2,}/);
  const limit = getrlimit(RLIMIT_NOFILE);
  t.deepEqual([String(limit.soft), String(limit.hard)], [soft, hard]);
});

test('setrlimit lowers a limit for the process and the programs it starts', (t) => {
  const index = JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'));
  const script = `
    const s = require(${index});
    s.setrlimit(s.RLIMIT_NOFILE, { soft: 100n, hard: 200n });
    process.stdout.write(require('child_process').execFileSync('sh', ['-c', 'ulimit -n; ulimit -Hn']));
  `;
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(result.stdout, '100\n200\n');
});
