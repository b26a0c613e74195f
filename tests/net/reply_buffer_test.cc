// ReplyBuffer: bytes written in any sizes come back in order across growth, and a msgpack
// packer writing into it produces what it produces into msgpack::sbuffer.
#include "net/reply_buffer.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <string>
#include <string_view>

namespace boxoffice::net {
namespace {

std::string_view contents(const ReplyBuffer& buffer) { return {buffer.data(), buffer.size()}; }

TEST(ReplyBuffer, KeepsEveryByteInOrderAcrossGrowth) {
  ReplyBuffer buffer;
  std::string expected;
  for (int i = 0; i < 3000; ++i) {  // 1-byte writes past several doublings
    const char c = static_cast<char>('a' + i % 26);
    buffer.write(&c, 1);
    expected += c;
  }
  const std::string big(ReplyBuffer::kInitialBytes * 9 + 7, 'z');  // one write needing > 2x
  buffer.write(big.data(), big.size());
  expected += big;
  EXPECT_EQ(contents(buffer), expected);
}

TEST(ReplyBuffer, ClearEmptiesItAndItFillsAgain) {
  ReplyBuffer buffer;
  const std::string first(2000, 'x');
  buffer.write(first.data(), first.size());
  buffer.clear();
  EXPECT_EQ(buffer.size(), 0u);
  buffer.write("ok", 2);
  EXPECT_EQ(contents(buffer), "ok");
}

TEST(ReplyBuffer, PacksTheSameBytesAsMsgpackSbuffer) {
  ReplyBuffer ours;
  msgpack::sbuffer theirs;
  msgpack::packer<ReplyBuffer> a(ours);
  msgpack::packer<msgpack::sbuffer> b(theirs);
  auto pack_all = [](auto& pk) {
    pk.pack_array(6);
    pk.pack(1);
    pk.pack(uint32_t{4'000'000'000});
    pk.pack_nil();
    pk.pack(int64_t{-1234567890123});
    pk.pack(std::string_view("seat.changed"));
    pk.pack(std::string(1000, 's'));
  };
  pack_all(a);
  pack_all(b);
  EXPECT_EQ(contents(ours), std::string_view(theirs.data(), theirs.size()));
}

}  // namespace
}  // namespace boxoffice::net
