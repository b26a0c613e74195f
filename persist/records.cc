#include "persist/records.h"

#include <cstring>

#include "shm/check.h"

namespace boxoffice::persist {
namespace {

// Little-endian writer over a caller-sized buffer.
struct Writer {
  uint8_t* p;
  void u8(uint8_t v) { *p++ = v; }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  }
  void bytes(std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
};

// Bounds-checked little-endian reader; `ok` turns false at the first overrun.
struct Reader {
  std::span<const uint8_t> in;
  size_t at = 0;
  bool ok = true;
  bool need(size_t n) {
    if (!ok || in.size() - at < n) ok = false;
    return ok;
  }
  uint8_t u8() { return need(1) ? in[at++] : 0; }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | in[at + i];
    at += 4;
    return v;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | in[at + i];
    at += 8;
    return v;
  }
  std::string_view bytes(size_t n) {
    if (!need(n)) return {};
    std::string_view s(reinterpret_cast<const char*>(in.data() + at), n);
    at += n;
    return s;
  }
  bool done() const { return ok && at == in.size(); }
};

bool valid_state(uint32_t state) {
  return state == static_cast<uint32_t>(shm::EventState::kOpen) ||
         state == static_cast<uint32_t>(shm::EventState::kPaused) ||
         state == static_cast<uint32_t>(shm::EventState::kClosed);
}

bool fail(std::string* error, const char* what) {
  *error = what;
  return false;
}

}  // namespace

size_t encode_sale(const SaleEntry& entry, uint8_t* out) {
  BOXOFFICE_ASSERT(entry.seats.size() >= 1 && entry.seats.size() <= shm::kSeatsPerHoldMax);
  BOXOFFICE_ASSERT(entry.idempotency_key.size() <= shm::kIdempotencyKeyBytesMax);
  BOXOFFICE_ASSERT(entry.buyer_ref.size() <= shm::kBuyerRefBytesMax);
  Writer w{out};
  w.u32(entry.event_index);
  w.u64(static_cast<uint64_t>(entry.sold_at_ms));
  w.u64(entry.idempotency_hash);
  w.u8(static_cast<uint8_t>(entry.idempotency_key.size()));
  w.u8(static_cast<uint8_t>(entry.buyer_ref.size()));
  w.u8(static_cast<uint8_t>(entry.seats.size()));
  w.bytes(entry.idempotency_key);
  w.bytes(entry.buyer_ref);
  for (const SoldSeat& seat : entry.seats) {
    w.u32(seat.seat);
    w.u32(seat.generation);
    w.u64(seat.nonce);
    w.u64(static_cast<uint64_t>(seat.price_cents));
  }
  const size_t bytes = static_cast<size_t>(w.p - out);
  BOXOFFICE_ASSERT(bytes <= kSaleRecordBytesMax);
  return bytes;
}

size_t encode_void(const VoidEntry& entry, uint8_t* out) {
  Writer w{out};
  w.u32(entry.event_index);
  w.u32(entry.seat);
  w.u32(entry.generation);
  w.u64(entry.nonce);
  w.u64(static_cast<uint64_t>(entry.voided_at_ms));
  return static_cast<size_t>(w.p - out);
}

std::vector<uint8_t> encode_event(const EventEntry& entry) {
  std::vector<uint8_t> out(4 + 8 + 4 + entry.document.size());
  Writer w{out.data()};
  w.u32(entry.event_index);
  w.u64(static_cast<uint64_t>(entry.created_at_ms));
  w.u32(static_cast<uint32_t>(entry.state));
  w.bytes(entry.document);
  return out;
}

std::vector<uint8_t> encode_event_state(const EventStateEntry& entry) {
  std::vector<uint8_t> out(4 + 4 + 8);
  Writer w{out.data()};
  w.u32(entry.event_index);
  w.u32(static_cast<uint32_t>(entry.state));
  w.u64(static_cast<uint64_t>(entry.at_ms));
  return out;
}

bool decode_sale(std::span<const uint8_t> payload, DecodedSale* sale, std::string* error) {
  Reader r{payload};
  SaleEntry& e = sale->entry;
  e.event_index = r.u32();
  e.sold_at_ms = static_cast<int64_t>(r.u64());
  e.idempotency_hash = r.u64();
  const uint8_t key_bytes = r.u8();
  const uint8_t buyer_bytes = r.u8();
  const uint8_t count = r.u8();
  if (!r.ok) return fail(error, "sale record: short header");
  if (key_bytes > shm::kIdempotencyKeyBytesMax || buyer_bytes > shm::kBuyerRefBytesMax ||
      count == 0 || count > shm::kSeatsPerHoldMax) {
    return fail(error, "sale record: field over its limit");
  }
  e.idempotency_key = r.bytes(key_bytes);
  e.buyer_ref = r.bytes(buyer_bytes);
  for (uint32_t i = 0; i < count; ++i) {
    SoldSeat& seat = sale->seats[i];
    seat.seat = r.u32();
    seat.generation = r.u32();
    seat.nonce = r.u64();
    seat.price_cents = static_cast<int64_t>(r.u64());
  }
  if (!r.done()) return fail(error, "sale record: length does not match its seat count");
  e.seats = {sale->seats.data(), count};
  return true;
}

bool decode_void(std::span<const uint8_t> payload, VoidEntry* entry, std::string* error) {
  Reader r{payload};
  entry->event_index = r.u32();
  entry->seat = r.u32();
  entry->generation = r.u32();
  entry->nonce = r.u64();
  entry->voided_at_ms = static_cast<int64_t>(r.u64());
  if (!r.done()) return fail(error, "void record: wrong length");
  return true;
}

bool decode_event(std::span<const uint8_t> payload, EventEntry* entry, std::string* error) {
  Reader r{payload};
  entry->event_index = r.u32();
  entry->created_at_ms = static_cast<int64_t>(r.u64());
  const uint32_t state = r.u32();
  if (!r.ok) return fail(error, "event record: short header");
  if (!valid_state(state)) return fail(error, "event record: bad state");
  entry->state = static_cast<shm::EventState>(state);
  entry->document = r.bytes(payload.size() - r.at);
  return true;
}

bool decode_event_state(std::span<const uint8_t> payload, EventStateEntry* entry,
                        std::string* error) {
  Reader r{payload};
  entry->event_index = r.u32();
  const uint32_t state = r.u32();
  entry->at_ms = static_cast<int64_t>(r.u64());
  if (!r.done()) return fail(error, "event state record: wrong length");
  if (!valid_state(state)) return fail(error, "event state record: bad state");
  entry->state = static_cast<shm::EventState>(state);
  return true;
}

}  // namespace boxoffice::persist
