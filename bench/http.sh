#!/usr/bin/env bash
# Measures boxofficed's HTTP adapter with wrk against nginx serving a static 200 on this machine,
# in the same run: requests/s and p50/p99 of nginx `GET /`, boxofficed `GET /health`,
# `POST /v1/events/{event}/holds` of one seat, and `GET /v1/events/{event}/stats`.
#
# Usage: bench/http.sh [--json FILE] [--duration S] [--connections N] [--threads T]
#   --duration S (10) seconds of each measured wrk run; --connections N (64) and --threads T (2,
#   at most 8): wrk's -c and -t, the same for every target.
#
# Everything listens on 127.0.0.1 only, in a temp dir:
#  - nginx (tools/install-deps.sh) with its own minimal config: HTTP_THREADS worker processes,
#    `access_log off`, `location / { return 200 "ok\n"; }`, keep-alive without a request limit,
#    `listen ... reuseport` (each worker its own listening socket, as each boxofficed HTTP thread
#    has; without it one worker may get most of wrk's connections and nginx not use both cores),
#    daemon off, pid file and logs in the temp dir, as the current user; never the system nginx.
#  - boxofficed --durability memory --http 127.0.0.1:PORT --http-threads HTTP_THREADS
#    --workers 1 --no-pin, with its own --data-dir and --shm under the temp dir / this run.
#    Each wrk thread holds seats of its own 1,000,000-place general-admission event (POST
#    /v1/events; bench/wrk/hold.lua, "own"): with the default TTL of 10 min none expires during
#    the run, --holds-max leaves room for every seat of them held at once, and the run has T
#    million seats (a thread that runs out gets 409s). Requests that do not get a 2xx are
#    counted; the events' seats_held (GET .../stats) afterwards must equal the holds that got a
#    2xx.
# Each target gets WARMUP_S s of wrk first (not counted; the hold warm-up uses its own event),
# then DURATION s measured with `wrk --latency`, in this order: nginx, hold (right after the nginx
# run it is compared with), /health, stats, then nginx again with hold.lua's POSTs (the same static
# 200: what building the hold requests costs wrk), and nginx `GET /` once more, to show how much
# the machine drifted during the run. The table gives each target's ratio to the first nginx run
# and the CPU that the server, wrk and every other process used, in cores and in microseconds per
# request (server, wrk).
#
# Needs wrk and nginx (tools/install-deps.sh) and boxofficed built, by default in build-bench:
#   cmake -S . -B build-bench -G Ninja -DBOXOFFICE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
#   ninja -C build-bench boxofficed
# Environment: BUILD_DIR (build-bench), BOXOFFICED (the binary), HTTP_THREADS (2: boxofficed's
# --http-threads and nginx's worker_processes), WARMUP_S (1), BOX_FLAGS (more boxofficed flags),
# PERF_DATA (a file: one more hold run, not in the table, with `perf record -e cpu-clock -F 2000
# --call-graph dwarf -p <boxofficed>` for PERF_SECONDS (5) s of it, about 25 MB/s; the script then
# prints where boxofficed's CPU went, per request, by kind of work), DEADLINE_S (6 x (DURATION + WARMUP_S) + PERF_SECONDS + 120: the
# whole script is stopped, and fails, then).
# Every process it starts (nginx, boxofficed, wrk, perf) is stopped by the EXIT trap, Ctrl-C too.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
json_out=""
duration_s=10
connections=64
threads=2
while (($#)); do
  case "$1" in
    --json) json_out="${2:?--json needs a file}"; shift 2 ;;
    --duration) duration_s="${2:?--duration needs seconds}"; shift 2 ;;
    --connections) connections="${2:?--connections needs a number}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "http: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
for n in "$duration_s" "$connections" "$threads"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "http: --duration, --connections and --threads take positive integers" >&2; exit 2; }
done
((connections >= threads)) || { echo "http: --connections must be at least --threads" >&2; exit 2; }
((threads <= 8)) || { echo "http: --threads is at most 8 (an event of 1M seats each)" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build-bench}"
boxofficed="${BOXOFFICED:-$build_dir/tools/boxofficed}"
http_threads="${HTTP_THREADS:-2}"
warmup_s="${WARMUP_S:-1}"
read -r -a box_flags <<<"${BOX_FLAGS:-}"
perf_data="${PERF_DATA:-}"
perf_seconds="${PERF_SECONDS:-5}"
deadline_s="${DEADLINE_S:-$((6 * (duration_s + warmup_s) + perf_seconds + 120))}"
seats=1000000  # per event; at most 1,048,576
event=HttpBench  # the measured holds go to HttpBench-0 .. HttpBench-<threads - 1>
python=/usr/bin/python3
wrk_dir="$repo/bench/wrk"

command -v wrk >/dev/null || { echo "http: wrk not found (tools/install-deps.sh)" >&2; exit 1; }
nginx_bin="$(command -v nginx || true)"
[[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx  # not on a non-root PATH
[[ -x "$nginx_bin" ]] || { echo "http: nginx not found (tools/install-deps.sh)" >&2; exit 1; }
if [[ ! -x "$boxofficed" ]]; then
  echo "http: $boxofficed missing; build it with" >&2
  echo "  cmake -S . -B build-bench -G Ninja -DBOXOFFICE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release && ninja -C build-bench boxofficed" >&2
  exit 1
fi
[[ "$("$boxofficed" --help 2>/dev/null || true)" == *--http-threads* ]] ||
  { echo "http: $boxofficed has no HTTP listener (--http-threads); rebuild it" >&2; exit 1; }
[[ -z "$perf_data" ]] || command -v perf >/dev/null || { echo "http: PERF_DATA needs perf" >&2; exit 1; }

tmp="$(mktemp -d /tmp/http-bench.XXXXXX)"
shm="/dev/shm/boxoffice-http-bench-$$"
nginx_pid=""
nginx_workers=""
box_pid=""
wrk_pid=""
perf_pid=""
watchdog_pid=""
stop_pid() {  # pid signal: signal it, wait up to 5 s, then KILL
  [[ -n "$1" ]] || return 0
  kill "-$2" "$1" 2>/dev/null || return 0
  for _ in {1..50}; do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
  local pid
  [[ -z "$watchdog_pid" ]] || kill -TERM "$watchdog_pid" 2>/dev/null || true  # and its sleep
  stop_pid "$perf_pid" INT
  stop_pid "$wrk_pid" TERM  # `timeout`, which passes it on to wrk
  stop_pid "$box_pid" TERM
  [[ -z "$nginx_pid" ]] || nginx_workers="$nginx_workers $(pgrep -P "$nginx_pid" | tr '\n' ' ' || true)"
  stop_pid "$nginx_pid" TERM
  for pid in $nginx_workers; do stop_pid "$pid" KILL; done  # orphans, were the master killed
  rm -rf "$tmp"
  rm -f "$shm" "$shm".log-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
(
  sleep "$deadline_s" &
  sleep_pid=$!
  trap 'kill -TERM $sleep_pid 2>/dev/null; exit 0' TERM
  wait "$sleep_pid"
  echo "http: still running after $deadline_s s (DEADLINE_S); stopping" >&2
  kill -TERM $$
) &
watchdog_pid=$!

log() { echo "http: $*" >&2; }
bench_name=http
source "$repo/bench/lib.sh"  # free_port, clk_tck, proc_ticks, busy_ticks
# http METHOD PORT PATH [BODY]: prints "<status> <body>"; fails on no connection.
http() {
  "$python" - "$@" <<'EOF'
import http.client, sys
method, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = sys.argv[4] if len(sys.argv) > 4 else None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
r = c.getresponse()
print(r.status, r.read().decode(errors="replace"))
EOF
}
wait_http() {  # port path name pid: until GET path answers 200, at most 10 s
  for _ in {1..100}; do
    [[ "$(http GET "$1" "$2" 2>/dev/null | cut -d' ' -f1)" == 200 ]] && return 0
    kill -0 "$4" 2>/dev/null || { log "$3 exited at start"; return 1; }
    sleep 0.1
  done
  log "$3 did not answer GET $2 on port $1 within 10 s"
  return 1
}
children_ticks() { awk '{ print $16 + $17 }' /proc/$$/stat; }  # reaped children: wrk here
now_ns() { date +%s%N; }

# --- servers -------------------------------------------------------------------------------------
mkdir -p "$tmp/nginx/temp" "$tmp/box"
nginx_port="$(free_port)"
user_line=""
[[ "$(id -u)" -ne 0 ]] || user_line="user root;"  # as root, workers would otherwise be nobody
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes $http_threads;
daemon off;
master_process on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;  # 1000 by default: wrk would reconnect; evhttp never closes
  keepalive_timeout 75s;
  client_body_temp_path $tmp/nginx/temp/body;
  proxy_temp_path $tmp/nginx/temp/proxy;
  fastcgi_temp_path $tmp/nginx/temp/fastcgi;
  uwsgi_temp_path $tmp/nginx/temp/uwsgi;
  scgi_temp_path $tmp/nginx/temp/scgi;
  server {
    listen 127.0.0.1:$nginx_port reuseport;  # a socket per worker, as boxofficed's threads have
    location / { return 200 "ok\n"; }
  }
}
EOF
"$nginx_bin" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
  2>>"$tmp/nginx/error.log" &
nginx_pid=$!
wait_http "$nginx_port" / nginx "$nginx_pid" || { cat "$tmp/nginx/error.log" >&2; exit 1; }
nginx_workers="$(pgrep -P "$nginx_pid" | tr '\n' ' ')"

box_port="$(free_port)"
rpc_port="$(free_port)"
"$boxofficed" --durability memory --http "127.0.0.1:$box_port" --http-threads "$http_threads" \
  --workers 1 --no-pin --listen "127.0.0.1:$rpc_port" --data-dir "$tmp/box" --shm "$shm" \
  --holds-max $(((threads + 2) * 1048576)) "${box_flags[@]}" 2>"$tmp/boxofficed.log" &
box_pid=$!
wait_http "$box_port" /health boxofficed "$box_pid" || { tail -n 20 "$tmp/boxofficed.log" >&2; exit 1; }

create_event() {  # id
  local answer
  answer="$(http POST "$box_port" /v1/events "{\"id\": \"$1\", \"layout\": {\"venue\": \"V\", \"zones\": [{\"id\": 1, \"price_cents\": 2500, \"capacity\": $seats}]}}")"
  [[ "$answer" == 201* ]] || { log "POST /v1/events $1: $answer"; exit 1; }
}
for ((i = 0; i < threads; i++)); do create_event "$event-$i"; done
create_event HttpWarm
create_event HttpProfile
# The routes answer as they should before they are measured (a fast 404 is no result).
answer="$(http POST "$box_port" "/v1/events/HttpWarm/holds" '{"seats": [999999]}')"
[[ "$answer" == 201* ]] || { log "a hold answered $answer"; exit 1; }
answer="$(http GET "$box_port" "/v1/events/$event-0/stats")"
[[ "$answer" == 200* ]] || { log "GET stats answered $answer"; exit 1; }
seats_held() {  # the seats held in HttpBench-*
  local total=0 i n
  for ((i = 0; i < threads; i++)); do
    n="$(http GET "$box_port" "/v1/events/$event-$i/stats" | cut -d' ' -f2- |
      "$python" -c 'import json, sys; print(json.load(sys.stdin)["seats_held"])')"
    total=$((total + n))
  done
  echo "$total"
}

# --- runs ----------------------------------------------------------------------------------------
# run NAME PORT PATH SECONDS [split|own]: one wrk run, with hold.lua in that mode if given; leaves
# $tmp/NAME.json (wrk's numbers and the CPU each party used) unless NAME starts with "warm".
run_wrk() {
  local name="$1" port="$2" path="$3" seconds="$4" kind="${5:-}"
  local args=(-t "$threads" -c "$connections" -d "${seconds}s" --latency)
  if [[ -n "$kind" ]]; then
    args+=(-s "$wrk_dir/hold.lua" "http://127.0.0.1:$port$path" -- "$seats" "$threads" "$kind")
  else
    args+=(-s "$wrk_dir/report.lua" "http://127.0.0.1:$port$path")
  fi
  local t0 t1 b0 b1 n0 n1 c0 c1 a0 a1
  t0="$(now_ns)"; a0="$(busy_ticks)"; c0="$(children_ticks)"
  b0="$(proc_ticks "$box_pid")"; n0="$(proc_ticks "$nginx_pid" $nginx_workers)"
  timeout $((seconds + 30)) wrk "${args[@]}" >"$tmp/$name.wrk" 2>&1 &
  wrk_pid=$!
  local rc=0
  wait "$wrk_pid" || rc=$?
  wrk_pid=""
  t1="$(now_ns)"; a1="$(busy_ticks)"; c1="$(children_ticks)"
  b1="$(proc_ticks "$box_pid")"; n1="$(proc_ticks "$nginx_pid" $nginx_workers)"
  ((rc == 0)) || { cat "$tmp/$name.wrk" >&2; log "wrk $name failed ($rc)"; exit 1; }
  [[ "$name" != warm* ]] || return 0
  grep -q '^WRK_JSON ' "$tmp/$name.wrk" || { cat "$tmp/$name.wrk" >&2; log "wrk $name: no result"; exit 1; }
  "$python" - "$tmp/$name.wrk" "$tmp/$name.json" "$name" "$path" "$clk_tck" \
    "$((t1 - t0))" "$((b1 - b0))" "$((n1 - n0))" "$((c1 - c0))" "$((a1 - a0))" <<'EOF'
import json, os, sys
wrk_out, out, name, path, hz = sys.argv[1:6]
wall_ns, box, nginx, client, busy = (int(x) for x in sys.argv[6:11])
line = next(l for l in open(wrk_out) if l.startswith("WRK_JSON "))
r = json.loads(line[len("WRK_JSON "):])
s = wall_ns / 1e9
cores = lambda ticks: round(ticks / int(hz) / s, 2)
r.update(name=name, path=path, requests_per_s=r["requests"] / (r["duration_us"] / 1e6),
         socket_errors=r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"],
         box_cpu_cores=cores(box), nginx_cpu_cores=cores(nginx), client_cpu_cores=cores(client),
         all_cpu_cores=cores(busy))
# A process's time includes the softirq work (loopback TCP) that ran on its ticks.
r["other_cpu_cores"] = round(max(0.0, r["all_cpu_cores"] - r["box_cpu_cores"] -
                                 r["nginx_cpu_cores"] - r["client_cpu_cores"]), 2)
r["idle_cpu_cores"] = round(max(0.0, os.cpu_count() - r["all_cpu_cores"]), 2)
r["ok"] = r["requests"] - r["non_2xx_3xx"]
json.dump(r, open(out, "w"))
EOF
}

log "nginx on port $nginx_port, boxofficed HTTP on port $box_port; wrk -t$threads -c$connections, ${duration_s} s per target (+${warmup_s} s warm-up)"
warm() { ((warmup_s == 0)) || run_wrk "warm-$1" "$2" "$3" "$warmup_s" "${4:-}"; }
# The hold run comes right after the nginx run it is compared with: the machine drifts less
# between neighbours.
log "nginx GET /"
warm nginx "$nginx_port" /
run_wrk nginx "$nginx_port" / "$duration_s"
log "boxofficed POST /v1/events/$event-<wrk thread>/holds (1 seat)"
warm hold "$box_port" /v1/events/HttpWarm/holds split
held_before="$(seats_held)"
run_wrk hold "$box_port" "/v1/events/$event/holds" "$duration_s" own
held_after="$(seats_held)"
log "boxofficed GET /health"
warm health "$box_port" /health
run_wrk health "$box_port" /health "$duration_s"
log "boxofficed GET /v1/events/$event-0/stats"
warm stats "$box_port" "/v1/events/$event-0/stats"
run_wrk stats "$box_port" "/v1/events/$event-0/stats" "$duration_s"
log "nginx POST /v1/events/$event-<wrk thread>/holds, the hold requests (what hold.lua costs wrk)"
run_wrk nginx_post "$nginx_port" "/v1/events/$event/holds" "$duration_s" own
log "nginx GET / (again)"
run_wrk nginx_again "$nginx_port" / "$duration_s"

if [[ -n "$perf_data" ]]; then
  # Frame pointers stop at libevent and libc (built without them): DWARF call graphs get the
  # whole stack, so every sample can be put down to the request step it belongs to.
  log "profile: another hold run with perf record --call-graph dwarf -p $box_pid for $perf_seconds s (not in the table)"
  timeout $((perf_seconds + 40)) wrk -t "$threads" -c "$connections" -d "$((perf_seconds + 2))s" \
    -s "$wrk_dir/hold.lua" "http://127.0.0.1:$box_port/v1/events/HttpProfile/holds" -- \
    "$seats" "$threads" split >"$tmp/profile.wrk" 2>&1 &
  wrk_pid=$!
  sleep 1
  perf_hz=2000
  perf record -e cpu-clock -F "$perf_hz" --call-graph dwarf,16384 -p "$box_pid" -o "$perf_data" \
    -- sleep "$perf_seconds" 2>"$tmp/perf.log" &
  perf_pid=$!
  wait "$perf_pid" || { cat "$tmp/perf.log" >&2; log "perf record failed"; exit 1; }
  perf_pid=""
  wait "$wrk_pid" || { cat "$tmp/profile.wrk" >&2; log "the profile run failed"; exit 1; }
  wrk_pid=""
  grep -q '^WRK_JSON ' "$tmp/profile.wrk" || { cat "$tmp/profile.wrk" >&2; log "the profile run: no result"; exit 1; }
  perf script -i "$perf_data" -F tid,ip,sym 2>/dev/null >"$tmp/profile.stacks"
  "$python" - "$tmp/profile.stacks" "$tmp/profile.wrk" "$perf_hz" "$perf_seconds" <<'EOF' >"$tmp/profile.md"
import json, re, sys
stacks_file, wrk_file, hz, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
line = next(l for l in open(wrk_file) if l.startswith("WRK_JSON "))
w = json.loads(line[len("WRK_JSON "):])
rps = w["requests"] / (w["duration_us"] / 1e6)
samples, stack = [], None
for l in open(stacks_file):
    if not l.startswith("\t"):  # "  tid": a new sample; its frames follow, one per line
        if not l.strip():
            continue
        if stack:
            samples.append(stack)
        stack = []
    elif l.strip():
        parts = l.split(None, 1)
        stack.append(parts[1].strip() if len(parts) > 1 else "?")
if stack:
    samples.append(stack)
# The first kind whose pattern matches a frame of the sample's stack takes the sample.
kinds = [
    ("writev: the reply into the socket (kernel TCP over loopback, incl. waking wrk)", r"^(__GI___writev|do_writev)$"),
    ("epoll_ctl (libevent turning read/write interest on and off)", r"epoll_ctl"),
    ("readv + ioctl(FIONREAD): reading the request", r"^(__GI___readv|do_readv|__GI___ioctl|__x64_sys_ioctl)$"),
    ("epoll_wait (and idle wake-ups)", r"epoll_wait"),
    ("engine: Dispatcher::handle (Engine::hold, msgpack reply)", r"Dispatcher::handle"),
    ("body JSON -> msgpack params (ParamsPacker: nlohmann SAX parse)", r"ParamsPacker|sax_parse|to_msgpack|binary_writer|parse_json_document"),
    ("msgpack request decode (decode_request)", r"decode_request"),
    ("reply msgpack -> JSON text (msgpack::unpack, append_json)", r"append_json|create_object_visitor|from_msgpack|binary_reader"),
    ("other JSON text (json::dump: error bodies, /health)", r"serializer|::dump"),
    ("ApiRoutes, the rest (route, split_path, params, json values)", r"ApiRoutes::"),
    ("evhttp reply: evhttp_send_reply (status line, headers, printf)", r"evhttp_send_reply|evhttp_make_header|evbuffer_add_printf"),
    ("evhttp header lookups and URI (evhttp_find_header, evhttp_uri_*)", r"evhttp_find_header|evhttp_request_get_evhttp_uri|evhttp_uri|evhttp_add_header"),
    ("on_request / send glue (HttpRequest, HttpResponse copies)", r"on_request|anonymous namespace\)::send"),
    ("evhttp write done after the flush's writev (request free, next request)", r"bufferevent_trigger"),
    ("turn: timer wheel, journal, reply flush (on_turn)", r"on_turn|run_turn|expire_due|flush_replies"),
    ("evhttp request read and parse", r"evhttp_read|evhttp_parse|evhttp_get_body|evbuffer_read|bufferevent_run_readcb"),
    ("evhttp and evbuffer, the rest (write done, request free)", r"evhttp_|bufferevent_|evbuffer_"),
    ("libevent loop, other", r""),
]
counts = [0] * len(kinds)
compiled = [re.compile(p) for _, p in kinds]
for st in samples:
    for i, r in enumerate(compiled):
        if any(r.search(f) for f in st):
            counts[i] += 1
            break
total = max(1, len(samples))
cores = len(samples) / hz / seconds
us = cores / rps * 1e6 if rps else 0
print(f"profile run: {rps:,.0f} holds/s; boxofficed {cores:.2f} cores, {us:.1f} us of CPU per hold "
      f"({len(samples):,} samples at {hz:.0f} Hz over {seconds:.0f} s)\n")
print("| where boxofficed's CPU goes (first match, top to bottom) | share | us per hold |")
print("|---|---:|---:|")
for (name, _), c in zip(kinds, counts):
    print(f"| {name} | {100 * c / total:.1f}% | {us * c / total:.2f} |")
EOF
  log "profile in $perf_data: perf report -i $perf_data --no-children | head -60"
fi

kill -0 "$box_pid" 2>/dev/null || { log "boxofficed died during the run"; exit 1; }
if grep -E ' (ERROR|WARN) ' "$tmp/boxofficed.log" >&2; then log "boxofficed logged the above"; fi

# --- table and JSON ------------------------------------------------------------------------------
"$python" - "$tmp" "$json_out" "$duration_s" "$connections" "$threads" "$http_threads" \
  "$((held_after - held_before))" "$event" "${BOX_FLAGS:-}" "$nginx_bin" <<'EOF'
import json, os, subprocess, sys, time
tmp, json_out, duration_s, connections, threads, http_threads, held, event, flags, nginx = sys.argv[1:]
held = int(held)
names = ["nginx", "hold", "health", "stats", "nginx_post", "nginx_again"]
labels = {"nginx": "nginx `GET /` (static 200)",
          "nginx_post": "nginx, hold.lua's `POST`s (static 200; client-cost control)",
          "health": "boxofficed `GET /health`",
          "hold": f"boxofficed `POST /v1/events/{event}-<thread>/holds` (1 seat)",
          "stats": f"boxofficed `GET /v1/events/{event}-0/stats`",
          "nginx_again": "nginx `GET /` again (drift check)"}
rows = {n: json.load(open(os.path.join(tmp, f"{n}.json"))) for n in names}
base = rows["nginx"]["requests_per_s"]
for n, r in rows.items():
    r["ratio_to_nginx"] = round(r["requests_per_s"] / base, 3) if base else 0.0
    server = r["nginx_cpu_cores"] if n.startswith("nginx") else r["box_cpu_cores"]
    r["server_cpu_us_per_request"] = round(server / r["requests_per_s"] * 1e6, 2) if r["requests_per_s"] else 0.0
    r["client_cpu_us_per_request"] = (round(r["client_cpu_cores"] / r["requests_per_s"] * 1e6, 2)
                                      if r["requests_per_s"] else 0.0)
hold = rows["hold"]
hold["seats_held_delta"] = held
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# wrk -t{threads} -c{connections} -d{duration_s}s --latency over loopback; nginx "
      f"{http_threads} workers, boxofficed --http-threads {http_threads} --workers 1 --no-pin "
      f"--durability memory{' ' + flags if flags else ''}; {os.cpu_count()} CPUs ({cpu}), "
      "client and servers on the same cores")
header = ["target", "requests/s", "p50 us", "p99 us", "non-2xx/3xx", "socket errors",
          "ratio to nginx", "CPU cores: server / wrk / other / idle", "CPU us/request: server / wrk"]
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
for n in names:
    r = rows[n]
    server = r["nginx_cpu_cores"] if n.startswith("nginx") else r["box_cpu_cores"]
    print(f"| {labels[n]} | {r['requests_per_s']:,.0f} | {r['p50_us']:,} | {r['p99_us']:,} | "
          f"{r['non_2xx_3xx']:,} | {r['socket_errors']:,} | {r['ratio_to_nginx']:.2f} | "
          f"{server:.2f} / {r['client_cpu_cores']:.2f} / {r['other_cpu_cores']:.2f} / "
          f"{r['idle_cpu_cores']:.2f} | "
          f"{r['server_cpu_us_per_request']:.1f} / {r['client_cpu_us_per_request']:.1f} |")
print(f"\nholds: {hold['requests']:,} answered, {hold['ok']:,} with a 2xx (a hold each), "
      f"{hold['non_2xx_3xx']:,} refused; the events' seats_held grew by {held:,} (wrk does not "
      "count the answers still on their way when it stops: up to one per connection).")
print(f"hold / nginx: **{hold['ratio_to_nginx']:.2f}** (target >= 0.70: "
      f"{'met' if hold['ratio_to_nginx'] >= 0.70 else 'not met'}); "
      f"nginx drifted {100 * (rows['nginx_again']['requests_per_s'] / base - 1):+.1f}% during the run.")
problems = []
if not hold["ok"] <= held <= hold["ok"] + int(connections):
    problems.append(f"seats_held grew by {held:,}, not by the {hold['ok']:,} 2xx holds "
                    f"(+ at most {connections} in flight)")
if any(r["non_2xx_3xx"] or r["socket_errors"] for r in rows.values()):
    problems.append("some requests failed (non-2xx/3xx or socket errors)")
others = max(r["other_cpu_cores"] for r in rows.values())
if others > 0.25:
    problems.append(f"other processes used up to {others:.2f} cores during a run; "
                    "this run's numbers are not reliable")
idle = max(r["idle_cpu_cores"] for r in rows.values())
if idle > 0.25:
    problems.append(f"the cores were up to {idle:.2f} idle during a run: client and server did not "
                    "keep them busy (is one thread or worker doing all the work?)")
for p in problems:
    print(f"WARNING: {p}")
if json_out:
    nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    doc = {"benchmark": "http", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"nproc": os.cpu_count(), "cpu": cpu, "kernel": os.uname().release},
           "wrk": {"version": wrk_version.strip(), "threads": int(threads),
                   "connections": int(connections), "duration_s": int(duration_s)},
           "nginx": nginx_version, "http_threads": int(http_threads), "box_flags": flags,
           "hold_ratio_to_nginx": hold["ratio_to_nginx"], "holds_ok": hold["ok"],
           "seats_held_delta": held, "other_cpu_cores_max": others, "idle_cpu_cores_max": idle,
           "warnings": problems,
           "rows": [rows[n] for n in names]}
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1)
EOF
[[ -z "$perf_data" ]] || { echo; cat "$tmp/profile.md"; }
