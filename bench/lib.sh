# Shell helpers the bench/ scripts share: ports, waiting for a server, the process `timeout`
# started, and CPU use from /proc. Source it; each function is documented at its definition.
# Scripts set `bench_name` (the prefix of their messages) and `python` before using them.

free_port() {  # -> a TCP port free on 127.0.0.1 right now
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # port, name, pid: until the port accepts a connection, at most 10 s
  for _ in {1..100}; do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "$bench_name: $2 exited at start" >&2; return 1; }
    sleep 0.1
  done
  echo "$bench_name: $2 did not listen on port $1 within 10 s" >&2
  return 1
}

child_of() {  # pid of a `timeout` -> the process it started
  local child=""
  for _ in {1..50}; do
    child="$(pgrep -P "$1" | head -n1 || true)"
    [[ -n "$child" ]] && { echo "$child"; return 0; }
    sleep 0.1
  done
  return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # pid -> user + system clock ticks
proc_ticks() {  # pids... (empty or gone: 0) -> their user + system clock ticks together
  local total=0 pid t
  for pid in "$@"; do
    [[ -n "$pid" ]] || continue
    t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }  # all CPUs, not idle
now_s() { date +%s.%N; }
clk_tck="$(getconf CLK_TCK)"
cores_used() {  # ticks_before ticks_after wall_before wall_after -> cores
  awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) }'
}
