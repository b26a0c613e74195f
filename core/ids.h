// Ticket ids and hold tokens: 128-bit values with a text form.
//
// TicketId is a UUID (version 8, RFC 9562 "custom") laid out as
//   event index (16) | seat index (32) | version 0x8 (4) | nonce bits 63..52 (12)
//   variant 0b10 (2) | zero (10) | nonce bits 51..0 (52)
// so the seat table finds the ticket from the id alone (no index), and the 64-bit random nonce
// tells a live ticket from a voided one of the same seat and makes ids unguessable.
//
// HoldToken is 32 hex digits: hold slot (24) | slot version (20) | deadline mark (20), then 64
// random bits. The deadline mark (the hold's first deadline in seconds since the table epoch,
// modulo 2^20) lets a token whose slot has since been reused still be answered HOLD_EXPIRED
// rather than HOLD_NOT_FOUND; it grants nothing, so a forged mark only changes that answer.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace boxoffice {

struct TicketId {
  uint64_t hi = 0;
  uint64_t lo = 0;

  static TicketId make(uint32_t event_index, uint32_t seat_index, uint64_t nonce);
  uint32_t event_index() const { return static_cast<uint32_t>(hi >> 48); }
  uint32_t seat_index() const { return static_cast<uint32_t>(hi >> 16); }
  uint64_t nonce() const { return ((hi & 0xFFF) << 52) | (lo & ((uint64_t{1} << 52) - 1)); }

  static constexpr size_t kTextBytes = 36;
  void format(char out[kTextBytes]) const;  // "xxxxxxxx-xxxx-8xxx-xxxx-xxxxxxxxxxxx", no NUL
  std::string to_string() const;
  // Accepts the 36-character form (either case); rejects anything else, including UUIDs that
  // are not of our version/variant.
  static std::optional<TicketId> parse(std::string_view text);
  bool operator==(const TicketId&) const = default;
};

struct HoldToken {
  uint64_t hi = 0;
  uint64_t lo = 0;

  static constexpr uint32_t kMarkBits = 20;
  static HoldToken make(uint32_t hold_index, uint32_t version, uint32_t deadline_mark,
                        uint64_t secret);
  uint32_t hold_index() const { return static_cast<uint32_t>(hi >> 40); }
  uint32_t version() const { return static_cast<uint32_t>(hi >> 20) & 0xFFFFF; }
  uint32_t deadline_mark() const { return static_cast<uint32_t>(hi) & 0xFFFFF; }
  uint64_t secret() const { return lo; }

  static constexpr size_t kTextBytes = 32;
  void format(char out[kTextBytes]) const;
  std::string to_string() const;
  static std::optional<HoldToken> parse(std::string_view text);
  bool operator==(const HoldToken&) const = default;
};

}  // namespace boxoffice
