// RedisCodec: the seat-lock commands a Redis-based booking service would run for the same
// operations, so boxoffice-load can put boxofficed next to Redis on one machine. Seat i of event
// E is the key seat:{E}:{i}; its value is the holder's token (one per request:
// "<connection>-<tag>"):
//   hold, 1 seat   SET seat:{E}:{i} <token> NX PX <ttl_ms>     +OK: held, nil: taken
//   buy,  1 seat   SET seat:{E}:{i} <token> NX                 (no expiry: sold)
//   hold/buy, N    EVALSHA <sha> N seat:{E}:{i1} .. <token> <ttl_ms or 0>
//                  with kHoldManyScript: checks that no key exists (EXISTS each), then sets every
//                  key (with PX when ttl_ms > 0), all or nothing as Lua scripts run atomically;
//                  returns 1 (held) or 0 (a key was taken: conflict)
// Any error reply (NOSCRIPT, OOM, ...) counts as an error with code 0. hold.best, hold.confirm,
// hold.release and event.stats have no Redis form here: boxoffice-load refuses the scenarios that
// need them. Replies are parsed with hiredis's redisReader and matched to requests in order.
//
// Thread safety: none (one connection, one thread).
#pragma once

#include "tools/load/codec.h"
#include "tools/load/in_order_tags.h"

struct redisReader;

namespace boxoffice::load {

extern const char kHoldManyScript[];

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
    return kind == OperationKind::kHold || kind == OperationKind::kBuy;
  }

 private:
  TargetOptions options_;
  redisReader* reader_;
  std::vector<char> scratch_;
  InOrderTags tags_;
  uint64_t connection_id_;
  bool broken_ = false;
};

}  // namespace boxoffice::load
