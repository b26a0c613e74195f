#!/usr/bin/env bash
# Installs what boxoffice needs (Debian 12 packages), builds it and runs it.
#   tools/run.sh [boxofficed flags]   starts the server in the foreground (Ctrl-C stops it)
#   tools/run.sh demo                 runs the engine demo instead (creates events, sells seats)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [[ "${1:-}" == "demo" ]]; then
  cmake --build build --target boxoffice-demo
  exec build/tools/boxoffice-demo "${@:2}"
fi
cmake --build build --target boxofficed
mkdir -p var
exec build/tools/boxofficed --data-dir var "$@"
