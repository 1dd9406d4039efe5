import test from 'ava';
import { RT_TABLE_LOCAL, RT_TABLE_MAIN, type Route } from '@samples/syscalls';
import { CliError } from '@samples/runtime';
import { DEFAULT_SUBNET, clashMessage, containerAddresses, findClash, formatSubnet, gatewayAddress, parseSubnet } from '../src/network/subnet';

const route = (destination: string, destinationLength: number, fields: Partial<Route> = {}): Route => ({
  family: 2,
  table: RT_TABLE_MAIN,
  protocol: 2,
  scope: 253,
  type: 1,
  destination,
  destinationLength,
  outputIndex: 2,
  ...fields,
});

test('the default subnet: the bridge takes .1, containers .2 to .254', (t) => {
  const subnet = parseSubnet(DEFAULT_SUBNET);
  t.is(formatSubnet(subnet), '10.22.0.0/24');
  t.is(gatewayAddress(subnet), '10.22.0.1');
  const addresses = containerAddresses(subnet);
  t.is(addresses[0], '10.22.0.2');
  t.is(addresses.at(-1), '10.22.0.254');
  t.is(addresses.length, 253);
  t.deepEqual(containerAddresses(parseSubnet('172.30.8.0/29')), ['172.30.8.2', '172.30.8.3', '172.30.8.4', '172.30.8.5', '172.30.8.6']);
});

for (const [text, message] of [
  ['10.22.0.0', /give an IPv4 network with its prefix length/],
  ['10.22.0.300/24', /give an IPv4 network/],
  ['10.22.0.5/24', /that is an address, not a network: did you mean 10\.22\.0\.0\/24\?/],
  ['10.22.0.0/30', /prefix length must be from 8 to 29/],
  ['10.0.0.0/4', /prefix length must be from 8 to 29/],
] as const) {
  test(`--subnet ${text}: one line, status 2`, (t) => {
    const error = t.throws(() => parseSubnet(text), { instanceOf: CliError });
    t.regex(error.message, message);
    t.is(error.exitStatus, 2);
    t.false(error.message.includes('\n'));
  });
}

test('a clash is any overlapping route but the default, the local table and our own bridge', (t) => {
  const subnet = parseSubnet('10.22.0.0/24');
  t.is(findClash(subnet, [route('0.0.0.0', 0, { destination: undefined as unknown as string }), route('192.0.2.0', 24)]), undefined);
  t.like(findClash(subnet, [route('10.0.0.0', 8)]), { destination: '10.0.0.0' }, 'a wider route covers it');
  t.like(findClash(subnet, [route('10.22.0.128', 25)]), { destination: '10.22.0.128' }, 'a narrower one inside it');
  t.is(findClash(subnet, [route('10.22.1.0', 24)]), undefined, 'the next /24 is no clash');
  t.is(findClash(subnet, [route('10.22.0.1', 32, { table: RT_TABLE_LOCAL })]), undefined);
  t.is(findClash(subnet, [route('10.22.0.0', 24, { outputIndex: 7 })], 7), undefined, 'the route of our own bridge');
  t.is(
    clashMessage(subnet, route('10.0.0.0', 8), 'eth1'),
    "the subnet 10.22.0.0/24 overlaps the host's route to 10.0.0.0/8 (dev eth1): choose another with --subnet, like --subnet 10.123.0.0/24",
  );
});
