// Codec: one connection's wire format for boxoffice-load. encode() appends one request to the
// connection's output; the bytes read from the socket go into input_space()/input_added(), and
// next() takes complete replies out of them one at a time. Every reply carries the tag its
// request was encoded with: msgpack-rpc sends it as the msgid (answers may come out of order);
// HTTP/1.1 and RESP answer in order, so their codecs remember the tags in a FIFO.
//
// Implementations: RpcCodec (msgpack-rpc, net/PROTOCOL.md), HttpCodec (the /v1 routes,
// net/HTTP_API.md), RedisCodec (SET NX PX / EVALSHA, parsed with hiredis's reader).
//
// Thread safety: none; a codec belongs to one connection, driven by one worker thread. Memory is
// sized at construction for `pipeline_depth` requests in flight and never grows afterwards
// (except hiredis's reader, which manages its own buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shm/check.h"
#include "tools/load/operation.h"

namespace boxoffice::load {

// Bytes waiting to be written to a socket; fixed capacity, compacted after each write.
class OutputBuffer {
 public:
  explicit OutputBuffer(size_t capacity_bytes) : data_(capacity_bytes) {}
  // Inline: a msgpack packer writes each element (1-9 bytes, a length known at compile time)
  // separately, and an out-of-line write made each one a call to memcpy (7% of the client's
  // CPU under pipelined holds). Aborts on overflow: a sizing bug.
  void write(const char* bytes, size_t size) {
    BOXOFFICE_ASSERT(size <= data_.size() - end_);  // sized for every request a connection queues
    std::memcpy(data_.data() + end_, bytes, size);
    end_ += size;
  }
  void append(std::string_view text) { write(text.data(), text.size()); }
  const char* pending() const { return data_.data() + begin_; }
  size_t pending_bytes() const { return end_ - begin_; }
  size_t free_bytes() const { return data_.size() - end_; }
  void consume(size_t size_bytes);
  void compact();

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

enum class ParseStatus : uint8_t {
  kReply,     // *reply holds one complete reply
  kNeedMore,  // no complete reply in the input yet
  kBroken,    // the input cannot be a reply: the connection cannot be trusted any more
};

class Codec {
 public:
  virtual ~Codec() = default;
  // The largest request encode() writes: the output buffer is sized from it.
  virtual size_t request_bytes_max() const = 0;
  virtual void encode(const Operation& operation, uint32_t tag, OutputBuffer* out) = 0;
  virtual std::span<char> input_space() = 0;  // empty: the input is full (a reply too large)
  virtual void input_added(size_t bytes) = 0;
  virtual ParseStatus next(Reply* reply) = 0;
};

struct TargetOptions {
  std::string event;
  uint32_t hold_ttl_ms = 600'000;  // longer than any run: holds do not expire under us
  uint32_t pipeline_depth = 1;
  // RedisCodec: the SHA1s of its loaded scripts (redis_codec.h)
  std::string redis_script_sha;  // hold or buy many seats
  std::string redis_confirm_sha;
  std::string redis_release_sha;
};

enum class TargetKind : uint8_t { kBoxoffice, kHttp, kRedis };

std::unique_ptr<Codec> make_codec(TargetKind kind, const TargetOptions& options);

}  // namespace boxoffice::load
