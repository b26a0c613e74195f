#!/usr/bin/env bash
# Installs what boxoffice needs (Debian 12 packages), builds it and runs it.
# Today "running boxoffice" means the engine demo: it creates events from layouts/ and sells
# seats through the booking engine, printing each step. Usage: tools/run.sh [demo flags]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target boxoffice-demo
exec build/tools/boxoffice-demo "$@"
