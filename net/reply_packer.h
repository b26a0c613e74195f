// ReplyPacker: msgpack-c's packer over a ReplyBuffer, plus strings whose length is a
// compile-time constant (map keys, hold tokens, ticket ids) written straight into the buffer
// with that constant, so the copy becomes a few moves. msgpack-c's own path for them is an
// out-of-line append_buffer and a call to memcpy: ~3% of a worker's samples under pipelined
// holds, whose replies are mostly keys (bench/README.md). The bytes are what msgpack-c packs for
// the same string.
//
// Thread safety: none; one owner, like its buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>

#include "net/reply_buffer.h"

namespace boxoffice::net {

class ReplyPacker : public msgpack::packer<ReplyBuffer> {
 public:
  explicit ReplyPacker(ReplyBuffer& buffer) : msgpack::packer<ReplyBuffer>(buffer), out_(buffer) {}

  // A map key: a string literal, without its terminating NUL.
  template <size_t N>
  [[gnu::always_inline]] void pack_key(const char (&name)[N]) {
    pack_fixed_str<N - 1>(name);
  }
  // The N bytes at `text` as a msgpack string (fixstr below 32 bytes, else str8).
  template <size_t N>
  [[gnu::always_inline]] void pack_fixed_str(const char* text) {
    static_assert(N <= UINT8_MAX, "fixstr or str8");
    if constexpr (N < 32) {
      const char header = static_cast<char>(0xa0 | N);
      out_.write(&header, 1);
    } else {
      const char header[2] = {static_cast<char>(0xd9), static_cast<char>(N)};
      out_.write(header, 2);
    }
    out_.write(text, N);
  }

 private:
  ReplyBuffer& out_;
};

}  // namespace boxoffice::net
