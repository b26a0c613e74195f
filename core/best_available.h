// best_available: choosing seats for "give me the best N seats" requests.
//
// Within one row, a block of N adjacent free seats is chosen so that it leaves no single free
// seat stranded between taken ones (an "orphan", which nobody buying in pairs can use) whenever
// another choice in that row exists, and otherwise as near the row's centre as possible. The
// engine walks rows front to back and takes the first row with an orphan-free block, falling
// back to the first block that does leave an orphan only when no row has an orphan-free one.
//
// Thread safety: reads the taken bitmap with acquire loads; the answer is a snapshot that the
// caller must still lock with shm::acquire_seats (which may fail if the seats went meanwhile).
#pragma once

#include <cstdint>

#include "shm/seat_bitmap.h"

namespace boxoffice {

struct RowPick {
  bool found = false;
  bool leaves_orphan = false;
  uint32_t first_seat = 0;            // seat index of the block's first seat
  uint32_t distance_from_centre = 0;  // in half-seats
};

// Best block of `count` adjacent free seats among seats [row_first, row_first + row_seats).
RowPick pick_in_row(const shm::Word* taken, uint32_t row_first, uint32_t row_seats, uint32_t count);

}  // namespace boxoffice
