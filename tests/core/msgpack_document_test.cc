// msgpack_document: a layout sent as a msgpack map means exactly what the JSON text means, and
// hostile msgpack (huge claimed sizes, deep nesting, truncation) is refused without allocating.
#include "core/msgpack_document.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "core/layout.h"
#include "tests/core/engine_fixture.h"

namespace boxoffice {
namespace {

using nlohmann::json;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(MsgpackDocument, ShippedLayoutsMeanTheSameInBothForms) {
  for (const char* name : {"cinema.json", "arena.json", "stadium.json"}) {
    SCOPED_TRACE(name);
    const std::string text = testing::read_layout(name);
    Layout from_text;
    ASSERT_TRUE(Layout::parse_json(text, {}, &from_text).is_ok());
    const std::vector<uint8_t> packed = json::to_msgpack(json::parse(text));
    json document;
    ASSERT_TRUE(msgpack_to_json(packed, {}, &document).is_ok());
    Layout from_msgpack;
    ASSERT_TRUE(Layout::from_document(document, {}, &from_msgpack).is_ok());
    EXPECT_EQ(from_msgpack.seat_count(), from_text.seat_count());
    EXPECT_EQ(from_msgpack.canonical_json(), from_text.canonical_json());
  }
}

TEST(MsgpackDocument, MapPackedByMsgpackC) {
  // The form a msgpack-rpc client sends: built with msgpack-c's packer, not from JSON.
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_map(2);
  pk.pack(std::string("venue"));
  pk.pack(std::string("Hall"));
  pk.pack(std::string("zones"));
  pk.pack_array(1);
  pk.pack_map(3);
  pk.pack(std::string("id"));
  pk.pack(7);
  pk.pack(std::string("price_cents"));
  pk.pack(-5);  // negative price: must be rejected like in JSON
  pk.pack(std::string("capacity"));
  pk.pack(100);
  json document;
  ASSERT_TRUE(msgpack_to_json({reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size()}, {},
                              &document)
                  .is_ok());
  Layout layout;
  const Status s = Layout::from_document(document, {}, &layout);
  EXPECT_EQ(s.code(), ErrorCode::kBadRequest);
  EXPECT_NE(s.message().find("price_cents"), std::string::npos) << s.to_string();
}

TEST(MsgpackDocument, HugeClaimedSizesAreRefused) {
  json out;
  const std::string map32("\xdf\xff\xff\xff\xff\xa1k\x01", 8);
  EXPECT_EQ(msgpack_to_json(bytes_of(map32), {}, &out).code(), ErrorCode::kLimitExceeded);
  const std::string array32("\xdd\xff\xff\xff\xff\x01", 6);
  EXPECT_EQ(msgpack_to_json(bytes_of(array32), {}, &out).code(), ErrorCode::kLimitExceeded);
  const std::string str32(
      "\xdb\xff\xff\xff\xff"
      "abc",
      8);
  EXPECT_FALSE(
      msgpack_to_json(bytes_of(str32), {}, &out).is_ok());  // short body: refused either way
  const std::string long_string = std::string("\xda\x13\x88", 3) + std::string(5000, 'x');
  EXPECT_EQ(msgpack_to_json(bytes_of(long_string), {}, &out).code(), ErrorCode::kLimitExceeded);
  const std::string bin32(
      "\xc6\xff\xff\xff\xff"
      "abc",
      8);
  EXPECT_FALSE(msgpack_to_json(bytes_of(bin32), {}, &out).is_ok());
  const std::string ext("\xd4\x01\x02", 3);
  EXPECT_FALSE(msgpack_to_json(bytes_of(ext), {}, &out).is_ok());
}

TEST(MsgpackDocument, StringsMustBeUtf8) {
  json out;
  auto str = [](const std::string& bytes) {
    return std::string(1, static_cast<char>(0xa0 | bytes.size())) + bytes;
  };
  EXPECT_TRUE(msgpack_to_json(bytes_of(str("Caf\xc3\xa9")), {}, &out).is_ok());
  EXPECT_TRUE(msgpack_to_json(bytes_of(str("\xf0\x9f\x8e\xab")), {}, &out).is_ok());  // U+1F3AB
  for (const std::string& bad :
       {std::string("V\xff"), std::string("\xc3"), std::string("\xc0\xaf"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("\x80")}) {
    EXPECT_EQ(msgpack_to_json(bytes_of(str(bad)), {}, &out).code(), ErrorCode::kBadRequest);
    // As a map key too: {bad: 1}
    EXPECT_EQ(msgpack_to_json(bytes_of("\x81" + str(bad) + "\x01"), {}, &out).code(),
              ErrorCode::kBadRequest);
  }
  // A layout with a bad venue never reaches the JSON serializer (which would throw).
  const std::string layout = "\x82" + str("venue") + str("V\xff") + str("zones") + "\x90";
  EXPECT_EQ(msgpack_to_json(bytes_of(layout), {}, &out).code(), ErrorCode::kBadRequest);
}

TEST(MsgpackDocument, DeepNestingIsRefused) {
  const std::string deep(100'000, '\x91');  // [[[[...
  json out;
  EXPECT_EQ(msgpack_to_json(bytes_of(deep + '\x01'), {}, &out).code(), ErrorCode::kLimitExceeded);
}

TEST(MsgpackDocument, MalformedInputIsBadRequest) {
  json out;
  EXPECT_EQ(msgpack_to_json(bytes_of(std::string("\x82\xa1"
                                                 "a",
                                                 3)),
                            {}, &out)
                .code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(msgpack_to_json(bytes_of(std::string("\x01\x02", 2)), {}, &out).code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(msgpack_to_json(bytes_of(std::string("\x81\x01\x02", 3)), {}, &out).code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(msgpack_to_json(bytes_of(std::string("\xc1", 1)), {}, &out).code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(msgpack_to_json({}, {}, &out).code(), ErrorCode::kBadRequest);
  DocumentLimits small;
  small.document_bytes_max = 4;
  EXPECT_EQ(
      msgpack_to_json(bytes_of(std::string("\x95\x01\x02\x03\x04\x05", 6)), small, &out).code(),
      ErrorCode::kLimitExceeded);
}

}  // namespace
}  // namespace boxoffice
