// RpcCodec: boxoffice-load's msgpack-rpc wire format (net/PROTOCOL.md). Requests are
// [0, tag, method, {params}] with the tag as msgid; replies [1, msgid, error, result] are framed
// and read in one pass of msgpack-c's visitor API over the receive buffer (no object tree), which
// keeps only what boxoffice-load needs: msgid, the error code, the hold token, the held seats'
// indices, the tickets (id and seat index) and a BUSY answer's retry_after_ms.
//
// Methods: hold {event, seats, ttl_ms}; hold.best {event, zone, count, ttl_ms}; buy {event, seats,
// buyer}; hold.confirm {hold, buyer}; hold.release {hold}. SEAT_TAKEN (4) is a conflict, any
// other error an error.
//
// Thread safety: none (one connection, one thread).
#pragma once

#include "tools/load/codec.h"
#include "tools/load/input_buffer.h"

namespace boxoffice::load {

class RpcCodec : public Codec {
 public:
  explicit RpcCodec(const TargetOptions& options);

  size_t request_bytes_max() const override { return 512; }
  void encode(const Operation& operation, uint32_t tag, OutputBuffer* out) override;
  std::span<char> input_space() override { return input_.space(); }
  void input_added(size_t bytes) override { input_.added(bytes); }
  ParseStatus next(Reply* reply) override;

  // One reply from the front of `bytes`: kReply with *consumed_bytes set, kNeedMore, kBroken.
  static ParseStatus parse_reply(const char* bytes, size_t size_bytes, Reply* reply,
                                 size_t* consumed_bytes);

 private:
  TargetOptions options_;
  InputBuffer input_;
};

}  // namespace boxoffice::load
