#include "core/ids.h"

#include <array>
#include <cstring>

namespace boxoffice {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "000102...ff": the two hex digits of each byte value, so a byte is formatted with one load.
constexpr std::array<char, 512> kHexPairs = [] {
  std::array<char, 512> pairs{};
  for (int b = 0; b < 256; ++b) {
    pairs[2 * b] = kHex[b >> 4];
    pairs[2 * b + 1] = kHex[b & 0xF];
  }
  return pairs;
}();

// Writes the 32 hex digits of (hi, lo), most significant first, to out[0..31]. Tokens and
// ticket ids are formatted for every reply: a byte at a time, not a digit at a time.
void put_hex(uint64_t hi, uint64_t lo, char* out) {
  for (int i = 0; i < 8; ++i) {
    std::memcpy(out + 2 * i, &kHexPairs[2 * ((hi >> (56 - 8 * i)) & 0xFF)], 2);
    std::memcpy(out + 16 + 2 * i, &kHexPairs[2 * ((lo >> (56 - 8 * i)) & 0xFF)], 2);
  }
}

bool get_hex(std::string_view text, const int* positions, uint64_t* hi, uint64_t* lo) {
  *hi = *lo = 0;
  for (int i = 0; i < 32; ++i) {
    const int v = hex_value(text[positions[i]]);
    if (v < 0) return false;
    uint64_t& word = i < 16 ? *hi : *lo;
    word = (word << 4) | static_cast<uint64_t>(v);
  }
  return true;
}

constexpr int kUuidPositions[32] = {0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 11, 12, 14, 15, 16, 17,
                                    19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35};
constexpr int kPlainPositions[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                     11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                     22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

}  // namespace

TicketId TicketId::make(uint32_t event_index, uint32_t seat_index, uint64_t nonce) {
  TicketId id;
  id.hi = (uint64_t{event_index & 0xFFFF} << 48) | (uint64_t{seat_index} << 16) |
          (uint64_t{0x8} << 12) | (nonce >> 52);
  id.lo = (uint64_t{0b10} << 62) | (nonce & ((uint64_t{1} << 52) - 1));
  return id;
}

void TicketId::format(char out[kTextBytes]) const {
  char digits[32];
  put_hex(hi, lo, digits);
  for (int i = 0; i < 32; ++i) out[kUuidPositions[i]] = digits[i];
  out[8] = out[13] = out[18] = out[23] = '-';
}

std::string TicketId::to_string() const {
  std::string text(kTextBytes, '\0');
  format(text.data());
  return text;
}

std::optional<TicketId> TicketId::parse(std::string_view text) {
  if (text.size() != kTextBytes || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return std::nullopt;
  }
  TicketId id;
  if (!get_hex(text, kUuidPositions, &id.hi, &id.lo)) return std::nullopt;
  if (((id.hi >> 12) & 0xF) != 0x8 || (id.lo >> 62) != 0b10 || ((id.lo >> 52) & 0x3FF) != 0) {
    return std::nullopt;
  }
  return id;
}

HoldToken HoldToken::make(uint32_t hold_index, uint32_t version, uint32_t deadline_mark,
                          uint64_t secret) {
  return {(uint64_t{hold_index & 0xFFFFFF} << 40) | (uint64_t{version & 0xFFFFF} << 20) |
              (deadline_mark & 0xFFFFF),
          secret};
}

void HoldToken::format(char out[kTextBytes]) const { put_hex(hi, lo, out); }

std::string HoldToken::to_string() const {
  std::string text(kTextBytes, '\0');
  format(text.data());
  return text;
}

std::optional<HoldToken> HoldToken::parse(std::string_view text) {
  if (text.size() != kTextBytes) return std::nullopt;
  HoldToken token;
  if (!get_hex(text, kPlainPositions, &token.hi, &token.lo)) return std::nullopt;
  return token;
}

}  // namespace boxoffice
