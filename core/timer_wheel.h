// TimerWheel: a hashed timing wheel of fixed capacity, used by each worker to expire its holds.
//
// Deadlines are bucketed by tick (tick_ms); a bucket holds every timer whose deadline falls on
// that tick modulo the wheel size, so a timer further out than one revolution is simply kept
// when its bucket comes round early. advance() fires every timer whose deadline is <= now, at
// most one tick late. All storage is allocated in the constructor; schedule() never allocates
// and returns false when the wheel is full.
//
// Thread safety: none; owned by one worker.
#pragma once

#include <cstdint>
#include <vector>

namespace boxoffice {

class TimerWheel {
 public:
  TimerWheel(uint32_t capacity, int64_t tick_ms, int64_t now_ms);

  bool schedule(uint64_t key, int64_t deadline_ms);
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }

  // Calls fire(key, deadline_ms) for every timer due at `now_ms`. `fire` may schedule again.
  template <typename Fire>
  uint32_t advance(int64_t now_ms, Fire&& fire);

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kBuckets = 4096;
  struct Entry {
    uint64_t key;
    int64_t deadline_ms;
    uint32_t next;
  };
  uint32_t bucket_of(int64_t deadline_ms) const {
    return static_cast<uint32_t>((deadline_ms / tick_ms_) % kBuckets);
  }

  std::vector<Entry> entries_;
  std::vector<uint32_t> buckets_;   // head entry of each bucket
  uint32_t free_head_ = kNone;
  uint32_t size_ = 0;
  int64_t tick_ms_;
  int64_t current_tick_;            // every tick < current_tick_ has been processed
};

template <typename Fire>
uint32_t TimerWheel::advance(int64_t now_ms, Fire&& fire) {
  uint32_t fired = 0;
  const int64_t now_tick = now_ms / tick_ms_;
  // Never walk more than one revolution: after that every bucket has been visited.
  int64_t first_tick = current_tick_;
  if (now_tick - first_tick >= kBuckets) first_tick = now_tick - kBuckets + 1;
  for (int64_t tick = first_tick; tick <= now_tick; ++tick) {
    uint32_t index = buckets_[static_cast<uint32_t>(tick % kBuckets)];
    buckets_[static_cast<uint32_t>(tick % kBuckets)] = kNone;
    while (index != kNone) {
      Entry& entry = entries_[index];
      const uint32_t next = entry.next;
      if (entry.deadline_ms <= now_ms) {
        const uint64_t key = entry.key;
        const int64_t deadline = entry.deadline_ms;
        entry.next = free_head_;
        free_head_ = index;
        --size_;
        ++fired;
        fire(key, deadline);
      } else {
        const uint32_t bucket = bucket_of(entry.deadline_ms);
        entry.next = buckets_[bucket];
        buckets_[bucket] = index;
      }
      index = next;
    }
  }
  current_tick_ = now_tick;  // the current tick is revisited next time: deadlines within it
  return fired;
}

}  // namespace boxoffice
