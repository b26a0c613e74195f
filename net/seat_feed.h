// SeatFeed: the broadcast of seat changes of subscribed events, from whichever worker made a
// change to every worker with subscribers (the `subscribe` method, net/PROTOCOL.md).
//
// Per event, created when it is first watched, a ring of kRecords change records. A writer
// claims a sequence number with one fetch_add and publishes its record under that record's
// sequence word (a seqlock: odd while written; a record's seq only ever grows, so a writer
// preempted for a whole ring gives up its change rather than rewind it); each reader keeps its
// own cursor and learns when it fell more than a ring behind (records lost, reported to clients
// as such). Events never watched cost a writer one atomic load. Nothing here blocks a booking.
//
// Thread safety: seats_changed() from any thread; watch() from any thread (serialized inside);
// read() by any number of readers, each with its own cursor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/engine.h"

namespace boxoffice::net {

class SeatFeed : public SeatObserver {
 public:
  static constexpr uint32_t kRecords = 4096;  // per watched event

  explicit SeatFeed(uint32_t events_max);
  ~SeatFeed() override;

  // Starts recording changes of `event_index`; returns the sequence number a new reader starts
  // at (changes from then on).
  uint64_t watch(uint32_t event_index);
  void seats_changed(uint32_t event_index, std::span<const uint32_t> seats,
                     SeatState state) override;

  struct Change {
    SeatState state = SeatState::kFree;
    uint32_t count = 0;
    uint32_t seats[shm::kSeatsPerHoldMax];
  };
  // Delivers the changes recorded after *cursor, oldest first, and advances it. Returns how many
  // were lost (overwritten before this reader got to them).
  template <typename Fn>
  uint64_t read(uint32_t event_index, uint64_t* cursor, Fn&& fn);

 private:
  struct Record {
    std::atomic<uint64_t> seq{0};  // 2n+1 while record n is written, 2n+2 once it is
    std::atomic<uint32_t> state_and_count{0};
    std::atomic<uint32_t> seats[shm::kSeatsPerHoldMax];
  };
  struct Ring {
    std::atomic<uint64_t> next{0};  // sequence number of the next record written
    Record records[kRecords];
  };
  bool load(const Record& record, uint64_t n, Change* change) const;

  uint32_t events_max_;
  std::unique_ptr<std::atomic<Ring*>[]> rings_;
  std::mutex watch_mutex_;
};

template <typename Fn>
uint64_t SeatFeed::read(uint32_t event_index, uint64_t* cursor, Fn&& fn) {
  if (event_index >= events_max_) return 0;
  Ring* ring = rings_[event_index].load(std::memory_order_acquire);
  if (ring == nullptr) return 0;
  uint64_t lost = 0;
  const uint64_t end = ring->next.load(std::memory_order_acquire);
  if (end > *cursor + kRecords) {  // lapped: skip to the oldest record still in the ring
    lost += end - kRecords - *cursor;
    *cursor = end - kRecords;
  }
  for (; *cursor < end; ++*cursor) {
    Change change;
    const Record& record = ring->records[*cursor % kRecords];
    const uint64_t seq = record.seq.load(std::memory_order_acquire);
    if (seq < 2 * *cursor + 2) break;  // claimed but not yet written: next turn
    if (seq > 2 * *cursor + 2 || !load(record, *cursor, &change)) {
      ++lost;  // overwritten by a writer a ring later
      continue;
    }
    fn(change);
  }
  return lost;
}

// One reader of the feed (a worker, an HTTP thread): its cursor on each event it watches, and
// the fan-out of what it reads to its subscribers, whatever they are (connections with
// notifications, event streams): anything with an `event_index` and a `missed` count.
//
// Thread safety: used by one thread.
class SeatFeedReader {
 public:
  SeatFeedReader(SeatFeed* feed, uint32_t events_max)
      : feed_(feed), cursors_(events_max, kNotWatched) {
    watched_.reserve(events_max);
  }

  // Follows `event_index` from now on (again: nothing).
  void watch(uint32_t event_index) {
    if (cursors_.at(event_index) != kNotWatched) return;
    cursors_[event_index] = feed_->watch(event_index);
    watched_.push_back(event_index);
  }

  // Reads every watched event's changes since the last call. Each goes to
  // on_change(event_index, change) (which packs it once and delivers it to that event's
  // subscribers) when any of `subscribers` follows the event; changes the feed overwrote before
  // this reader got to them are added to the `missed` of each of that event's subscribers.
  template <typename Subscribers, typename OnChange>
  void read(Subscribers& subscribers, OnChange&& on_change) {
    for (uint32_t event_index : watched_) {
      bool any = false;
      for (const auto& s : subscribers) any = any || s.event_index == event_index;
      const uint64_t lost =
          feed_->read(event_index, &cursors_[event_index], [&](const SeatFeed::Change& change) {
            if (any) on_change(event_index, change);
          });
      if (lost == 0) continue;
      for (auto& s : subscribers) {
        if (s.event_index == event_index) s.missed += lost;
      }
    }
  }

 private:
  static constexpr uint64_t kNotWatched = UINT64_MAX;
  SeatFeed* feed_;
  std::vector<uint64_t> cursors_;  // per event: next change to read, or kNotWatched
  std::vector<uint32_t> watched_;  // events with a cursor
};

}  // namespace boxoffice::net
