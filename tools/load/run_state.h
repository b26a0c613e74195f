// run_state: what boxoffice-load's worker threads share with the main thread during a run.
//   RunWindow      the run's fixed times: start, the measured window [begin, end) after --warmup.
//   ThreadCounters one per worker, cumulative counts the main thread reads once a second for the
//                  progress line. Only the owner writes (relaxed load + store, no RMW); the main
//                  thread reads with relaxed loads: each counter is exact, a line may mix counts
//                  taken a few microseconds apart.
//   Progress       per-second latency: each worker merges its histogram of the second that just
//                  ended under the mutex; the main thread prints and resets it.
//   stop           set by the main thread (sold out, signal) or a worker (its scenario ended);
//                  workers then stop sending and drain what is in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tools/load/latency_histogram.h"
#include "tools/load/operation.h"

namespace boxoffice::load {

struct RunWindow {
  int64_t start_ns = 0;
  int64_t begin_ns = 0;  // start + warmup
  int64_t end_ns = 0;    // begin + duration
};

struct alignas(64) ThreadCounters {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> errors_by_code[kErrorCodesMax] = {};

  static void bump(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

class Progress {
 public:
  static constexpr int kSlots = 4;  // seconds kept: the main thread reads second k at k + ~1.1
  Progress() : histograms_(kSlots), seconds_(kSlots, -1) {}

  void publish(int64_t second, LatencyHistogram* local) {
    std::lock_guard lock(mutex_);
    const int slot = static_cast<int>(second % kSlots);
    if (seconds_[slot] != second) {
      histograms_[slot].reset();
      seconds_[slot] = second;
    }
    histograms_[slot].merge(*local);
    local->reset();
  }
  // p50 and p99 of one second, in ns (0 when nothing was published for it).
  void quantiles(int64_t second, int64_t* p50_ns, int64_t* p99_ns) {
    std::lock_guard lock(mutex_);
    const int slot = static_cast<int>(second % kSlots);
    *p50_ns = *p99_ns = 0;
    if (seconds_[slot] != second) return;
    *p50_ns = histograms_[slot].value_at_percentile_ns(50);
    *p99_ns = histograms_[slot].value_at_percentile_ns(99);
  }

 private:
  std::mutex mutex_;
  std::vector<LatencyHistogram> histograms_;
  std::vector<int64_t> seconds_;
};

struct SharedRun {
  RunWindow window;
  std::atomic<bool> stop{false};
  Progress progress;
};

}  // namespace boxoffice::load
