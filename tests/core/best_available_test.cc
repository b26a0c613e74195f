// Tests for core/best_available.h pick_in_row(): in an empty row it picks the centre block; it
// never strands a single free seat (an orphan) when an orphan-free block exists in the row, and
// says leaves_orphan only when every block does; it finds nothing when no free run is long
// enough; rows may start mid-word and span word boundaries, and seats outside the row never
// matter. A property test compares it with a brute force over every position of random rows.
#include "core/best_available.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

namespace boxoffice {
namespace {

// A taken-bitmap of `seat_total` seats, all free.
class Bitmap {
 public:
  explicit Bitmap(uint32_t seat_total) : words_(shm::word_count_for(seat_total) + 1) {}
  void take(uint32_t seat) { words_[seat / 64].fetch_or(uint64_t{1} << (seat % 64)); }
  bool taken(uint32_t seat) const { return (words_[seat / 64].load() >> (seat % 64)) & 1; }
  void take_word(uint32_t word) { words_[word].store(~uint64_t{0}); }
  const shm::Word* data() const { return words_.data(); }

 private:
  std::vector<shm::Word> words_;
};

// What a block choice costs: whether it strands a single free seat next to it, and how far
// its centre is from the row's centre, in half-seats.
struct Choice {
  bool orphan;
  uint32_t distance;
};

// The brute-force reference, over row-relative position p.
Choice evaluate(const Bitmap& bitmap, uint32_t row_first, uint32_t row_seats, uint32_t count,
                uint32_t p) {
  auto free_at = [&](int64_t k) {
    return k >= 0 && k < row_seats && !bitmap.taken(row_first + static_cast<uint32_t>(k));
  };
  uint32_t free_left = 0, free_right = 0;
  for (int64_t k = int64_t{p} - 1; free_at(k); --k) ++free_left;
  for (int64_t k = int64_t{p} + count; free_at(k); ++k) ++free_right;
  return {free_left == 1 || free_right == 1,
          static_cast<uint32_t>(std::llabs(2 * int64_t{p} + count - int64_t{row_seats}))};
}

bool block_is_free(const Bitmap& bitmap, uint32_t first_seat, uint32_t count) {
  for (uint32_t k = 0; k < count; ++k) {
    if (bitmap.taken(first_seat + k)) return false;
  }
  return true;
}

// The best choice a correct pick must match: found, then no orphan, then nearest the centre.
struct Best {
  bool found = false;
  Choice choice{};
};
Best brute_force(const Bitmap& bitmap, uint32_t row_first, uint32_t row_seats, uint32_t count) {
  Best best;
  if (count == 0 || count > row_seats) return best;
  for (uint32_t p = 0; p + count <= row_seats; ++p) {
    if (!block_is_free(bitmap, row_first + p, count)) continue;
    const Choice c = evaluate(bitmap, row_first, row_seats, count, p);
    const bool better = !best.found || (best.choice.orphan && !c.orphan) ||
                        (best.choice.orphan == c.orphan && c.distance < best.choice.distance);
    if (better) best = {true, c};
  }
  return best;
}

// Checks pick_in_row against the brute force: same quality, a free block inside the row, and
// a report that describes the block actually returned.
void expect_matches_brute_force(const Bitmap& bitmap, uint32_t row_first, uint32_t row_seats,
                                uint32_t count) {
  SCOPED_TRACE(testing::Message() << "row_first " << row_first << " row_seats " << row_seats
                                  << " count " << count);
  const RowPick pick = pick_in_row(bitmap.data(), row_first, row_seats, count);
  const Best best = brute_force(bitmap, row_first, row_seats, count);
  ASSERT_EQ(pick.found, best.found);
  if (!best.found) return;
  ASSERT_GE(pick.first_seat, row_first);
  ASSERT_LE(pick.first_seat + count, row_first + row_seats);
  ASSERT_TRUE(block_is_free(bitmap, pick.first_seat, count)) << "picked taken seats";
  const Choice actual = evaluate(bitmap, row_first, row_seats, count, pick.first_seat - row_first);
  EXPECT_EQ(pick.leaves_orphan, actual.orphan) << "report does not describe the block";
  EXPECT_EQ(pick.distance_from_centre, actual.distance) << "report does not describe the block";
  EXPECT_EQ(actual.orphan, best.choice.orphan) << "picked " << pick.first_seat;
  EXPECT_EQ(actual.distance, best.choice.distance) << "picked " << pick.first_seat;
}

TEST(BestAvailable, EmptyRowPicksTheCentreBlock) {
  Bitmap bitmap(64);
  // 10 seats, 4 wanted: seats 3..6 leave 3 free on each side.
  RowPick pick = pick_in_row(bitmap.data(), 0, 10, 4);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 3u);
  EXPECT_EQ(pick.distance_from_centre, 0u);
  EXPECT_FALSE(pick.leaves_orphan);

  // 10 seats, 3 wanted: no exact centre; 3..5 or 4..6 are half a seat off (distance 1).
  pick = pick_in_row(bitmap.data(), 0, 10, 3);
  ASSERT_TRUE(pick.found);
  EXPECT_TRUE(pick.first_seat == 3 || pick.first_seat == 4) << pick.first_seat;
  EXPECT_EQ(pick.distance_from_centre, 1u);

  // The whole row.
  pick = pick_in_row(bitmap.data(), 0, 10, 10);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 0u);
  EXPECT_FALSE(pick.leaves_orphan);
}

TEST(BestAvailable, SeatIndicesAreAbsoluteNotRowRelative) {
  Bitmap bitmap(256);
  const RowPick pick = pick_in_row(bitmap.data(), 100, 12, 2);  // seats 100..111
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 105u);
}

TEST(BestAvailable, StepsAsideFromTheCentreRatherThanStrandASeat) {
  Bitmap bitmap(64);
  // Row of 8, seats 0 and 7 taken: free run 1..6. The centre block 2..5 would strand seats 1
  // and 6; 1..4 and 3..6 are each one seat off centre and strand nothing.
  bitmap.take(0);
  bitmap.take(7);
  const RowPick pick = pick_in_row(bitmap.data(), 0, 8, 4);
  ASSERT_TRUE(pick.found);
  EXPECT_FALSE(pick.leaves_orphan);
  EXPECT_TRUE(pick.first_seat == 1 || pick.first_seat == 3) << pick.first_seat;
  EXPECT_EQ(pick.distance_from_centre, 2u);
}

TEST(BestAvailable, PrefersAnOrphanFreeBlockFarFromCentreToAnOrphaningCentralOne) {
  Bitmap bitmap(64);
  // Row of 6, seat 2 taken: runs 0..1 and 3..5. For 2 seats, 0..1 fills its run exactly;
  // anything in 3..5 is nearer the centre but strands one seat.
  bitmap.take(2);
  const RowPick pick = pick_in_row(bitmap.data(), 0, 6, 2);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 0u);
  EXPECT_FALSE(pick.leaves_orphan);
}

TEST(BestAvailable, ReportsAnOrphanOnlyWhenEveryChoiceStrandsOne) {
  Bitmap bitmap(64);
  // Row of 5, 4 wanted: whichever end is left, one seat is stranded.
  RowPick pick = pick_in_row(bitmap.data(), 0, 5, 4);
  ASSERT_TRUE(pick.found);
  EXPECT_TRUE(pick.leaves_orphan);

  // Row of 9 with seat 4 taken: runs of 4 each side; 3 wanted always strands one.
  bitmap.take(4);
  pick = pick_in_row(bitmap.data(), 0, 9, 3);
  ASSERT_TRUE(pick.found);
  EXPECT_TRUE(pick.leaves_orphan);
  // ...but 4 wanted fills a run exactly.
  pick = pick_in_row(bitmap.data(), 0, 9, 4);
  ASSERT_TRUE(pick.found);
  EXPECT_FALSE(pick.leaves_orphan);
}

TEST(BestAvailable, NothingWhenNoFreeRunIsLongEnough) {
  Bitmap bitmap(64);
  // Row of 10 with seats 3 and 7 taken: runs of 3, 3 and 2.
  bitmap.take(3);
  bitmap.take(7);
  EXPECT_FALSE(pick_in_row(bitmap.data(), 0, 10, 4).found);
  EXPECT_TRUE(pick_in_row(bitmap.data(), 0, 10, 3).found);
  // More seats than the row has, or none.
  EXPECT_FALSE(pick_in_row(bitmap.data(), 20, 10, 11).found);
  EXPECT_FALSE(pick_in_row(bitmap.data(), 20, 10, 0).found);
}

TEST(BestAvailable, NothingInAFullRow) {
  Bitmap bitmap(256);
  for (uint32_t seat = 60; seat < 190; ++seat) bitmap.take(seat);
  EXPECT_FALSE(pick_in_row(bitmap.data(), 60, 130, 1).found);
}

TEST(BestAvailable, RowStartingMidWordAndSpanningWordsPicksItsCentre) {
  Bitmap bitmap(256);
  // Seats 60..189 span words 0, 1 and 2. Everything outside the row is taken and must not count.
  for (uint32_t seat = 0; seat < 60; ++seat) bitmap.take(seat);
  for (uint32_t seat = 190; seat < 256; ++seat) bitmap.take(seat);
  const RowPick pick = pick_in_row(bitmap.data(), 60, 130, 6);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 60u + 62);
  EXPECT_EQ(pick.distance_from_centre, 0u);
  EXPECT_FALSE(pick.leaves_orphan);
}

TEST(BestAvailable, FreeRunCrossingAWordBoundaryIsOneRun) {
  Bitmap bitmap(256);
  // Row 60..189 with only 126..129 free (crossing the word boundary at 128).
  for (uint32_t seat = 60; seat < 190; ++seat) {
    if (seat < 126 || seat > 129) bitmap.take(seat);
  }
  const RowPick pick = pick_in_row(bitmap.data(), 60, 130, 4);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 126u);
  EXPECT_FALSE(pick.leaves_orphan);
}

TEST(BestAvailable, FreeSeatsJustOutsideTheRowAreNotPartOfIt) {
  Bitmap bitmap(256);
  // Row 60..189 full except its first seat, 60; seat 59 (outside) is free. One seat wanted:
  // the only choice is 60, and it strands nothing inside the row.
  for (uint32_t seat = 61; seat < 190; ++seat) bitmap.take(seat);
  RowPick pick = pick_in_row(bitmap.data(), 60, 130, 1);
  ASSERT_TRUE(pick.found);
  EXPECT_EQ(pick.first_seat, 60u);
  EXPECT_FALSE(pick.leaves_orphan);
  EXPECT_FALSE(pick_in_row(bitmap.data(), 60, 130, 2).found) << "used seat 59 outside the row";
}

TEST(BestAvailable, MatchesBruteForceOnRandomRows) {
  std::mt19937_64 rng(20240601);
  const double densities[] = {0.0, 0.1, 0.3, 0.5, 0.7, 0.9};
  for (int trial = 0; trial < 20000; ++trial) {
    const uint32_t row_first = static_cast<uint32_t>(rng() % 200);
    const uint32_t row_seats = 1 + static_cast<uint32_t>(rng() % 150);
    Bitmap bitmap(row_first + row_seats + 64);
    const double density = densities[rng() % std::size(densities)];
    std::bernoulli_distribution taken(density);
    for (uint32_t seat = 0; seat < row_first + row_seats + 64; ++seat) {
      if (taken(rng)) bitmap.take(seat);
    }
    if (rng() % 8 == 0)
      bitmap.take_word(static_cast<uint32_t>((row_first + rng() % row_seats) / 64));
    const uint32_t count = 1 + static_cast<uint32_t>(rng() % 8);
    expect_matches_brute_force(bitmap, row_first, row_seats, count);
    if (HasFailure()) return;  // one reported case is enough to debug
  }
}

TEST(BestAvailable, MatchesBruteForceOnTheMidWordRow) {
  // The row of the spec (seats 60..189) with every small count and many random fillings.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    Bitmap bitmap(256);
    std::bernoulli_distribution taken(0.05 + 0.9 * (trial % 10) / 10.0);
    for (uint32_t seat = 0; seat < 256; ++seat) {
      if (taken(rng)) bitmap.take(seat);
    }
    for (uint32_t count = 1; count <= 10; ++count)
      expect_matches_brute_force(bitmap, 60, 130, count);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace boxoffice
