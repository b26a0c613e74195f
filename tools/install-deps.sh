#!/usr/bin/env bash
# Installs every build and test dependency of boxoffice from Debian 12 packages.
# Idempotent: packages already present are left alone. Must run as root (or via sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang
  # libraries the code links against
  nlohmann-json3-dev libmsgpack-cxx-dev liburing-dev libevent-dev libjemalloc-dev
  libmariadb-dev libhiredis-dev libcli11-dev libtomlplusplus-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev python3-msgpack curl
  # tests/support/deny_uring: io_uring refused by a seccomp filter, as containers do
  libseccomp-dev
  # private servers the integration tests start (tools/mariadb.sh, tools/redis.sh), never the
  # system instances; redis is also the peer the benchmarks compare against
  mariadb-server mariadb-client redis-server redis-tools
  # HTTP load generator and the static-200 peer of bench/http.sh, which runs its own nginx
  # (own config, port and pid file), never the system service
  wrk nginx
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "install-deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg run (unattended upgrades, a parallel build) holds the lock for a while: wait.
apt_wait=(-o DPkg::Lock::Timeout=300)
apt-get "${apt_wait[@]}" update -qq
apt-get "${apt_wait[@]}" install -y -qq --no-install-recommends "${missing[@]}"

# Debian starts nginx as a system service on install where services run (it listens on port 80):
# stop and disable it if this run installed it. Benchmarks start their own nginx.
if [[ " ${missing[*]} " == *" nginx "* ]]; then
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now nginx.service >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/nginx ]]; then
    invoke-rc.d nginx stop >/dev/null 2>&1 || true
    update-rc.d nginx disable >/dev/null 2>&1 || true
  fi
fi
