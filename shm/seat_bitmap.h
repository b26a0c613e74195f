// seat_bitmap: lock-free operations on bitmaps of 64-bit atomic words.
//
// A seat table keeps, per event, a `taken` bitmap (1 = held or sold; this bit IS the seat lock)
// and a `sold` bitmap. Every compare-and-swap loop and memory order of the booking path lives
// here, so it can be reasoned about and tested in one place.
//
// Thread safety: every function may be called from any thread on the same words concurrently.
//
// Memory orders (why each is enough):
//  - acquire_seats: a successful CAS uses acquire. The thread that last cleared those bits did
//    so with release after finishing its writes to the seats' owner/ticket slots, so the new
//    owner sees them before it writes its own. A failed CAS only re-reads: relaxed.
//  - release_seats / clear_bits: fetch_and with release, publishing every write the owner made
//    to the seats' slots to whoever acquires the bits next.
//  - set_bits (the `sold` bitmap): fetch_or with release, so a reader that loads the word with
//    acquire and sees the bit also sees the ticket written before it.
//  - rollback of a partially acquired set: fetch_and with release (nothing was written to the
//    seats in between, but release keeps the rule "every clear is a release" without exception).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace boxoffice::shm {

using Word = std::atomic<uint64_t>;
static_assert(Word::is_always_lock_free, "seat bitmaps need lock-free 64-bit atomics");

inline constexpr uint32_t kBitsPerWord = 64;

constexpr uint32_t word_count_for(uint32_t bit_count) {
  return (bit_count + kBitsPerWord - 1) / kBitsPerWord;
}
constexpr uint32_t word_of(uint32_t bit) { return bit / kBitsPerWord; }
constexpr uint64_t mask_of(uint32_t bit) { return uint64_t{1} << (bit % kBitsPerWord); }

// Outcome of acquire_seats. On conflict, `conflicts` holds the requested seats that were found
// set (all of them in the first conflicting word, so the caller can report them).
struct AcquireResult {
  bool acquired = false;
  uint32_t conflict_count = 0;
};

// Sets the bits of `seats` (strictly ascending seat indices) all-or-nothing: one CAS per word
// touched, rolling back the words already set if any bit in a later word is found set. Seats
// found set are written to `conflicts` (up to its size). Never blocks; retries a word only when
// it changed under us without conflicting with our bits.
AcquireResult acquire_seats(Word* words, std::span<const uint32_t> seats,
                            std::span<uint32_t> conflicts);

// Clears the bits of `seats` (ascending). The caller must own them (acquired earlier).
void release_seats(Word* words, std::span<const uint32_t> seats);

// Sets / clears bits unconditionally, one atomic RMW per word touched (seats ascending).
void set_bits(Word* words, std::span<const uint32_t> seats);
void clear_bits(Word* words, std::span<const uint32_t> seats);

inline bool test_bit(const Word* words, uint32_t bit) {
  return (words[word_of(bit)].load(std::memory_order_acquire) & mask_of(bit)) != 0;
}

// Tries to set one clear bit in [first_bit, end_bit): the first clear bit at or after
// `hint_bit`, wrapping round once. Returns the bit set, or -1 if every bit in range was set.
int64_t acquire_any_bit(Word* words, uint32_t first_bit, uint32_t end_bit, uint32_t hint_bit);

// Number of set bits in [first_bit, end_bit).
uint32_t count_bits(const Word* words, uint32_t first_bit, uint32_t end_bit);

// Copies the complement of bits [first_bit, end_bit) (i.e. the free seats) into `out`,
// bit i of the range at out[i / 8] bit (i % 8). `out` must hold (end-first+7)/8 bytes.
void copy_free_bits(const Word* words, uint32_t first_bit, uint32_t end_bit,
                    std::span<uint8_t> out);

}  // namespace boxoffice::shm
