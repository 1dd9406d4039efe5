#!/usr/bin/env bash
# What `pnpm test:cgroup2` runs inside the cgroup v2 VM, from the repository's root:
# stage 5's tests, stage 7's that depend on the cgroup version (device rules as an eBPF
# program, the cgroup namespace, the sweep of a killed runtime's cgroup; the probes run
# in stages 6 and 7), and the docs transcript that can only be checked on cgroup v2.
set -euo pipefail
pnpm --filter 5-isolate-cgroup test
# One file at a time, and a longer wait for the first result: in emulation one container
# takes seconds, and the probes run four of them before their first test reports.
pnpm --filter 7-isolate-privileges exec ava --concurrency 1 --timeout 10m test/devices.test.ts test/cgroup.test.ts test/probes.test.ts
pnpm --filter @samples/docs exec ava test/pages.test.ts --match '*5-isolate-cgroup-v2*'
