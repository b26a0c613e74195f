#include "core/idempotency.h"

#include <cstring>

#include "shm/check.h"

namespace boxoffice {

using shm::IdempotencyEntry;
using shm::IdempotencyState;

uint64_t IdempotencyTable::hash(std::string_view key) {
  // FNV-1a over the key, then a murmur-style finalizer to spread low bits.
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix_byte = [&](uint8_t b) { h = (h ^ b) * 0x100000001b3ull; };
  for (char c : key) mix_byte(static_cast<uint8_t>(c));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;  // 0 marks an empty entry
}

IdempotencyTable::Claim IdempotencyTable::claim(std::string_view key, int64_t now_ms,
                                                uint32_t* entry_index) {
  BOXOFFICE_ASSERT(!key.empty() && key.size() <= shm::kIdempotencyKeyBytesMax);
  const uint64_t h = hash(key);
  const uint32_t mask = table_->geometry().idempotency_entries_max - 1;
  for (uint32_t probe = 0; probe < kProbeMax; ++probe) {
    const uint32_t index = static_cast<uint32_t>(h + probe) & mask;
    IdempotencyEntry& e = table_->idempotency(index);
    uint64_t found = e.key_hash.load(std::memory_order_acquire);
    if (found == 0) {
      if (e.key_hash.compare_exchange_strong(found, h, std::memory_order_acq_rel)) {
        // Ours: fill in the key, then publish. Readers look at the key only after the state.
        e.key_bytes = static_cast<uint32_t>(key.size());
        std::memcpy(e.key, key.data(), key.size());
        e.created_at_ms = now_ms;
        e.state.store(static_cast<uint32_t>(IdempotencyState::kPending), std::memory_order_release);
        *entry_index = index;
        return Claim::kOwned;
      }
      // Lost the race for this entry; `found` now holds the winner's hash.
    }
    if (found != h) continue;
    auto state = static_cast<IdempotencyState>(e.state.load(std::memory_order_acquire));
    if (state == IdempotencyState::kEmpty) {
      return Claim::kInProgress;  // being filled; its key is not readable yet
    }
    if (e.key_bytes != key.size() || std::memcmp(e.key, key.data(), key.size()) != 0) {
      continue;  // a different key with the same hash
    }
    *entry_index = index;
    switch (state) {
      case IdempotencyState::kPending:
        return Claim::kInProgress;
      case IdempotencyState::kDone:
        return Claim::kReplay;
      case IdempotencyState::kAbandoned: {
        uint32_t expected = static_cast<uint32_t>(IdempotencyState::kAbandoned);
        if (e.state.compare_exchange_strong(expected,
                                            static_cast<uint32_t>(IdempotencyState::kPending),
                                            std::memory_order_acq_rel)) {
          return Claim::kOwned;
        }
        return expected == static_cast<uint32_t>(IdempotencyState::kDone) ? Claim::kReplay
                                                                          : Claim::kInProgress;
      }
      default:
        BOXOFFICE_ASSERT(false);
    }
  }
  return Claim::kFull;
}

void IdempotencyTable::finish(uint32_t entry_index, uint32_t event_index, uint32_t error_code,
                              std::span<const uint32_t> seats, std::span<const uint64_t> nonces) {
  IdempotencyEntry& e = table_->idempotency(entry_index);
  BOXOFFICE_ASSERT(e.state.load(std::memory_order_relaxed) ==
                   static_cast<uint32_t>(IdempotencyState::kPending));
  BOXOFFICE_ASSERT(seats.size() <= shm::kSeatsPerHoldMax);
  BOXOFFICE_ASSERT(error_code != 0 || seats.size() == nonces.size());
  e.event_index = event_index;
  e.error_code = error_code;
  e.ticket_count = static_cast<uint32_t>(seats.size());
  std::copy(seats.begin(), seats.end(), e.seats);
  std::copy(nonces.begin(), nonces.end(), e.nonces);
  e.state.store(static_cast<uint32_t>(IdempotencyState::kDone), std::memory_order_release);
}

void IdempotencyTable::abandon(uint32_t entry_index) {
  IdempotencyEntry& e = table_->idempotency(entry_index);
  BOXOFFICE_ASSERT(e.state.load(std::memory_order_relaxed) ==
                   static_cast<uint32_t>(IdempotencyState::kPending));
  e.state.store(static_cast<uint32_t>(IdempotencyState::kAbandoned), std::memory_order_release);
}

uint32_t IdempotencyTable::recover_claims(uint64_t hash) {
  const uint32_t mask = table_->geometry().idempotency_entries_max - 1;
  uint32_t recovered = 0;
  for (uint32_t probe = 0; probe < kProbeMax; ++probe) {
    IdempotencyEntry& e = table_->idempotency(static_cast<uint32_t>(hash + probe) & mask);
    if (e.key_hash.load() != hash) continue;
    const auto state = static_cast<IdempotencyState>(e.state.load());
    if (state == IdempotencyState::kEmpty) {
      // Claimed, key never published. Not back to empty: a hole would let a key further along
      // the window be claimed twice. A zero-length key matches no request: dead for good.
      e.key_bytes = 0;
      e.state.store(static_cast<uint32_t>(IdempotencyState::kAbandoned));
      ++recovered;
    } else if (state == IdempotencyState::kPending) {
      abandon(static_cast<uint32_t>(hash + probe) & mask);
      ++recovered;
    }
  }
  return recovered;
}

}  // namespace boxoffice
