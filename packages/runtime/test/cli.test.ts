import test from 'ava';
import { SyscallError } from '@samples/syscalls';
import { CliError, ExitStatus, type OptionSpec, describeFailure, exitStatusOf, noCommandGiven, parseArgs, startCommand, usage } from '../src/cli';

const program = {
  name: 'n-stage',
  summary: 'a stage for tests',
  options: { memory: { value: 'SIZE', description: 'memory limit', default: '256m' }, dry: { description: 'a flag' } },
};

test('options end at the first argument that is not one', (t) => {
  const { options, command } = parseArgs(program, ['--memory', '100m', '--verbose', 'ls', '--memory', '-l']);
  t.deepEqual(command, ['ls', '--memory', '-l']);
  t.is(options.memory, '100m');
  t.true(options.verbose);
  t.false(options.dry);
});

test('--name=value, defaults, and -- before a command that looks like an option', (t) => {
  t.is(parseArgs(program, ['--memory=1g', 'sh']).options.memory, '1g');
  t.is(parseArgs(program, ['sh']).options.memory, '256m');
  t.deepEqual(parseArgs(program, ['--', '--weird-command']).command, ['--weird-command']);
});

test('usage mistakes are one line and exit status 2', (t) => {
  const cases: [string[], RegExp][] = [
    [[], /^no command given: try `pnpm --filter n-stage start \/bin\/bash`, or see --help$/],
    [['--nope', 'sh'], /^unknown option --nope: see --help$/],
    [['--memory'], /^option --memory needs a value \(SIZE\)$/],
    [['--dry=yes', 'sh'], /^option --dry takes no value$/],
  ];
  for (const [argv, message] of cases) {
    const error = t.throws(() => parseArgs(program, argv), { instanceOf: CliError });
    t.regex(error.message, message);
    t.is(error.exitStatus, ExitStatus.USAGE);
  }
});

/** A stage with an alias and a repeatable option, declared as stages declare theirs. */
const network = {
  name: 'n-stage',
  summary: 'a stage with aliases',
  options: {
    network: { value: 'MODE', description: 'the network', default: 'bridge' },
    publish: { value: 'HOST:CONTAINER', short: 'p', repeatable: true, description: 'publish a port' },
    subnet: { value: 'CIDR', description: 'the subnet' },
    quiet: { short: 'q', description: 'a flag with an alias' },
  } satisfies Record<string, OptionSpec>,
};

test('a repeatable option collects its values in order, under its name or its alias', (t) => {
  const { options, command } = parseArgs(network, ['-p', '8080:80', '--publish=8443:443', '-p9000:90', '-p=9001:91', '--publish', '1:2', 'sh', '-p', 'x']);
  t.deepEqual(options.publish, ['8080:80', '8443:443', '9000:90', '9001:91', '1:2']);
  t.deepEqual(command, ['sh', '-p', 'x'], 'the command own -p is left alone');
  t.deepEqual(parseArgs(network, ['sh']).options.publish, [], 'none given: empty');
  t.true(parseArgs(network, ['-q', 'sh']).options.quiet);
  // The types follow the specs: string[], string (with a default), string | undefined, boolean.
  const typed: { publish: string[]; network: string; subnet: string | undefined; quiet: boolean } = options;
  t.is(typed.network, 'bridge');
  // @ts-expect-error a repeatable option is never a single string
  const single: string = options.publish;
  t.true(Array.isArray(single));
});

test('a dash and a letter that is no alias starts the command, as it always did', (t) => {
  t.deepEqual(parseArgs(network, ['-x', 'y']).command, ['-x', 'y']);
  t.deepEqual(parseArgs(program, ['-p', '8080:80']).command, ['-p', '8080:80'], 'a stage without aliases is unchanged');
  const error = t.throws(() => parseArgs(network, ['-p']), { instanceOf: CliError });
  t.is(error.message, 'option --publish needs a value (HOST:CONTAINER)');
  t.is(error.exitStatus, ExitStatus.USAGE);
  t.is(t.throws(() => parseArgs(network, ['-qx', 'sh']), { instanceOf: CliError }).message, 'option --quiet takes no value');
});

test('usage shows aliases, and which options may be given more than once', (t) => {
  const text = usage(network);
  t.regex(text, /\n {2}-p, --publish HOST:CONTAINER publish a port \(may be given more than once\)\n/);
  t.regex(text, /\n {6}--network MODE {11}the network \(default: bridge\)\n/, 'aligned with the longest');
  t.regex(text, /\n {2}-q, --quiet\s+a flag with an alias\n/);
  t.notRegex(usage(program), /^ {6}--/m, 'a stage without aliases lays out its options as before');
});

test('usage names what the user types, and lists every option with its default', (t) => {
  const text = usage(program);
  t.regex(text, /^usage: pnpm --filter n-stage start \[options\] <command> \[args\.\.\.\]$/m);
  t.regex(text, /--memory SIZE\s+memory limit \(default: 256m\)/);
  t.regex(text, /--verbose\s+print each isolation step/);
});

test('a program with a default command may be given none; its usage says what runs then', (t) => {
  const image = { ...program, defaultCommand: "the image's Cmd" };
  const { command } = parseArgs(image, ['--memory', '1g']);
  t.deepEqual(command, []);
  // Its command is a plain string[]: the first element may be missing.
  const first: string | undefined = command[0];
  t.is(first, undefined);
  t.deepEqual(parseArgs(image, ['sh', '-c', 'true']).command, ['sh', '-c', 'true']);
  const text = usage(image);
  t.regex(text, /^usage: pnpm --filter n-stage start \[options\] \[<command> \[args\.\.\.\]\]\nwithout a command: the image's Cmd$/m);
  const refused = noCommandGiven(', and the image names none', 'n-stage');
  t.is(refused.message, 'no command given, and the image names none: try `pnpm --filter n-stage start /bin/bash`, or see --help');
  t.is(refused.exitStatus, ExitStatus.USAGE);
});

test('exit status: the code, or 128+N for signal N', (t) => {
  t.is(exitStatusOf(0, null), 0);
  t.is(exitStatusOf(42, null), 42);
  t.is(exitStatusOf(null, 'SIGKILL'), 137);
  t.is(exitStatusOf(null, 'SIGPIPE'), 141);
});

test('failures become one line and the status docker run would give', (t) => {
  t.deepEqual(describeFailure(new SyscallError(2, 'execve', 'nosuch')), { message: 'command not found: nosuch', exitStatus: 127 });
  t.deepEqual(describeFailure(new SyscallError(13, 'execve', '/x')), {
    message: 'cannot run /x: permission denied (it is not executable)',
    exitStatus: 126,
  });
  t.deepEqual(describeFailure(new SyscallError(21, 'execve', '/tmp')), { message: 'cannot run /tmp: it is a directory', exitStatus: 126 });
  t.deepEqual(describeFailure(Object.assign(new Error('spawn /tmp EACCES'), { code: 'EACCES', syscall: 'spawn /tmp', path: '/tmp' })), {
    message: 'cannot run /tmp: it is a directory',
    exitStatus: 126,
  });
  t.deepEqual(describeFailure(new SyscallError(8, 'execve', '/bin/x')), {
    message: 'cannot run /bin/x: it is not a program this kernel can run (exec format error)',
    exitStatus: 126,
  });
  const spawnError = Object.assign(new Error('spawn nosuch ENOENT'), { code: 'ENOENT', syscall: 'spawn nosuch', path: 'nosuch' });
  t.is(describeFailure(spawnError).message, 'command not found: nosuch');
  const eperm = describeFailure(new SyscallError(1, 'mount', '/proc'));
  t.regex(eperm.message, /^EPERM: operation not permitted, mount '\/proc': this needs root/);
  t.is(eperm.exitStatus, 125);
});

test('the stage is named as the user would type it, from where they are', (t) => {
  const underPnpm = (typedIn: string) => ({
    npm_lifecycle_event: 'start',
    npm_package_json: '/repo/packages/0-basic/package.json',
    INIT_CWD: typedIn,
  });
  t.is(startCommand('0-basic', underPnpm('/repo/packages/0-basic')), 'pnpm start');
  t.is(startCommand('0-basic', underPnpm('/repo')), 'pnpm -C packages/0-basic start');
  t.is(startCommand('0-basic', underPnpm('/repo/packages')), 'pnpm -C 0-basic start');
  t.is(startCommand('0-basic', underPnpm('/repo/docs')), 'pnpm --filter 0-basic start', 'not a path with ..');
  t.is(startCommand('0-basic', {}), 'pnpm --filter 0-basic start', 'not started by pnpm');
});
