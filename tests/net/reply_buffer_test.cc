// ReplyBuffer: bytes written in any sizes come back in order across growth, and a msgpack
// packer writing into it produces what it produces into msgpack::sbuffer; ReplyPacker's
// fixed-length strings are the bytes msgpack-c packs for them.
#include "net/reply_buffer.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "net/reply_packer.h"

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

// Each fixed-length string packed by ReplyPacker and by msgpack-c's own packer (fixstr below 32
// bytes, str8 from 32), then a key.
template <size_t... N>
void pack_fixed_strings(ReplyPacker& ours, msgpack::packer<msgpack::sbuffer>& theirs,
                        const std::string& text, std::index_sequence<N...>) {
  (ours.pack_fixed_str<N>(text.data()), ...);
  (theirs.pack(std::string_view(text.data(), N)), ...);
}

TEST(ReplyPacker, FixedStringsAndKeysAreTheBytesMsgpackPacks) {
  ReplyBuffer buffer;
  ReplyPacker ours(buffer);
  msgpack::sbuffer expected;
  msgpack::packer<msgpack::sbuffer> theirs(expected);
  std::string text(255, ' ');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  pack_fixed_strings(ours, theirs, text,
                     std::index_sequence<0, 1, 5, 31, 32, 33, 36, 100, 254, 255>{});
  ours.pack_map(1);
  ours.pack_key("expires_at_ms");
  ours.pack(int64_t{1795312593457});
  theirs.pack_map(1);
  theirs.pack(std::string_view("expires_at_ms"));
  theirs.pack(int64_t{1795312593457});
  EXPECT_EQ(contents(buffer), std::string_view(expected.data(), expected.size()));
}

}  // namespace
}  // namespace boxoffice::net
