// What the image's config makes of the command line and the environment, as docker run does.
import test from 'ava';
import { CliError } from '@samples/runtime';
import { resolveUser } from '7-isolate-privileges/user';
import { IMAGE_USER, imageProcess, processEnvironment } from '../src/image-config';

const defaults = { PATH: '/usr/bin:/bin', HOME: '/root' };

test('a command replaces Cmd and keeps Entrypoint; without one, Cmd runs', (t) => {
  const config = { Entrypoint: ['/entry', '--flag'], Cmd: ['default'] };
  t.deepEqual(imageProcess(config, ['mine', 'arg'], defaults).argv, ['/entry', '--flag', 'mine', 'arg']);
  t.deepEqual(imageProcess(config, [], defaults).argv, ['/entry', '--flag', 'default']);
  t.deepEqual(imageProcess({ Cmd: ['sh'] }, [], defaults).argv, ['sh']);
});

test('no command and no Cmd: one line, status 2', (t) => {
  const error = t.throws(() => imageProcess({}, [], defaults), { instanceOf: CliError });
  t.regex(error.message, /^no command given, and the image names none \(no Cmd in its config\): try `pnpm --filter \S* start \/bin\/bash`, or see --help$/);
  t.is(error.exitStatus, 2);
});

test("the image's Env over the runtime's defaults; WorkingDir, or /", (t) => {
  const wanted = imageProcess({ Env: ['PATH=/opt/bin:/bin', 'EMPTY=', 'A=b=c'], WorkingDir: '/srv' }, ['true'], defaults);
  t.deepEqual(wanted.env, { PATH: '/opt/bin:/bin', HOME: '/root', EMPTY: '', A: 'b=c' });
  t.is(wanted.cwd, '/srv');
  t.is(imageProcess({}, ['true'], defaults).cwd, '/');
});

test("HOME is the user's home unless the image's Env sets it", (t) => {
  const user = { uid: 1000, gid: 1000, groups: [], home: '/home/app' };
  t.is(processEnvironment(imageProcess({ User: 'app' }, ['true'], defaults), user).HOME, '/home/app');
  t.is(processEnvironment(imageProcess({ User: 'app', Env: ['HOME=/data'] }, ['true'], defaults), user).HOME, '/data');
  t.is(processEnvironment(imageProcess({}, ['true'], defaults), undefined).HOME, '/root');
});

test("a User the image's /etc/passwd lacks: one line that names the image's config, status 125", (t) => {
  const error = t.throws(() => resolveUser('app', 'root:x:0:0:root:/root:/bin/sh\n', 'root:x:0:\n', IMAGE_USER), { instanceOf: CliError });
  t.is(error.message, `the image's User (which --user replaces): no user "app" in the image's /etc/passwd: give a number, or a name it has`);
  t.is(error.exitStatus, 125);
});
