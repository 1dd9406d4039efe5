#!/usr/bin/env bash
# What `pnpm test:cgroup2` runs inside the cgroup v2 VM, from the repository's root:
# stage 5's tests, and the docs transcript that can only be checked on cgroup v2.
set -euo pipefail
pnpm --filter 5-isolate-cgroup test
pnpm --filter @samples/docs exec ava test/pages.test.ts --match '*5-isolate-cgroup-v2*'
