#!/usr/bin/env bash
# Installs what boxoffice needs (Debian 12 packages), builds it and runs the whole test suite:
#   1. every test, optimized build (RelWithDebInfo);
#   2. the concurrency tests again under ThreadSanitizer;
#   3. every test again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   4. the libFuzzer targets (clang, ASan + UBSan), each briefly over its seed corpus.
# Each build has its own directory (build, build-tsan, build-asan, build-fuzz); reruns are
# incremental. The builds keep line tables only (-g1: file:line in every stack trace, 40% less
# compile time than -g) and the sanitizer builds compile at -O1 (half the compile time of -O2),
# their test drivers at -O0 (tests/CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/install-deps.sh

step() { printf '\n== %s\n' "$*"; }
optimized_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
sanitizer_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja "${optimized_flags[@]}" >/dev/null
cmake --build build -j "$jobs"
step "tests"
ctest --test-dir build --output-on-failure -j "$jobs"

concurrency_targets=(seat_bitmap_test engine_stress_test recovery_test engine_test reactor_test seat_feed_test
                     worker_log_test persister_test http_server_test)
step "ThreadSanitizer build: ${concurrency_targets[*]}"
cmake -S . -B build-tsan -G Ninja "${sanitizer_flags[@]}" -DBOXOFFICE_SANITIZE=thread \
      -DBOXOFFICE_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target "${concurrency_targets[@]}"
step "concurrency tests under ThreadSanitizer"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" \
        -R '^(SeatBitmap|EngineStressTest|RecoveryTest|EngineTest|SmallHoldTableTest|Backends/|SeatFeed|WorkerLogConcurrency|PersisterTest|HttpServerTest|HttpServerHeldReplies)'

step "AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-asan -G Ninja "${sanitizer_flags[@]}" -DBOXOFFICE_SANITIZE=address \
      -DBOXOFFICE_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
step "tests under ASan + UBSan"
ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

step "libFuzzer targets (clang, ASan + UBSan), briefly over their seeds (tests/fuzz/README.md)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja "${sanitizer_flags[@]}" \
      -DBOXOFFICE_FUZZ=ON -DBOXOFFICE_BUILD_TESTS=OFF -DBOXOFFICE_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target boxoffice_fuzz
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j "$jobs"
