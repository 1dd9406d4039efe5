// The fd-3 handshake between a runtime and its child, with a plain child process (no
// namespaces): "ready" and "go", and the conversation a later stage may hold after it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { collectOutput } from '@samples/testing';
import { type Conversation, releaseWhenReady } from '../src/sync';

const fixture = path.join(__dirname, 'fixtures', 'sync-child.ts');

function startChild(mode: 'plain' | 'converse') {
  // fd 3 as stdioWithSync() makes it; stdout kept, to see what the child says.
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', fixture, mode], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: collectOutput(child) };
}

test('without converse: "go", then the runtime ends its side; started resolves once the child has closed its own', async (t) => {
  const { child, exited, output } = startChild('plain');
  let prepared = 0;
  await releaseWhenReady(child, () => prepared++);
  t.is(prepared, 1);
  t.is(await exited, 0);
  t.is(output.text, 'after go: 0 bytes, then the end\n');
});

test('with converse: lines both ways after "go"; started resolves once the conversation is over and the child is gone', async (t) => {
  const { child, exited, output } = startChild('converse');
  const heard: (string | undefined)[] = [];
  const converse = async (conversation: Conversation) => {
    heard.push(await conversation.receive());
    conversation.send('42');
    heard.push(await conversation.receive());
    heard.push(await conversation.receive());
  };
  await releaseWhenReady(child, () => {}, converse);
  t.deepEqual(heard, ['question', 'got 42', undefined], 'the child closed its end after its last line');
  t.is(await exited, 0);
  t.is(output.text, '');
});

test("converse's error kills the child and rejects, as prepare's does", async (t) => {
  const { child, exited } = startChild('converse');
  const started = releaseWhenReady(child, () => {}, async (conversation) => {
    await conversation.receive();
    throw new Error('no terminal for you');
  });
  await t.throwsAsync(started, { message: 'no terminal for you' });
  await exited;
  t.is(child.signalCode, 'SIGKILL');
});
