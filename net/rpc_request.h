// rpc_request: framing and decoding of MessagePack-RPC requests (net/PROTOCOL.md).
//
// decode_request() looks at the bytes a connection has received and either finds one complete
// msgpack object at the front (a frame) or says more bytes are needed, or that the bytes can
// never be a frame (the connection must be closed). It walks the object once with msgpack-c's
// visitor parser: nothing of the request is copied (strings are views into the input; only the
// parser's small stack is allocated), and every size a peer controls is bounded (frame bytes,
// nesting depth, seats per request). A frame that is
// valid msgpack but not a valid request is still consumed, with `error` set so the caller can
// answer BAD_REQUEST.
//
// Thread safety: pure function; the Request points into the caller's input buffer and is
// valid while those bytes are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "shm/table_format.h"

namespace boxoffice::net {

enum class Method : uint8_t {
  kUnknown,
  kPing,
  kAuth,
  kEventCreate,
  kEventGet,
  kEventList,
  kEventStats,
  kHold,
  kHoldBest,
  kHoldExtend,
  kHoldRelease,
  kHoldConfirm,
  kBuy,
  kTicketGet,
  kTicketVoid,
  kSeatGet,
  kAvailability,
  kSubscribe,
};

std::string_view method_name(Method method);
Method method_from_name(std::string_view name);

// A seat as a request names it: its index, or zone + row + seat label.
struct SeatRef {
  bool by_label = false;
  uint32_t index = 0;
  int64_t zone = 0;
  std::string_view row;  // empty in general admission
  std::string_view seat;
};

// The seats of a request. Only the first Request::seat_count are meaningful, and the decoder
// writes each of those whole, so making a Request (once per frame) leaves these 1.5 KB as they
// were instead of zeroing them.
struct SeatRefs {
  SeatRefs() {}  // the items are left unwritten on purpose
  SeatRef& operator[](size_t i) { return items[i]; }
  const SeatRef& operator[](size_t i) const { return items[i]; }
  union {
    SeatRef items[shm::kSeatsPerHoldMax];
  };
};

struct Request {
  uint32_t msgid = 0;
  Method method = Method::kUnknown;
  const char* error = nullptr;  // set when the frame is not a valid request (BAD_REQUEST)

  // Params (absent fields keep these defaults; `has_*` tells presence where 0 is meaningful).
  std::string_view event, hold, ticket, idempotency_key, buyer, key, id, name, state;
  int64_t zone = 0;
  bool has_zone = false;
  int64_t count = 0;
  bool has_count = false;
  int64_t ttl_ms = 0;
  bool want_layout = false;
  bool want_bitmap = false;
  bool has_seats = false;
  uint32_t seat_count = 0;
  SeatRefs seats;               // seats[0, seat_count)
  bool too_many_seats = false;  // more than kSeatsPerHoldMax given: LIMIT_EXCEEDED
  bool has_seat = false;        // seat.get's "seat"
  SeatRef seat;
  bool has_layout = false;
  std::span<const uint8_t> params;  // the raw params map (event.create decodes its layout)
};

struct FrameLimits {
  uint32_t frame_bytes_max = 1u << 20;
  uint32_t depth_max = 16;
};

enum class FrameResult {
  kNeedMore,     // no complete object yet (and not over the limit)
  kFrame,        // *frame_bytes bytes form one object; *request is filled
  kUnframeable,  // never a frame: malformed msgpack, too deep, or over frame_bytes_max
};

FrameResult decode_request(std::span<const uint8_t> input, const FrameLimits& limits,
                           Request* request, size_t* frame_bytes);

}  // namespace boxoffice::net
