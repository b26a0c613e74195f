// Dispatcher: every method and its errors through the real decoder, engine and packer, with
// requests packed by msgpack-c and responses read back by an independent msgpack reader
// (nlohmann::json::from_msgpack).
#include "net/dispatcher.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/core/engine_fixture.h"

namespace boxoffice::net {
namespace {

using nlohmann::json;

class DispatcherTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    dispatcher_ = std::make_unique<Dispatcher>(engine_.get(), worker_.get(), options_for_test());
  }
  virtual DispatchOptions options_for_test() { return {}; }

  // Sends `params` (a JSON object, packed as a msgpack map) as method `method`; returns the
  // response as JSON: [1, msgid, error, result].
  json call(const std::string& method, const json& params) {
    std::vector<uint8_t> frame = {0x94, 0x00};
    const std::vector<uint8_t> msgid = json::to_msgpack(json(++msgid_));
    const std::vector<uint8_t> name = json::to_msgpack(json(method));
    const std::vector<uint8_t> body = json::to_msgpack(params);
    frame.insert(frame.end(), msgid.begin(), msgid.end());
    frame.insert(frame.end(), name.begin(), name.end());
    frame.insert(frame.end(), body.begin(), body.end());
    return send(frame);
  }
  json send(const std::vector<uint8_t>& frame) {
    Request request;
    size_t used = 0;
    EXPECT_EQ(decode_request(frame, FrameLimits{}, &request, &used), FrameResult::kFrame);
    EXPECT_EQ(used, frame.size());
    ReplyBuffer out;
    dispatcher_->handle(request, &session_, now_ms_, &out);
    json response = json::from_msgpack(std::string(out.data(), out.size()));
    EXPECT_TRUE(response.is_array() && response.size() == 4) << response;
    EXPECT_EQ(response[0], 1);
    return response;
  }
  json ok(const std::string& method, const json& params) {
    json response = call(method, params);
    EXPECT_TRUE(response[2].is_null()) << method << " failed: " << response[2];
    return response[3];
  }
  // The error map of a call expected to fail with `code_name`.
  json fails(const std::string& method, const json& params, const std::string& code_name) {
    json response = call(method, params);
    EXPECT_TRUE(response[3].is_null());
    EXPECT_TRUE(response[2].is_object()) << method << " did not fail: " << response;
    if (response[2].is_object()) {
      EXPECT_EQ(response[2]["name"], code_name) << method << ": " << response[2];
    }
    return response[2];
  }
  json create_cinema() {
    return ok("event.create",
              {{"id", "Event1"}, {"layout", json::parse(testing::read_layout("cinema.json"))}});
  }

  std::unique_ptr<Dispatcher> dispatcher_;
  Session session_;
  uint32_t msgid_ = 100;
};

TEST_F(DispatcherTest, PingAnswersWithTheSameMsgid) {
  json response = call("ping", json::object());
  EXPECT_EQ(response[1], msgid_);
  EXPECT_EQ(response[3]["pong"], true);
  EXPECT_EQ(response[3]["now_ms"], now_ms_);
}

TEST_F(DispatcherTest, EventLifecycleQueries) {
  json created = create_cinema();
  EXPECT_EQ(created["event"], "Event1");
  EXPECT_EQ(created["seats_total"], 120);
  json event = ok("event.get", {{"event", "Event1"}});
  EXPECT_EQ(event["venue"], "Odeon-Leicester");
  EXPECT_EQ(event["state"], "open");
  ASSERT_EQ(event["zones"].size(), 3u);
  EXPECT_EQ(event["zones"][2]["first_index"], 112);
  EXPECT_FALSE(event.contains("layout"));
  json with_layout = ok("event.get", {{"event", "Event1"}, {"layout", true}});
  EXPECT_EQ(with_layout["layout"], json::parse(testing::read_layout("cinema.json")));
  json list = ok("event.list", json::object());
  ASSERT_EQ(list["events"].size(), 1u);
  EXPECT_EQ(list["events"][0]["seats_total"], 120);
  json stats = ok("event.stats", {{"event", "Event1"}});
  EXPECT_EQ(stats["seats_free"], 120);
  fails("event.get", {{"event", "Nope"}}, "NOT_FOUND");
  fails("event.get", json::object(), "BAD_REQUEST");
  fails("event.create",
        {{"id", "Event1"}, {"layout", json::parse(testing::read_layout("cinema.json"))}},
        "BAD_REQUEST");  // already exists
  json bad =
      fails("event.create", {{"id", "E2"}, {"layout", {{"venue", "V"}, {"zones", json::array()}}}},
            "BAD_REQUEST");
  EXPECT_NE(bad["message"].get<std::string>().find("zones"), std::string::npos);
}

TEST_F(DispatcherTest, HoldConfirmByLabelsThenTicketQueries) {
  create_cinema();
  json hold = ok("hold", {{"event", "Event1"},
                          {"seats", {{{"zone", 1}, {"row", "A"}, {"seat", "1"}}, 1}},
                          {"ttl_ms", 60000}});
  ASSERT_EQ(hold["seats"].size(), 2u);
  EXPECT_EQ(hold["seats"][0],
            json({{"index", 0}, {"zone", 1}, {"row", "A"}, {"seat", "1"}, {"price_cents", 1250}}));
  EXPECT_EQ(hold["total_cents"], 2500);
  EXPECT_EQ(hold["expires_at_ms"], now_ms_ + 60000);
  EXPECT_EQ(hold["hold"].get<std::string>().size(), 32u);

  json sale =
      ok("hold.confirm", {{"hold", hold["hold"]}, {"idempotency_key", "k1"}, {"buyer", "alice"}});
  ASSERT_EQ(sale["tickets"].size(), 2u);
  EXPECT_EQ(sale["replayed"], false);
  json again = ok("hold.confirm", {{"hold", hold["hold"]}, {"idempotency_key", "k1"}});
  EXPECT_EQ(again["replayed"], true);
  EXPECT_EQ(again["tickets"], sale["tickets"]);

  const std::string id = sale["tickets"][0]["id"];
  json ticket = ok("ticket.get", {{"ticket", id}});
  EXPECT_EQ(ticket["status"], "valid");
  EXPECT_EQ(ticket["buyer"], "alice");
  EXPECT_EQ(ticket["event"], "Event1");
  EXPECT_EQ(ticket["seat"]["seat"], "1");
  json seat =
      ok("seat.get", {{"event", "Event1"}, {"seat", {{"zone", 1}, {"row", "A"}, {"seat", "1"}}}});
  EXPECT_EQ(seat["state"], "sold");

  json voided = ok("ticket.void", {{"ticket", id}});
  EXPECT_EQ(voided["refund_cents"], 1250);
  EXPECT_EQ(voided["already_voided"], false);
  EXPECT_EQ(ok("ticket.void", {{"ticket", id}})["already_voided"], true);
  EXPECT_EQ(ok("ticket.get", {{"ticket", id}})["status"], "voided");
  EXPECT_EQ(ok("seat.get", {{"event", "Event1"}, {"seat", 0}})["state"], "free");
  fails("ticket.get", {{"ticket", "not-a-ticket"}}, "BAD_REQUEST");
  fails("ticket.get", {{"ticket", "00000000-0000-8000-8000-000000000001"}}, "NOT_FOUND");
}

TEST_F(DispatcherTest, SeatTakenListsTheTakenSeats) {
  create_cinema();
  ok("buy", {{"event", "Event1"}, {"seats", {5}}});
  json error = fails("hold", {{"event", "Event1"}, {"seats", {4, 5, 6}}}, "SEAT_TAKEN");
  EXPECT_EQ(error["code"], 4);
  ASSERT_EQ(error["seats"].size(), 1u);
  EXPECT_EQ(error["seats"][0]["index"], 5);
  EXPECT_EQ(ok("seat.get", {{"event", "Event1"}, {"seat", 4}})["state"], "free");
  json buy_error = fails("buy", {{"event", "Event1"}, {"seats", {5}}}, "SEAT_TAKEN");
  EXPECT_EQ(buy_error["seats"][0]["seat"], "6");
  // In a second event the taken seats are described from that event's layout.
  ok("event.create",
     {{"id", "Arena"}, {"layout", json::parse(testing::read_layout("arena.json"))}});
  ok("buy", {{"event", "Arena"}, {"seats", {4000}}});  // first seat of the lower tier
  json arena_error = fails("hold", {{"event", "Arena"}, {"seats", {4000}}}, "SEAT_TAKEN");
  EXPECT_EQ(arena_error["seats"][0]["zone"], 101);
  EXPECT_EQ(arena_error["seats"][0]["row"], "1");
}

TEST_F(DispatcherTest, HoldBestExtendReleaseAndAvailability) {
  create_cinema();
  json best = ok("hold.best", {{"event", "Event1"}, {"zone", 1}, {"count", 2}});
  EXPECT_EQ(best["seats"][0]["seat"], "6");
  EXPECT_EQ(best["seats"][1]["seat"], "7");
  json extended = ok("hold.extend", {{"hold", best["hold"]}, {"ttl_ms", 900000}});
  EXPECT_EQ(extended["expires_at_ms"], now_ms_ + 900000);
  json availability = ok("availability", {{"event", "Event1"}, {"zone", 1}, {"bitmap", true}});
  ASSERT_EQ(availability["zones"].size(), 1u);
  EXPECT_EQ(availability["zones"][0]["seats_held"], 2);
  const auto& bitmap = availability["zones"][0]["free_bitmap"].get_binary();
  ASSERT_EQ(bitmap.size(), 12u);
  EXPECT_EQ(bitmap[0], 0b10011111);  // seats 5 and 6 (labels 6, 7) held
  EXPECT_EQ(ok("availability", {{"event", "Event1"}})["zones"].size(), 3u);
  EXPECT_EQ(ok("hold.release", {{"hold", best["hold"]}})["released"], true);
  fails("hold.release", {{"hold", best["hold"]}}, "HOLD_NOT_FOUND");
  fails("hold.confirm", {{"hold", best["hold"]}}, "HOLD_NOT_FOUND");
  fails("hold.extend", {{"hold", "xyz"}}, "BAD_REQUEST");
  fails("hold.best", {{"event", "Event1"}, {"zone", 1}}, "BAD_REQUEST");
  fails("hold.best", {{"event", "Event1"}, {"zone", 42}, {"count", 2}}, "NOT_FOUND");
  fails("availability", {{"event", "Event1"}, {"zone", 42}}, "NOT_FOUND");
}

TEST_F(DispatcherTest, RequestLimitsAndBadParams) {
  create_cinema();
  json many = json::array();
  for (int i = 0; i < 40; ++i) many.push_back(i);
  fails("hold", {{"event", "Event1"}, {"seats", many}}, "LIMIT_EXCEEDED");
  fails("hold", {{"event", "Event1"}}, "BAD_REQUEST");
  fails("hold", {{"event", "Event1"}, {"seats", {500}}}, "BAD_REQUEST");
  fails("hold", {{"event", "Event1"}, {"seats", {{{"zone", 1}, {"row", "Z"}, {"seat", "1"}}}}},
        "NOT_FOUND");
  fails("hold", {{"event", "Event1"}, {"seats", {1}}, {"ttl_ms", int64_t{1} << 40}},
        "LIMIT_EXCEEDED");
  fails("hold", {{"event", 7}, {"seats", {1}}}, "BAD_REQUEST");
  fails("buy", {{"event", "Event1"}, {"seats", {1}}, {"idempotency_key", std::string(65, 'k')}},
        "BAD_REQUEST");
}

TEST_F(DispatcherTest, UnknownMethodKeepsTheMsgid) {
  json response = call("seats.steal", json::object());
  EXPECT_EQ(response[1], msgid_);
  EXPECT_EQ(response[2]["name"], "BAD_REQUEST");
}

TEST_F(DispatcherTest, ErrorResponseShape) {
  ReplyBuffer out;
  Dispatcher::pack_error(
      0, Status(ErrorCode::kBadRequest, "a request is [0, msgid, method, params]"), &out);
  json response = json::from_msgpack(std::string(out.data(), out.size()));
  EXPECT_EQ(response, json::parse(R"([1, 0, {"code": 1, "name": "BAD_REQUEST",
      "message": "a request is [0, msgid, method, params]"}, null])"));
}

class AuthDispatcherTest : public DispatcherTest {
 protected:
  DispatchOptions options_for_test() override {
    DispatchOptions options;
    options.api_keys = {{"seller-secret", ClientRole::kSell}, {"admin-secret", ClientRole::kAdmin}};
    return options;
  }
};

TEST_F(AuthDispatcherTest, KeysAndRoles) {
  ok("ping", json::object());  // allowed before auth
  fails("event.list", json::object(), "UNAUTHORIZED");
  fails("auth", {{"key", "guess"}}, "UNAUTHORIZED");
  fails("auth", {{"key", "seller-secre"}}, "UNAUTHORIZED");
  EXPECT_EQ(ok("auth", {{"key", "seller-secret"}})["role"], "sell");
  ok("event.list", json::object());
  fails("event.create", {{"id", "E"}, {"layout", json::parse(testing::read_layout("cinema.json"))}},
        "UNAUTHORIZED");
  EXPECT_EQ(ok("auth", {{"key", "admin-secret"}})["role"], "admin");
  create_cinema();
  EXPECT_EQ(dispatcher_->role_of("admin-secret"), ClientRole::kAdmin);
  EXPECT_EQ(dispatcher_->role_of(""), ClientRole::kNone);
}

}  // namespace
}  // namespace boxoffice::net
