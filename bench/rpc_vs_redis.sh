#!/usr/bin/env bash
# Measures requests/s and p50/p99 of boxofficed (msgpack-rpc `ping`, and `hold` of one random seat
# out of 1,000,000) against redis-server (PING, and SET NX PX of one random key out of 1,000,000)
# over loopback, 50 connections at pipeline 1 and 16, both servers in the same run.
#
# Usage: bench/rpc_vs_redis.sh [--json FILE]
#
# Needs redis-server and redis-benchmark (tools/install-deps.sh installs them), python3-msgpack,
# and boxofficed + rpc_load built, by default in build-bench:
#   cmake -S . -B build-bench -G Ninja -DBOXOFFICE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
#   ninja -C build-bench boxofficed rpc_load
# Environment: BUILD_DIR (default build-bench), BOXOFFICED, RPC_LOAD (binaries), DURATION_S (5);
# for side experiments: BOX_WORKERS (2), BOX_FLAGS (more boxofficed flags, e.g. --no-pin),
# CLIENT_THREADS (1: rpc_load --threads and redis-benchmark --threads).
#
# Fairness: each pair of runs (boxofficed, then Redis) is back to back, so machine noise hits
# both alike; each hold run gets a fresh 1M-place event and each SET NX run a flushed Redis, so
# both start from an empty table and are measured from connect on (no warm-up: it would fill the
# table). The ping runs do warm up: rpc_load for 1 s that it does not count, Redis with a short
# calibration run. Every Redis run is sized by such a calibration (-n for about DURATION_S s). Both
# clients are single-threaded C/C++ epoll clients. The servers are not alike: boxofficed runs 2
# worker threads (pinned, one per core), Redis 1; the client shares the same 2 cores. Server and
# client CPU use (in cores) is printed beside each rate so the table can be read with that in mind.
# Runs about a minute; every process is under `timeout` and is killed by the EXIT trap.
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
json_out=""
while (($#)); do
  case "$1" in
    --json) json_out="${2:?--json needs a file}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "rpc_vs_redis: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build-bench}"
boxofficed="${BOXOFFICED:-$build_dir/tools/boxofficed}"
rpc_load="${RPC_LOAD:-$build_dir/bench/rpc_load}"
duration_s="${DURATION_S:-5}"
box_workers="${BOX_WORKERS:-2}"
read -r -a box_flags <<<"${BOX_FLAGS:-}"
client_threads="${CLIENT_THREADS:-1}"
connections=50
seats=1000000
python=/usr/bin/python3

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "rpc_vs_redis: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done
for bin in "$boxofficed" "$rpc_load"; do
  [[ -x "$bin" ]] || { echo "rpc_vs_redis: $bin missing; ninja -C $build_dir boxofficed rpc_load" >&2; exit 1; }
done
"$python" -c 'import msgpack' 2>/dev/null || { echo "rpc_vs_redis: python3-msgpack missing" >&2; exit 1; }

tmp="$(mktemp -d -t rpc_vs_redis.XXXXXX)"
shm="/dev/shm/boxoffice-rpc-vs-redis-$$"
pids=()         # `timeout` wrappers
server_pids=()  # the servers they run
failures=0
cleanup() {
  local pid
  # The servers first (they stop on SIGTERM), then the `timeout` wrappers around them.
  for pid in "${server_pids[@]}" "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
  rm -f "$shm" "$shm".log-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_name=rpc_vs_redis
source "$repo/bench/lib.sh"

# --- servers -------------------------------------------------------------------------------------
server_timeout_s=$((8 * (duration_s + 3) + 60))  # a backstop: the trap normally stops them first
redis_port="$(free_port)"
timeout "$server_timeout_s" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
  --appendonly no --daemonize no --logfile "$tmp/redis.log" &
pids+=($!)
redis_pid="$(child_of "${pids[-1]}")"
server_pids+=("$redis_pid")
wait_for_port "$redis_port" redis-server "$redis_pid"

box_port="$(free_port)"
mkdir -p "$tmp/data"
# The seat table: a 1M-place event takes ~140 MB of the arena (two events here); holds-max
# covers every seat of both events being held at once (a multiple of 64).
timeout "$server_timeout_s" "$boxofficed" --listen "127.0.0.1:$box_port" --io auto \
  --workers "$box_workers" --shm "$shm" --data-dir "$tmp/data" --arena-bytes 1073741824 \
  --holds-max 4194304 "${box_flags[@]}" 2>"$tmp/boxofficed.log" &
pids+=($!)
box_pid="$(child_of "${pids[-1]}")"
server_pids+=("$box_pid")
wait_for_port "$box_port" boxofficed "$box_pid"
box_backend="$(sed -n 's/.* with [0-9]* \([a-z_]*\) workers.*/\1/p' "$tmp/boxofficed.log" | head -n1)"

# One fresh general-admission event of 1,000,000 places per hold run.
create_event() {
  "$python" - "$box_port" "$1" "$seats" <<'EOF'
import socket, sys, msgpack
port, event_id, capacity = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
request = [0, 1, "event.create", {"id": event_id, "layout": {"venue": "V", "zones": [
    {"id": 1, "price_cents": 100, "capacity": capacity}]}}]
with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
    s.sendall(msgpack.packb(request))
    unpacker = msgpack.Unpacker(raw=False)
    while True:
        data = s.recv(65536)
        if not data:
            sys.exit("event.create: connection closed")
        unpacker.feed(data)
        for response in unpacker:
            if response[2] is not None:
                sys.exit(f"event.create {event_id}: {response[2]}")
            sys.exit(0)
EOF
}
create_event Bench-p1
create_event Bench-p16

# --- runs ----------------------------------------------------------------------------------------
# Each run leaves $tmp/<server>-<test>-<pipeline>.json with requests_per_s, p50_us, p99_us, ok,
# conflicts, errors, server_cpu_cores, client_cpu_cores.
run_boxoffice() {  # test pipeline
  local test="$1" pipeline="$2" out="$tmp/boxoffice-$1-$2.json" warmup_s=1
  local args=(--addr "127.0.0.1:$box_port" --connections "$connections" --pipeline "$pipeline"
    --threads "$client_threads" --duration "$duration_s" --json "$out.load")
  if [[ "$test" == hold ]]; then
    warmup_s=0
    args+=(--method hold --event "Bench-p$pipeline" --seats "$seats")
  else
    args+=(--method ping)
  fi
  args+=(--warmup "$warmup_s")
  local t0 t1 c0 c1
  c0="$(cpu_ticks "$box_pid")"; t0="$(now_s)"
  timeout $((duration_s + warmup_s + 30)) "$rpc_load" "${args[@]}" >&2 ||
    { echo "rpc_vs_redis: rpc_load $test pipeline $pipeline failed" >&2; failures=$((failures + 1)); }
  t1="$(now_s)"; c1="$(cpu_ticks "$box_pid")"
  "$python" - "$out.load" "$out" "$(cores_used "$c0" "$c1" "$t0" "$t1")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["server_cpu_cores"] = float(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"))
EOF
}

redis_command() {  # test -> the redis-benchmark arguments after the common ones
  if [[ "$1" == hold ]]; then
    echo "-r $seats SET seat:__rand_int__ x NX PX 600000"
  else
    echo "-t ping_mbulk"
  fi
}

run_redis() {  # test pipeline
  local test="$1" pipeline="$2" out="$tmp/redis-$1-$2.json"
  local -a command
  read -r -a command <<<"$(redis_command "$test")"
  local common=(-h 127.0.0.1 -p "$redis_port" -c "$connections" -P "$pipeline" --csv)
  ((client_threads == 1)) || common+=(--threads "$client_threads")
  # Calibration (and warm-up): about half a second, to size -n for duration_s seconds.
  local calibration_n=$((pipeline == 1 ? 50000 : 500000))
  redis-cli -p "$redis_port" flushall >/dev/null
  local calibration_rps
  calibration_rps="$(timeout 60 redis-benchmark "${common[@]}" -n "$calibration_n" "${command[@]}" |
    awk -F'"' 'NR == 2 { print $4 }')"
  local n
  n="$(awk -v r="${calibration_rps:-0}" -v d="$duration_s" 'BEGIN { n = int(r * d); if (n < 10000) n = 10000; if (n > 50000000) n = 50000000; print n }')"
  redis-cli -p "$redis_port" flushall >/dev/null
  local t0 t1 c0 c1 csv client_times
  c0="$(cpu_ticks "$redis_pid")"; t0="$(now_s)"
  csv="$( { TIMEFORMAT='%U %S'; time timeout 120 redis-benchmark "${common[@]}" -n "$n" "${command[@]}" 2>/dev/null; } 2>"$tmp/time")"
  t1="$(now_s)"; c1="$(cpu_ticks "$redis_pid")"
  client_times="$(tail -n1 "$tmp/time")"
  local keys
  keys="$(redis-cli -p "$redis_port" dbsize)"
  "$python" - "$out" "$test" "$pipeline" "$n" "$keys" "$(cores_used "$c0" "$c1" "$t0" "$t1")" \
    "$client_times" "$t0" "$t1" "$csv" <<'EOF'
import csv, io, json, sys
out, test, pipeline, n, keys, server_cpu, client_times, t0, t1, text = sys.argv[1:]
rows = list(csv.DictReader(io.StringIO(text)))
if not rows:
    sys.exit(f"redis-benchmark {test} pipeline {pipeline}: no result")
row = rows[0]
n, keys = int(n), int(keys)
user_s, sys_s = (float(x) for x in client_times.split())
r = {"method": row["test"], "pipeline": int(pipeline), "requests": n,
     "requests_per_s": float(row["rps"]), "p50_us": 1000 * float(row["p50_latency_ms"]),
     "p99_us": 1000 * float(row["p99_latency_ms"]), "server_cpu_cores": float(server_cpu),
     "client_cpu_cores": round((user_s + sys_s) / (float(t1) - float(t0)), 3)}
if test == "hold":  # SET NX: a new key is a hold, an existing one a conflict
    r.update(ok=keys, conflicts=n - keys, errors=0)
else:
    r.update(ok=n, conflicts=0, errors=0)
json.dump(r, open(out, "w"))
EOF
}

tests=("ping 1" "ping 16" "hold 1" "hold 16")
for t in "${tests[@]}"; do
  read -r test pipeline <<<"$t"
  echo "rpc_vs_redis: $test, pipeline $pipeline" >&2
  run_boxoffice "$test" "$pipeline"
  run_redis "$test" "$pipeline"
done

if ! kill -0 "$box_pid" 2>/dev/null; then
  echo "rpc_vs_redis: boxofficed died during the run" >&2
  failures=$((failures + 1))
fi
if grep -E 'ERROR|WARN' "$tmp/boxofficed.log" >&2; then echo "rpc_vs_redis: boxofficed logged the above" >&2; fi

# --- table ---------------------------------------------------------------------------------------
"$python" - "$tmp" "$json_out" "$box_backend" "$duration_s" "$connections" "$box_workers" \
  "${BOX_FLAGS:-}" "$client_threads" "${tests[@]}" <<'EOF'
import json, os, subprocess, sys, time
tmp, json_out, backend, duration_s, connections, workers, flags, client_threads = sys.argv[1:9]
tests = [t.split() for t in sys.argv[9:]]
names = {"ping": ("ping", "PING"), "hold": ("hold 1 seat of 1M", "SET NX 1 key of 1M")}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rows = []
for test, pipeline in tests:
    box = json.load(open(os.path.join(tmp, f"boxoffice-{test}-{pipeline}.json")))
    red = json.load(open(os.path.join(tmp, f"redis-{test}-{pipeline}.json")))
    ratio = box["requests_per_s"] / red["requests_per_s"] if red["requests_per_s"] else 0
    rows.append({"test": test, "pipeline": int(pipeline), "boxoffice": box, "redis": red,
                 "ratio": round(ratio, 3)})

def ok_share(r):
    done = r["ok"] + r["conflicts"] + r["errors"]
    return f'{100 * r["ok"] / done:.0f}%' if done else "-"

header = ["test (boxoffice / redis)", "pipeline", "boxoffice req/s", "redis req/s", "ratio",
          "boxoffice p50/p99 us", "redis p50/p99 us", "ok share b/r", "server CPU b/r",
          "client CPU b/r"]
lines = []
for r in rows:
    b, d = r["boxoffice"], r["redis"]
    lines.append([" / ".join(names[r["test"]]), str(r["pipeline"]), f'{b["requests_per_s"]:,.0f}',
                  f'{d["requests_per_s"]:,.0f}', f'{r["ratio"]:.2f}',
                  f'{b["p50_us"]:.0f} / {b["p99_us"]:.0f}', f'{d["p50_us"]:.0f} / {d["p99_us"]:.0f}',
                  f'{ok_share(b)} / {ok_share(d)}',
                  f'{b["server_cpu_cores"]:.2f} / {d["server_cpu_cores"]:.2f}',
                  f'{b["client_cpu_cores"]:.2f} / {d["client_cpu_cores"]:.2f}'])
print(f"# boxofficed ({backend}, {workers} workers{' ' + flags if flags else ''}) vs redis-server, "
      f"{connections} connections, {client_threads} client thread(s), {duration_s} s per run; "
      f"{os.cpu_count()} CPUs ({cpu})")
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
for l in lines:
    print("| " + " | ".join(l) + " |")
errors = sum(r["boxoffice"]["errors"] for r in rows)
if errors:
    print(f"WARNING: boxofficed answered {errors} requests with errors other than SEAT_TAKEN")
if json_out:
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    doc = {"benchmark": "rpc_vs_redis", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"nproc": os.cpu_count(), "cpu": cpu},
           "boxofficed": {"io": backend, "workers": int(workers), "flags": flags},
           "redis": redis_version, "client_threads": int(client_threads),
           "connections": int(connections), "duration_s": float(duration_s), "rows": rows}
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1)
EOF
((failures == 0)) || { echo "rpc_vs_redis: $failures failure(s)" >&2; exit 1; }
