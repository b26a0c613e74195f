// ticket_slot: the seqlock around a seat's TicketSlot (table_format.h).
//
// Writers (the confirmer of the seat, or a void) take the slot by moving `seq` from even to odd
// with a CAS, store the fields, and release it with seq + 1 (even again, release order).
// Readers copy the fields between two loads of `seq` and retry when it moved or was odd: they
// never block writers. Every field is an atomic (stored with release, loaded with acquire, which
// orders them against `seq` without fences), so the protocol is race-free in the C++ model and
// under ThreadSanitizer. On x86 these are plain moves.
//
// Thread safety: any thread; writers of the same slot exclude each other through `seq`.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/table_format.h"

namespace boxoffice::shm {

struct TicketRecord {
  uint64_t nonce = 0;
  TicketStatus status = TicketStatus::kNone;
  uint32_t generation = 0;
  int64_t price_cents = 0;
  int64_t sold_at_ms = 0;
  int64_t voided_at_ms = 0;
  uint64_t idempotency_hash = 0;
  uint32_t buyer_bytes = 0;
  char buyer[kBuyerRefBytesMax] = {};
};

// Takes the slot for writing (spins while another writer holds it; writers hold it for a few
// stores only). Returns the record as it was.
TicketRecord lock_ticket(TicketSlot& slot);
// Stores `record` and releases the slot.
void unlock_ticket(TicketSlot& slot, const TicketRecord& record);
// Consistent snapshot of the slot.
TicketRecord read_ticket(const TicketSlot& slot);

// True when the slot was left locked (a writer died): only recovery looks at this.
inline bool ticket_locked(const TicketSlot& slot) {
  return (slot.seq.load(std::memory_order_acquire) & 1) != 0;
}
// Recovery only (no other thread running): clears a lock left by a dead writer. The ticket
// becomes kValid when `keep_valid` (an unfinished void), else kNone (an unfinished sale).
void recover_ticket(TicketSlot& slot, bool keep_valid);

}  // namespace boxoffice::shm
