// operation: what boxoffice-load asks a server to do (Operation) and what it learned from the
// answer (Reply), independent of the wire format. A Scenario fills Operations, a Codec turns them
// into bytes and bytes back into Replies, the Worker matches the two by tag.
//
// Both are fixed-size values (no heap): a connection keeps one Operation per pipeline slot and
// parses into one Reply at a time. Thread safety: plain values, owned by one worker thread.
#pragma once

#include <array>
#include <cstdint>

namespace boxoffice::load {

// Seats one operation names or gets back; the server's ceiling is 32 (--max-seats-per-request).
constexpr int kOperationSeatsMax = 32;
constexpr int kHoldTokenChars = 32;  // net/PROTOCOL.md, "Hold token"
constexpr int kTicketIdChars = 36;   // a UUID in text form
// Error codes of net/PROTOCOL.md, "Errors"; 0 stands for anything else (transport, Redis).
constexpr int kErrorCodesMax = 16;
constexpr int kErrorSeatTaken = 4;
constexpr int kErrorHoldExpired = 5;
constexpr int kErrorBusy = 9;
constexpr int kErrorOther = 0;
// The longest rest a BUSY answer can ask of a slot: a larger retry_after_ms (or Retry-After) is
// taken as this, so a server's bad number can neither overflow a deadline nor park a slot for
// ever.
constexpr int64_t kRetryAfterMsMax = 60'000;

enum class OperationKind : uint8_t {
  kHold,      // hold `seats`, all or nothing
  kHoldBest,  // hold `best_count` adjacent seats in `zone`
  kBuy,       // hold and confirm `seats` in one step
  kConfirm,   // confirm the hold `hold_token`
  kRelease,   // release the hold `hold_token`
};

const char* operation_name(OperationKind kind);

struct Operation {
  OperationKind kind = OperationKind::kHold;
  uint8_t seat_count = 0;
  uint16_t best_count = 0;
  uint32_t zone = 0;
  std::array<uint32_t, kOperationSeatsMax> seats{};
  std::array<char, kHoldTokenChars> hold_token{};  // confirm, release
  int64_t intended_ns = 0;       // when the schedule meant it to leave: latency counts from here
  uint32_t held_seat_count = 0;  // confirm, release: how many seats the hold has
};

enum class ReplyStatus : uint8_t { kOk, kConflict, kError };

struct TicketSeen {
  uint32_t seat_index = 0;
  std::array<char, kTicketIdChars> id{};  // a shorter id (a Redis token) is NUL-padded
};

struct Reply {
  uint32_t tag = 0;  // the request's tag, as Codec::encode got it
  ReplyStatus status = ReplyStatus::kError;
  int error_code = kErrorOther;  // kError, kConflict: a net/PROTOCOL.md code, or kErrorOther
  bool has_hold_token = false;
  std::array<char, kHoldTokenChars> hold_token{};
  uint32_t seat_count = 0;  // a hold's seats (its result lists them)
  std::array<uint32_t, kOperationSeatsMax> seats{};
  uint32_t ticket_count = 0;  // buy, confirm
  std::array<TicketSeen, kOperationSeatsMax> tickets{};
  int64_t retry_after_ms = -1;  // BUSY: when the server asked to be tried again (-1: not said)
};

}  // namespace boxoffice::load
