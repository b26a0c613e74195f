#include "net/seat_feed.h"

#include "shm/check.h"

namespace boxoffice::net {

SeatFeed::SeatFeed(uint32_t events_max)
    : events_max_(events_max), rings_(new std::atomic<Ring*>[events_max]) {
  for (uint32_t i = 0; i < events_max; ++i) rings_[i].store(nullptr, std::memory_order_relaxed);
}

SeatFeed::~SeatFeed() {
  for (uint32_t i = 0; i < events_max_; ++i) delete rings_[i].load();
}

uint64_t SeatFeed::watch(uint32_t event_index) {
  BOXOFFICE_ASSERT(event_index < events_max_);
  std::lock_guard<std::mutex> lock(watch_mutex_);
  Ring* ring = rings_[event_index].load(std::memory_order_acquire);
  if (ring == nullptr) {
    ring = new Ring();  // once per watched event, off the booking path
    rings_[event_index].store(ring, std::memory_order_release);
  }
  return ring->next.load(std::memory_order_acquire);
}

void SeatFeed::seats_changed(uint32_t event_index, std::span<const uint32_t> seats,
                             SeatState state) {
  if (event_index >= events_max_) return;
  Ring* ring = rings_[event_index].load(std::memory_order_acquire);
  if (ring == nullptr) return;  // nobody watches this event
  BOXOFFICE_ASSERT(seats.size() <= shm::kSeatsPerHoldMax);
  const uint64_t n = ring->next.fetch_add(1, std::memory_order_acq_rel);
  Record& record = ring->records[n % kRecords];
  // Claim the record unless a writer a whole ring later already has (we were preempted that
  // long): then this change is simply lost to readers, and the record's seq never goes back.
  uint64_t seq = record.seq.load(std::memory_order_relaxed);
  do {
    if (seq > 2 * n + 1) return;
  } while (!record.seq.compare_exchange_weak(seq, 2 * n + 1, std::memory_order_relaxed));
  // Release stores: a reader that sees any field also sees the odd seq before it.
  record.state_and_count.store(
      (static_cast<uint32_t>(state) << 16) | static_cast<uint32_t>(seats.size()),
      std::memory_order_release);
  for (size_t i = 0; i < seats.size(); ++i) {
    record.seats[i].store(seats[i], std::memory_order_release);
  }
  uint64_t odd = 2 * n + 1;
  record.seq.compare_exchange_strong(odd, 2 * n + 2, std::memory_order_release,
                                     std::memory_order_relaxed);
}

bool SeatFeed::load(const Record& record, uint64_t n, Change* change) const {
  const uint32_t packed = record.state_and_count.load(std::memory_order_acquire);
  change->state = static_cast<SeatState>(packed >> 16);
  change->count = std::min<uint32_t>(packed & 0xFFFF, shm::kSeatsPerHoldMax);
  for (uint32_t i = 0; i < change->count; ++i) {
    change->seats[i] = record.seats[i].load(std::memory_order_acquire);
  }
  // Still record n after the loads (acquire loads keep this one after them): not torn.
  return record.seq.load(std::memory_order_relaxed) == 2 * n + 2;
}

}  // namespace boxoffice::net
