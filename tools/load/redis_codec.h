// RedisCodec: the seat-lock commands a Redis-based booking service would run for the same
// operations, so boxoffice-load can put boxofficed next to Redis on one machine. Seat i of event
// E is the key seat:{E}:{i}; its value is the holder's token, unique per request (32 characters:
// "<connection>-<request serial>", zero-padded), which is also the hold token and, once sold,
// the ticket id the client records:
//   hold, 1 seat   SET seat:{E}:{i} <token> NX PX <ttl_ms>     +OK: held, nil: taken
//   buy,  1 seat   SET seat:{E}:{i} <token> NX                 (no expiry: sold)
//   hold/buy, N    EVALSHA <hold-many> N seat:{E}:{i1} .. <token> <ttl_ms or 0>
//                  kHoldManyScript checks that no key exists (EXISTS each), then sets every key
//                  (with PX when ttl_ms > 0), all or nothing as Lua scripts run atomically;
//                  returns 1 (held) or 0 (a key was taken: conflict)
//   confirm        EVALSHA <confirm> N seat:{E}:{i1} .. <token>: every key still holds the
//                  token (the hold has not expired), then PERSIST each: 1, else 0 (HOLD_EXPIRED)
//   release        EVALSHA <release> N ... <token>: the same check, then DEL each
// Any error reply (NOSCRIPT, OOM, ...) counts as an error with code 0. hold.best has no Redis
// form here: boxoffice-load refuses the scenario that needs it. Replies are
// parsed with hiredis's redisReader and matched to requests in order.
//
// Thread safety: none (one connection, one thread).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tools/load/codec.h"
#include "tools/load/in_order_queue.h"

struct redisContext;
struct redisReader;

namespace boxoffice::load {

// The key of seat `seat` of event `event`: seat:{event}:seat.
std::string redis_seat_key(std::string_view event, uint32_t seat);

// A blocking hiredis connection to HOST:PORT (scripts, --verify), over connect_tcp(); null and
// *error when it cannot be made. Free it with redisFree().
redisContext* redis_connect(const std::string& addr, std::string* error);

extern const char kHoldManyScript[];
extern const char kConfirmScript[];
extern const char kReleaseScript[];

class RedisCodec : public Codec {
 public:
  explicit RedisCodec(const TargetOptions& options);
  ~RedisCodec() override;
  RedisCodec(const RedisCodec&) = delete;
  RedisCodec& operator=(const RedisCodec&) = delete;

  size_t request_bytes_max() const override { return 4096; }
  void encode(const Operation& operation, uint32_t tag, OutputBuffer* out) override;
  std::span<char> input_space() override { return {scratch_.data(), scratch_.size()}; }
  void input_added(size_t bytes) override;
  ParseStatus next(Reply* reply) override;

  static bool supports(OperationKind kind) {
    return kind == OperationKind::kHold || kind == OperationKind::kBuy ||
           kind == OperationKind::kConfirm || kind == OperationKind::kRelease;
  }

 private:
  // What a reply needs from its request: RESP answers in order, so a ring in send order.
  struct Sent {
    uint32_t tag;
    OperationKind kind;
    uint8_t seat_count;
    std::array<uint32_t, kOperationSeatsMax> seats;
    std::array<char, kHoldTokenChars> token;
  };

  TargetOptions options_;
  redisReader* reader_;
  std::vector<char> scratch_;
  InOrderQueue<Sent> sent_;
  uint64_t connection_id_;
  uint64_t request_serial_ = 0;
  bool broken_ = false;
};

}  // namespace boxoffice::load
