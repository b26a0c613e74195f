#include "core/timer_wheel.h"

#include "shm/check.h"

namespace boxoffice {

TimerWheel::TimerWheel(uint32_t capacity, int64_t tick_ms, int64_t now_ms)
    : entries_(capacity), buckets_(kBuckets, kNone), tick_ms_(tick_ms),
      current_tick_(now_ms / tick_ms) {
  BOXOFFICE_ASSERT(tick_ms > 0);
  for (uint32_t i = 0; i < capacity; ++i) entries_[i].next = i + 1 < capacity ? i + 1 : kNone;
  free_head_ = capacity > 0 ? 0 : kNone;
}

bool TimerWheel::schedule(uint64_t key, int64_t deadline_ms) {
  if (free_head_ == kNone) return false;
  const uint32_t index = free_head_;
  Entry& entry = entries_[index];
  free_head_ = entry.next;
  entry.key = key;
  // A deadline already in the past goes to the current tick so the next advance fires it.
  entry.deadline_ms = deadline_ms;
  const int64_t tick = std::max(deadline_ms / tick_ms_, current_tick_);
  const uint32_t bucket = static_cast<uint32_t>(tick % kBuckets);
  entry.next = buckets_[bucket];
  buckets_[bucket] = index;
  ++size_;
  return true;
}

}  // namespace boxoffice
