import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'ava';

test('off Linux the package imports, and a call throws one clear error', (t) => {
  // Pretend to be macOS before the package is loaded, as an editor there would.
  const script = `
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    const s = require('./src/index.ts');
    try { s.getpid(); console.log('no error'); } catch (e) { console.log(e.message); }
  `;
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    encoding: 'utf8',
    cwd: path.join(__dirname, '..'),
  });
  t.is(result.stderr, '');
  t.is(result.stdout.trim(), 'linux system calls are not available on darwin: run this on Linux (a VM, WSL 2 or a remote machine)');
});
