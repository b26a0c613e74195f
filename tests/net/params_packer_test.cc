// ParamsPacker gives the bytes the HTTP adapter packed before through a JSON tree
// (parse_json_document, then json::to_msgpack of [0, 0, method, params]).
#include "net/params_packer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/json_document.h"

namespace boxoffice::net {
namespace {

using nlohmann::json;

constexpr uint32_t kDepthMax = 12;

// The tree way: the body's object, then `event` from the path over it.
std::vector<uint8_t> through_tree(const std::string& body, const std::string& event) {
  json params = json::object();
  if (!body.empty()) {
    EXPECT_TRUE(
        parse_json_document(body, static_cast<uint32_t>(body.size()), kDepthMax, "body", &params)
            .is_ok())
        << body;
  }
  params["event"] = event;
  return json::to_msgpack(json::array({0, 0, "hold", params}));
}

std::vector<uint8_t> through_packer(ParamsPacker* packer, const std::string& body,
                                    const std::string& event) {
  packer->begin("hold");
  if (!body.empty()) {
    EXPECT_TRUE(packer->add_body(body, kDepthMax)) << body;
  }
  packer->add_string("event", event);
  const std::span<const uint8_t> bytes = packer->finish();
  return {bytes.begin(), bytes.end()};
}

TEST(ParamsPacker, GivesTheBytesOfTheTree) {
  ParamsPacker packer;
  const std::vector<std::string> bodies = {
      "",
      "{}",
      R"({"seats": [12]})",
      R"({"seats": [1, 2, {"zone": 1, "row": "A", "seat": "7"}], "ttl_ms": 60000})",
      R"({"ttl_ms": 5, "seats": [3], "buyer": "b", "event": "ignored", "zone": -1})",
      R"({"b": 1, "a": 2, "b": 3, "c": {"y": 1, "x": 2, "y": [true, false, null]}})",
      R"({"n": [0, -0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296]})",
      R"({"n": [-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649]})",
      R"({"n": [18446744073709551615, -9223372036854775808, 1.5, 0.1, 1e300, -2.5e-8, 3.0]})",
      R"({"s": "\u00e9t\u00e9 \ud83c\udfab \"q\" \\ \n", "t": "x"})",
      R"({"long": ")" + std::string(300, 'x') + R"(", "longer": ")" + std::string(70000, 'y') +
          R"("})",
      R"({"many": [)" +
          [] {
            std::string items;
            for (int i = 0; i < 70000; ++i) items += (i ? "," : "") + std::to_string(i);
            return items;
          }() +
          "]}",
      R"({"deep": [[[[[[[[[[1]]]]]]]]]]})",
  };
  for (const std::string& body : bodies) {
    EXPECT_EQ(through_packer(&packer, body, "E1"), through_tree(body, "E1")) << body.substr(0, 200);
  }
}

// Random objects, written as text with repeated keys now and then.
std::string random_value(std::mt19937* random, int depth);

std::string random_object(std::mt19937* random, int depth) {
  static const char* const kKeys[] = {"a", "b", "seats", "zone", "ab", "", "é", "B", "a0"};
  std::string text = "{";
  const int entries = std::uniform_int_distribution<int>(0, 20)(*random);
  for (int i = 0; i < entries; ++i) {
    if (i > 0) text += ",";
    text += json(kKeys[(*random)() % std::size(kKeys)]).dump() + ":" + random_value(random, depth);
  }
  return text + "}";
}

std::string random_value(std::mt19937* random, int depth) {
  switch ((*random)() % (depth < 3 ? 8 : 6)) {
    case 0:
      return "null";
    case 1:
      return (*random)() % 2 ? "true" : "false";
    case 2:
      return std::to_string(static_cast<int64_t>((*random)()) - (1ll << 31) * ((*random)() % 3));
    case 3:
      return json(std::uniform_real_distribution<double>(-1e6, 1e6)(*random)).dump();
    case 4:
      return json(std::string((*random)() % 40, static_cast<char>('a' + (*random)() % 26))).dump();
    case 5:
      return std::to_string((*random)() % 300);
    case 6:
      return random_object(random, depth + 1);
    default: {
      std::string text = "[";
      const int items = static_cast<int>((*random)() % 20);
      for (int i = 0; i < items; ++i) text += (i ? "," : "") + random_value(random, depth + 1);
      return text + "]";
    }
  }
}

TEST(ParamsPacker, RandomBodiesGiveTheBytesOfTheTree) {
  ParamsPacker packer;
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    const std::string body = random_object(&random, 0);
    ASSERT_EQ(through_packer(&packer, body, "E"), through_tree(body, "E")) << body;
  }
}

TEST(ParamsPacker, RefusesWhatTheCallerAnswersWithAnErrorAndAddsNothing) {
  ParamsPacker packer;
  std::string nested_11 = std::string(11, '[') + std::string(11, ']');
  std::string nested_12 = std::string(12, '[') + std::string(12, ']');
  for (const std::string& body : {std::string("[1]"), std::string("1"), std::string("\"x\""),
                                  std::string("{"), std::string("{} x"), std::string(" "),
                                  std::string("{\"a\": 1e400}"), R"({"a": )" + nested_12 + "}"}) {
    packer.begin("hold");
    packer.add_string("idempotency_key", "k");
    EXPECT_FALSE(packer.add_body(body, kDepthMax)) << body;
    packer.add_string("event", "E");
    const std::span<const uint8_t> bytes = packer.finish();
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()),
              json::to_msgpack(
                  json::array({0, 0, "hold", json{{"idempotency_key", "k"}, {"event", "E"}}})))
        << body;
  }
  // One level short of the limit is still packed.
  const std::string body = R"({"a": )" + nested_11 + "}";
  EXPECT_EQ(through_packer(&packer, body, "E"), through_tree(body, "E"));
}

}  // namespace
}  // namespace boxoffice::net
