// records: every record type decodes to what was encoded, at the limits of each field, and a
// payload that is cut short, padded or over a limit is refused with a reason, never guessed at.
#include "persist/records.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace boxoffice::persist {
namespace {

// A sale and the storage its views point into.
struct SaleFixture {
  std::string key;
  std::string buyer;
  std::vector<SoldSeat> seats;
  SaleEntry entry() const {
    SaleEntry e;
    e.event_index = 7;
    e.sold_at_ms = 1'700'000'123'456;
    e.idempotency_hash = key.empty() ? 0 : 0x0123456789abcdefull;
    e.idempotency_key = key;
    e.buyer_ref = buyer;
    e.seats = seats;
    return e;
  }
};

SaleFixture make_sale(size_t seat_count, size_t key_bytes, size_t buyer_bytes) {
  SaleFixture s;
  for (size_t i = 0; i < key_bytes; ++i) s.key.push_back(static_cast<char>('a' + i % 26));
  for (size_t i = 0; i < buyer_bytes; ++i) s.buyer.push_back(static_cast<char>('A' + i % 26));
  for (uint32_t i = 0; i < seat_count; ++i) {
    s.seats.push_back({1000 + 3 * i, 1 + i, 0xfedcba9876543210ull ^ (uint64_t{i} << 40),
                       int64_t{2500} + 100 * i});
  }
  return s;
}

std::vector<uint8_t> encoded_sale(const SaleEntry& entry) {
  std::vector<uint8_t> out(kSaleRecordBytesMax);
  out.resize(encode_sale(entry, out.data()));
  return out;
}

void expect_same_sale(const SaleEntry& a, const SaleEntry& b) {
  EXPECT_EQ(a.event_index, b.event_index);
  EXPECT_EQ(a.sold_at_ms, b.sold_at_ms);
  EXPECT_EQ(a.idempotency_hash, b.idempotency_hash);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.buyer_ref, b.buyer_ref);
  ASSERT_EQ(a.seats.size(), b.seats.size());
  for (size_t i = 0; i < a.seats.size(); ++i) {
    EXPECT_EQ(a.seats[i].seat, b.seats[i].seat) << i;
    EXPECT_EQ(a.seats[i].generation, b.seats[i].generation) << i;
    EXPECT_EQ(a.seats[i].nonce, b.seats[i].nonce) << i;
    EXPECT_EQ(a.seats[i].price_cents, b.seats[i].price_cents) << i;
  }
}

TEST(RecordsTest, SalesRoundTripAtEveryLimit) {
  struct Case {
    size_t seats, key_bytes, buyer_bytes;
  };
  const Case cases[] = {
      {1, 0, 0},
      {1, shm::kIdempotencyKeyBytesMax, shm::kBuyerRefBytesMax},
      {shm::kSeatsPerHoldMax, 0, 0},
      {shm::kSeatsPerHoldMax, shm::kIdempotencyKeyBytesMax, shm::kBuyerRefBytesMax},
      {5, 1, 0},
      {5, 0, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.seats << " seats, key " << c.key_bytes << ", buyer " << c.buyer_bytes);
    const SaleFixture sale = make_sale(c.seats, c.key_bytes, c.buyer_bytes);
    const std::vector<uint8_t> payload = encoded_sale(sale.entry());
    EXPECT_EQ(payload.size(), 4 + 8 + 8 + 3 + c.key_bytes + c.buyer_bytes + c.seats * 24);
    EXPECT_LE(payload.size(), kSaleRecordBytesMax);
    DecodedSale decoded;
    std::string error;
    ASSERT_TRUE(decode_sale(payload, &decoded, &error)) << error;
    expect_same_sale(decoded.entry, sale.entry());
  }
  // The largest sale is exactly the documented bound.
  const SaleFixture largest =
      make_sale(shm::kSeatsPerHoldMax, shm::kIdempotencyKeyBytesMax, shm::kBuyerRefBytesMax);
  EXPECT_EQ(encoded_sale(largest.entry()).size(), kSaleRecordBytesMax);
}

TEST(RecordsTest, SaleKeepsExtremeIntegers) {
  SaleFixture sale = make_sale(2, 3, 3);
  sale.seats[0] = {UINT32_MAX, UINT32_MAX, UINT64_MAX, std::numeric_limits<int64_t>::min()};
  sale.seats[1] = {0, 0, 0, std::numeric_limits<int64_t>::max()};
  SaleEntry entry = sale.entry();
  entry.event_index = UINT32_MAX;
  entry.sold_at_ms = -1;
  entry.idempotency_hash = UINT64_MAX;
  const std::vector<uint8_t> payload = encoded_sale(entry);
  DecodedSale decoded;
  std::string error;
  ASSERT_TRUE(decode_sale(payload, &decoded, &error)) << error;
  expect_same_sale(decoded.entry, entry);
}

TEST(RecordsTest, VoidsEventsAndStateChangesRoundTrip) {
  const VoidEntry v{42, 123456, 9, 0xdeadbeefcafef00dull, 1'700'000'000'001};
  uint8_t buffer[kSaleRecordBytesMax];
  const size_t bytes = encode_void(v, buffer);
  EXPECT_EQ(bytes, kVoidRecordBytes);
  VoidEntry v2;
  std::string error;
  ASSERT_TRUE(decode_void({buffer, bytes}, &v2, &error)) << error;
  EXPECT_EQ(v2.event_index, v.event_index);
  EXPECT_EQ(v2.seat, v.seat);
  EXPECT_EQ(v2.generation, v.generation);
  EXPECT_EQ(v2.nonce, v.nonce);
  EXPECT_EQ(v2.voided_at_ms, v.voided_at_ms);

  for (shm::EventState state :
       {shm::EventState::kOpen, shm::EventState::kPaused, shm::EventState::kClosed}) {
    for (const std::string& document :
         {std::string(), std::string("{\"id\":\"E\",\"layout\":{}}"), std::string(100'000, 'x')}) {
      const EventEntry e{3, 1'700'000'000'002, state, document};
      const std::vector<uint8_t> payload = encode_event(e);
      EXPECT_EQ(payload.size(), 16 + document.size());
      EventEntry e2;
      ASSERT_TRUE(decode_event(payload, &e2, &error)) << error;
      EXPECT_EQ(e2.event_index, e.event_index);
      EXPECT_EQ(e2.created_at_ms, e.created_at_ms);
      EXPECT_EQ(e2.state, e.state);
      EXPECT_EQ(e2.document, document);
    }
    const EventStateEntry s{5, state, 1'700'000'000'003};
    const std::vector<uint8_t> payload = encode_event_state(s);
    EventStateEntry s2;
    ASSERT_TRUE(decode_event_state(payload, &s2, &error)) << error;
    EXPECT_EQ(s2.event_index, s.event_index);
    EXPECT_EQ(s2.state, s.state);
    EXPECT_EQ(s2.at_ms, s.at_ms);
  }
}

// Decoding from a buffer of exactly the given size, so an overrun is an ASan error.
template <typename Decode>
void expect_every_truncation_refused(const std::vector<uint8_t>& payload, Decode decode) {
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    std::vector<uint8_t> short_payload(payload.begin(), payload.begin() + cut);
    std::string error;
    EXPECT_FALSE(decode(std::span<const uint8_t>(short_payload), &error)) << "cut at " << cut;
    EXPECT_FALSE(error.empty()) << "cut at " << cut;
  }
  // One byte too many is refused as well.
  std::vector<uint8_t> padded = payload;
  padded.push_back(0);
  std::string error;
  EXPECT_FALSE(decode(std::span<const uint8_t>(padded), &error));
  EXPECT_FALSE(error.empty());
}

TEST(RecordsTest, EveryTruncationOfASaleIsRefused) {
  for (size_t seats : {size_t{1}, size_t{shm::kSeatsPerHoldMax}}) {
    const SaleFixture sale = make_sale(seats, shm::kIdempotencyKeyBytesMax, shm::kBuyerRefBytesMax);
    expect_every_truncation_refused(encoded_sale(sale.entry()),
                                    [](std::span<const uint8_t> p, std::string* error) {
                                      DecodedSale decoded;
                                      return decode_sale(p, &decoded, error);
                                    });
  }
}

TEST(RecordsTest, EveryTruncationOfAVoidOrStateChangeIsRefused) {
  uint8_t buffer[kVoidRecordBytes];
  const size_t bytes = encode_void({1, 2, 3, 4, 5}, buffer);
  expect_every_truncation_refused(std::vector<uint8_t>(buffer, buffer + bytes),
                                  [](std::span<const uint8_t> p, std::string* error) {
                                    VoidEntry v;
                                    return decode_void(p, &v, error);
                                  });
  expect_every_truncation_refused(encode_event_state({1, shm::EventState::kPaused, 5}),
                                  [](std::span<const uint8_t> p, std::string* error) {
                                    EventStateEntry s;
                                    return decode_event_state(p, &s, error);
                                  });
}

TEST(RecordsTest, EventHeaderCutShortIsRefused) {
  // The document is the rest of the payload, so only a cut inside the header is detectable.
  const std::vector<uint8_t> payload = encode_event({1, 2, shm::EventState::kOpen, "{}"});
  for (size_t cut = 0; cut < 16; ++cut) {
    std::vector<uint8_t> short_payload(payload.begin(), payload.begin() + cut);
    EventEntry e;
    std::string error;
    EXPECT_FALSE(decode_event(short_payload, &e, &error)) << "cut at " << cut;
    EXPECT_FALSE(error.empty());
  }
}

// Offsets of the sale header's count bytes.
constexpr size_t kKeyBytesAt = 4 + 8 + 8;
constexpr size_t kBuyerBytesAt = kKeyBytesAt + 1;
constexpr size_t kSeatCountAt = kBuyerBytesAt + 1;

TEST(RecordsTest, SaleFieldsOverTheirLimitsAreRefused) {
  std::string error;
  DecodedSale decoded;
  {
    // 33 seats, with the bytes for all of them present.
    SaleFixture sale = make_sale(shm::kSeatsPerHoldMax, 0, 0);
    std::vector<uint8_t> payload = encoded_sale(sale.entry());
    payload[kSeatCountAt] = shm::kSeatsPerHoldMax + 1;
    payload.resize(payload.size() + 24, 0x11);
    EXPECT_FALSE(decode_sale(payload, &decoded, &error));
    EXPECT_NE(error.find("limit"), std::string::npos) << error;
  }
  {
    // A 65-byte key, its bytes present.
    SaleFixture sale = make_sale(1, shm::kIdempotencyKeyBytesMax, 0);
    std::vector<uint8_t> payload = encoded_sale(sale.entry());
    payload[kKeyBytesAt] = shm::kIdempotencyKeyBytesMax + 1;
    payload.insert(payload.begin() + kSeatCountAt + 1, 'k');
    error.clear();
    EXPECT_FALSE(decode_sale(payload, &decoded, &error));
    EXPECT_FALSE(error.empty());
  }
  {
    // A 57-byte buyer reference.
    SaleFixture sale = make_sale(1, 0, shm::kBuyerRefBytesMax);
    std::vector<uint8_t> payload = encoded_sale(sale.entry());
    payload[kBuyerBytesAt] = shm::kBuyerRefBytesMax + 1;
    payload.insert(payload.begin() + kSeatCountAt + 1, 'b');
    error.clear();
    EXPECT_FALSE(decode_sale(payload, &decoded, &error));
    EXPECT_FALSE(error.empty());
  }
  {
    // No seats at all.
    SaleFixture sale = make_sale(1, 0, 0);
    std::vector<uint8_t> payload = encoded_sale(sale.entry());
    payload[kSeatCountAt] = 0;
    payload.resize(payload.size() - 24);
    error.clear();
    EXPECT_FALSE(decode_sale(payload, &decoded, &error));
    EXPECT_FALSE(error.empty());
  }
  {
    // A seat count that disagrees with the bytes that follow.
    SaleFixture sale = make_sale(3, 0, 0);
    std::vector<uint8_t> payload = encoded_sale(sale.entry());
    payload[kSeatCountAt] = 2;
    error.clear();
    EXPECT_FALSE(decode_sale(payload, &decoded, &error));
    EXPECT_FALSE(error.empty());
  }
}

TEST(RecordsTest, UnknownEventStatesAreRefused) {
  // kAbsent and kCreating are table-internal; anything past kClosed is unknown.
  for (uint32_t state : {0u, 1u, 5u, 0xffffffffu}) {
    std::string error;
    std::vector<uint8_t> created = encode_event({1, 2, shm::EventState::kOpen, "{}"});
    for (int i = 0; i < 4; ++i) created[12 + i] = static_cast<uint8_t>(state >> (8 * i));
    EventEntry e;
    EXPECT_FALSE(decode_event(created, &e, &error)) << state;
    EXPECT_NE(error.find("state"), std::string::npos) << error;

    std::vector<uint8_t> changed = encode_event_state({1, shm::EventState::kOpen, 5});
    for (int i = 0; i < 4; ++i) changed[4 + i] = static_cast<uint8_t>(state >> (8 * i));
    EventStateEntry s;
    error.clear();
    EXPECT_FALSE(decode_event_state(changed, &s, &error)) << state;
    EXPECT_NE(error.find("state"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace boxoffice::persist
