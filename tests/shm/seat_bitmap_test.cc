// Tests for shm/seat_bitmap.h, the seat locks of the booking path. acquire_seats is
// all-or-nothing across word boundaries, reports exactly the requested seats that were taken,
// and leaves nothing set when it fails; release/set/clear touch only the bits named;
// acquire_any_bit hands out the first clear bit at or after the hint within [first, end),
// wrapping; count_bits and copy_free_bits work on ranges that do not start or end on a word.
// Randomized tests compare each function with a one-bit-at-a-time reference. The threaded
// tests prove mutual exclusion: no two threads ever own one seat, and plain (non-atomic) data
// guarded only by the seat bits is never raced on (ThreadSanitizer checks the memory orders).
#include "shm/seat_bitmap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <set>
#include <thread>
#include <vector>

#if defined(__SANITIZE_THREAD__)
#define BOXOFFICE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BOXOFFICE_TSAN 1
#endif
#endif

namespace boxoffice::shm {
namespace {

#if defined(BOXOFFICE_TSAN)
constexpr int kIterationsPerThread = 20'000;
#else
constexpr int kIterationsPerThread = 200'000;
#endif

class Bitmap {
 public:
  explicit Bitmap(uint32_t bit_count) : words_(word_count_for(bit_count)), bit_count_(bit_count) {}
  Word* data() { return words_.data(); }
  uint32_t bit_count() const { return bit_count_; }
  uint64_t word(uint32_t index) const { return words_[index].load(); }
  bool bit(uint32_t b) const { return (words_[b / 64].load() >> (b % 64)) & 1; }
  void put(uint32_t b) { words_[b / 64].fetch_or(uint64_t{1} << (b % 64)); }
  std::vector<uint64_t> snapshot() const {
    std::vector<uint64_t> copy;
    for (const Word& w : words_) copy.push_back(w.load());
    return copy;
  }
  void randomize(std::mt19937_64& rng, double density) {
    std::bernoulli_distribution set(density);
    for (uint32_t b = 0; b < bit_count_; ++b) {
      if (set(rng)) put(b);
    }
  }

 private:
  std::vector<Word> words_;
  uint32_t bit_count_;
};

std::vector<uint64_t> words_with(uint32_t word_count, std::initializer_list<uint32_t> bits) {
  std::vector<uint64_t> words(word_count, 0);
  for (uint32_t b : bits) words[b / 64] |= uint64_t{1} << (b % 64);
  return words;
}

// Up to `max_size` distinct random bits below `bit_count`, ascending.
std::vector<uint32_t> random_seats(std::mt19937_64& rng, uint32_t bit_count, uint32_t max_size) {
  std::set<uint32_t> seats;
  const uint32_t size = 1 + static_cast<uint32_t>(rng() % max_size);
  while (seats.size() < size) seats.insert(static_cast<uint32_t>(rng() % bit_count));
  return {seats.begin(), seats.end()};
}

// ---- acquire_seats / release_seats -------------------------------------------------------------

TEST(SeatBitmap, AcquiresSeatsAcrossAWordBoundary) {
  Bitmap bitmap(256);
  const std::vector<uint32_t> seats = {62, 63, 64, 65};
  uint32_t conflicts[4];
  const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
  EXPECT_TRUE(result.acquired);
  EXPECT_EQ(result.conflict_count, 0u);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {62, 63, 64, 65}));
}

TEST(SeatBitmap, ConflictInALaterWordRollsBackTheEarlierWord) {
  Bitmap bitmap(256);
  bitmap.put(65);
  const std::vector<uint32_t> seats = {62, 63, 64, 65};
  uint32_t conflicts[4] = {};
  const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
  EXPECT_FALSE(result.acquired);
  ASSERT_EQ(result.conflict_count, 1u);
  EXPECT_EQ(conflicts[0], 65u);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {65})) << "62..64 left set after a failed acquire";
}

TEST(SeatBitmap, ConflictInTheFirstWordTouchesNoLaterWord) {
  Bitmap bitmap(256);
  bitmap.put(62);
  const std::vector<uint32_t> seats = {62, 63, 64, 65};
  uint32_t conflicts[4] = {};
  const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
  EXPECT_FALSE(result.acquired);
  ASSERT_EQ(result.conflict_count, 1u);
  EXPECT_EQ(conflicts[0], 62u);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {62}));
}

TEST(SeatBitmap, ReportsEveryTakenRequestedSeatAcrossWords) {
  Bitmap bitmap(256);
  for (uint32_t b : {63u, 64u, 200u, 7u}) bitmap.put(b);  // 7 is not requested
  const std::vector<uint32_t> seats = {10, 63, 64, 100, 200};
  uint32_t conflicts[8] = {};
  const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
  EXPECT_FALSE(result.acquired);
  ASSERT_EQ(result.conflict_count, 3u);
  EXPECT_EQ(std::vector<uint32_t>(conflicts, conflicts + 3), (std::vector<uint32_t>{63, 64, 200}));
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {7, 63, 64, 200}));
}

TEST(SeatBitmap, ConflictsAreWrittenOnlyUpToTheBufferSize) {
  Bitmap bitmap(256);
  for (uint32_t b : {1u, 2u, 3u}) bitmap.put(b);
  const std::vector<uint32_t> seats = {1, 2, 3};
  uint32_t buffer[4] = {999, 999, 999, 999};
  const AcquireResult result = acquire_seats(bitmap.data(), seats, std::span<uint32_t>(buffer, 2));
  EXPECT_FALSE(result.acquired);
  EXPECT_LE(result.conflict_count, 2u);
  EXPECT_EQ(buffer[0], 1u);
  EXPECT_EQ(buffer[1], 2u);
  EXPECT_EQ(buffer[2], 999u) << "wrote past the conflicts span";
  EXPECT_EQ(buffer[3], 999u);
  // No buffer at all is allowed too: the caller only wants the yes/no.
  EXPECT_FALSE(acquire_seats(bitmap.data(), seats, {}).acquired);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {1, 2, 3}));
}

TEST(SeatBitmap, AcquireMatchesAReferenceOnRandomBitmaps) {
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 20000; ++trial) {
    Bitmap bitmap(320);
    bitmap.randomize(rng, (trial % 5) * 0.02);
    const std::vector<uint64_t> before = bitmap.snapshot();
    const std::vector<uint32_t> seats = random_seats(rng, 320, 8);
    std::vector<uint32_t> expected_conflicts;
    for (uint32_t s : seats) {
      if (bitmap.bit(s)) expected_conflicts.push_back(s);
    }
    uint32_t conflicts[8];
    const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
    std::vector<uint64_t> expected = before;
    if (expected_conflicts.empty()) {
      ASSERT_TRUE(result.acquired);
      for (uint32_t s : seats) expected[s / 64] |= uint64_t{1} << (s % 64);
    } else {
      ASSERT_FALSE(result.acquired);
      ASSERT_EQ(std::vector<uint32_t>(conflicts, conflicts + result.conflict_count),
                expected_conflicts);
    }
    ASSERT_EQ(bitmap.snapshot(), expected) << "trial " << trial;
  }
}

TEST(SeatBitmap, ReleaseClearsOnlyTheReleasedSeats) {
  Bitmap bitmap(256);
  bitmap.put(61);
  bitmap.put(66);
  const std::vector<uint32_t> seats = {62, 63, 64, 65};
  ASSERT_TRUE(acquire_seats(bitmap.data(), seats, {}).acquired);
  release_seats(bitmap.data(), seats);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {61, 66}));
  // Released seats can be acquired again.
  EXPECT_TRUE(acquire_seats(bitmap.data(), seats, {}).acquired);
}

TEST(SeatBitmapDeathTest, ReleasingASeatNotHeldIsAProgrammerError) {
  Bitmap bitmap(128);
  const std::vector<uint32_t> seats = {5};
  EXPECT_DEATH(release_seats(bitmap.data(), seats), "");
}

// ---- set_bits / clear_bits
// -----------------------------------------------------------------------

TEST(SeatBitmap, SetAndClearBitsTouchOnlyTheNamedBits) {
  Bitmap bitmap(256);
  const std::vector<uint32_t> set = {1, 63, 64, 130};
  set_bits(bitmap.data(), set);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {1, 63, 64, 130}));
  set_bits(bitmap.data(), set);  // already set: unchanged
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {1, 63, 64, 130}));
  for (uint32_t b : set) EXPECT_TRUE(test_bit(bitmap.data(), b)) << b;
  EXPECT_FALSE(test_bit(bitmap.data(), 0));
  EXPECT_FALSE(test_bit(bitmap.data(), 65));

  const std::vector<uint32_t> clear = {63, 130, 200};  // 200 was never set
  clear_bits(bitmap.data(), clear);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {1, 64}));
}

// ---- acquire_any_bit ---------------------------------------------------------------------------

TEST(SeatBitmap, AcquireAnyBitStaysInsideItsRange) {
  Bitmap bitmap(256);
  std::set<int64_t> got;
  for (int i = 0; i < 5; ++i) {
    const int64_t bit = acquire_any_bit(bitmap.data(), 70, 75, 70);
    ASSERT_GE(bit, 70);
    ASSERT_LT(bit, 75);
    EXPECT_TRUE(got.insert(bit).second) << "bit " << bit << " handed out twice";
  }
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 70, 75, 70), -1);
  EXPECT_EQ(bitmap.snapshot(), words_with(4, {70, 71, 72, 73, 74}));
}

TEST(SeatBitmap, AcquireAnyBitRangeSpanningWordsWithUnalignedEnds) {
  Bitmap bitmap(256);
  std::set<int64_t> got;
  for (int i = 0; i < 70; ++i) {
    const int64_t bit = acquire_any_bit(bitmap.data(), 60, 130, 100);
    ASSERT_GE(bit, 60);
    ASSERT_LT(bit, 130);
    got.insert(bit);
  }
  EXPECT_EQ(got.size(), 70u);
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 60, 130, 100), -1);
  EXPECT_FALSE(bitmap.bit(59));
  EXPECT_FALSE(bitmap.bit(130));
}

TEST(SeatBitmap, AcquireAnyBitStartsAtTheHintAndWraps) {
  Bitmap bitmap(256);
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 0, 256, 130), 130);
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 0, 256, 130), 131);
  for (uint32_t b = 200; b < 256; ++b) bitmap.put(b);
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 0, 256, 200), 0) << "did not wrap to the range start";
  // Everything at and after the hint taken, in the hint's own word: wraps to the bits below it.
  Bitmap one_word(64);
  for (uint32_t b = 10; b < 64; ++b) one_word.put(b);
  EXPECT_EQ(acquire_any_bit(one_word.data(), 0, 64, 40), 0);
}

TEST(SeatBitmap, AcquireAnyBitOnAFullOrEmptyRangeReturnsMinusOne) {
  Bitmap bitmap(256);
  for (uint32_t b = 0; b < 256; ++b) bitmap.put(b);
  EXPECT_EQ(acquire_any_bit(bitmap.data(), 0, 256, 17), -1);
  Bitmap empty(64);
  EXPECT_EQ(acquire_any_bit(empty.data(), 10, 10, 10), -1);
  EXPECT_EQ(empty.word(0), 0u);
}

TEST(SeatBitmap, AcquireAnyBitMatchesAReferenceOnRandomBitmaps) {
  std::mt19937_64 rng(2);
  for (int trial = 0; trial < 20000; ++trial) {
    Bitmap bitmap(320);
    bitmap.randomize(rng, 0.5 + (trial % 5) * 0.1);
    const uint32_t first = static_cast<uint32_t>(rng() % 320);
    const uint32_t end = first + 1 + static_cast<uint32_t>(rng() % (320 - first));
    const uint32_t hint = first + static_cast<uint32_t>(rng() % (end - first));
    // The first clear bit in hint, hint+1, ..., end-1, first, ..., hint-1.
    int64_t expected = -1;
    for (uint32_t k = 0; k < end - first && expected < 0; ++k) {
      const uint32_t b = first + (hint - first + k) % (end - first);
      if (!bitmap.bit(b)) expected = b;
    }
    std::vector<uint64_t> expected_words = bitmap.snapshot();
    if (expected >= 0) expected_words[expected / 64] |= uint64_t{1} << (expected % 64);
    ASSERT_EQ(acquire_any_bit(bitmap.data(), first, end, hint), expected)
        << "range [" << first << ", " << end << ") hint " << hint;
    ASSERT_EQ(bitmap.snapshot(), expected_words);
  }
}

// ---- count_bits / copy_free_bits
// -----------------------------------------------------------------

TEST(SeatBitmap, CountBitsOnUnalignedRanges) {
  Bitmap bitmap(256);
  for (uint32_t b : {0u, 5u, 63u, 64u, 127u, 128u, 255u}) bitmap.put(b);
  EXPECT_EQ(count_bits(bitmap.data(), 0, 256), 7u);
  EXPECT_EQ(count_bits(bitmap.data(), 1, 63), 1u);   // just 5
  EXPECT_EQ(count_bits(bitmap.data(), 63, 65), 2u);  // across a boundary
  EXPECT_EQ(count_bits(bitmap.data(), 6, 63), 0u);
  EXPECT_EQ(count_bits(bitmap.data(), 64, 64), 0u);  // empty range
  EXPECT_EQ(count_bits(bitmap.data(), 127, 129), 2u);
  EXPECT_EQ(count_bits(bitmap.data(), 200, 255), 0u);  // end is exclusive
}

TEST(SeatBitmap, CountBitsMatchesAReferenceOnRandomRanges) {
  std::mt19937_64 rng(3);
  Bitmap bitmap(320);
  bitmap.randomize(rng, 0.4);
  for (int trial = 0; trial < 20000; ++trial) {
    const uint32_t first = static_cast<uint32_t>(rng() % 321);
    const uint32_t end = first + static_cast<uint32_t>(rng() % (321 - first));
    uint32_t expected = 0;
    for (uint32_t b = first; b < end; ++b) expected += bitmap.bit(b);
    ASSERT_EQ(count_bits(bitmap.data(), first, end), expected) << first << ".." << end;
  }
}

TEST(SeatBitmap, CopyFreeBitsIsLsbFirstFromTheRangeStart) {
  Bitmap bitmap(64);
  bitmap.put(4);
  bitmap.put(12);
  // Range [3, 13): range bits 1 (seat 4) and 9 (seat 12) are taken, the other 8 free.
  uint8_t out[2] = {0xAA, 0xAA};
  copy_free_bits(bitmap.data(), 3, 13, out);
  EXPECT_EQ(out[0], 0xFD);  // bits 0, 2..7 free
  EXPECT_EQ(out[1], 0x01);  // bit 8 free, bit 9 taken, bits past the range are 0
}

TEST(SeatBitmap, CopyFreeBitsMatchesAReferenceOnRandomRanges) {
  std::mt19937_64 rng(4);
  Bitmap bitmap(320);
  bitmap.randomize(rng, 0.5);
  for (int trial = 0; trial < 5000; ++trial) {
    const uint32_t first = static_cast<uint32_t>(rng() % 320);
    const uint32_t end = first + 1 + static_cast<uint32_t>(rng() % (320 - first));
    const uint32_t bytes = (end - first + 7) / 8;
    std::vector<uint8_t> out(bytes + 1, 0x5A);
    copy_free_bits(bitmap.data(), first, end, std::span<uint8_t>(out.data(), bytes));
    for (uint32_t i = 0; i < bytes * 8; ++i) {
      const bool expected_free = first + i < end && !bitmap.bit(first + i);
      ASSERT_EQ(((out[i / 8] >> (i % 8)) & 1) != 0, expected_free)
          << "range " << first << ".." << end << " bit " << i;
    }
    ASSERT_EQ(out[bytes], 0x5A) << "wrote past the output";
  }
}

// ---- concurrency
// -----------------------------------------------------------------------------------

// Threads lock random overlapping sets of 1-4 seats among 32 seats that straddle a word
// boundary (48..79), so most sets span two words and conflicts are frequent. While a thread
// holds a set it claims each seat in a per-seat owner word (any other owner there means two
// threads hold one seat) and increments a plain, non-atomic counter per seat: only the bitmap's
// acquire/release orders it, so a lost update or a ThreadSanitizer report means the bitmap
// failed to exclude.
TEST(SeatBitmapConcurrency, NoTwoThreadsEverHoldTheSameSeat) {
  constexpr uint32_t kFirstSeat = 48;
  constexpr uint32_t kSeats = 32;
  constexpr int kThreads = 4;
  Bitmap bitmap(128);
  std::vector<std::atomic<int>> owner(128);
  std::vector<uint64_t> uses(128, 0);  // plain: guarded by the seat bits alone
  std::atomic<int> overlaps{0};
  std::atomic<uint64_t> seats_acquired{0};
  std::atomic<uint64_t> failed_acquires{0};
  std::atomic<int> ready{0};

  auto worker = [&](int me) {
    std::mt19937_64 rng(1000 + me);
    uint64_t acquired_here = 0, failed_here = 0;
    ready.fetch_add(1);
    while (ready.load() < kThreads) {
    }
    for (int i = 0; i < kIterationsPerThread; ++i) {
      std::vector<uint32_t> seats = random_seats(rng, kSeats, 4);
      for (uint32_t& s : seats) s += kFirstSeat;
      uint32_t conflicts[4];
      const AcquireResult result = acquire_seats(bitmap.data(), seats, conflicts);
      if (!result.acquired) {
        ++failed_here;
        if (result.conflict_count == 0) overlaps.fetch_add(1000);  // a failure names a seat
        for (uint32_t c = 0; c < result.conflict_count; ++c) {
          if (std::find(seats.begin(), seats.end(), conflicts[c]) == seats.end()) {
            overlaps.fetch_add(1000);  // reported a seat that was not asked for
          }
        }
        continue;
      }
      for (uint32_t s : seats) {
        ++uses[s];
        if (owner[s].exchange(me + 1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1);
      }
      for (uint32_t s : seats) {
        if (owner[s].exchange(0, std::memory_order_relaxed) != me + 1) overlaps.fetch_add(1);
      }
      acquired_here += seats.size();
      release_seats(bitmap.data(), seats);
    }
    seats_acquired.fetch_add(acquired_here);
    failed_acquires.fetch_add(failed_here);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(overlaps.load(), 0);
  uint64_t total_uses = 0;
  for (uint64_t u : uses) total_uses += u;
  EXPECT_EQ(total_uses, seats_acquired.load()) << "lost updates: a seat was shared";
  EXPECT_EQ(bitmap.snapshot(), std::vector<uint64_t>(2, 0)) << "bits left set";
  EXPECT_GT(seats_acquired.load(), 0u);
  EXPECT_GT(failed_acquires.load(), 0u) << "no contention: the test proved nothing";
}

// Threads take bits with acquire_any_bit (as workers take hold slots) until the range is full:
// each bit is handed to exactly one thread.
TEST(SeatBitmapConcurrency, AcquireAnyBitHandsEachBitToOneThread) {
  constexpr uint32_t kFirst = 10;
  constexpr uint32_t kEnd = 1000;
  constexpr int kThreads = 4;
#if defined(BOXOFFICE_TSAN)
  constexpr int kRounds = 20;
#else
  constexpr int kRounds = 200;
#endif
  for (int round = 0; round < kRounds; ++round) {
    Bitmap bitmap(1024);
    std::vector<std::vector<int64_t>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        uint32_t hint = kFirst + static_cast<uint32_t>(t) * 200;
        for (;;) {
          const int64_t bit = acquire_any_bit(bitmap.data(), kFirst, kEnd, hint);
          if (bit < 0) return;
          got[t].push_back(bit);
          hint = static_cast<uint32_t>(bit) + 1 < kEnd ? static_cast<uint32_t>(bit) + 1 : kFirst;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    std::vector<int64_t> all;
    for (const auto& bits : got) all.insert(all.end(), bits.begin(), bits.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), kEnd - kFirst) << "round " << round;
    for (uint32_t k = 0; k < all.size(); ++k) ASSERT_EQ(all[k], kFirst + k) << "round " << round;
    ASSERT_EQ(count_bits(bitmap.data(), 0, 1024), kEnd - kFirst);
  }
}

}  // namespace
}  // namespace boxoffice::shm
