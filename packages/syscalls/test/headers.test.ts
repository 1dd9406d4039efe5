// The constants of the socket, netlink, nftables and file mirrors, against the C
// headers they mirror: a C program prints each one's value as the compiler sees it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import * as file from '../src/file';
import * as netlink from '../src/netlink';
import * as nftables from '../src/nftables';
import * as socket from '../src/socket';
import { testIf } from '@samples/testing';

const headers = [
  'sys/socket.h',
  'sys/file.h',
  'linux/if.h',
  'linux/netlink.h',
  'linux/rtnetlink.h',
  'linux/if_link.h',
  'linux/veth.h',
  'linux/netfilter.h',
  'linux/netfilter_ipv4.h',
  'linux/netfilter/nfnetlink.h',
  'linux/netfilter/nf_tables.h',
];

/** Every exported number whose name is a C constant (upper case), from each module. */
function constants(): [string, number][] {
  const seen = new Map<string, number>();
  for (const module of [socket, netlink, nftables, file]) {
    for (const [name, value] of Object.entries(module)) {
      if (/^[A-Z][A-Z0-9_]+$/.test(name) && typeof value === 'number') seen.set(name, value);
    }
  }
  // NLA_TYPE_MASK is an expression in C too, but of another width; NLMSG_HDRLEN and
  // NLA_HDRLEN are macros over sizeof; all three are checked by the layout tests instead.
  for (const name of ['NLA_TYPE_MASK', 'NLMSG_HDRLEN', 'NLA_HDRLEN']) seen.delete(name);
  return [...seen];
}

const compiles = spawnSync('sh', ['-c', 'echo "#include <linux/netfilter/nf_tables.h>\nint main(void){return 0;}" | cc -x c -o /dev/null -'], { encoding: 'utf8' }).status === 0;

testIf(compiles, 'needs cc and the kernel headers (Debian packages gcc, linux-libc-dev)', test)('every constant has the value the C headers give it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const list = constants();
  const source = [
    ...headers.map((header) => `#include <${header}>`),
    '#include <stdio.h>',
    'int main(void) {',
    ...list.map(([name]) => `  printf("%s %ld\\n", "${name}", (long)(${name}));`),
    '  return 0;',
    '}',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'constants.c'), source);
  const compile = spawnSync('cc', ['-o', path.join(dir, 'constants'), path.join(dir, 'constants.c')], { encoding: 'utf8' });
  t.is(compile.stderr, '', 'every name exists in the headers');
  const output = spawnSync(path.join(dir, 'constants'), { encoding: 'utf8' }).stdout;
  const fromC = Object.fromEntries(output.trim().split('\n').map((line) => line.split(' ')).map(([name, value]) => [name, Number(value)]));
  t.deepEqual(Object.fromEntries(list), fromC);
  t.true(list.length > 150, `${list.length} constants checked`);
});
