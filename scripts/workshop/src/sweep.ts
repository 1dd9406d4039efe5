// The last step of a check's scratch host (see check.ts), once every process the tests
// left running has been killed: gives back what those processes held outside the
// scratch host's namespaces. Its network, mounts and /run go with it; cgroups do not,
// and their leases (in its /run) would go without a trace: so the cgroups are removed
// here. A stage that leases something else on the host adds its sweep here.
import { reclaimCgroups } from '5-isolate-cgroup/cgroup';

/** The kind of lease the stages hold a container's cgroup under (stages 5 and 6: CGROUP_LEASES). */
const CGROUP_LEASES = 'cgroups';

reclaimCgroups(CGROUP_LEASES);
