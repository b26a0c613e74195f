#include "core/timer_wheel.h"

#include <algorithm>

namespace boxoffice {

TimerWheel::TimerWheel(uint32_t id_count, int64_t tick_ms, int64_t now_ms)
    : entries_(id_count),
      heads_(kBuckets + 1, kNone),
      earliest_ms_(kBuckets + 1, kNoDeadline),
      tick_ms_(tick_ms),
      current_tick_(now_ms / tick_ms) {
  BOXOFFICE_ASSERT(tick_ms > 0);
}

void TimerWheel::schedule(uint32_t id, uint64_t cookie, int64_t deadline_ms) {
  BOXOFFICE_ASSERT(id < entries_.size());
  if (entries_[id].bucket != kNone) unlink(id);
  entries_[id].cookie = cookie;
  entries_[id].deadline_ms = deadline_ms;
  // A deadline already past goes to the current tick, so the next advance fires it.
  link(id, bucket_of_tick(std::max(deadline_ms / tick_ms_, current_tick_)));
}

void TimerWheel::cancel(uint32_t id) {
  BOXOFFICE_ASSERT(id < entries_.size());
  if (entries_[id].bucket != kNone) unlink(id);
}

void TimerWheel::link(uint32_t id, uint32_t bucket) {
  Entry& entry = entries_[id];
  BOXOFFICE_ASSERT(entry.bucket == kNone);
  entry.bucket = bucket;
  entry.prev = kNone;
  entry.next = heads_[bucket];
  if (entry.next != kNone) entries_[entry.next].prev = id;
  heads_[bucket] = id;
  earliest_ms_[bucket] = std::min(earliest_ms_[bucket], entry.deadline_ms);
  ++size_;
}

void TimerWheel::unlink(uint32_t id) {
  Entry& entry = entries_[id];
  BOXOFFICE_ASSERT(entry.bucket != kNone);
  if (entry.prev != kNone) {
    entries_[entry.prev].next = entry.next;
  } else {
    heads_[entry.bucket] = entry.next;
  }
  if (entry.next != kNone) entries_[entry.next].prev = entry.prev;
  entry.prev = entry.next = entry.bucket = kNone;
  --size_;
}

}  // namespace boxoffice
