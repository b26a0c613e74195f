// IdempotencyTable: remembers the outcome of buy / hold.confirm per idempotency key in the seat
// table, so a retried request returns the first outcome and never a second ticket, across
// process crashes too.
//
// Keys are global (not per event): a client uses one key per purchase attempt, and a confirm
// retried with a token whose hold slot was since reused must still find its first outcome.
// Open addressing with linear probing (at most kProbeMax entries) on a 64-bit hash of the key. An
// entry is claimed with one CAS on its hash word, filled, then published with a release store of
// its state; it never moves or changes key afterwards, so readers compare keys without locks. Keys
// are kept for the life of the table file; when the probe window is full, claim() answers kFull and
// the caller reports LIMIT_EXCEEDED.
//
// Thread safety: all methods may run concurrently from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "shm/seat_table.h"

namespace boxoffice {

class IdempotencyTable {
 public:
  explicit IdempotencyTable(shm::SeatTable* table) : table_(table) {}

  enum class Claim {
    kOwned,       // caller runs the operation, then calls finish() or abandon()
    kReplay,      // the key has an outcome: read it with entry()
    kInProgress,  // another request with this key is running: answer BUSY
    kFull,        // no free entry in the probe window
  };
  static constexpr uint32_t kProbeMax = 64;

  Claim claim(std::string_view key, int64_t now_ms, uint32_t* entry_index);
  // Records the outcome (error_code 0 with tickets, or an error) and publishes it.
  void finish(uint32_t entry_index, uint32_t event_index, uint32_t error_code,
              std::span<const uint32_t> seats, std::span<const uint64_t> nonces);
  // The operation failed transiently (BUSY, INTERNAL): the next request with the key reruns it.
  void abandon(uint32_t entry_index);
  // Recovery only (no request running): the entries with `hash` in its probe window that a
  // dead request left claimed (published or not) are released so the key can run again.
  // Returns how many.
  uint32_t recover_claims(uint64_t hash);
  const shm::IdempotencyEntry& entry(uint32_t entry_index) {
    return table_->idempotency(entry_index);
  }

  static uint64_t hash(std::string_view key);

 private:
  shm::SeatTable* table_;
};

}  // namespace boxoffice
