#include "core/best_available.h"

#include <algorithm>
#include <cstdlib>

namespace boxoffice {
namespace {

// Offers the block starting at the clamp of `target` into [lo, hi] (row-relative) to `best`.
void offer(uint32_t lo, uint32_t hi, uint32_t target, uint32_t count, uint32_t row_seats,
           bool orphan, RowPick* best) {
  const uint32_t p = std::clamp(target, lo, hi);
  const int64_t distance = std::llabs(int64_t{2} * p + count - row_seats);
  const bool better = !best->found || (best->leaves_orphan && !orphan) ||
                      (best->leaves_orphan == orphan && distance < best->distance_from_centre);
  if (better) {
    best->found = true;
    best->leaves_orphan = orphan;
    best->first_seat = p;
    best->distance_from_centre = static_cast<uint32_t>(distance);
  }
}

// Considers the free run [a, b) (row-relative).
void consider_run(uint32_t a, uint32_t b, uint32_t count, uint32_t row_seats, RowPick* best) {
  const uint32_t length = b - a;
  if (length < count) return;
  const uint32_t target = (row_seats - count) / 2;
  const uint32_t spare = length - count;
  if (spare == 1) {
    // Either end leaves exactly one seat free next to the block.
    offer(a, a + 1, target, count, row_seats, /*orphan=*/true, best);
    return;
  }
  // spare == 0: the run is filled exactly. spare >= 2: flush left, flush right, or any block
  // with at least two free seats on both sides.
  offer(a, a, target, count, row_seats, false, best);
  offer(b - count, b - count, target, count, row_seats, false, best);
  if (spare >= 4) offer(a + 2, b - count - 2, target, count, row_seats, false, best);
}

}  // namespace

RowPick pick_in_row(const shm::Word* taken, uint32_t row_first, uint32_t row_seats,
                    uint32_t count) {
  RowPick best;
  if (count == 0 || count > row_seats) return best;
  uint32_t run_start = 0;
  bool in_run = false;
  for (uint32_t i = 0; i < row_seats;) {
    const uint32_t seat = row_first + i;
    const uint64_t word = taken[shm::word_of(seat)].load(std::memory_order_acquire);
    const uint32_t in_word = seat % shm::kBitsPerWord;
    const uint32_t span = std::min(shm::kBitsPerWord - in_word, row_seats - i);
    const uint64_t span_mask =
        (span == shm::kBitsPerWord ? ~uint64_t{0} : (uint64_t{1} << span) - 1) << in_word;
    if ((word & span_mask) == span_mask) {  // all taken: a run (if any) ends here
      if (in_run) consider_run(run_start, i, count, row_seats, &best);
      in_run = false;
      i += span;
      continue;
    }
    if ((word & span_mask) == 0) {  // all free: a run starts or goes on
      if (!in_run) run_start = i;
      in_run = true;
      i += span;
      continue;
    }
    for (uint32_t k = 0; k < span; ++k) {
      const bool free = ((word >> (in_word + k)) & 1) == 0;
      if (free && !in_run) {
        in_run = true;
        run_start = i + k;
      } else if (!free && in_run) {
        in_run = false;
        consider_run(run_start, i + k, count, row_seats, &best);
      }
    }
    i += span;
  }
  if (in_run) consider_run(run_start, row_seats, count, row_seats, &best);
  if (best.found) best.first_seat += row_first;
  return best;
}

}  // namespace boxoffice
