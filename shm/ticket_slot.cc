#include "shm/ticket_slot.h"

#include <cstring>
#include <thread>

#include "shm/check.h"

namespace boxoffice::shm {
namespace {

constexpr uint64_t kStatusBits = 8;
constexpr uint64_t kBuyerBytesBits = 8;

uint64_t pack_status(const TicketRecord& r) {
  return (uint64_t{r.generation} << (kStatusBits + kBuyerBytesBits)) |
         (uint64_t{r.buyer_bytes} << kStatusBits) | static_cast<uint64_t>(r.status);
}

// Loads every field with acquire, so the reader's second load of `seq` cannot move before them
// (this replaces a fence, which ThreadSanitizer does not model).
TicketRecord load_fields(const TicketSlot& slot) {
  TicketRecord r;
  r.nonce = slot.nonce.load(std::memory_order_acquire);
  const uint64_t status = slot.status_word.load(std::memory_order_acquire);
  r.status = static_cast<TicketStatus>(status & 0xFF);
  r.buyer_bytes = static_cast<uint32_t>((status >> kStatusBits) & 0xFF);
  r.generation = static_cast<uint32_t>(status >> (kStatusBits + kBuyerBytesBits));
  r.price_cents = slot.price_cents.load(std::memory_order_acquire);
  r.sold_at_ms = slot.sold_at_ms.load(std::memory_order_acquire);
  r.voided_at_ms = slot.voided_at_ms.load(std::memory_order_acquire);
  r.idempotency_hash = slot.idempotency_hash.load(std::memory_order_acquire);
  if (r.buyer_bytes > kBuyerRefBytesMax) r.buyer_bytes = kBuyerRefBytesMax;  // torn read
  for (uint32_t w = 0; w < kBuyerRefBytesMax / 8; ++w) {
    const uint64_t word = slot.buyer[w].load(std::memory_order_acquire);
    std::memcpy(r.buyer + 8 * w, &word, 8);
  }
  return r;
}

// Stores every field with release: a reader that loads a field with acquire and sees this
// store also sees everything before it, the odd `seq` included (the writer's CAS on `seq` is
// an acquire, so no field store moves before it either).
void store_fields(TicketSlot& slot, const TicketRecord& r) {
  BOXOFFICE_ASSERT(r.buyer_bytes <= kBuyerRefBytesMax);
  slot.nonce.store(r.nonce, std::memory_order_release);
  slot.status_word.store(pack_status(r), std::memory_order_release);
  slot.price_cents.store(r.price_cents, std::memory_order_release);
  slot.sold_at_ms.store(r.sold_at_ms, std::memory_order_release);
  slot.voided_at_ms.store(r.voided_at_ms, std::memory_order_release);
  slot.idempotency_hash.store(r.idempotency_hash, std::memory_order_release);
  for (uint32_t w = 0; w < kBuyerRefBytesMax / 8; ++w) {
    uint64_t word;
    std::memcpy(&word, r.buyer + 8 * w, 8);
    slot.buyer[w].store(word, std::memory_order_release);
  }
}

}  // namespace

TicketRecord lock_ticket(TicketSlot& slot) {
  uint64_t seq = slot.seq.load(std::memory_order_relaxed);
  for (uint32_t spins = 0;; ++spins) {
    if ((seq & 1) == 0 && slot.seq.compare_exchange_weak(seq, seq + 1, std::memory_order_acquire,
                                                         std::memory_order_relaxed)) {
      break;
    }
    if (spins > 64) std::this_thread::yield();
    seq = slot.seq.load(std::memory_order_relaxed);
  }
  return load_fields(slot);
}

void unlock_ticket(TicketSlot& slot, const TicketRecord& record) {
  const uint64_t seq = slot.seq.load(std::memory_order_relaxed);
  BOXOFFICE_ASSERT(seq & 1);
  store_fields(slot, record);
  slot.seq.store(seq + 1, std::memory_order_release);
}

TicketRecord read_ticket(const TicketSlot& slot) {
  for (;;) {
    const uint64_t before = slot.seq.load(std::memory_order_acquire);
    if (before & 1) {
      std::this_thread::yield();
      continue;
    }
    TicketRecord r = load_fields(slot);
    if (slot.seq.load(std::memory_order_relaxed) == before) return r;
  }
}

void recover_ticket(TicketSlot& slot, bool keep_valid) {
  const uint64_t seq = slot.seq.load(std::memory_order_relaxed);
  TicketRecord record = load_fields(slot);
  record.status = keep_valid ? TicketStatus::kValid : TicketStatus::kNone;
  if (!keep_valid) record.nonce = 0;
  store_fields(slot, record);
  slot.seq.store((seq | 1) + 1, std::memory_order_release);
}

}  // namespace boxoffice::shm
