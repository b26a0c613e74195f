#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (README.md here) from a build configured with
# -DBOXOFFICE_FUZZ=ON.
#
#   tests/fuzz/run.sh [--build DIR] [--minutes N | --runs N] [--jobs N] [target...]
#
#   --build DIR    the build directory (default: build-fuzz at the top of the checkout)
#   --minutes N    long mode (the default, 60 minutes per target): fuzz each target for N
#                  minutes. Inputs that find new coverage are kept in DIR/fuzz-corpus/<target>/
#                  and used again by the next run; the checked-in seeds are only read.
#   --runs N       short mode (the test suite's): each target runs every seed and then N
#                  inputs in all, starting from the seeds alone (a fresh scratch corpus).
#   --jobs N       long mode: parallel fuzzing processes per target (libFuzzer -fork), default 1
#   target...      any of rpc_fuzz http_fuzz layout_fuzz journal_fuzz admin_fuzz (default all)
#
# Any crash, leak, sanitizer report, libFuzzer timeout, out-of-memory or input slower than the
# per-input bar (BOXOFFICE_FUZZ_INPUT_MS_MAX, see input_deadline.h) fails the run; the input is
# saved as DIR/fuzz-artifacts/<target>/crash-* (or leak-*, timeout-*, oom-*) to reproduce with
#   DIR/tests/fuzz/<target> DIR/fuzz-artifacts/<target>/crash-...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

build="$root/build-fuzz"
minutes=60
runs=""
jobs=1
targets=()
while (($#)); do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(rpc_fuzz http_fuzz layout_fuzz journal_fuzz admin_fuzz)

# libFuzzer's own bars: -timeout catches a hung input (our per-input bar is far tighter),
# -rss_limit_mb / -malloc_limit_mb an input that makes the process allocate without bound.
common=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -detect_leaks=1 -print_final_stats=1)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
for target in "${targets[@]}"; do
  binary="$build/tests/fuzz/$target"
  seeds="$here/corpus/$target"
  if [[ ! -x "$binary" || ! -d "$seeds" ]]; then
    echo "run.sh: no $binary or $seeds (configure with -DBOXOFFICE_FUZZ=ON and build)" >&2
    exit 2
  fi
  artifacts="$build/fuzz-artifacts/$target"
  mkdir -p "$artifacts"
  flags=("${common[@]}" -artifact_prefix="$artifacts/")
  [[ -f "$here/$target.dict" ]] && flags+=(-dict="$here/$target.dict")
  if [[ -n "$runs" ]]; then
    # New inputs go to a scratch directory, emptied first: every short run starts from the seeds.
    corpus="$build/fuzz-scratch/$target"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    flags+=(-runs="$runs" -seed=1)
  else
    corpus="$build/fuzz-corpus/$target"
    mkdir -p "$corpus"
    flags+=(-max_total_time=$((minutes * 60)))
    ((jobs > 1)) && flags+=(-fork="$jobs")
  fi
  echo "== $target: $([[ -n "$runs" ]] && echo "$runs runs" || echo "$minutes minutes") over $seeds"
  started=$SECONDS
  if ! (cd "$artifacts" && "$binary" "${flags[@]}" "$corpus" "$seeds"); then
    echo "== $target FAILED (artifacts in $artifacts)" >&2
    status=1
  fi
  echo "== $target: $((SECONDS - started)) s"
done
exit $status
