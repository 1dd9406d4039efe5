// `pnpm -s --filter 7-isolate-privileges program seccomp|devices`: the two programs stage 7
// hands the kernel, listed as the page shows them, from the code that builds them (so
// the page cannot drift from it): the seccomp filter of a container with Docker's
// default capabilities, for x86_64 whatever this machine is, and cgroup v2's device program.
import { capabilityNames, resolveCapabilities } from '../src/capabilities';
import { deviceProgram, listDeviceProgram } from '../src/devices';
import { assembleFilter, refusalsFor } from '../src/seccomp-profile';

const DOCKER_DEFAULTS = Array.from({ length: 41 }, (_, capability) => capability);

const programs: Record<string, () => string> = {
  seccomp: () => assembleFilter(refusalsFor(new Set(capabilityNames(resolveCapabilities([], [], DOCKER_DEFAULTS)))), 'x86_64').listing,
  devices: () => listDeviceProgram(deviceProgram()),
};

const [name = ''] = process.argv.slice(2);
const show = programs[name];
if (show === undefined) {
  process.stderr.write(`usage: program ${Object.keys(programs).join('|')}\n`);
  process.exit(2);
}
process.stdout.write(`${show()}\n`);
