// Tests for core/ids.h: TicketId and HoldToken. Fields survive make() -> accessors and
// text -> parse at their edge values; the text form follows the layout documented in ids.h
// (expected strings below are worked out by hand from that layout); parse() accepts either case
// and rejects every malformed or foreign string a client might send.
#include "core/ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace boxoffice {
namespace {

constexpr uint64_t kU64Max = ~uint64_t{0};
constexpr uint32_t kU32Max = ~uint32_t{0};

std::vector<uint64_t> edge_and_random_u64(std::mt19937_64& rng) {
  std::vector<uint64_t> values = {
      1, 2, (uint64_t{1} << 52) - 1, uint64_t{1} << 52, uint64_t{1} << 63, kU64Max - 1, kU64Max};
  for (int i = 0; i < 20; ++i) values.push_back(rng());
  return values;
}

std::string to_upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// ---- TicketId ---------------------------------------------------------------------------------

TEST(TicketId, FieldsRoundTripAtEdgeValues) {
  std::mt19937_64 rng(42);
  for (uint32_t event : {0u, 1u, 255u, 65535u}) {
    for (uint32_t seat : {0u, 1u, 0x80000000u, kU32Max - 1, kU32Max}) {
      for (uint64_t nonce : edge_and_random_u64(rng)) {
        const TicketId id = TicketId::make(event, seat, nonce);
        ASSERT_EQ(id.event_index(), event) << event << " " << seat << " " << nonce;
        ASSERT_EQ(id.seat_index(), seat) << event << " " << seat << " " << nonce;
        ASSERT_EQ(id.nonce(), nonce) << event << " " << seat << " " << nonce;
      }
    }
  }
}

TEST(TicketId, TextFollowsTheDocumentedLayout) {
  // hi = event 0x0001 | seat 0x00000002 | version 8 | nonce bits 63..52 = 0x000
  // lo = variant 0b10 | 10 zero bits | nonce bits 51..0 = 3
  EXPECT_EQ(TicketId::make(1, 2, 3).to_string(), "00010000-0002-8000-8000-000000000003");
  // nonce 0xFEDCBA9876543210: its top 12 bits (fed) go after the version digit, the low 52
  // (cba9876543210) after the variant digit and two zero digits.
  EXPECT_EQ(TicketId::make(0xABCD, 0x12345678, 0xFEDCBA9876543210).to_string(),
            "abcd1234-5678-8fed-800c-ba9876543210");
}

TEST(TicketId, TextIsALowercaseVersion8Variant10Uuid) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const TicketId id =
        TicketId::make(static_cast<uint32_t>(rng() & 0xFFFF), static_cast<uint32_t>(rng()), rng());
    const std::string text = id.to_string();
    ASSERT_EQ(text.size(), 36u);
    ASSERT_EQ(text.size(), TicketId::kTextBytes);
    for (size_t k = 0; k < text.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        ASSERT_EQ(text[k], '-') << text;
      } else {
        ASSERT_TRUE((text[k] >= '0' && text[k] <= '9') || (text[k] >= 'a' && text[k] <= 'f'))
            << text;
      }
    }
    EXPECT_EQ(text[14], '8') << "version nibble: " << text;
    // Variant 10: the top two bits of the first digit of the fourth group.
    EXPECT_TRUE(text[19] == '8' || text[19] == '9' || text[19] == 'a' || text[19] == 'b')
        << "variant: " << text;
  }
}

TEST(TicketId, FormatWritesExactly36Characters) {
  char buffer[40];
  std::fill(std::begin(buffer), std::end(buffer), '#');
  const TicketId id = TicketId::make(65535, kU32Max, kU64Max);
  id.format(buffer);
  EXPECT_EQ(std::string(buffer, 36), id.to_string());
  for (size_t k = 36; k < sizeof buffer; ++k) EXPECT_EQ(buffer[k], '#') << k;
}

TEST(TicketId, ParseOfFormatIsIdentity) {
  std::mt19937_64 rng(11);
  for (uint32_t event : {0u, 65535u}) {
    for (uint32_t seat : {0u, kU32Max}) {
      for (uint64_t nonce : edge_and_random_u64(rng)) {
        const TicketId id = TicketId::make(event, seat, nonce);
        const std::optional<TicketId> parsed = TicketId::parse(id.to_string());
        ASSERT_TRUE(parsed.has_value()) << id.to_string();
        EXPECT_EQ(*parsed, id) << id.to_string();
      }
    }
  }
}

TEST(TicketId, ParseAcceptsUppercase) {
  const TicketId id = TicketId::make(0xABCD, 0xDEADBEEF, 0xFEDCBA9876543210);
  const std::string upper = to_upper(id.to_string());
  ASSERT_NE(upper, id.to_string());
  EXPECT_EQ(TicketId::parse(upper), id);
}

TEST(TicketId, ParseRejectsWrongLength) {
  const std::string good = TicketId::make(3, 4, 5).to_string();
  EXPECT_EQ(TicketId::parse(""), std::nullopt);
  EXPECT_EQ(TicketId::parse(good.substr(0, 35)), std::nullopt);
  EXPECT_EQ(TicketId::parse(good + "0"), std::nullopt);
  EXPECT_EQ(TicketId::parse(good + " "), std::nullopt);
  // The 32 digits without dashes are a valid UUID spelling elsewhere, but not ours.
  std::string no_dashes;
  for (char c : good) {
    if (c != '-') no_dashes += c;
  }
  EXPECT_EQ(TicketId::parse(no_dashes), std::nullopt);
}

TEST(TicketId, ParseRejectsMisplacedDashes) {
  const std::string good = TicketId::make(3, 4, 5).to_string();
  for (size_t dash : {8u, 13u, 18u, 23u}) {
    std::string text = good;
    text[dash] = '0';
    EXPECT_EQ(TicketId::parse(text), std::nullopt) << text;
  }
  // Same length, dash moved one place right.
  std::string shifted = good;
  std::swap(shifted[8], shifted[9]);
  EXPECT_EQ(TicketId::parse(shifted), std::nullopt) << shifted;
}

TEST(TicketId, ParseRejectsNonHexInEveryPosition) {
  const std::string good = TicketId::make(0x1234, 0x56789ABC, 0x0123456789ABCDEF).to_string();
  ASSERT_TRUE(TicketId::parse(good).has_value());
  for (size_t k = 0; k < good.size(); ++k) {
    if (k == 8 || k == 13 || k == 18 || k == 23) continue;
    for (char bad : {'g', 'G', 'z', ' ', '-', '\0', ':', '@', '`'}) {
      std::string text = good;
      text[k] = bad;
      EXPECT_EQ(TicketId::parse(text), std::nullopt) << "position " << k << " '" << bad << "'";
    }
  }
}

TEST(TicketId, ParseRejectsOtherUuidVersions) {
  const std::string good = TicketId::make(3, 4, 5).to_string();
  for (char version : {'0', '1', '4', '7', '9', 'f'}) {
    std::string text = good;
    text[14] = version;
    EXPECT_EQ(TicketId::parse(text), std::nullopt) << text;
  }
  // A random v4 UUID is well-formed but not a ticket.
  EXPECT_EQ(TicketId::parse("123e4567-e89b-42d3-a456-426614174000"), std::nullopt);
}

TEST(TicketId, ParseRejectsOtherVariants) {
  const std::string good = TicketId::make(3, 4, 5).to_string();
  for (char variant : {'0', '4', '7', 'c', 'd', 'e', 'f'}) {
    std::string text = good;
    text[19] = variant;
    EXPECT_EQ(TicketId::parse(text), std::nullopt) << text;
  }
}

TEST(TicketId, ParseRejectsNonZeroReservedBits) {
  // The 10 bits after the variant are zero in every id we issue (ids.h).
  const std::string good = TicketId::make(3, 4, 5).to_string();
  ASSERT_EQ(good.substr(19, 3), "800");
  for (size_t k : {19u, 20u, 21u}) {
    std::string text = good;
    text[k] = k == 19 ? '9' : '1';
    EXPECT_EQ(TicketId::parse(text), std::nullopt) << text;
  }
}

TEST(TicketId, DistinctNoncesGiveDistinctText) {
  // A voided ticket and its replacement on the same seat differ only in the nonce.
  const TicketId a = TicketId::make(1, 100, 0x8000000000000000);
  const TicketId b = TicketId::make(1, 100, 0x8000000000000001);
  const TicketId c = TicketId::make(1, 100, uint64_t{1} << 52);
  EXPECT_NE(a.to_string(), b.to_string());
  EXPECT_NE(a.to_string(), c.to_string());
  EXPECT_NE(b.to_string(), c.to_string());
}

// ---- HoldToken -------------------------------------------------------------------------------

constexpr uint32_t kU24Max = 0xFFFFFF;
constexpr uint32_t kU20Max = 0xFFFFF;

TEST(HoldToken, FieldsRoundTripAtEdgeValues) {
  std::mt19937_64 rng(5);
  for (uint32_t hold : {0u, 1u, 0x800000u, kU24Max}) {
    for (uint32_t version : {0u, 1u, 0x80000u, kU20Max}) {
      for (uint32_t mark : {0u, 1u, kU20Max}) {
        for (uint64_t secret : edge_and_random_u64(rng)) {
          const HoldToken token = HoldToken::make(hold, version, mark, secret);
          ASSERT_EQ(token.hold_index(), hold);
          ASSERT_EQ(token.version(), version);
          ASSERT_EQ(token.deadline_mark(), mark);
          ASSERT_EQ(token.secret(), secret);
        }
      }
    }
  }
}

TEST(HoldToken, FieldsAreMaskedWithoutSpillingIntoTheirNeighbours) {
  // hold slot 24 bits, version 20 bits, deadline mark 20 bits (mark_bits = kMarkBits).
  static_assert(HoldToken::kMarkBits == 20);
  const HoldToken token = HoldToken::make(0x12ABCDEF, 0xFFF12345, 0xFFF6789A, 9);
  EXPECT_EQ(token.hold_index(), 0xABCDEFu);
  EXPECT_EQ(token.version(), 0x12345u);
  EXPECT_EQ(token.deadline_mark(), 0x6789Au);
  EXPECT_EQ(token.secret(), 9u);
  // A version that wrapped past 20 bits is 0 again, and leaves the other fields alone.
  const HoldToken wrapped = HoldToken::make(7, kU20Max + 1, 3, 1);
  EXPECT_EQ(wrapped.version(), 0u);
  EXPECT_EQ(wrapped.hold_index(), 7u);
  EXPECT_EQ(wrapped.deadline_mark(), 3u);
  EXPECT_EQ(HoldToken::parse(token.to_string()), token);
}

TEST(HoldToken, TextFollowsTheDocumentedLayout) {
  // hold 0x000001 (6 digits) | version 0x00002 (5) | mark 0x00003 (5), then the secret (16).
  EXPECT_EQ(HoldToken::make(1, 2, 3, 4).to_string(), "00000100002000030000000000000004");
  EXPECT_EQ(HoldToken::make(0xABCDEF, kU20Max, 0x12345, kU64Max).to_string(),
            "abcdeffffff12345ffffffffffffffff");
}

TEST(HoldToken, TextIs32LowercaseHexDigits) {
  std::mt19937_64 rng(8);
  for (int i = 0; i < 1000; ++i) {
    const std::string text =
        HoldToken::make(static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
                        static_cast<uint32_t>(rng()), rng())
            .to_string();
    ASSERT_EQ(text.size(), 32u);
    ASSERT_EQ(text.size(), HoldToken::kTextBytes);
    for (char c : text) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << text;
  }
}

TEST(HoldToken, FormatWritesExactly32Characters) {
  char buffer[40];
  std::fill(std::begin(buffer), std::end(buffer), '#');
  const HoldToken token = HoldToken::make(kU24Max, kU20Max, kU20Max, kU64Max);
  token.format(buffer);
  EXPECT_EQ(std::string(buffer, 32), token.to_string());
  for (size_t k = 32; k < sizeof buffer; ++k) EXPECT_EQ(buffer[k], '#') << k;
}

TEST(HoldToken, ParseOfFormatIsIdentity) {
  std::mt19937_64 rng(13);
  for (uint32_t hold : {0u, kU24Max}) {
    for (uint32_t version : {0u, kU20Max}) {
      for (uint32_t mark : {0u, kU20Max}) {
        for (uint64_t secret : edge_and_random_u64(rng)) {
          const HoldToken token = HoldToken::make(hold, version, mark, secret);
          EXPECT_EQ(HoldToken::parse(token.to_string()), token) << token.to_string();
        }
      }
    }
  }
}

TEST(HoldToken, ParseAcceptsUppercase) {
  const HoldToken token = HoldToken::make(0xABCDEF, 0xABCDE, 0xFEDCB, 0xFEDCBA9876543210);
  const std::string upper = to_upper(token.to_string());
  ASSERT_NE(upper, token.to_string());
  EXPECT_EQ(HoldToken::parse(upper), token);
}

TEST(HoldToken, ParseRejectsWrongLength) {
  const std::string good = HoldToken::make(1, 2, 3, 4).to_string();
  EXPECT_EQ(HoldToken::parse(""), std::nullopt);
  EXPECT_EQ(HoldToken::parse(good.substr(0, 31)), std::nullopt);
  EXPECT_EQ(HoldToken::parse(good + "0"), std::nullopt);
  EXPECT_EQ(HoldToken::parse(TicketId::make(1, 2, 3).to_string()), std::nullopt);
}

TEST(HoldToken, ParseRejectsNonHexInEveryPosition) {
  const std::string good =
      HoldToken::make(0x123456, 0x789AB, 0xCDEF0, 0x0123456789ABCDEF).to_string();
  ASSERT_TRUE(HoldToken::parse(good).has_value());
  for (size_t k = 0; k < good.size(); ++k) {
    for (char bad : {'g', 'G', 'x', ' ', '-', '\0', '/', ':', '@', '`'}) {
      std::string text = good;
      text[k] = bad;
      EXPECT_EQ(HoldToken::parse(text), std::nullopt) << "position " << k << " '" << bad << "'";
    }
  }
}

}  // namespace
}  // namespace boxoffice
