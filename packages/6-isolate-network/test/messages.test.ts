// The one-line messages for bad input and for a host that lacks something.
import test from 'ava';
import { SyscallError } from '@samples/syscalls';
import { CliError } from '@samples/runtime';
import { parseNetworkMode, parseNetworkOptions } from '../src/network';
import { unsupported } from '../src/network/bridge';
import { natUnavailableMessage } from '../src/network/nat';
import { parseSubnet } from '../src/network/subnet';

test('--network takes Docker names; anything else is one line, status 2', (t) => {
  t.is(parseNetworkMode('bridge'), 'bridge');
  t.is(parseNetworkMode('none'), 'none');
  t.is(parseNetworkMode('host'), 'host');
  const error = t.throws(() => parseNetworkMode('overlay'), { instanceOf: CliError });
  t.is(error.message, '--network overlay: choose bridge (the default), none or host');
  t.is(error.exitStatus, 2);
});

test('a kernel without veth or bridge: one line naming the option, status 125', (t) => {
  const error = unsupported(new SyscallError(95, 'RTM_NEWLINK', 'veth1234567 (peer eth0)', 'Unknown device type'), 'veth', 'CONFIG_VETH');
  t.true(error instanceof CliError);
  t.is((error as CliError).message, 'this kernel has no veth support (CONFIG_VETH): use --network none or --network host');
  t.is((error as CliError).exitStatus, 125);
  const other = new SyscallError(17, 'RTM_NEWLINK', 'x');
  t.is(unsupported(other, 'veth', 'CONFIG_VETH'), other, 'other errors pass through');
});

test('no NAT: one line saying what is missing, and what still works', (t) => {
  const subnet = parseSubnet('10.22.0.0/24');
  t.is(
    natUnavailableMessage(subnet, new SyscallError(93, 'socket')),
    'no outbound NAT for 10.22.0.0/24: this kernel has no nf_tables (CONFIG_NF_TABLES); containers reach the host and each other, not beyond',
  );
  t.is(
    natUnavailableMessage(subnet, new SyscallError(95, 'NFT_MSG_NEWRULE', 'samples0 postrouting', 'Unknown expression type')),
    "no outbound NAT for 10.22.0.0/24: this kernel lacks nf_tables NAT or masquerade (CONFIG_NFT_NAT, CONFIG_NFT_MASQ), ENOTSUP: operation not supported, NFT_MSG_NEWRULE 'samples0 postrouting' (Unknown expression type); containers reach the host and each other, not beyond",
    "with the kernel's own words",
  );
  t.is(
    natUnavailableMessage(subnet, new SyscallError(2, 'NFT_MSG_NEWCHAIN', 'samples0 postrouting')),
    "no outbound NAT for 10.22.0.0/24: this kernel lacks nf_tables NAT or masquerade (CONFIG_NFT_NAT, CONFIG_NFT_MASQ), ENOENT: no such file or directory, NFT_MSG_NEWCHAIN 'samples0 postrouting'; containers reach the host and each other, not beyond",
  );
});

test('--subnet and --publish are for --network bridge only', (t) => {
  const parse = (network: string, subnet: string | undefined, publish: string[]) => () => parseNetworkOptions({ network, subnet, publish });
  t.like(parse('bridge', '10.9.0.0/24', ['8080:80'])(), { mode: 'bridge', publish: [{ hostPort: 8080, containerPort: 80 }] });
  for (const [mode, subnet, publish, message] of [
    ['none', '10.9.0.0/24', [], '--subnet is for --network bridge, not none'],
    ['host', undefined, ['8080:80'], "--publish is for --network bridge: with --network host the container's ports are the host's already"],
    ['none', undefined, ['8080:80'], '--publish is for --network bridge: with --network none the container has no address to relay to'],
  ] as const) {
    const error = t.throws(parse(mode, subnet, [...publish]), { instanceOf: CliError });
    t.is(error.message, message);
    t.is(error.exitStatus, 2);
  }
});
