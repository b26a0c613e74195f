// table_format: the byte layout of the seat table file (format version 2).
//
// The file is mapped MAP_SHARED by one process at a time; every field that threads share after
// start-up is a lock-free std::atomic (static_asserts below), so the same bytes are valid in the
// file and in memory. Sections, in file order, each 4 KiB aligned:
//
//   TableHeader        magic, version, geometry, section offsets, CRC32C of all of that
//   EventSlot[events_max]                  event directory
//   CommitIntent[workers_max]              per-worker record of a sale being committed
//   Word[holds_max / 64]                   hold slot allocation bitmap
//   HoldSlot[holds_max]                    holds, shared by all events
//   IdempotencyEntry[idempotency_entries_max]
//   arena                                  per-event regions, bump-allocated at event creation:
//                                          counters, taken/sold bitmaps, seat slots, layout
//
// Changing any struct here, or the meaning of a field, changes the format: bump kFormatVersion.
// Version 2: TicketSlot's owner deadline counts 16 ms ticks instead of seconds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/seat_bitmap.h"

namespace boxoffice::shm {

inline constexpr char kMagic[8] = {'B', 'O', 'X', 'O', 'F', 'F', 'I', 'C'};
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint64_t kSectionAlignBytes = 4096;

// Compile-time ceilings of the format; run-time limits may be lower but never higher.
inline constexpr uint32_t kSeatsPerHoldMax = 32;  // seats in one hold or one sale
inline constexpr uint32_t kEventIdBytesMax = 64;
inline constexpr uint32_t kVenueIdBytesMax = 64;
inline constexpr uint32_t kIdempotencyKeyBytesMax = 64;
inline constexpr uint32_t kBuyerRefBytesMax = 56;
inline constexpr int64_t kOwnerDeadlineTickMs = 16;  // unit of TicketSlot::owner_deadline_ticks
inline constexpr uint32_t kWorkersMax = 64;
inline constexpr uint32_t kEventsMax = 65535;    // event index fits 16 bits of a ticket id
inline constexpr uint32_t kHoldsMax = 1u << 24;  // hold index fits a token's 24-bit field
inline constexpr uint32_t kHoldVersionBits = 20;
// Hold deadlines count from a day before the table was made, so a wall clock stepped back
// (NTP) after creation still yields deadlines after the epoch.
inline constexpr int64_t kEpochSlackMs = 24 * 3600 * 1000;

// Sizes chosen when the file is created; stored in the header and covered by its checksum.
struct TableGeometry {
  uint32_t events_max = 0;
  uint32_t workers_max = 0;
  uint32_t holds_max = 0;                // multiple of 64
  uint32_t idempotency_entries_max = 0;  // power of two
  uint64_t arena_bytes = 0;
  bool operator==(const TableGeometry&) const = default;
};

struct TableHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_bytes;  // sizeof(TableHeader), guards against struct drift
  TableGeometry geometry;
  uint64_t file_bytes;
  int64_t created_at_ms;  // creation time - kEpochSlackMs: the epoch of hold
                          // expiry times (HoldControl)
  uint64_t events_offset;
  uint64_t intents_offset;
  uint64_t hold_bitmap_offset;
  uint64_t holds_offset;
  uint64_t idempotency_offset;
  uint64_t arena_offset;
  uint32_t checksum;  // CRC32C of every byte before this field
  uint32_t reserved;
  // Mutable state, outside the checksum.
  alignas(64) std::atomic<uint64_t> attach_count;  // incremented at every attach
  std::atomic<uint64_t> arena_used_bytes;          // bump pointer of the arena
  std::atomic<uint32_t> events_used;               // directory slots [0, events_used) are taken
};

enum class EventState : uint32_t {
  kAbsent = 0,
  kCreating = 1,
  kOpen = 2,
  kPaused = 3,
  kClosed = 4
};

// Per-event counters, one cache line per worker; each line has a single writer (that worker),
// readers sum the lines. Values may be negative on one line (held on one worker, confirmed on
// another); only the sum is meaningful.
struct alignas(64) WorkerCounters {
  std::atomic<int64_t> seats_held;
  std::atomic<int64_t> seats_sold;
  std::atomic<int64_t> revenue_cents;
  std::atomic<int64_t> holds_created;
  std::atomic<int64_t> holds_expired;
  std::atomic<int64_t> holds_released;
  std::atomic<int64_t> tickets_voided;
  std::atomic<int64_t> reserved;
};

// A directory entry. Immutable once `state` leaves kCreating, except `state` itself.
struct alignas(64) EventSlot {
  std::atomic<uint32_t> state;  // EventState
  uint32_t seat_count;
  uint32_t id_bytes;
  uint32_t venue_bytes;
  char id[kEventIdBytesMax];
  char venue[kVenueIdBytesMax];
  int64_t created_at_ms;
  uint64_t counters_offset;  // WorkerCounters[workers_max]
  uint64_t taken_offset;     // Word[word_count_for(seat_count)]
  uint64_t sold_offset;      // Word[...]
  uint64_t tickets_offset;   // TicketSlot[seat_count], one per seat
  uint64_t layout_offset;    // layout document (JSON text) the event was made from
  uint64_t layout_bytes;
};

// Hold control word: version (20 bits) | state (4 bits) | expires_at (40 bits, ms since
// TableHeader::created_at_ms). One CAS moves a hold between states, so confirm, release, extend
// and expiry race safely; the version makes a stale token miss a reused slot.
enum class HoldState : uint32_t {
  kFree = 0,  // never used, or reused after one of the end states below
  kActive = 1,
  kConfirming = 2,  // a worker is turning it into tickets
  kReleasing = 3,   // a worker is freeing its seats (release or expiry)
  kConfirmed = 4,   // ended: tickets sold
  kReleased = 5,    // ended: released by the client
  kExpired = 6,     // ended: timed out
};

struct HoldControl {
  static constexpr uint64_t kExpiresBits = 40;
  static constexpr uint64_t kStateBits = 4;
  uint32_t version;
  HoldState state;
  uint64_t expires_at_rel_ms;

  static HoldControl decode(uint64_t word) {
    return {static_cast<uint32_t>(word >> (kExpiresBits + kStateBits)),
            static_cast<HoldState>((word >> kExpiresBits) & ((1u << kStateBits) - 1)),
            word & ((uint64_t{1} << kExpiresBits) - 1)};
  }
  uint64_t encode() const {
    return (uint64_t{version} << (kExpiresBits + kStateBits)) |
           (uint64_t(static_cast<uint32_t>(state)) << kExpiresBits) |
           (expires_at_rel_ms & ((uint64_t{1} << kExpiresBits) - 1));
  }
};

struct alignas(64) HoldSlot {
  std::atomic<uint64_t> control;  // HoldControl
  std::atomic<uint64_t> secret;   // random half of the hold token
  std::atomic<uint32_t> event_index;
  std::atomic<uint32_t> seat_count;
  std::atomic<int64_t> created_at_ms;
  std::atomic<uint32_t> seats[kSeatsPerHoldMax];  // ascending
};

// A seat's slot: the hold that last locked it (`owner`) and its current (or last) ticket. The
// ticket is written under a seqlock by whoever owns the seat's taken bit; `seq` is odd while
// written. The ticket id is (event, seat, nonce); nonce 0 = none. One slot per seat, cache-line
// aligned, so threads booking neighbouring seats never write the same line (a packed owner
// array would put 16 neighbours on one line).
enum class TicketStatus : uint32_t { kNone = 0, kValid = 1, kVoided = 2 };

struct alignas(64) TicketSlot {
  std::atomic<uint64_t> seq;
  std::atomic<uint64_t> nonce;
  std::atomic<uint64_t> status_word;  // generation (32) | buyer bytes (8) | status (8)
  std::atomic<int64_t> price_cents;
  std::atomic<int64_t> sold_at_ms;
  std::atomic<int64_t> voided_at_ms;
  std::atomic<uint64_t> idempotency_hash;  // 0 when the sale had no key
  std::atomic<uint64_t> buyer[kBuyerRefBytesMax / 8];
  std::atomic<uint32_t> owner;                 // hint: hold index + 1 of the last hold that locked
                                               // the seat (0: none, or sold since); believe it
                                               // only while that hold is active and lists the seat
  std::atomic<uint32_t> owner_deadline_ticks;  // hint: that hold's first deadline in ticks
                                               // since the table's epoch, rounded up, at most
                                               // UINT32_MAX (extending only moves the real
                                               // one later)
};

// The record of a multi-seat sale between "tickets written" and "sold bits set", so a crash in
// between is rolled forward at attach and a sale is never half-visible.
enum class IntentState : uint32_t { kIdle = 0, kCommitting = 1 };

// The same per-worker record names the idempotency entry the worker has claimed and not yet
// finished (at most one at a time), so recovery finds pending keys without scanning the table.
struct alignas(64) CommitIntent {
  std::atomic<uint32_t> state;                         // IntentState
  std::atomic<uint32_t> pending_idempotency_plus_one;  // claimed entry, 0 = none
  std::atomic<uint64_t> pending_key_hash;              // set just before claiming, 0 = none
  uint32_t event_index;
  uint32_t hold_index_plus_one;  // 0 for a direct buy
  uint32_t hold_version;
  uint32_t seat_count;
  uint32_t seats[kSeatsPerHoldMax];
  uint64_t nonces[kSeatsPerHoldMax];  // the tickets written: roll forward only these
};

// Idempotency table: open addressing on the key hash, entries never move once claimed.
enum class IdempotencyState : uint32_t {
  kEmpty = 0,      // free, or claimed (key_hash set) with the key still being written
  kPending = 1,    // the operation runs
  kDone = 2,       // outcome recorded; retries return it
  kAbandoned = 3,  // the operation failed transiently; the next request with the key reruns it
};

struct alignas(64) IdempotencyEntry {
  std::atomic<uint64_t> key_hash;  // 0 = empty slot (hashes are forced non-zero)
  std::atomic<uint32_t> state;     // IdempotencyState
  uint32_t event_index;
  uint32_t key_bytes;
  uint32_t error_code;  // outcome when kDone: 0 = tickets below, else the code
  uint32_t ticket_count;
  uint32_t reserved;
  int64_t created_at_ms;
  char key[kIdempotencyKeyBytesMax];
  uint32_t seats[kSeatsPerHoldMax];
  uint64_t nonces[kSeatsPerHoldMax];
};

static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(sizeof(TicketSlot) == 128);
// A hold touches only the owner hint, a sale mostly the ticket: the engine prefetches each line.
static_assert(offsetof(TicketSlot, owner) / 64 == 1 &&
              offsetof(TicketSlot, owner_deadline_ticks) / 64 == 1);
static_assert(sizeof(WorkerCounters) == 64);

}  // namespace boxoffice::shm
