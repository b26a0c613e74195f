#!/usr/bin/env bash
# Installs what boxoffice needs (Debian 12 packages), builds it and runs it.
#   tools/run.sh [boxofficed flags]   starts the server in the foreground (Ctrl-C stops it)
#   tools/run.sh demo                 runs the engine demo instead (creates events, sells seats)
# Without a --mariadb URL (on the command line or in a --config file) it also starts a private
# MariaDB under var/mariadb (created on first use, left running for the next start; stop it
# with `tools/mariadb.sh stop`) and persists tickets there, so sold tickets land in a real
# database with nothing to configure: `tools/mariadb.sh sql "SELECT * FROM tickets"`.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [[ "${1:-}" == "demo" ]]; then
  cmake --build build --target boxoffice-demo
  exec build/tools/boxoffice-demo "${@:2}"
fi
cmake --build build --target boxofficed boxoffice-ctl boxoffice-load
mkdir -p var

has_mariadb=no
previous=""
for arg in "$@"; do
  case "$arg" in
    --mariadb|--mariadb=*) has_mariadb=yes ;;
  esac
  if [[ "$previous" == "--config" ]] && grep -qE '^[[:space:]]*mariadb[[:space:]]*=' "$arg" 2>/dev/null; then
    has_mariadb=yes
  fi
  previous="$arg"
done
extra=()
if [[ "$has_mariadb" == no ]]; then
  url=$(tools/mariadb.sh start --dir var/mariadb)
  extra=(--mariadb "$url")
fi
exec build/tools/boxofficed --data-dir var "${extra[@]}" "$@"
