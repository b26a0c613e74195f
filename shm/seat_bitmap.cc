#include "shm/seat_bitmap.h"

#include <algorithm>
#include <bit>

#include "shm/check.h"

namespace boxoffice::shm {
namespace {

// Walks `seats` (ascending) as runs that share one word: calls fn(word_index, mask, begin, end)
// for each run; stops early when fn returns false. Returns the index where it stopped.
template <typename Fn>
size_t for_each_word(std::span<const uint32_t> seats, size_t begin, size_t end, Fn&& fn) {
  size_t i = begin;
  while (i < end) {
    const uint32_t word_index = word_of(seats[i]);
    uint64_t mask = 0;
    size_t j = i;
    for (; j < end && word_of(seats[j]) == word_index; ++j) {
      BOXOFFICE_ASSERT(j == i || seats[j] > seats[j - 1]);
      mask |= mask_of(seats[j]);
    }
    if (!fn(word_index, mask, i, j)) return i;
    i = j;
  }
  return end;
}

}  // namespace

AcquireResult acquire_seats(Word* words, std::span<const uint32_t> seats,
                            std::span<uint32_t> conflicts) {
  AcquireResult result;
  uint64_t conflict_word_value = 0;
  const size_t stopped = for_each_word(
      seats, 0, seats.size(), [&](uint32_t word_index, uint64_t mask, size_t, size_t) {
        uint64_t current = words[word_index].load(std::memory_order_relaxed);
        for (;;) {
          if (current & mask) {
            conflict_word_value = current;
            return false;
          }
          if (words[word_index].compare_exchange_weak(
                  current, current | mask, std::memory_order_acquire, std::memory_order_relaxed)) {
            return true;
          }
        }
      });
  if (stopped == seats.size()) {
    result.acquired = true;
    return result;
  }

  // Roll back the words set before the conflicting one.
  for_each_word(seats, 0, stopped, [&](uint32_t word_index, uint64_t mask, size_t, size_t) {
    const uint64_t before = words[word_index].fetch_and(~mask, std::memory_order_release);
    BOXOFFICE_ASSERT((before & mask) == mask);
    return true;
  });

  // Report the seats seen set: exactly those in the conflicting word, then a snapshot of the rest.
  auto report = [&](uint32_t seat) {
    if (result.conflict_count < conflicts.size()) conflicts[result.conflict_count] = seat;
    ++result.conflict_count;
  };
  size_t i = stopped;
  const uint32_t conflict_word = word_of(seats[stopped]);
  for (; i < seats.size() && word_of(seats[i]) == conflict_word; ++i) {
    if (conflict_word_value & mask_of(seats[i])) report(seats[i]);
  }
  for (; i < seats.size(); ++i) {
    if (test_bit(words, seats[i])) report(seats[i]);
  }
  if (result.conflict_count > conflicts.size()) {
    result.conflict_count = static_cast<uint32_t>(conflicts.size());
  }
  return result;
}

void release_seats(Word* words, std::span<const uint32_t> seats) {
  for_each_word(seats, 0, seats.size(), [&](uint32_t word_index, uint64_t mask, size_t, size_t) {
    const uint64_t before = words[word_index].fetch_and(~mask, std::memory_order_release);
    BOXOFFICE_ASSERT((before & mask) == mask);  // releasing a seat we do not own is a bug
    return true;
  });
}

void set_bits(Word* words, std::span<const uint32_t> seats) {
  for_each_word(seats, 0, seats.size(), [&](uint32_t word_index, uint64_t mask, size_t, size_t) {
    words[word_index].fetch_or(mask, std::memory_order_release);
    return true;
  });
}

void clear_bits(Word* words, std::span<const uint32_t> seats) {
  for_each_word(seats, 0, seats.size(), [&](uint32_t word_index, uint64_t mask, size_t, size_t) {
    words[word_index].fetch_and(~mask, std::memory_order_release);
    return true;
  });
}

namespace {

// Mask of the bits of word `word_index` that fall inside [first_bit, end_bit).
uint64_t range_mask(uint32_t word_index, uint32_t first_bit, uint32_t end_bit) {
  const uint64_t word_first = uint64_t{word_index} * kBitsPerWord;
  const uint64_t lo = first_bit > word_first ? first_bit - word_first : 0;
  const uint64_t hi = end_bit - word_first >= kBitsPerWord ? kBitsPerWord : end_bit - word_first;
  BOXOFFICE_ASSERT(lo < hi);
  const uint64_t upper = hi == kBitsPerWord ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
  return upper & ~((uint64_t{1} << lo) - 1);
}

}  // namespace

int64_t acquire_any_bit(Word* words, uint32_t first_bit, uint32_t end_bit, uint32_t hint_bit) {
  if (first_bit >= end_bit) return -1;
  if (hint_bit < first_bit || hint_bit >= end_bit) hint_bit = first_bit;
  const uint32_t first_word = word_of(first_bit);
  const uint32_t end_word = word_of(end_bit - 1) + 1;
  const uint32_t word_total = end_word - first_word;
  const uint32_t start = word_of(hint_bit) - first_word;
  // Visit the hint's word from the hint upwards, every other word once, then the bits of the
  // hint's word below the hint: bits are handed out round-robin, so a freed bit (a hold slot)
  // is reused as late as possible.
  for (uint32_t n = 0; n <= word_total; ++n) {
    const uint32_t word_index = first_word + (start + n) % word_total;
    uint64_t allowed = range_mask(word_index, first_bit, end_bit);
    const uint64_t at_or_above_hint = ~uint64_t{0} << (hint_bit % kBitsPerWord);
    if (n == 0) allowed &= at_or_above_hint;
    if (n == word_total) allowed &= ~at_or_above_hint;
    uint64_t current = words[word_index].load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t free_bits = ~current & allowed;
      if (free_bits == 0) break;
      const uint64_t bit = free_bits & (~free_bits + 1);  // lowest free bit
      if (words[word_index].compare_exchange_weak(current, current | bit, std::memory_order_acquire,
                                                  std::memory_order_relaxed)) {
        return int64_t{word_index} * kBitsPerWord + std::countr_zero(bit);
      }
    }
  }
  return -1;
}

uint32_t count_bits(const Word* words, uint32_t first_bit, uint32_t end_bit) {
  if (first_bit >= end_bit) return 0;
  uint32_t total = 0;
  for (uint32_t w = word_of(first_bit); w <= word_of(end_bit - 1); ++w) {
    total +=
        std::popcount(words[w].load(std::memory_order_acquire) & range_mask(w, first_bit, end_bit));
  }
  return total;
}

void copy_free_bits(const Word* words, uint32_t first_bit, uint32_t end_bit,
                    std::span<uint8_t> out) {
  const uint32_t bit_total = end_bit > first_bit ? end_bit - first_bit : 0;
  BOXOFFICE_ASSERT(out.size() >= (bit_total + 7) / 8);
  std::fill(out.begin(), out.begin() + (bit_total + 7) / 8, uint8_t{0});
  for (uint32_t i = 0; i < bit_total;) {
    const uint32_t bit = first_bit + i;
    const uint64_t value = words[word_of(bit)].load(std::memory_order_acquire);
    const uint32_t in_word = bit % kBitsPerWord;
    const uint32_t take = std::min(kBitsPerWord - in_word, bit_total - i);
    uint64_t free_bits = ~value >> in_word;
    if (take < kBitsPerWord) free_bits &= (uint64_t{1} << take) - 1;
    // Output bit i is bit i % 8 of byte i / 8: OR the word in at that bit offset, a byte at a
    // time (at most 9 bytes for 64 bits; a map of 100k seats was 1 ms bit by bit).
    const uint32_t shift = i % 8;
    const unsigned __int128 shifted = static_cast<unsigned __int128>(free_bits) << shift;
    uint8_t* byte = out.data() + i / 8;
    for (uint32_t b = 0; b < (shift + take + 7) / 8; ++b) {
      byte[b] |= static_cast<uint8_t>(shifted >> (8 * b));
    }
    i += take;
  }
}

}  // namespace boxoffice::shm
