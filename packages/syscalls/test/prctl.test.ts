// setParentDeathSignal: the child dies with its parent.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { collectOutput, learnerEnvironment, waitFor } from '@samples/testing';

test('setParentDeathSignal: when its parent is killed, the process gets the signal it asked for', async (t) => {
  const fixture = path.join(__dirname, 'fixtures', 'parent-death.ts');
  // The parent: a shell that waits for the fixture, its child.
  const parent = spawn('sh', ['-c', '"$0" --require tsx/cjs "$1" & wait', process.execPath, fixture], {
    cwd: path.join(__dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: learnerEnvironment(),
  });
  const output = collectOutput(parent);
  await waitFor('the child to say it is ready', () => /ready \d+/.test(output.text), 20_000, () => output.text);
  const child = Number(/ready (\d+)/.exec(output.text)![1]);
  // Gone, or dead and not yet reaped (a zombie) by whoever adopted it.
  const gone = () => {
    try {
      const stat = fs.readFileSync(`/proc/${child}/stat`, 'utf8');
      return / [ZX] /.test(stat.slice(stat.lastIndexOf(')')));
    } catch {
      return true;
    }
  };
  t.teardown(() => {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  parent.kill('SIGKILL');
  await waitFor('the child to die with its parent', gone, 10_000);
  t.pass();
});
