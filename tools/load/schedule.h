// OpenLoopSchedule: when each request of a --rate run is meant to leave, for one worker thread.
// The thread's share of the rate (rate / threads) gives a fixed interval; the k-th intended send
// time is start_ns + round(k * interval_ns), computed from k (no accumulated rounding drift).
// A request whose time has come but finds no free pipeline slot waits; its latency still counts
// from its intended time, so a stalled server shows up in the percentiles (no coordinated
// omission). Thread safety: none (one per worker thread).
#pragma once

#include <cmath>
#include <cstdint>

#include "shm/check.h"

namespace boxoffice::load {

class OpenLoopSchedule {
 public:
  OpenLoopSchedule(int64_t start_ns, double ops_per_s)
      : start_ns_(start_ns), interval_ns_(1e9 / ops_per_s) {
    BOXOFFICE_ASSERT(ops_per_s > 0);
  }
  int64_t next_ns() const {
    return start_ns_ +
           static_cast<int64_t>(std::llround(static_cast<double>(sent_) * interval_ns_));
  }
  bool due(int64_t now_ns) const { return next_ns() <= now_ns; }
  void advance() { ++sent_; }
  // Requests whose time has come by now_ns and have not been sent: the backlog.
  uint64_t backlog(int64_t now_ns) const {
    if (now_ns < start_ns_) return 0;
    const auto due_count =
        static_cast<uint64_t>(static_cast<double>(now_ns - start_ns_) / interval_ns_) + 1;
    return due_count > sent_ ? due_count - sent_ : 0;
  }

 private:
  int64_t start_ns_;
  double interval_ns_;
  uint64_t sent_ = 0;
};

}  // namespace boxoffice::load
