// Tests for shm/crc32c.h: published CRC-32C check values (the "123456789" check value and the
// iSCSI vectors of RFC 3720 B.4), the empty input, extending a checksum piece by piece equals
// one pass, and agreement with a bit-at-a-time reference on random data of every length
// 0..1000 at every alignment (the hardware path works in 8-byte chunks plus a tail).
#include "shm/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace boxoffice {
namespace {

// CRC-32C straight from its definition: reflected polynomial 0x82F63B78, initial value and
// final xor all ones.
uint32_t reference_crc32c(const uint8_t* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t crc_of(const std::string& text) { return crc32c(text.data(), text.size()); }

TEST(Crc32c, CheckValueOf123456789) { EXPECT_EQ(crc_of("123456789"), 0xE3069283u); }

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  EXPECT_EQ(crc_of(""), 0u);
}

TEST(Crc32c, Rfc3720Vectors) {
  std::vector<uint8_t> data(32);
  std::fill(data.begin(), data.end(), 0x00);
  EXPECT_EQ(crc32c(data.data(), data.size()), 0x8A9136AAu);
  std::fill(data.begin(), data.end(), 0xFF);
  EXPECT_EQ(crc32c(data.data(), data.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) data[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c(data.data(), data.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) data[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(crc32c(data.data(), data.size()), 0x113FDB5Cu);
}

TEST(Crc32c, ExtendingPieceByPieceEqualsOnePass) {
  std::mt19937_64 rng(1);
  std::vector<uint8_t> data(300);
  for (uint8_t& byte : data) byte = static_cast<uint8_t>(rng());
  const uint32_t whole = crc32c(data.data(), data.size());
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = crc32c(data.data(), split);
    EXPECT_EQ(crc32c(data.data() + split, data.size() - split, first), whole) << "split " << split;
  }
  // Three uneven pieces, and one byte at a time.
  uint32_t crc = crc32c(data.data(), 13);
  crc = crc32c(data.data() + 13, 200, crc);
  crc = crc32c(data.data() + 213, data.size() - 213, crc);
  EXPECT_EQ(crc, whole);
  crc = 0;
  for (uint8_t byte : data) crc = crc32c(&byte, 1, crc);
  EXPECT_EQ(crc, whole);
}

TEST(Crc32c, MatchesTheBitwiseReferenceAtEveryLengthAndAlignment) {
  std::mt19937_64 rng(2);
  std::vector<uint8_t> buffer(1000 + 8);
  for (uint8_t& byte : buffer) byte = static_cast<uint8_t>(rng());
  for (size_t length = 0; length <= 1000; ++length) {
    for (size_t offset = 0; offset < 8; ++offset) {
      const uint8_t* p = buffer.data() + offset;
      ASSERT_EQ(crc32c(p, length), reference_crc32c(p, length))
          << "length " << length << " offset " << offset;
    }
  }
}

TEST(Crc32c, DetectsASingleFlippedBit) {
  // The use it is put to: a seat table header with one bit changed must not verify.
  std::vector<uint8_t> data(64, 0x5A);
  const uint32_t clean = crc32c(data.data(), data.size());
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(crc32c(data.data(), data.size()), clean) << "bit " << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace boxoffice
