// TimerWheel: a hashed timing wheel with one timer slot per id, used by each worker to expire
// the holds it created (id = hold slot index).
//
// Deadlines are bucketed by tick (tick_ms) modulo kBuckets; a timer further out than one
// revolution is kept when its bucket comes round early. advance() fires every timer whose
// deadline is <= now. An id has at most one timer: schedule() replaces it (O(1), doubly-linked
// buckets), so stale timers of ended holds never pile up and the wheel can never be full. All
// storage is allocated in the constructor.
//
// Each bucket keeps a lower bound of its deadlines, and advance() walks a bucket only when that
// bound is due: a worker's loop turns call it thousands of times a tick, and walking the current
// tick's bucket every time (its later timers parked and relinked) cost more than the holds did.
// A timer is thus visited when it fires, plus once per revolution in which its bucket also held
// a due timer (a cancelled timer can leave the bound low: one extra walk).
//
// Thread safety: none; owned by one worker.
#pragma once

#include <cstdint>
#include <vector>

#include "shm/check.h"

namespace boxoffice {

class TimerWheel {
 public:
  // Ids are 0..id_count-1.
  TimerWheel(uint32_t id_count, int64_t tick_ms, int64_t now_ms);

  // Arms the timer of `id` for `deadline_ms`, replacing any earlier one; `cookie` comes back to
  // fire() (the engine passes the hold version).
  void schedule(uint32_t id, uint64_t cookie, int64_t deadline_ms);
  void cancel(uint32_t id);
  bool armed(uint32_t id) const { return entries_[id].bucket != kNone; }
  uint32_t size() const { return size_; }
  // Timers advance() has looked at so far, fired or not: what its walks cost.
  uint64_t visited() const { return visited_; }
  uint32_t id_count() const { return static_cast<uint32_t>(entries_.size()); }

  // Calls fire(id, cookie, deadline_ms) for every timer due at `now_ms`, after disarming it;
  // `fire` may schedule or cancel any timer. A timer armed by fire() for a deadline that is
  // already due fires in the same call, so fire() must not re-arm a timer for the past forever.
  template <typename Fire>
  uint32_t advance(int64_t now_ms, Fire&& fire);

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kBuckets = 8192;
  static constexpr int64_t kNoDeadline = INT64_MAX;
  struct Entry {
    uint64_t cookie = 0;
    int64_t deadline_ms = 0;
    uint32_t prev = kNone;
    uint32_t next = kNone;
    uint32_t bucket = kNone;  // kNone: not armed
  };
  void link(uint32_t id, uint32_t bucket);
  void unlink(uint32_t id);
  uint32_t bucket_of_tick(int64_t tick) const { return static_cast<uint32_t>(tick % kBuckets); }

  std::vector<Entry> entries_;
  static constexpr uint32_t kParked = kBuckets;  // extra bucket used inside advance()
  std::vector<uint32_t> heads_;       // first id of each bucket, then of the parking bucket
  std::vector<int64_t> earliest_ms_;  // per bucket: <= every deadline in it (kNoDeadline: empty)
  uint32_t size_ = 0;
  uint64_t visited_ = 0;
  int64_t tick_ms_;
  int64_t current_tick_;  // ticks before this one have been processed
};

template <typename Fire>
uint32_t TimerWheel::advance(int64_t now_ms, Fire&& fire) {
  uint32_t fired = 0;
  const int64_t now_tick = now_ms / tick_ms_;
  // Never walk more than one revolution: after that every bucket has been visited.
  int64_t tick = current_tick_;
  if (now_tick - tick >= kBuckets) tick = now_tick - kBuckets + 1;
  for (; tick <= now_tick; ++tick) {
    current_tick_ = tick;  // a timer armed by fire() for a past deadline lands in this bucket
    const uint32_t bucket = bucket_of_tick(tick);
    if (earliest_ms_[bucket] > now_ms) continue;  // nothing due in it
    earliest_ms_[bucket] = kNoDeadline;  // the walk leaves only what is not due: recomputed
    // Pop from the head each time, so fire() may arm or cancel any timer meanwhile. Timers not
    // due yet (a later revolution, or later within this tick) wait, still armed and cancellable,
    // in the parking bucket until the walk of this bucket is over.
    for (uint32_t id = heads_[bucket]; id != kNone; id = heads_[bucket]) {
      unlink(id);
      ++visited_;
      if (entries_[id].deadline_ms <= now_ms) {
        ++fired;
        fire(id, entries_[id].cookie, entries_[id].deadline_ms);
      } else {
        link(id, kParked);
      }
    }
    for (uint32_t id = heads_[kParked]; id != kNone; id = heads_[kParked]) {
      unlink(id);
      link(id, bucket);
    }
  }
  current_tick_ = now_tick;  // the current tick is revisited next time: deadlines later within it
  return fired;
}

}  // namespace boxoffice
