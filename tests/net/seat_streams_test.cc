// SeatStreams: seat changes written to each stream of their event as server-sent events; a
// refused write becomes a lost count told before the next change; quiet streams get keep-alive
// comments; a stream closed in the middle of a poll is written no more.
#include "net/seat_streams.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/core/engine_fixture.h"

namespace boxoffice::net {
namespace {

constexpr int64_t kKeepAliveMs = 1000;

class SeatStreamsTest : public testing::EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    dispatcher_ = std::make_unique<Dispatcher>(engine_.get(), worker_.get(), DispatchOptions{});
    feed_ = std::make_unique<SeatFeed>(table_->geometry().events_max);
    streams_ = std::make_unique<SeatStreams>(feed_.get(), dispatcher_.get(),
                                             table_->geometry().events_max, kKeepAliveMs);
    event_a_ = create("Show-A", "cinema.json");
    event_b_ = create("Show-B", "cinema.json");
  }
  // Polls at `now_ms`; returns what each stream was written. Streams in `refuse` refuse.
  std::map<uint64_t, std::string> poll(int64_t now_ms, const std::vector<uint64_t>& refuse = {}) {
    std::map<uint64_t, std::string> written;
    streams_->poll(now_ms, [&](uint64_t id, std::string_view bytes) {
      for (uint64_t r : refuse) {
        if (r == id) return false;
      }
      written[id] += bytes;
      return true;
    });
    return written;
  }

  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<SeatFeed> feed_;
  std::unique_ptr<SeatStreams> streams_;
  uint32_t event_a_ = 0;
  uint32_t event_b_ = 0;
};

TEST_F(SeatStreamsTest, ChangesReachTheStreamsOfTheirEventAsEvents) {
  const uint64_t a1 = streams_->open(event_a_, 0);
  const uint64_t a2 = streams_->open(event_a_, 0);
  const uint64_t b = streams_->open(event_b_, 0);
  ASSERT_NE(a1, 0u);
  ASSERT_NE(a2, a1);
  const uint32_t seats[] = {17, 18};
  feed_->seats_changed(event_a_, seats, SeatState::kHeld);
  feed_->seats_changed(event_a_, {seats, 1}, SeatState::kSold);
  const std::string expected =
      "event: seat.changed\ndata: {\"event\":\"Show-A\",\"seats\":[17,18],\"state\":\"held\"}\n\n"
      "event: seat.changed\ndata: {\"event\":\"Show-A\",\"seats\":[17],\"state\":\"sold\"}\n\n";
  auto written = poll(10);
  EXPECT_EQ(written[a1], expected);
  EXPECT_EQ(written[a2], expected);
  EXPECT_EQ(written.count(b), 0u);
  EXPECT_TRUE(poll(20).empty());  // nothing new, nothing due
  EXPECT_EQ(streams_->open_count(), 3u);
}

TEST_F(SeatStreamsTest, RefusedWritesAreToldAsLostBeforeTheNextChange) {
  const uint64_t slow = streams_->open(event_a_, 0);
  const uint64_t fast = streams_->open(event_a_, 0);
  const uint32_t seat[] = {3};
  feed_->seats_changed(event_a_, seat, SeatState::kHeld);
  feed_->seats_changed(event_a_, seat, SeatState::kFree);
  auto written = poll(10, {slow});
  EXPECT_EQ(written.count(slow), 0u);
  EXPECT_NE(written[fast].find("\"free\""), std::string::npos);
  feed_->seats_changed(event_a_, seat, SeatState::kSold);
  written = poll(20);
  EXPECT_EQ(written[slow],
            "event: seat.changed\ndata: {\"event\":\"Show-A\",\"lost\":2}\n\n"
            "event: seat.changed\ndata: {\"event\":\"Show-A\",\"seats\":[3],\"state\":\"sold\"}\n\n");
  EXPECT_EQ(written[fast].find("lost"), std::string::npos);
}

TEST_F(SeatStreamsTest, QuietStreamsGetKeepAliveComments) {
  const uint64_t quiet = streams_->open(event_a_, 0);
  const uint64_t busy = streams_->open(event_a_, 600);
  EXPECT_TRUE(poll(kKeepAliveMs - 1).empty());
  auto written = poll(kKeepAliveMs);
  EXPECT_EQ(written[quiet], ": keep-alive\n\n");
  EXPECT_EQ(written.count(busy), 0u);  // opened at 600: not due until 1600
  const uint32_t seat[] = {1};
  feed_->seats_changed(event_a_, seat, SeatState::kHeld);
  written = poll(1500);  // both written the change: their clocks start again
  EXPECT_EQ(written[quiet].rfind("event: seat.changed", 0), 0u);
  EXPECT_TRUE(poll(2400).empty());
  EXPECT_EQ(poll(2500).size(), 2u);
}

TEST_F(SeatStreamsTest, AStreamClosedDuringAPollIsWrittenNoMore) {
  const uint64_t first = streams_->open(event_a_, 0);
  const uint64_t second = streams_->open(event_a_, 0);
  const uint32_t seats[] = {5, 6};
  feed_->seats_changed(event_a_, {seats, 1}, SeatState::kHeld);
  feed_->seats_changed(event_a_, {seats + 1, 1}, SeatState::kHeld);
  std::map<uint64_t, int> writes;
  streams_->poll(10, [&](uint64_t id, std::string_view) {
    writes[id]++;
    // The first write to `first` finds its client gone: the server closes it at once.
    if (id == first) streams_->close(first);
    return id != first;
  });
  EXPECT_EQ(writes[first], 1);
  EXPECT_EQ(writes[second], 2);
  EXPECT_EQ(streams_->open_count(), 1u);
  streams_->close(second);
  streams_->close(second);  // twice: harmless
  EXPECT_EQ(streams_->open_count(), 0u);
}

TEST_F(SeatStreamsTest, AtMostStreamsMaxOpen) {
  for (uint32_t i = 0; i < SeatStreams::kStreamsMax; ++i) {
    ASSERT_NE(streams_->open(event_a_, 0), 0u);
  }
  EXPECT_EQ(streams_->open(event_b_, 0), 0u);
}

}  // namespace
}  // namespace boxoffice::net
