// run_within_deadline: the per-input time bar of the fuzz targets. libFuzzer's -timeout counts
// whole seconds; the bar for boxoffice is far tighter (README.md in this directory): no input
// may take longer than BOXOFFICE_FUZZ_INPUT_MS_MAX milliseconds (default kInputMsMaxDefault)
// of the fuzzing thread's CPU time. CPU time, not wall time, so that other work on a shared
// machine does not count against an input (libFuzzer's -timeout still catches an input that
// hangs without using CPU).
//
// A target runs each input through run_within_deadline(); an input over the bar is run again
// (every target builds its state afresh per input, so a rerun does the same work), and only
// when its fastest of kAttempts runs is still over the bar does it say so and abort, so that
// libFuzzer saves the input as a crash file. The reruns absorb the rest of the noise (cache
// and TLB misses after a context switch, page faults on a cold heap).
//
// The default leaves room for the instrumentation: everything here runs under ASan + UBSan
// with coverage, several times slower than the release build (the README gives numbers).
//
// Thread safety: called on the fuzzing thread only.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace boxoffice::fuzz {

inline constexpr long kInputMsMaxDefault = 100;
inline constexpr int kAttempts = 3;

inline long input_ms_max() {
  static const long value = [] {
    const char* text = std::getenv("BOXOFFICE_FUZZ_INPUT_MS_MAX");
    const long parsed = text != nullptr ? std::strtol(text, nullptr, 10) : 0;
    return parsed > 0 ? parsed : kInputMsMaxDefault;
  }();
  return value;
}

// CPU time of the calling thread.
inline long thread_cpu_us() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1'000'000L + now.tv_nsec / 1000;
}

template <typename Run>
void run_within_deadline(const char* target, Run&& run) {
  long fastest_ms = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const long started_us = thread_cpu_us();
    run();
    const long elapsed_ms = (thread_cpu_us() - started_us) / 1000;
    fastest_ms = attempt == 0 ? elapsed_ms : std::min(fastest_ms, elapsed_ms);
    if (fastest_ms <= input_ms_max()) return;
  }
  std::fprintf(stderr,
               "\n==%s: SLOW INPUT: %ld ms of CPU at best of %d runs, over the bar of %ld ms "
               "(BOXOFFICE_FUZZ_INPUT_MS_MAX)\n",
               target, fastest_ms, kAttempts, input_ms_max());
  std::abort();
}

}  // namespace boxoffice::fuzz
