// records: the payloads of journal records (persist/journal.h), one per SaleLog/EventLog call
// (core/sale_log.h). Fixed little-endian binary, decoded with every length checked: a record
// that passed its CRC but does not decode is reported, never guessed at.
//
//   kEventCreated  u32 event | i64 created_at_ms | u32 state | document (rest of the payload)
//   kEventState    u32 event | u32 state | i64 at_ms
//   kSale          u32 event | i64 sold_at_ms | u64 key hash | u8 key bytes | u8 buyer bytes |
//                  u8 seat count | key | buyer | count x (u32 seat | u32 generation |
//                  u64 nonce | i64 price_cents)
//   kVoid          u32 event | u32 seat | u32 generation | u64 nonce | i64 voided_at_ms
//   kFiller        (empty)
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/sale_log.h"

namespace boxoffice::persist {

enum class RecordType : uint8_t {
  kEventCreated = 1,
  kEventState = 2,
  kSale = 3,
  kVoid = 4,
  // No payload, no meaning: fills sequences a damaged journal lost but a destination already
  // has, so the journal never gives those sequences to new records (WorkerLog::fill_to).
  kFiller = 5,
};

inline constexpr size_t kSaleRecordBytesMax = 4 + 8 + 8 + 3 + shm::kIdempotencyKeyBytesMax +
                                              shm::kBuyerRefBytesMax +
                                              shm::kSeatsPerHoldMax * (4 + 4 + 8 + 8);
inline constexpr size_t kVoidRecordBytes = 4 + 4 + 4 + 8 + 8;

// Each returns the payload size written to `out` (at least kSaleRecordBytesMax bytes).
size_t encode_sale(const SaleEntry& entry, uint8_t* out);
size_t encode_void(const VoidEntry& entry, uint8_t* out);
std::vector<uint8_t> encode_event(const EventEntry& entry);
std::vector<uint8_t> encode_event_state(const EventStateEntry& entry);

// A decoded sale; its string views point into the payload it was decoded from.
struct DecodedSale {
  SaleEntry entry;
  std::array<SoldSeat, shm::kSeatsPerHoldMax> seats{};
};

// False with *error when the payload is malformed. String views point into `payload`.
bool decode_sale(std::span<const uint8_t> payload, DecodedSale* sale, std::string* error);
bool decode_void(std::span<const uint8_t> payload, VoidEntry* entry, std::string* error);
bool decode_event(std::span<const uint8_t> payload, EventEntry* entry, std::string* error);
bool decode_event_state(std::span<const uint8_t> payload, EventStateEntry* entry,
                        std::string* error);

}  // namespace boxoffice::persist
