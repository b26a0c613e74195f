#!/usr/bin/env bash
# Runs the same seat-locking scenarios against boxofficed and redis-server through the same
# client (boxoffice-load, same connections, pipeline depth and client threads) and prints a table:
# scenario, boxoffice ops/s, Redis ops/s, ratio, p99 of each.
#
# Usage: bench/compare.sh [--json FILE]
#
# Rows (their targets: bench/README.md):
#   hold         hold 1 seat of 1M (Redis: SET seat:{e}:i tok NX PX), no pipelining
#   hold-p16     the same, 16 requests in flight per connection
#   hold4        4 adjacent seats all or nothing (Redis: EVALSHA of a check-then-set Lua script)
#   buy          buy 1 seat of 1M (Redis: SET NX without expiry)
#   onsale       a flash sale of 50,000 seats, Zipf-skewed to the front rows, until sold out;
#                both sides run with --verify (every ticket/key checked after the sale)
#   buy-durable  buy, durable before the reply: boxofficed's default journal (group commit +
#                fdatasync) against Redis with appendonly yes + appendfsync always
#   hold-half    hold in open loop at half of the hold row's boxoffice rate (both servers get the
#                same rate): p99 when not saturated
# Every row but buy-durable runs Redis with persistence off and boxofficed --durability memory.
# Each row starts both servers afresh (empty table, empty Redis), runs boxofficed then Redis back
# to back, and stops them. Holds live 250 ms on both sides (--hold-ttl-ms / PX 250), so the hold
# tables stay in a steady state instead of filling up (and most holds succeed on both sides).
# The journal and Redis's AOF live on the same disk (under /var/tmp).
#
# Needs redis-server (tools/install-deps.sh) and boxofficed + boxoffice-load, by default in
# build-bench:
#   cmake -S . -B build-bench -G Ninja -DBOXOFFICE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
#   ninja -C build-bench boxofficed boxoffice-load
# Environment: BUILD_DIR (build-bench), DURATION_S (5, per run), CONNECTIONS (50),
# CLIENT_THREADS (1), BOX_WORKERS (2), IO (auto: the client's --io), ROWS (all, e.g. "hold buy").
# Runs about three minutes; every process is under `timeout` and the EXIT trap.
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
json_out=""
while (($#)); do
  case "$1" in
    --json) json_out="${2:?--json needs a file}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build-bench}"
boxofficed="$build_dir/tools/boxofficed"
load="$build_dir/tools/boxoffice-load"
duration_s="${DURATION_S:-5}"
connections="${CONNECTIONS:-50}"
client_threads="${CLIENT_THREADS:-1}"
box_workers="${BOX_WORKERS:-2}"
client_io="${IO:-auto}"
read -r -a rows <<<"${ROWS:-hold hold-p16 hold4 buy onsale buy-durable hold-half}"
python=/usr/bin/python3
bench_name=compare
source "$repo/bench/lib.sh"

command -v redis-server >/dev/null || { echo "compare: redis-server not found (tools/install-deps.sh)" >&2; exit 1; }
for bin in "$boxofficed" "$load"; do
  [[ -x "$bin" ]] || { echo "compare: $bin missing; ninja -C $build_dir boxofficed boxoffice-load" >&2; exit 1; }
done

tmp="$(mktemp -d /var/tmp/boxoffice-compare.XXXXXX)"
shm="/dev/shm/boxoffice-compare-$$"
server_pid=""   # the server of the current run
timeout_pid=""  # the `timeout` around it
stop_server() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null || true
  if [[ -n "$timeout_pid" ]]; then
    for _ in {1..100}; do kill -0 "$timeout_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$timeout_pid" 2>/dev/null || true
    wait "$timeout_pid" 2>/dev/null || true
  fi
  server_pid="" timeout_pid=""
  rm -f "$shm" "$shm".log-*
}
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

server_timeout_s=$((4 * duration_s + 90))  # a backstop: each run stops its server itself
port=""
start_boxofficed() {  # memory|journal
  port="$(free_port)"
  rm -rf "$tmp/box-data"; mkdir -p "$tmp/box-data"
  timeout "$server_timeout_s" "$boxofficed" --listen "127.0.0.1:$port" --http off --admin off \
    --workers "$box_workers" --durability "$1" --shm "$shm" --data-dir "$tmp/box-data" \
    --holds-max 2097152 2>>"$tmp/boxofficed.log" &
  timeout_pid=$!
  server_pid="$(child_of "$timeout_pid")"
  wait_for_port "$port" boxofficed "$server_pid"
}
start_redis() {  # memory|aof
  port="$(free_port)"
  local persistence=(--save '' --appendonly no)
  if [[ "$1" == aof ]]; then
    rm -rf "$tmp/redis-data"; mkdir -p "$tmp/redis-data"
    persistence=(--save '' --appendonly yes --appendfsync always --dir "$tmp/redis-data")
  fi
  timeout "$server_timeout_s" redis-server --port "$port" --bind 127.0.0.1 --daemonize no \
    --logfile "$tmp/redis.log" "${persistence[@]}" &
  timeout_pid=$!
  server_pid="$(child_of "$timeout_pid")"
  wait_for_port "$port" redis-server "$server_pid"
}

# One boxoffice-load run against the server just started: $tmp/<row>-<target>.json is the load
# report plus server_cpu_cores (the server's CPU use over the run, in cores).
failures=0
run_load() {  # row target load-args...
  local row="$1" target="$2"; shift 2
  local out="$tmp/$row-$target.json" t0 t1 c0 c1
  c0="$(cpu_ticks "$server_pid")"; t0="$(now_s)"
  if ! timeout $((3 * duration_s + 60)) "$load" --target "$target" --addr "127.0.0.1:$port" \
      --connections "$connections" --threads "$client_threads" --io "$client_io" \
      --json "$out.load" "$@" >"$tmp/$row-$target.log" 2>&1; then
    echo "compare: $row against $target failed:" >&2
    tail -n 5 "$tmp/$row-$target.log" >&2
    failures=$((failures + 1))
  fi
  t1="$(now_s)"; c1="$(cpu_ticks "$server_pid")"
  tail -n 3 "$tmp/$row-$target.log" | sed "s/^/  /" >&2
  [[ -f "$out.load" ]] || return 0
  "$python" - "$out.load" "$out" "$(cores_used "$c0" "$c1" "$t0" "$t1")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["server_cpu_cores"] = float(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"))
EOF
}

hold_ttl_ms=250  # short enough that live holds stay a small share of the 1M seats at any rate
hold_args=(--scenario hold --seats 1000000 --hold-ttl-ms "$hold_ttl_ms" --warmup 1 --duration "$duration_s")
row_args() {  # row -> its boxoffice-load arguments (after --target/--addr)
  case "$1" in
    hold) echo "${hold_args[*]} --pipeline 1" ;;
    hold-p16) echo "${hold_args[*]} --pipeline 16" ;;
    hold4) echo "--scenario hold4 --seats 1000000 --hold-ttl-ms $hold_ttl_ms --warmup 1 --duration $duration_s --pipeline 1" ;;
    buy | buy-durable) echo "--scenario buy --seats 1000000 --warmup 1 --duration $duration_s --pipeline 1" ;;
    onsale) echo "--scenario onsale --seats 50000 --duration $((6 * duration_s)) --pipeline 1 --verify" ;;
    hold-half) echo "${hold_args[*]} --pipeline 1 --rate $half_rate" ;;
    *) echo "compare: unknown row $1" >&2; return 1 ;;
  esac
}

half_rate=""
for row in "${rows[@]}"; do
  if [[ "$row" == hold-half && -z "$half_rate" ]]; then
    [[ -f "$tmp/hold-boxoffice.json" ]] || { echo "compare: hold-half needs the hold row first" >&2; exit 2; }
    half_rate="$("$python" -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["ops_per_s"] / 2))' "$tmp/hold-boxoffice.json")"
  fi
  read -r -a args <<<"$(row_args "$row")"
  echo "compare: $row" >&2
  if [[ "$row" == buy-durable ]]; then start_boxofficed journal; else start_boxofficed memory; fi
  run_load "$row" boxoffice "${args[@]}"
  stop_server
  if [[ "$row" == buy-durable ]]; then start_redis aof; else start_redis memory; fi
  run_load "$row" redis "${args[@]}"
  stop_server
done
if grep -E 'ERROR|FATAL' "$tmp/boxofficed.log" >&2; then echo "compare: boxofficed logged the above" >&2; fi

# --- table ---------------------------------------------------------------------------------------
"$python" - "$tmp" "$json_out" "$connections" "$client_threads" "$box_workers" "$duration_s" \
  "${rows[@]}" <<'EOF'
import json, os, subprocess, sys
tmp, json_out, connections, client_threads, workers, duration_s = sys.argv[1:7]
names = sys.argv[7:]
# The targets bench/README.md sets for this machine: a ratio floor, or hold-half's p99 ceiling.
ratio_targets = {"hold": 2.0, "hold-p16": 3.0, "hold4": 3.0, "buy-durable": 1.5}
p99_ceiling_us = {"hold-half": 1000.0}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

def load(row, target):
    path = os.path.join(tmp, f"{row}-{target}.json")
    return json.load(open(path)) if os.path.exists(path) else None

def ok_share(r):
    done = r["ok"] + r["conflicts"] + r["errors"]
    return f'{100 * r["ok"] / done:.0f}%' if done else "-"

rows, lines, missed = [], [], []
for name in names:
    b, r = load(name, "boxoffice"), load(name, "redis")
    if b is None or r is None:
        lines.append([name] + ["failed"] * 10)
        missed.append(name)
        continue
    ratio = b["ops_per_s"] / r["ops_per_s"] if r["ops_per_s"] else 0.0
    row = {"scenario": name, "boxoffice_ops_s": round(b["ops_per_s"]), "redis_ops_s": round(r["ops_per_s"]),
           "ratio": round(ratio, 2), "boxoffice_p99_us": b["p99_us"], "redis_p99_us": r["p99_us"],
           "pipeline": b["pipeline"], "boxoffice_ok_share": ok_share(b), "redis_ok_share": ok_share(r),
           "boxoffice_errors": b["errors"], "redis_errors": r["errors"],
           "boxoffice_server_cpu_cores": b["server_cpu_cores"], "redis_server_cpu_cores": r["server_cpu_cores"],
           "boxoffice_client_cpu_cores": b.get("client_cpu_cores"), "redis_client_cpu_cores": r.get("client_cpu_cores"),
           "client_io": b.get("io", "")}
    if name == "onsale":
        row["boxoffice_sold_out_s"] = b["elapsed_s"]
        row["redis_sold_out_s"] = r["elapsed_s"]
        for side, rep in (("boxoffice", b), ("redis", r)):
            v = rep.get("verify")
            row[f"{side}_verify_mismatches"] = v["mismatches"] if v else None
    target, met = "", True
    if name in ratio_targets:
        target = f">= {ratio_targets[name]:g}x"
        met = ratio >= ratio_targets[name]
    elif name in p99_ceiling_us:
        target = f"p99 <= {p99_ceiling_us[name]:g} us"
        met = b["p99_us"] <= p99_ceiling_us[name]
    if b["errors"] or r["errors"] or (name == "onsale" and (row["boxoffice_verify_mismatches"] or row["redis_verify_mismatches"])):
        met = False
    row["target"], row["target_met"] = target, met
    if not met:
        missed.append(name)
    rows.append(row)
    extra = f' (sold out {b["elapsed_s"]:.2f} s / {r["elapsed_s"]:.2f} s)' if name == "onsale" else ""
    lines.append([name, str(b["pipeline"]), f'{b["ops_per_s"]:,.0f}', f'{r["ops_per_s"]:,.0f}',
                  f'{ratio:.2f}{extra}', f'{b["p99_us"]:,.0f}', f'{r["p99_us"]:,.0f}',
                  f'{ok_share(b)} / {ok_share(r)}',
                  f'{b["server_cpu_cores"]:.2f} / {r["server_cpu_cores"]:.2f}',
                  f'{b.get("client_cpu_cores", 0):.2f} / {r.get("client_cpu_cores", 0):.2f}',
                  (target + (" met" if met else " MISSED")) if target else ("" if met else "errors")])

header = ["scenario", "pipeline", "boxoffice ops/s", "redis ops/s", "ratio", "boxoffice p99 us",
          "redis p99 us", "ok share b / r", "server CPU b / r", "client CPU b / r", "target"]
redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
print(f"# boxofficed ({workers} workers) vs redis-server {redis_version[2] if len(redis_version) > 2 else ''}"
      f" through boxoffice-load: {connections} connections, {client_threads} client thread(s), "
      f"{duration_s} s per run; {os.cpu_count()} CPUs ({cpu})")
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
for l in lines:
    print("| " + " | ".join(l) + " |")
if missed:
    print("missed or failed: " + ", ".join(missed))
if json_out:
    with open(json_out, "w") as f:
        json.dump(rows, f, indent=1)
EOF
((failures == 0)) || { echo "compare: $failures run(s) failed" >&2; exit 1; }
