#!/usr/bin/env bash
# Runs the long versions of the reliability tests (tests/reliability, tests/fuzz, the crash loop)
# and prints a table: test, what was injected, how many times, what was checked, result.
#
# Usage: bench/reliability.sh [--json FILE] [--only NAME...]
#
# Tests, by name:
#   fuzz              each libFuzzer target for FUZZ_MINUTES (tests/fuzz/run.sh, long mode)
#   uring_denied      the protocol tests with io_uring refused by a seccomp filter (--io auto)
#   crash_loop        kill -9 while selling, restart, nothing acknowledged lost, io_uring refused
#   overload          160x the baseline's requests in flight
#   hostile           hostile_clients_test.py --long (a minute, twice the connections)
#   linearizability   linearizability_test.py --long (kill -9 and SIGSTOP during a contended run)
#   hold_expiry       holds expiring under load
#   disk_full         the journal on a 512 KiB tmpfs (needs root)
#   fsync_error       fdatasync failing with EIO, FSYNC_CYCLES times
#
# Builds what it needs: build (RelWithDebInfo, the test command's) and, for fuzz, build-fuzz
# (clang). Environment: FUZZ_MINUTES (10, per target), FSYNC_CYCLES (20). Each test's output is
# kept in build/reliability-logs/NAME.log. Exits 1 if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=reliability

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
json_out=""
only=()
while (($#)); do
  case "$1" in
    --json) json_out="${2:?--json needs a file}"; shift 2 ;;
    --only) shift; while (($#)) && [[ "$1" != --* ]]; do only+=("$1"); shift; done ;;
    -h | --help) usage; exit 0 ;;
    *) echo "reliability: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
fuzz_minutes=${FUZZ_MINUTES:-10}
fsync_cycles=${FSYNC_CYCLES:-20}
python=/usr/bin/python3

wanted() { ((${#only[@]} == 0)) || [[ " ${only[*]} " == *" $1 "* ]]; }

echo "$bench_name: building (build/, RelWithDebInfo)" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
if wanted fuzz; then
  echo "$bench_name: building the fuzz targets (build-fuzz/, clang)" >&2
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBOXOFFICE_FUZZ=ON -DBOXOFFICE_BUILD_TESTS=OFF -DBOXOFFICE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$(nproc)" --target boxoffice_fuzz >/dev/null
fi

boxofficed=$root/build/tools/boxofficed
load=$root/build/tools/boxoffice-load
deny_uring=$root/build/tests/deny_uring
logs=$root/build/reliability-logs
mkdir -p "$logs"

rows=()  # name \t injected \t count \t checked \t result \t seconds
# The tests' own count lines, joined when a test prints more than one.
summary='/summary: / { sub(/.*summary: /, ""); s = s (s == "" ? "" : "; ") $0 } END { print s }'

# name, injected, checked, count extractor (an awk program over the log), command...
run() {
  local name=$1 injected=$2 checked=$3 count_awk=$4
  shift 4
  wanted "$name" || return 0
  echo "$bench_name: $name ..." >&2
  local log=$logs/$name.log started=$SECONDS result
  if "$@" >"$log" 2>&1; then
    result=pass
  else
    case $? in
      77) result=skipped ;;
      *) result=FAIL ;;
    esac
  fi
  local count
  count=$(awk "$count_awk" "$log" | tail -n1)
  rows+=("$name"$'\t'"$injected"$'\t'"${count:--}"$'\t'"$checked"$'\t'"$result"$'\t'"$((SECONDS - started))")
  echo "$bench_name: $name: $result ($((SECONDS - started)) s, log $log)" >&2
}

run fuzz "mutated inputs from the seed corpora, 5 targets x ${fuzz_minutes} min" \
  "no crash, leak, sanitizer report or input slower than 100 ms" \
  '/stat::number_of_executed_units/ { n += $2 } END { if (n) printf "%d inputs\n", n }' \
  tests/fuzz/run.sh --minutes "$fuzz_minutes"
run uring_denied "io_uring_setup -> EPERM (seccomp, tests/support/deny_uring)" \
  "--io auto falls back to epoll with one log line; every protocol test passes" \
  '/^Ran [0-9]+ tests/ { print $2 " protocol tests" }' \
  env BOXOFFICE_TEST_LAUNCHER="$deny_uring" "$python" tests/net/protocol_test.py \
  "$boxofficed" "$root/layouts" auto-denied
run crash_loop "kill -9 while selling (io_uring refused)" \
  "every acknowledged ticket survives each restart; no seat sold twice" \
  "$summary" \
  env BOXOFFICE_TEST_LAUNCHER="$deny_uring" "$python" tests/persist/durability_test.py \
  "$boxofficed" "$root" CrashLoopTest
run overload "160x the baseline's requests in flight (closed loop)" \
  ">= 90% of capacity served, RSS bounded, p99 back after" \
  "$summary" \
  "$python" tests/reliability/overload_test.py "$boxofficed" "$load"
run hostile "~5,400 hostile connections for 60 s (idle, slowloris, lying Content-Length, garbage, header floods, non-readers)" \
  "legitimate clients served (p99 ratio vs 1.2x target reported); descriptors, RSS bounded; all closed by timeouts" \
  "$summary" \
  "$python" tests/reliability/hostile_clients_test.py "$boxofficed" "$load" --long
run linearizability "kill -9 and SIGSTOP/SIGCONT during a contended run" \
  "every seat's history linearizable; no acknowledged sale lost; no seat sold twice" \
  "$summary" \
  "$python" tests/reliability/linearizability_test.py "$boxofficed" --long
run hold_expiry "20k holds/s with short TTLs" \
  "every expiry within 100 ms of its deadline; expired confirms get HOLD_EXPIRED" \
  "$summary" \
  "$python" tests/reliability/hold_expiry_test.py "$boxofficed" "$load"
run disk_full "the journal's filesystem full (512 KiB tmpfs)" \
  "no sale acknowledged off disk; BUSY at once; resumes when space returns; reboot keeps all" \
  "$summary" \
  "$python" tests/reliability/disk_full_test.py "$boxofficed"
run fsync_error "fdatasync -> EIO (LD_PRELOAD shim), ${fsync_cycles} cycles" \
  "the waiting sale held, BUSY at once, resumes after; kill -9 and reboot keep every ticket" \
  "$summary" \
  "$python" tests/reliability/fsync_error_test.py "$boxofficed" "$root/build/tests/libfail_fsync.so" \
  --cycles "$fsync_cycles"

printf '\n%-16s | %-60s | %-40s | %-60s | %s\n' test injected "how many" checked result
printf '%s\n' "$(printf '%.0s-' {1..200})"
failed=0
for row in "${rows[@]}"; do
  IFS=$'\t' read -r name injected count checked result seconds <<<"$row"
  printf '%-16s | %-60s | %-40s | %-60s | %s (%s s)\n' "$name" "$injected" "$count" "$checked" \
    "$result" "$seconds"
  [[ $result == FAIL ]] && failed=1
done

if [[ -n "$json_out" ]]; then
  printf '%s\n' "${rows[@]}" | "$python" -c '
import json, sys
keys = ("test", "injected", "count", "checked", "result", "seconds")
rows = [dict(zip(keys, line.rstrip("\n").split("\t"))) for line in sys.stdin if line.strip()]
for row in rows:
    row["seconds"] = int(row["seconds"])
json.dump(rows, open(sys.argv[1], "w"), indent=1)
' "$json_out"
fi
exit $failed
