// SeatFeed: changes of watched events reach every reader in order; a reader that falls a ring
// behind is told how many it lost; concurrent writers never deliver a torn change.
#include "net/seat_feed.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace boxoffice::net {
namespace {

std::vector<SeatFeed::Change> drain(SeatFeed& feed, uint32_t event, uint64_t* cursor,
                                    uint64_t* lost) {
  std::vector<SeatFeed::Change> changes;
  *lost += feed.read(event, cursor, [&](const SeatFeed::Change& c) { changes.push_back(c); });
  return changes;
}

TEST(SeatFeed, WatchedEventsOnlyInOrder) {
  SeatFeed feed(4);
  const uint32_t seats[] = {7, 8};
  feed.seats_changed(1, seats, SeatState::kHeld);  // not watched yet: dropped
  uint64_t cursor = feed.watch(1);
  feed.seats_changed(1, seats, SeatState::kHeld);
  feed.seats_changed(2, seats, SeatState::kHeld);  // another event
  feed.seats_changed(1, {seats, 1}, SeatState::kSold);
  uint64_t lost = 0;
  const auto changes = drain(feed, 1, &cursor, &lost);
  EXPECT_EQ(lost, 0u);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].state, SeatState::kHeld);
  EXPECT_EQ(changes[0].count, 2u);
  EXPECT_EQ(changes[0].seats[1], 8u);
  EXPECT_EQ(changes[1].state, SeatState::kSold);
  EXPECT_EQ(changes[1].count, 1u);
  EXPECT_TRUE(drain(feed, 1, &cursor, &lost).empty());
  uint64_t other = 0;
  EXPECT_TRUE(drain(feed, 2, &other, &lost).empty());  // never watched
  EXPECT_EQ(feed.watch(1), cursor);                    // watching again starts at the current end
}

TEST(SeatFeed, AReaderARingBehindIsToldWhatItLost) {
  SeatFeed feed(1);
  uint64_t cursor = feed.watch(0);
  for (uint32_t i = 0; i < SeatFeed::kRecords + 10; ++i) {
    const uint32_t seat[] = {i};
    feed.seats_changed(0, seat, SeatState::kFree);
  }
  uint64_t lost = 0;
  const auto changes = drain(feed, 0, &cursor, &lost);
  EXPECT_EQ(lost, 10u);
  ASSERT_EQ(changes.size(), SeatFeed::kRecords);
  EXPECT_EQ(changes.front().seats[0], 10u);  // the oldest still in the ring
  EXPECT_EQ(changes.back().seats[0], SeatFeed::kRecords + 9);
}

TEST(SeatFeed, ConcurrentWritersAndAReaderNeverSeeTornChanges) {
  SeatFeed feed(1);
  uint64_t cursor = feed.watch(0);
#if defined(__SANITIZE_THREAD__)
  constexpr uint32_t kPerWriter = 5'000;
#else
  constexpr uint32_t kPerWriter = 100'000;
#endif
  std::atomic<int> writers_done{0};
  auto writer = [&](uint32_t w) {
    for (uint32_t i = 0; i < kPerWriter; ++i) {
      // A self-checking change: count 1..3 seats base, base+1, ...; state from the count.
      const uint32_t count = 1 + (i + w) % 3;
      uint32_t seats[3];
      for (uint32_t k = 0; k < count; ++k) seats[k] = w * 10'000'000 + i * 4 + k;
      feed.seats_changed(0, {seats, count}, static_cast<SeatState>(count - 1));
    }
    ++writers_done;
  };
  std::thread a(writer, 1), b(writer, 2);
  uint64_t delivered = 0, lost = 0;
  bool torn = false;
  auto check = [&](const SeatFeed::Change& c) {
    ++delivered;
    if (c.count < 1 || c.count > 3 || static_cast<uint32_t>(c.state) != c.count - 1) torn = true;
    for (uint32_t k = 1; k < c.count; ++k) torn = torn || c.seats[k] != c.seats[0] + k;
  };
  while (writers_done.load() < 2) lost += feed.read(0, &cursor, check);
  a.join();
  b.join();
  lost += feed.read(0, &cursor, check);
  EXPECT_FALSE(torn);
  EXPECT_EQ(delivered + lost, 2u * kPerWriter);
  EXPECT_GT(delivered, 0u);
}

}  // namespace
}  // namespace boxoffice::net
