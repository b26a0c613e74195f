// append_json writes the text the HTTP adapter wrote before through a JSON tree
// (json::from_msgpack, binary values as base64, dump with invalid UTF-8 replaced).
#include "net/msgpack_json.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace boxoffice::net {
namespace {

using nlohmann::json;
using Packer = msgpack::packer<msgpack::sbuffer>;

void binary_to_base64(json* value) {
  if (value->is_binary()) {
    std::string text;
    append_base64(value->get_binary(), &text);
    *value = text;
  } else if (value->is_structured()) {
    for (json& child : *value) binary_to_base64(&child);
  }
}

std::string through_tree(const msgpack::sbuffer& bytes) {
  json value = json::from_msgpack(std::string_view(bytes.data(), bytes.size()), true, false);
  EXPECT_FALSE(value.is_discarded());
  binary_to_base64(&value);
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string through_writer(const msgpack::sbuffer& bytes) {
  const msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  std::string text;
  append_json(handle.get(), &text);
  return text;
}

void pack_string(Packer* pk, std::string_view text) {
  pk->pack_str(static_cast<uint32_t>(text.size()));
  pk->pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

TEST(MsgpackJson, WritesTheTextOfTheTree) {
  msgpack::sbuffer bytes;
  Packer pk(bytes);
  pk.pack_map(12);
  pack_string(&pk, "zeta");
  pk.pack_uint64(UINT64_MAX);
  pack_string(&pk, "alpha");
  pk.pack_int64(INT64_MIN);
  pack_string(&pk, "escapes");
  pack_string(&pk, std::string("\"\\/\b\f\n\r\t\x01\x1f\x7f end") + '\0');
  pack_string(&pk, "utf8");
  pack_string(&pk, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x8e\xab");
  pack_string(&pk, "broken");
  pack_string(&pk, "a\xff\xc3(b\xed\xa0\x80");
  pack_string(&pk, "floats");
  pk.pack_array(6);
  pk.pack_double(0.1);
  pk.pack_float(1.5f);
  pk.pack_double(1e300);
  pk.pack_double(-0.0);
  pk.pack_double(3.0);
  pk.pack_double(std::numeric_limits<double>::infinity());
  pack_string(&pk, "bin");
  pk.pack_bin(4);
  pk.pack_bin_body("\x00\x01\x02\xff", 4);
  pack_string(&pk, "ext");
  pk.pack_ext(2, 7);
  pk.pack_ext_body("\x10\x20", 2);
  pack_string(&pk, "alpha");  // repeated: the last one counts
  pk.pack_true();
  pack_string(&pk, "");
  pk.pack_nil();
  pack_string(&pk, "B");
  pk.pack_map(0);
  pack_string(&pk, "\xc3\xa9");  // keys go through the same escaping
  pk.pack_array(0);
  EXPECT_EQ(through_writer(bytes), through_tree(bytes));
}

void pack_random(std::mt19937* random, int depth, Packer* pk) {
  static const char* const kKeys[] = {"a", "b", "hold", "seats", "", "A", "a\"", "\xc3\xa9"};
  switch ((*random)() % (depth < 6 ? 10 : 8)) {
    case 0:
      pk->pack_nil();
      break;
    case 1:
      (*random)() % 2 ? pk->pack_true() : pk->pack_false();
      break;
    case 2:
      pk->pack_uint64((*random)() * uint64_t{(*random)()});
      break;
    case 3:
      pk->pack_int64(-static_cast<int64_t>((*random)() % 100000));
      break;
    case 4:
      pk->pack_double(std::uniform_real_distribution<double>(-1e9, 1e9)(*random));
      break;
    case 5: {
      std::string text((*random)() % 40, ' ');
      for (char& c : text) c = static_cast<char>((*random)() % ((*random)() % 8 ? 128 : 256));
      pack_string(pk, text);
      break;
    }
    case 6: {
      const std::string data((*random)() % 10, 'x');
      pk->pack_bin(static_cast<uint32_t>(data.size()));
      pk->pack_bin_body(data.data(), static_cast<uint32_t>(data.size()));
      break;
    }
    case 7:
      pack_string(pk, "plain text");
      break;
    case 8: {
      const uint32_t items = (*random)() % 20;
      pk->pack_array(items);
      for (uint32_t i = 0; i < items; ++i) pack_random(random, depth + 1, pk);
      break;
    }
    default: {
      const uint32_t entries = (*random)() % 20;
      pk->pack_map(entries);
      for (uint32_t i = 0; i < entries; ++i) {
        pack_string(pk, kKeys[(*random)() % std::size(kKeys)]);
        pack_random(random, depth + 1, pk);
      }
    }
  }
}

TEST(MsgpackJson, RandomValuesWriteTheTextOfTheTree) {
  std::mt19937 random(11);
  for (int round = 0; round < 3000; ++round) {
    msgpack::sbuffer bytes;
    Packer pk(bytes);
    pack_random(&random, 0, &pk);
    ASSERT_EQ(through_writer(bytes), through_tree(bytes));
  }
}

TEST(MsgpackJson, MapValueFindsTheLastOfRepeatedKeys) {
  msgpack::sbuffer bytes;
  Packer pk(bytes);
  pk.pack_map(3);
  pack_string(&pk, "replayed");
  pk.pack_false();
  pack_string(&pk, "other");
  pk.pack_nil();
  pack_string(&pk, "replayed");
  pk.pack_true();
  const msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object* replayed = map_value(handle.get(), "replayed");
  ASSERT_NE(replayed, nullptr);
  EXPECT_TRUE(replayed->via.boolean);
  EXPECT_EQ(map_value(handle.get(), "missing"), nullptr);
  EXPECT_EQ(map_value(handle.get().via.map.ptr[1].val, "other"), nullptr);  // not a map
}

}  // namespace
}  // namespace boxoffice::net
