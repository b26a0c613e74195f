#!/usr/bin/env bash
# A private redis-server for development and tests; never the system instance.
#
# Owns everything under DIR (default <repo>/var/redis) and nothing else:
#   DIR/redis.sock   always: unix socket (mode 0700)
#   DIR/port         the TCP port given to the last start (0: none); url and restarts reuse it
#   DIR/redis.pid    DIR/redis.log    DIR/launch.log (its stdout/stderr)
#   DIR/.lock        serializes start/stop/kill on the same DIR
# No config file is read; no persistence (save "", appendonly no): a restart starts empty.
# TCP, when asked for, listens on 127.0.0.1 only. Servers in different DIRs run side by side.
#
# Usage: tools/redis.sh start|stop|kill|status|url [--dir DIR] [--port N]
#   start   start the server if it is not running; print its address on stdout:
#             unix:<DIR>/redis.sock   (port 0, the default)   or   127.0.0.1:<N>
#   stop    clean shutdown (SHUTDOWN NOSAVE), bounded wait
#   kill    kill -9 the server (fault tests)
#   status  exit 0 if the server runs and answers PING, 1 otherwise
#   url     print the address
# Talk to it with: redis-cli -s DIR/redis.sock   (or -h 127.0.0.1 -p N)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ready_timeout_s=30
stop_timeout_s=30

die() { echo "redis.sh: $*" >&2; exit 1; }
usage() { die "usage: tools/redis.sh start|stop|kill|status|url [--dir DIR] [--port N]"; }

command=${1:-}
[[ -n $command ]] || usage
shift
dir=$repo/var/redis
port=
while (($#)); do
  case $1 in
    --dir) (($# >= 2)) || usage; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --port) (($# >= 2)) || usage; port=$2; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    *) usage ;;
  esac
done
[[ -z $port || ($port =~ ^[0-9]+$ && $port -le 65535) ]] || die "--port must be 0..65535"

dir=$(realpath -m -- "$dir")
socket=$dir/redis.sock
pid_file=$dir/redis.pid
port_file=$dir/port
# sun_path is 108 bytes including the terminating NUL.
((${#socket} <= 107)) ||
  die "socket path $socket is ${#socket} bytes; unix sockets allow 107. Use a shorter --dir"

# The pid of our server, if it runs: the pid file names a live redis-server whose working
# directory is DIR (redis chdirs to --dir). A stale pid file, a reused pid or a zombie do not match.
server_pid() {
  local pid
  [[ -r $pid_file ]] || return 1
  pid=$(<"$pid_file") || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$dir" ]] || return 1
  echo "$pid"
}

answers() { [[ $(redis-cli -s "$socket" PING 2>/dev/null) == PONG ]]; }

recorded_port() { if [[ -r $port_file ]]; then cat "$port_file"; else echo 0; fi; }

print_address() {
  local p
  p=$(recorded_port)
  if ((p == 0)); then echo "unix:$socket"; else echo "127.0.0.1:$p"; fi
}

lock() {
  [[ $command == start ]] || [[ -d $dir ]] || { echo "redis.sh: not running ($dir)" >&2; exit 0; }
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w $((ready_timeout_s + stop_timeout_s)) 9 || die "$dir/.lock is held by another redis.sh"
}

launch() {
  # Detached like a daemon (setsid, every inherited descriptor closed or redirected, so neither a
  # caller reading our stdout nor our lock on fd 9 stays tied to it), but as our child at first,
  # so a server that dies during start-up (port taken) is noticed at once.
  setsid redis-server --daemonize no --dir "$dir" --pidfile "$pid_file" --logfile "$dir/redis.log" \
    --unixsocket "$socket" --unixsocketperm 700 --port "$port" --bind 127.0.0.1 \
    --protected-mode yes --save "" --appendonly no \
    </dev/null >"$dir/launch.log" 2>&1 9>&- &
  local launcher_pid=$! deadline_s=$((SECONDS + ready_timeout_s))
  until answers; do
    if ! kill -0 "$launcher_pid" 2>/dev/null || ((SECONDS >= deadline_s)); then
      cat "$dir/launch.log" >&2
      tail -n 5 "$dir/redis.log" >&2 || true
      die "redis-server did not come up (log: $dir/redis.log)"
    fi
    sleep 0.05
  done
}

# Waits until process $1 has exited (a zombie counts as exited: it has no working directory
# any more); the pid file alone is not enough, it goes before the process does.
wait_gone() {  # $1 = pid, $2 = seconds
  local deadline_s=$((SECONDS + $2))
  while readlink "/proc/$1/cwd" >/dev/null 2>&1; do
    ((SECONDS < deadline_s)) || return 1
    sleep 0.05
  done
}

case $command in
  start)
    lock
    if server_pid >/dev/null; then
      [[ -z $port || $port == "$(recorded_port)" ]] ||
        die "already running on port $(recorded_port); stop it before changing --port"
    else
      command -v redis-server >/dev/null || die "redis-server not found; run tools/install-deps.sh"
      port=${port:-$(recorded_port)}
      echo "$port" >"$port_file"
      rm -f "$socket"
      launch
    fi
    print_address
    ;;
  stop)
    lock
    pid=$(server_pid) || { echo "redis.sh: not running ($dir)" >&2; exit 0; }
    redis-cli -s "$socket" SHUTDOWN NOSAVE >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$stop_timeout_s"; then
      kill -KILL "$pid" 2>/dev/null || true
      die "pid $pid did not shut down within $stop_timeout_s s; killed it (log: $dir/redis.log)"
    fi
    ;;
  kill)
    lock
    pid=$(server_pid) || { echo "redis.sh: not running ($dir)" >&2; exit 0; }
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "pid $pid survived kill -9"
    ;;
  status)
    server_pid >/dev/null && answers
    ;;
  url)
    print_address
    ;;
  *)
    usage
    ;;
esac
