// rpc_request: framing and decoding of MessagePack-RPC requests, with msgpack-c's packer as the
// client: every field, partial frames at every byte boundary, pipelines, hostile frames.
#include "net/rpc_request.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "core/msgpack_document.h"

namespace boxoffice::net {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

std::span<const uint8_t> bytes_of(const msgpack::sbuffer& buffer) {
  return {reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size()};
}
std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Packs [0, msgid, method, {params...}] where `params` packs `pairs` key/value pairs.
template <typename Params>
void pack_request(msgpack::sbuffer* out, uint32_t msgid, const std::string& method, uint32_t pairs,
                  Params&& params) {
  Packer pk(*out);
  pk.pack_array(4);
  pk.pack(0);
  pk.pack(msgid);
  pk.pack(method);
  pk.pack_map(pairs);
  params(pk);
}

FrameResult decode(std::span<const uint8_t> bytes, Request* request, size_t* used,
                   FrameLimits limits = {}) {
  return decode_request(bytes, limits, request, used);
}

TEST(RpcRequest, HoldWithIndicesAndLabels) {
  msgpack::sbuffer buffer;
  pack_request(&buffer, 77, "hold", 3, [](Packer& pk) {
    pk.pack(std::string("event"));
    pk.pack(std::string("Event1"));
    pk.pack(std::string("seats"));
    pk.pack_array(3);
    pk.pack(12);
    pk.pack_map(3);
    pk.pack(std::string("zone"));
    pk.pack(1);
    pk.pack(std::string("row"));
    pk.pack(std::string("A"));
    pk.pack(std::string("seat"));
    pk.pack(std::string("7"));
    pk.pack_map(2);  // general admission: no row
    pk.pack(std::string("zone"));
    pk.pack(9);
    pk.pack(std::string("seat"));
    pk.pack(std::string("40"));
    pk.pack(std::string("ttl_ms"));
    pk.pack(60000);
  });
  Request r;
  size_t used = 0;
  ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
  EXPECT_EQ(used, buffer.size());
  EXPECT_EQ(r.error, nullptr) << r.error;
  EXPECT_EQ(r.msgid, 77u);
  EXPECT_EQ(r.method, Method::kHold);
  EXPECT_EQ(r.event, "Event1");
  EXPECT_EQ(r.ttl_ms, 60000);
  ASSERT_TRUE(r.has_seats);
  ASSERT_EQ(r.seat_count, 3u);
  EXPECT_FALSE(r.seats[0].by_label);
  EXPECT_EQ(r.seats[0].index, 12u);
  EXPECT_TRUE(r.seats[1].by_label);
  EXPECT_EQ(r.seats[1].zone, 1);
  EXPECT_EQ(r.seats[1].row, "A");
  EXPECT_EQ(r.seats[1].seat, "7");
  EXPECT_TRUE(r.seats[2].by_label);
  EXPECT_EQ(r.seats[2].zone, 9);
  EXPECT_EQ(r.seats[2].row, "");
  EXPECT_EQ(r.seats[2].seat, "40");
}

TEST(RpcRequest, EveryScalarParam) {
  msgpack::sbuffer buffer;
  pack_request(&buffer, 1, "hold.confirm", 12, [](Packer& pk) {
    for (const char* key :
         {"hold", "ticket", "idempotency_key", "buyer", "key", "id", "name", "state"}) {
      pk.pack(std::string(key));
      pk.pack(std::string("v-") + key);
    }
    pk.pack(std::string("zone"));
    pk.pack(3);
    pk.pack(std::string("count"));
    pk.pack(4);
    pk.pack(std::string("bitmap"));
    pk.pack(true);
    pk.pack(std::string("unknown_field"));  // ignored
    pk.pack_array(2);
    pk.pack(1);
    pk.pack(2);
  });
  Request r;
  size_t used;
  ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
  EXPECT_EQ(r.error, nullptr) << r.error;
  EXPECT_EQ(r.hold, "v-hold");
  EXPECT_EQ(r.ticket, "v-ticket");
  EXPECT_EQ(r.idempotency_key, "v-idempotency_key");
  EXPECT_EQ(r.buyer, "v-buyer");
  EXPECT_EQ(r.key, "v-key");
  EXPECT_EQ(r.id, "v-id");
  EXPECT_EQ(r.name, "v-name");
  EXPECT_EQ(r.state, "v-state");
  EXPECT_TRUE(r.has_zone);
  EXPECT_EQ(r.zone, 3);
  EXPECT_TRUE(r.has_count);
  EXPECT_EQ(r.count, 4);
  EXPECT_TRUE(r.want_bitmap);
}

TEST(RpcRequest, EveryMethodNameRoundTrips) {
  for (int m = static_cast<int>(Method::kPing); m <= static_cast<int>(Method::kSubscribe); ++m) {
    const auto method = static_cast<Method>(m);
    msgpack::sbuffer buffer;
    pack_request(&buffer, 5, std::string(method_name(method)), 0, [](Packer&) {});
    Request r;
    size_t used;
    ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
    EXPECT_EQ(r.method, method);
    EXPECT_EQ(r.error, nullptr);
  }
}

TEST(RpcRequest, EventCreateExposesItsParamsMap) {
  const std::string layout =
      R"({"venue":"V","zones":[{"id":1,"price_cents":500,"rows":[{"label":"A","seats":3}]}]})";
  const std::vector<uint8_t> layout_msgpack =
      nlohmann::json::to_msgpack(nlohmann::json::parse(layout));
  // The layout is a nested map, packed from its JSON.
  msgpack::sbuffer frame;
  Packer pk(frame);
  pk.pack_array(4);
  pk.pack(0);
  pk.pack(9);
  pk.pack(std::string("event.create"));
  pk.pack_map(2);
  pk.pack(std::string("id"));
  pk.pack(std::string("E1"));
  pk.pack(std::string("layout"));
  frame.write(reinterpret_cast<const char*>(layout_msgpack.data()), layout_msgpack.size());
  Request r;
  size_t used;
  ASSERT_EQ(decode(bytes_of(frame), &r, &used), FrameResult::kFrame);
  EXPECT_EQ(r.error, nullptr) << r.error;
  EXPECT_TRUE(r.has_layout);
  EXPECT_EQ(r.id, "E1");
  nlohmann::json params;
  ASSERT_TRUE(msgpack_to_json(r.params, {}, &params).is_ok());
  EXPECT_EQ(params["id"], "E1");
  EXPECT_EQ(params["layout"], nlohmann::json::parse(layout));
}

TEST(RpcRequest, PartialFramesAtEveryByteBoundary) {
  msgpack::sbuffer buffer;
  pack_request(&buffer, 4242, "buy", 3, [](Packer& pk) {
    pk.pack(std::string("event"));
    pk.pack(std::string("Event1"));
    pk.pack(std::string("seats"));
    pk.pack_array(2);
    pk.pack(1000);
    pk.pack(70000);
    pk.pack(std::string("idempotency_key"));
    pk.pack(std::string(40, 'k'));
  });
  const auto bytes = bytes_of(buffer);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    Request r;
    size_t used = 0;
    ASSERT_EQ(decode(bytes.first(cut), &r, &used), FrameResult::kNeedMore) << "cut at " << cut;
  }
  Request r;
  size_t used = 0;
  ASSERT_EQ(decode(bytes, &r, &used), FrameResult::kFrame);
  EXPECT_EQ(used, bytes.size());
  EXPECT_EQ(r.msgid, 4242u);
  ASSERT_EQ(r.seat_count, 2u);
  EXPECT_EQ(r.seats[1].index, 70000u);
}

TEST(RpcRequest, HundredsPipelinedInOneBuffer) {
  msgpack::sbuffer buffer;
  constexpr uint32_t kRequests = 500;
  for (uint32_t i = 0; i < kRequests; ++i) {
    pack_request(&buffer, i, i % 2 ? "ping" : "seat.get", 2, [i](Packer& pk) {
      pk.pack(std::string("event"));
      pk.pack(std::string("E"));
      pk.pack(std::string("seat"));
      pk.pack(i);
    });
  }
  auto bytes = bytes_of(buffer);
  for (uint32_t i = 0; i < kRequests; ++i) {
    Request r;
    size_t used = 0;
    ASSERT_EQ(decode(bytes, &r, &used), FrameResult::kFrame);
    EXPECT_EQ(r.msgid, i);
    EXPECT_EQ(r.seat.index, i);
    bytes = bytes.subspan(used);
  }
  EXPECT_TRUE(bytes.empty());
}

TEST(RpcRequest, ValidMsgpackButNotARequestIsFramedWithAnError) {
  struct Case {
    const char* what;
    std::function<void(Packer&)> pack;
  };
  const std::vector<Case> cases = {
      {"scalar", [](Packer& pk) { pk.pack(7); }},
      {"array of 3",
       [](Packer& pk) {
         pk.pack_array(3);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("ping"));
       }},
      {"response type",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(1);
         pk.pack(1);
         pk.pack(std::string("ping"));
         pk.pack_map(0);
       }},
      {"negative msgid",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(-1);
         pk.pack(std::string("ping"));
         pk.pack_map(0);
       }},
      {"msgid over 32 bits",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(uint64_t{1} << 33);
         pk.pack(std::string("ping"));
         pk.pack_map(0);
       }},
      {"method not a string",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(3);
         pk.pack_map(0);
       }},
      {"unknown method",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold.steal"));
         pk.pack_map(0);
       }},
      {"params array",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("ping"));
         pk.pack_array(0);
       }},
      {"event not a string",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold"));
         pk.pack_map(1);
         pk.pack(std::string("event"));
         pk.pack(5);
       }},
      {"seats a map",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold"));
         pk.pack_map(1);
         pk.pack(std::string("seats"));
         pk.pack_map(0);
       }},
      {"negative seat",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold"));
         pk.pack_map(1);
         pk.pack(std::string("seats"));
         pk.pack_array(1);
         pk.pack(-4);
       }},
      {"seat label an int",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold"));
         pk.pack_map(1);
         pk.pack(std::string("seats"));
         pk.pack_array(1);
         pk.pack_map(1);
         pk.pack(std::string("seat"));
         pk.pack(5);
       }},
      {"ttl a string",
       [](Packer& pk) {
         pk.pack_array(4);
         pk.pack(0);
         pk.pack(1);
         pk.pack(std::string("hold"));
         pk.pack_map(1);
         pk.pack(std::string("ttl_ms"));
         pk.pack(std::string("soon"));
       }},
  };
  for (const Case& c : cases) {
    msgpack::sbuffer buffer;
    Packer pk(buffer);
    c.pack(pk);
    Request r;
    size_t used = 0;
    ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame) << c.what;
    EXPECT_EQ(used, buffer.size()) << c.what;
    EXPECT_NE(r.error, nullptr) << c.what;
  }
}

TEST(RpcRequest, NonStringKeysNameNothing) {
  // {"event": "E1", [1]: "E2"}: the second value belongs to no known key.
  msgpack::sbuffer buffer;
  pack_request(&buffer, 3, "event.get", 2, [](Packer& pk) {
    pk.pack(std::string("event"));
    pk.pack(std::string("E1"));
    pk.pack_array(1);
    pk.pack(1);
    pk.pack(std::string("E2"));
  });
  Request r;
  size_t used;
  ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
  EXPECT_EQ(r.error, nullptr);
  EXPECT_EQ(r.event, "E1");
}

TEST(RpcRequest, MsgidSurvivesAnUnknownMethod) {
  msgpack::sbuffer buffer;
  pack_request(&buffer, 31337, "no.such.method", 0, [](Packer&) {});
  Request r;
  size_t used;
  ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
  EXPECT_EQ(r.msgid, 31337u);
  EXPECT_NE(r.error, nullptr);
}

TEST(RpcRequest, MoreSeatsThanTheCeilingAreFlagged) {
  msgpack::sbuffer buffer;
  pack_request(&buffer, 1, "hold", 1, [](Packer& pk) {
    pk.pack(std::string("seats"));
    pk.pack_array(1000);
    for (int i = 0; i < 1000; ++i) pk.pack(i);
  });
  Request r;
  size_t used;
  ASSERT_EQ(decode(bytes_of(buffer), &r, &used), FrameResult::kFrame);
  EXPECT_TRUE(r.too_many_seats);
  EXPECT_EQ(r.seat_count, shm::kSeatsPerHoldMax);
}

TEST(RpcRequest, UnframeableBytes) {
  Request r;
  size_t used;
  // Reserved type byte.
  EXPECT_EQ(decode(bytes_of(std::string("\xc1", 1)), &r, &used), FrameResult::kUnframeable);
  // Nesting beyond the depth limit.
  const std::string deep(100'000, '\x91');
  EXPECT_EQ(decode(bytes_of(deep), &r, &used), FrameResult::kUnframeable);
  // Headers claiming 2^32-1 items/bytes: wait for more, until the frame limit is reached.
  FrameLimits small;
  small.frame_bytes_max = 64;
  for (const std::string& claim :
       {std::string("\xdd\xff\xff\xff\xff", 5), std::string("\xdf\xff\xff\xff\xff", 5),
        std::string("\xdb\xff\xff\xff\xff", 5), std::string("\xc6\xff\xff\xff\xff", 5)}) {
    EXPECT_EQ(decode(bytes_of(claim), &r, &used, small), FrameResult::kNeedMore);
    const std::string filled = claim + std::string(100, '\x01');
    EXPECT_EQ(decode(bytes_of(filled), &r, &used, small), FrameResult::kUnframeable);
  }
}

TEST(RpcRequest, EmptyInputNeedsMore) {
  Request r;
  size_t used;
  EXPECT_EQ(decode({}, &r, &used), FrameResult::kNeedMore);
}

}  // namespace
}  // namespace boxoffice::net
