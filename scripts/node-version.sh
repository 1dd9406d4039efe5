#!/usr/bin/env bash
# scripts/node-version.sh VERSION: installs Node VERSION (e.g. 24.22.3) from the npm
# registry's node-linux-<arch> package into ~/.cache/ts-container-samples/node-VERSION,
# once, and prints the folder its `node` is in. For CI's second test run and for
# `pnpm bench --node`:
#
#   PATH="$(scripts/node-version.sh 24.22.3):$PATH" pnpm test
#   pnpm bench --node "$(scripts/node-version.sh 24.22.3)/node"
set -euo pipefail
version=${1:?usage: scripts/node-version.sh VERSION (e.g. 24.22.3)}
case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "node-version.sh: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
dir=${XDG_CACHE_HOME:-$HOME/.cache}/ts-container-samples/node-$version
bin=$dir/node_modules/node-linux-$arch/bin
if ! [ -x "$bin/node" ] || [ "$("$bin/node" --version)" != "v$version" ]; then
  rm -rf "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-$arch@$version" >&2
fi
echo "$bin"
