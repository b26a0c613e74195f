#!/usr/bin/env bash
# Measures the persister (journal -> MariaDB) in tickets/s against the same tickets inserted one
# row per autocommit INSERT and as 1000-row INSERTs, and what it costs the sales running beside it.
#
# Usage: bench/persist.sh [--json FILE]
#
# Everything runs on this machine over loopback and a private MariaDB (tools/mariadb.sh) in a
# temp dir, in one run of about 65 s (stopped, and failed, after DEADLINE_S, 285 s):
#  1. durability: sales/s of `buy` (one seat, 64 connections, pipeline 1, DURATION_S s after 1 s
#     of warm-up, a fresh 1M-place event) on boxofficed --durability journal, then on a second
#     boxofficed --durability memory; neither has --mariadb.
#  2. backlog: the journal server sells BACKLOG more tickets (pipelined) without --mariadb, so
#     its journal holds every sale and nothing has drained it.
#  3. persister: restart it with --mariadb (an empty database); persister_rows_per_s = the sale
#     records it had (event.list's seats_sold) / the time from the persister's start (the
#     "listening" log line, right after Persister::start) until persist_progress counts them
#     all. Nothing else runs meanwhile; bench/persist_bench watch polls every 10 ms.
#  4. the same ticket rows (read back from `tickets`) into an empty table of the same definition:
#     SINGLE_ROWS rows one per autocommit INSERT (stopped after SINGLE_TIME_LIMIT_S s), and all
#     of them as 1000-row INSERTs, each statement its own commit (bench/persist_bench insert).
#  5. sale_rate_drop_pct: sales/s as in 1 on the journal server without --mariadb (no persister),
#     then after another BACKLOG pipelined sales, restarted with --mariadb, sales/s at once while
#     the persister drains that backlog; drop = (1 - during / without) * 100. The script checks
#     the backlog outlasted the window. Then sales/s once it has caught up, for reference.
# Needs mariadbd (tools/install-deps.sh), python3-msgpack, and the binaries, by default in
# build-bench: ninja -C build-bench boxofficed rpc_load persist_bench
# Environment: BUILD_DIR (build-bench), BOXOFFICED, RPC_LOAD, PERSIST_BENCH (binaries),
# DURATION_S (5), CONNECTIONS (64), BACKLOG (1000000, at most 1048576: one event),
# SINGLE_ROWS (20000), SINGLE_TIME_LIMIT_S (10), BOX_FLAGS (more boxofficed flags, e.g.
# --persist-batch-rows 50000), DB_NICE (0: the niceness mariadbd runs at), DROP_DURABILITY
# (journal: boxofficed's --durability in phase 5), PERF_DATA (a file: `perf record -a -g` of
# phase 3 goes there), DEADLINE_S (285).
# Every process it starts (boxofficed, mariadbd, perf) is stopped by the EXIT trap, Ctrl-C too.
set -euo pipefail

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }
json_out=""
while (($#)); do
  case "$1" in
    --json) json_out="${2:?--json needs a file}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "persist: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build-bench}"
boxofficed="${BOXOFFICED:-$build_dir/tools/boxofficed}"
rpc_load="${RPC_LOAD:-$build_dir/bench/rpc_load}"
persist_bench="${PERSIST_BENCH:-$build_dir/bench/persist_bench}"
duration_s="${DURATION_S:-5}"
connections="${CONNECTIONS:-64}"
backlog="${BACKLOG:-1000000}"
single_rows="${SINGLE_ROWS:-20000}"
single_time_limit_s="${SINGLE_TIME_LIMIT_S:-10}"
read -r -a box_flags <<<"${BOX_FLAGS:-}"
perf_data="${PERF_DATA:-}"
db_nice="${DB_NICE:-0}"
drop_durability="${DROP_DURABILITY:-journal}"
deadline_s="${DEADLINE_S:-285}"
event_seats=1000000  # every measured window gets a fresh event of this many places
python=/usr/bin/python3

((backlog >= 1000 && backlog <= 1048576)) || { echo "persist: BACKLOG must be 1000..1048576" >&2; exit 2; }
command -v mariadbd >/dev/null || { echo "persist: mariadbd not found (tools/install-deps.sh)" >&2; exit 1; }
for bin in "$boxofficed" "$rpc_load" "$persist_bench"; do
  [[ -x "$bin" ]] || { echo "persist: $bin missing; ninja -C $build_dir boxofficed rpc_load persist_bench" >&2; exit 1; }
done
"$python" -c 'import msgpack' 2>/dev/null || { echo "persist: python3-msgpack missing" >&2; exit 1; }
[[ -z "$perf_data" ]] || command -v perf >/dev/null || { echo "persist: PERF_DATA needs perf" >&2; exit 1; }

# A short temp dir: the MariaDB socket path must stay under 108 bytes.
tmp="$(mktemp -d /tmp/persist-bench.XXXXXX)"
shm="/dev/shm/boxoffice-persist-bench-$$"
db_dir="$tmp/db"
box_pids=()
perf_pid=""
watchdog_pid=""
cleanup() {
  local pid
  if [[ -n "$watchdog_pid" ]]; then
    pkill -TERM -P "$watchdog_pid" 2>/dev/null || true  # its sleep
    kill -TERM "$watchdog_pid" 2>/dev/null || true
  fi
  for pid in "${box_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [[ -z "$perf_pid" ]] || kill -INT "$perf_pid" 2>/dev/null || true
  for pid in "${box_pids[@]}" $perf_pid; do
    for _ in {1..100}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [[ ! -d "$db_dir" ]] || "$repo/tools/mariadb.sh" stop --dir "$db_dir" 2>/dev/null ||
    "$repo/tools/mariadb.sh" kill --dir "$db_dir" 2>/dev/null || true
  rm -rf "$tmp"
  rm -f "$shm"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The deadline: TERM to this script and to what it waits for (the trap runs once that returns).
(
  sleep "$deadline_s"
  echo "persist: still running after $deadline_s s (DEADLINE_S); stopping" >&2
  kill -TERM $$
  pkill -TERM -P $$
) &
watchdog_pid=$!

log() { echo "persist: $*" >&2; }
bench_name=persist
source "$repo/bench/lib.sh"  # free_port, clk_tck, proc_ticks, busy_ticks
now_ms() { date +%s%3N; }
# CPU accounting of a phase: cpu_start; ...; cpu_stop -> "<box cores> <mariadbd cores> <all cores>"
cpu_start() {
  cpu_t0="$(now_ms)"; cpu_all0="$(busy_ticks)"
  cpu_box0="$(proc_ticks "$box_pid")"; cpu_db0="$(proc_ticks "$db_pid")"
}
cpu_stop() {
  awk -v t="$(( $(now_ms) - cpu_t0 ))" -v hz="$clk_tck" \
    -v b="$(( $(proc_ticks "$box_pid") - cpu_box0 ))" -v d="$(( $(proc_ticks "$db_pid") - cpu_db0 ))" \
    -v a="$(( $(busy_ticks) - cpu_all0 ))" \
    'BEGIN { s = t / 1000; printf "%.2f %.2f %.2f", b / hz / s, d / hz / s, a / hz / s }'
}

# --- MariaDB -------------------------------------------------------------------------------------
log "starting a private MariaDB in $db_dir"
db_url="$("$repo/tools/mariadb.sh" start --dir "$db_dir")"
db_pid="$(<"$db_dir/mysqld.pid")"
if ((db_nice != 0)); then
  # mariadbd runs in a session of its own (setsid), so with autogroup scheduling (the default on
  # most distributions) the kernel shares the cores between its session and ours first, and a
  # thread's niceness only counts within its session: set the niceness of its session.
  if [[ -w "/proc/$db_pid/autogroup" ]]; then
    echo "$db_nice" >"/proc/$db_pid/autogroup"
  else
    for task in /proc/"$db_pid"/task/*; do renice -n "$db_nice" -p "${task##*/}" >/dev/null; done
  fi
fi
db_sql() { "$repo/tools/mariadb.sh" sql "$1" --dir "$db_dir"; }
persisted_sales() {
  db_sql "SELECT COALESCE(SUM(sequence), 0) FROM persist_progress WHERE stream <> 'control'" 2>/dev/null || echo 0
}

# --- boxofficed ----------------------------------------------------------------------------------
# start_box NAME DURABILITY [--mariadb]: (re)starts the server NAME on its own data dir and seat
# table and waits for its "listening" line; then use_box NAME. Sets box_listening_ms.
# use_box NAME: the server that box_pid and box_port (and so rpc, sales, fill, stop_box) mean.
declare -A box_port_of box_pid_of
use_box() { box_pid="${box_pid_of[$1]}" box_port="${box_port_of[$1]}"; }
start_box() {
  local name="$1" durability="$2" with_db="${3:-}" log_file="$tmp/$1.log"
  [[ -n "${box_port_of[$name]:-}" ]] || box_port_of[$name]="$(free_port)"
  box_port="${box_port_of[$name]}"
  local args=(--listen "127.0.0.1:$box_port" --workers 2 --io auto --durability "$durability"
    --shm "$shm-$name" --data-dir "$tmp/$name" --persist-backlog-max 100000000)
  [[ -z "$with_db" ]] || args+=(--mariadb "$db_url")
  touch "$log_file"
  local lines_before line=""
  lines_before="$(wc -l <"$log_file")"
  "$boxofficed" "${args[@]}" "${box_flags[@]}" 2>>"$log_file" &
  box_pid=$!
  box_pid_of[$name]="$box_pid"
  box_pids+=("$box_pid")
  for _ in {1..300}; do
    line="$(tail -n +$((lines_before + 1)) "$log_file" | grep ' listening on ' || true)"
    [[ -n "$line" ]] && break
    kill -0 "$box_pid" 2>/dev/null || { tail -n 20 "$log_file" >&2; log "boxofficed $name exited at start"; exit 1; }
    sleep 0.01
  done
  [[ -n "$line" ]] || { log "boxofficed $name did not listen within 3 s"; exit 1; }
  # The line's own time stamp (ms): the persisters were started just before it was written.
  box_listening_ms="$(date -d "$(awk '{ print $1 }' <<<"$line")" +%s%3N)"
}
stop_box() {
  kill -TERM "$box_pid"
  for _ in {1..300}; do kill -0 "$box_pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$box_pid" 2>/dev/null && { log "boxofficed did not stop within 15 s"; exit 1; }
  wait "$box_pid" 2>/dev/null || true
  local remaining=()
  for pid in "${box_pids[@]}"; do [[ "$pid" == "$box_pid" ]] || remaining+=("$pid"); done
  box_pids=("${remaining[@]}")
}

# rpc EVENT_CREATE ID... | rpc SOLD: event.create of 1M-place GA events, or print the tickets
# sold so far over all events (event.list's seats_sold: one sale record each here).
rpc() {
  "$python" - "$box_port" "$event_seats" "$@" <<'EOF'
import socket, sys, msgpack
port, seats, command, ids = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
    unpacker = msgpack.Unpacker(raw=False)
    def call(method, params):
        s.sendall(msgpack.packb([0, 1, method, params]))
        while True:
            for response in unpacker:
                if response[2] is not None:
                    sys.exit(f"{method}: {response[2]}")
                return response[3]
            data = s.recv(65536)
            if not data:
                sys.exit(f"{method}: connection closed")
            unpacker.feed(data)
    if command == "create":
        for event_id in ids:
            call("event.create", {"id": event_id, "layout": {"venue": "V", "zones": [
                {"id": 1, "price_cents": 2500, "capacity": seats}]}})
    else:
        print(sum(e["seats_sold"] for e in call("event.list", {})["events"]))
EOF
}

# sales NAME EVENT: one measured window of single-seat buys; leaves $tmp/NAME.json (rpc_load's
# result plus box/mariadbd/all CPU in cores).
sales() {
  local name="$1" event="$2" cpu
  cpu_start
  timeout $((duration_s + 60)) "$rpc_load" --addr "127.0.0.1:$box_port" --method buy --event "$event" \
    --seats "$event_seats" --seat-order sequential --connections "$connections" --pipeline 1 \
    --warmup 1 --duration "$duration_s" --json "$tmp/$name.load" >&2 ||
    { log "rpc_load $name failed"; exit 1; }
  cpu="$(cpu_stop)"
  "$python" - "$tmp/$name.load" "$tmp/$name.json" $cpu <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r.update(box_cpu_cores=float(sys.argv[3]), db_cpu_cores=float(sys.argv[4]),
         all_cpu_cores=float(sys.argv[5]))
json.dump(r, open(sys.argv[2], "w"))
EOF
}

# fill EVENT: BACKLOG pipelined single-seat buys, as fast as the server takes them.
fill() {
  timeout 120 "$rpc_load" --addr "127.0.0.1:$box_port" --method buy --event "$1" \
    --seats "$event_seats" --seat-order sequential --requests "$backlog" --connections 64 \
    --pipeline 16 --warmup 0 --duration 100 --json "$tmp/fill-$1.load" >&2 ||
    { log "rpc_load fill $1 failed"; exit 1; }
}

# --- 1. durability: journal vs memory ------------------------------------------------------------
log "1. sales/s, --durability journal vs memory"
start_box mem memory
rpc create Mem
start_box main journal
rpc create Journal Fill Base Backlog During After
sales journal Journal
use_box mem
sales memory Mem
stop_box
use_box main

# --- 2. backlog ----------------------------------------------------------------------------------
log "2. selling $backlog tickets without MariaDB"
fill Fill
target="$(rpc sold)"
stop_box

# --- 3. the persister drains it ------------------------------------------------------------------
log "3. restart with --mariadb: the persister drains $target sale records"
if [[ -n "$perf_data" ]]; then
  perf record -a -g -e cpu-clock -o "$perf_data" 2>"$tmp/perf.log" &
  perf_pid=$!
  sleep 0.5
fi
start_box main journal --mariadb
cpu_start
"$persist_bench" watch --url "$db_url" --target "$target" --timeout 120 --json "$tmp/drain.json" >&2 ||
  { log "the persister did not drain the backlog"; tail -n 20 "$tmp/main.log" >&2; exit 1; }
drain_cpu="$(cpu_stop)"
if [[ -n "$perf_pid" ]]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""
fi
drain_listening_ms="$box_listening_ms"
ticket_rows="$(db_sql "SELECT COUNT(*) FROM tickets")"
((ticket_rows == target)) || { log "tickets has $ticket_rows rows, want $target"; exit 1; }
stop_box

# --- 4. the same rows, one per commit and 1000 per statement -------------------------------------
log "4. the same rows: one per autocommit INSERT, and 1000-row INSERTs"
box_pid=""  # none runs: its CPU counts as 0
cpu_start
"$persist_bench" insert --url "$db_url" --mode single --rows "$single_rows" \
  --time-limit "$single_time_limit_s" --json "$tmp/single.json" >&2
single_cpu="$(cpu_stop)"
cpu_start
"$persist_bench" insert --url "$db_url" --mode multirow --rows "$target" --rows-per-statement 1000 \
  --json "$tmp/multirow.json" >&2
multirow_cpu="$(cpu_stop)"
db_sql "DROP TABLE bench_tickets_single, bench_tickets_multirow"  # back to one table of tickets

# --- 5. sales/s with and without a draining persister --------------------------------------------
log "5. sales/s without a persister, while it drains $backlog more, and once caught up"
start_box main "$drop_durability"
sales without Base
fill Backlog
target2="$(rpc sold)"
stop_box
start_box main "$drop_durability" --mariadb
persisted_before="$(persisted_sales)"
sales during During
persisted_after="$(persisted_sales)"
((persisted_after < target2)) ||
  log "WARNING: the persister caught up within the window; raise BACKLOG"
target3="$(rpc sold)"
"$persist_bench" watch --url "$db_url" --target "$target3" --timeout 120 >&2 ||
  { log "the persister did not catch up after the window"; exit 1; }
sales caught_up After
stop_box
if grep -E ' (ERROR|WARN) ' "$tmp"/*.log | grep -v 'not caught up' >&2; then
  log "boxofficed logged the above"
fi

# --- table and JSON ------------------------------------------------------------------------------
"$python" - "$tmp" "$json_out" "$target" "$drain_listening_ms" "$drain_cpu" "$target2" \
  "$persisted_before" "$persisted_after" "$connections" "$duration_s" "${BOX_FLAGS:-}" \
  "$single_cpu" "$multirow_cpu" "$db_nice" "$drop_durability" <<'EOF'
import json, os, subprocess, sys, time
(tmp, json_out, target, listening_ms, drain_cpu, target2, before, after, connections, duration_s,
 flags, single_cpu, multirow_cpu, db_nice, drop_durability) = sys.argv[1:]
target, listening_ms, target2 = int(target), int(listening_ms), int(target2)
before, after = int(before), int(after)
box_cpu, db_cpu, all_cpu = (float(x) for x in drain_cpu.split())
load = lambda name: json.load(open(os.path.join(tmp, name + ".json")))
drain, single, multirow = load("drain"), load("single"), load("multirow")
for r, text in ((single, single_cpu), (multirow, multirow_cpu)):
    _, db, machine = (float(x) for x in text.split())
    r.update(db_cpu_cores=db,
             other_cpu_cores=round(max(0, machine - db - r["client_cpu_cores"]), 2))
journal, memory = load("journal"), load("memory")
without, during, caught_up = load("without"), load("during"), load("caught_up")

drain_s = (drain["done_wall_ms"] - listening_ms) / 1000
persister = target / drain_s
# The steady rate: between the samples at 10% and 90% of the backlog.
samples = drain["samples"]
lo = next(s for s in samples if s[1] >= 0.1 * target)
hi = next(s for s in samples if s[1] >= 0.9 * target)
steady = (hi[1] - lo[1]) / ((hi[0] - lo[0]) / 1000) if hi[0] > lo[0] else 0
sales_rate = lambda r: r["ok"] / r["duration_s"]  # sales/s: answered buys that sold a seat
drop = (1 - sales_rate(during) / sales_rate(without)) * 100
drop_caught_up = (1 - sales_rate(during) / sales_rate(caught_up)) * 100
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
doc = {
    "benchmark": "persist", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"nproc": os.cpu_count(), "cpu": cpu},
    "mariadb": subprocess.run(["mariadbd", "--version"], capture_output=True, text=True).stdout.strip(),
    "box_flags": flags, "db_nice": int(db_nice), "drop_durability": drop_durability,
    "connections": int(connections),
    "duration_s": float(duration_s),
    "persister_rows_per_s": round(persister),
    "single_insert_rows_per_s": round(single["rows_per_s"]),
    "multirow_insert_rows_per_s": round(multirow["rows_per_s"]),
    "sale_rate_drop_pct": round(drop, 1),
    "persister_vs_single": round(persister / single["rows_per_s"], 2),
    "persister_vs_multirow": round(persister / multirow["rows_per_s"], 2),
    "persister_rows": target, "persister_drain_s": round(drain_s, 3),
    "persister_steady_rows_per_s": round(steady),
    "persister_drain_cpu_cores": {"boxofficed": box_cpu, "mariadbd": db_cpu, "machine": all_cpu,
                                  "other": round(max(0, all_cpu - box_cpu - db_cpu), 2)},
    "single_insert_rows": single["rows"], "multirow_insert_rows": multirow["rows"],
    "single_insert_cpu_cores": {"mariadbd": single["db_cpu_cores"], "other": single["other_cpu_cores"]},
    "multirow_insert_cpu_cores": {"mariadbd": multirow["db_cpu_cores"],
                                  "other": multirow["other_cpu_cores"]},
    "journal_sales_per_s": round(sales_rate(journal)),
    "memory_sales_per_s": round(sales_rate(memory)),
    "journal_vs_memory": round(sales_rate(journal) / sales_rate(memory), 3),
    "sales_per_s_without_persister": round(sales_rate(without)),
    "sales_per_s_during_drain": round(sales_rate(during)),
    "sales_per_s_caught_up": round(sales_rate(caught_up)),
    "sale_rate_drop_vs_caught_up_pct": round(drop_caught_up, 1),
    "drain_backlog_records": target2 - target,
    "persister_rows_per_s_during_sales": round((after - before) / (float(duration_s) + 1)),
    "backlog_left_after_window": target2 - after,
    "sales_runs": {k: v for k, v in [("journal", journal), ("memory", memory), ("without", without),
                                     ("during", during), ("caught_up", caught_up)]},
    "targets": {"persister_100k": persister >= 100000,
                "persister_20x_single": persister >= 20 * single["rows_per_s"],
                "drop_10pct": drop <= 10},
}
p = lambda r: f'{r["p50_us"]:.0f} / {r["p99_us"]:.0f}'
# CPU in cores over the window (warm-up included): boxofficed, mariadbd, rpc_load, and every other
# process on the machine (other jobs sharing it: a run where this is high is suspect).
other = lambda r: max(0, r["all_cpu_cores"] - r["box_cpu_cores"] - r["db_cpu_cores"] - r["client_cpu_cores"])
c = lambda r: (f'{r["box_cpu_cores"]:.2f} / {r["db_cpu_cores"]:.2f} / {r["client_cpu_cores"]:.2f} / '
               f'{other(r):.2f}')
# boxofficed CPU per sale (us): the workers' cost of a sale, whatever else takes the cores.
us_per_sale = lambda r: 1e6 * r["box_cpu_cores"] / sales_rate(r)
for r in (journal, memory, without, during, caught_up):
    r["other_cpu_cores"] = round(other(r), 2)
    r["box_cpu_us_per_sale"] = round(us_per_sale(r), 2)
print(f"# persister benchmark: {os.cpu_count()} CPUs ({cpu}); {doc['mariadb']}"
      f"{f' (nice {db_nice})' if int(db_nice) else ''}; boxofficed 2 workers{' ' + flags if flags else ''}")
drain_other = max(0, all_cpu - box_cpu - db_cpu)
print("| measure | rows | seconds | rows/s | vs one row per commit | CPU cores: boxofficed or persist_bench / mariadbd / other |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| persister: journal backlog -> MariaDB | {target:,} | {drain_s:.2f} | **{persister:,.0f}** "
      f"(steady {steady:,.0f}) | **{persister / single['rows_per_s']:.1f}x** | "
      f"{box_cpu:.2f} / {db_cpu:.2f} / {drain_other:.2f} |")
for label, r in (("one row per autocommit INSERT", single), ("1000-row INSERT per commit", multirow)):
    print(f"| {label} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | "
          f"{r['rows_per_s'] / single['rows_per_s']:.1f}x | {r['client_cpu_cores']:.2f} / {r['db_cpu_cores']:.2f} / "
          f"{r['other_cpu_cores']:.2f} |")
print()
print(f"| sales: buy 1 seat, {connections} connections, pipeline 1, {duration_s} s | sales/s | p50 / p99 us "
      "| CPU cores: boxofficed / mariadbd / rpc_load / other | boxofficed us per sale |")
print("|---|---:|---:|---:|---:|")
for label, r in [("--durability journal, no MariaDB", journal), ("--durability memory, no MariaDB", memory),
                 (f"{drop_durability}, no persister (baseline)", without),
                 (f"{drop_durability}, persister draining a {target2 - target:,}-record backlog", during),
                 (f"{drop_durability}, persister caught up", caught_up)]:
    print(f"| {label} | {sales_rate(r):,.0f} | {p(r)} | {c(r)} | {us_per_sale(r):.1f} |")
print(f"\njournal / memory: {sales_rate(journal) / sales_rate(memory):.2f}; "
      f"sale rate drop while draining: **{drop:.1f}%** (vs caught up: {drop_caught_up:.1f}%); "
      f"the persister wrote {(after - before) / (float(duration_s) + 1):,.0f} rows/s meanwhile and "
      f"{target2 - after:,} records were still queued at the end.")
# Other jobs on the machine take cores (and disk) from what is measured; say so.
others = [drain_other, single["other_cpu_cores"], multirow["other_cpu_cores"]] + [
    r["other_cpu_cores"] for r in (journal, memory, without, during, caught_up)]
doc["other_cpu_cores_max"] = max(others)
if max(others) > 0.25:
    print(f"WARNING: other processes used up to {max(others):.2f} cores during a measurement; "
          "this run's numbers are not reliable")
if json_out:
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1)
EOF
