// HttpConnections: connections past their deadline are shut down a few per sweep, a connection
// whose request arrived after the scan that listed it is left alone, and a request trickled past
// the grace is read on the table's schedule. The sockets are Unix socket pairs: the table's end is
// given to a bufferevent as evhttp would, and the peer's end tells whether the table shut it down
// (end of stream).
#include "net/http_connections.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace boxoffice::net {
namespace {

constexpr int64_t kTimeoutMs = 10'000;
constexpr int64_t kScanMs = HttpConnections::kScanIntervalMs;
constexpr int64_t kGraceMs = HttpConnections::kTrickleGraceMs;
constexpr int64_t kIntervalMs = HttpConnections::kTrickleReadIntervalMs;
static_assert(kGraceMs + 2 * kIntervalMs + 4 * kScanMs < kTimeoutMs, "the tests pace before cuts");

void on_event(bufferevent*, short, void*) {}

class HttpConnectionsTest : public ::testing::Test {
 protected:
  struct Peer {
    bufferevent* socket;
    int fd;
  };

  void SetUp() override {
    base_ = event_base_new();
    ASSERT_NE(base_, nullptr);
    table_ = std::make_unique<HttpConnections>(base_, 10'000, kTimeoutMs);
  }

  void TearDown() override {
    for (Peer& peer : peers_) {
      bufferevent_free(peer.socket);  // evhttp's reference; closes the table's end
      ::close(peer.fd);
    }
    table_.reset();  // the table's references
    event_base_free(base_);
  }

  // A connection as evhttp makes one: the table's bufferevent, a socket and an event callback
  // (evhttp's; bufferevent_free() clears it, which is how the table tells it was freed).
  void open(int count, int64_t now_ms) {
    for (int i = 0; i < count; i++) {
      int fds[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
      bufferevent* socket = table_->open(now_ms);
      ASSERT_NE(socket, nullptr);
      ASSERT_EQ(bufferevent_setfd(socket, fds[0]), 0);
      bufferevent_setcb(socket, nullptr, nullptr, on_event, nullptr);
      bufferevent_enable(socket, EV_READ);  // as evhttp does to read a request
      peers_.push_back({socket, fds[1]});
    }
  }

  static bool shut(const Peer& peer) {
    char byte;
    return ::recv(peer.fd, &byte, 1, MSG_DONTWAIT) == 0;  // end of stream, not EAGAIN
  }

  // The peer sends a byte; returns how many bytes the table's end has read so far (after a pass
  // of the loop, which reads whatever the socket has if reading is on).
  size_t trickle(const Peer& peer) {
    EXPECT_EQ(::send(peer.fd, "G", 1, MSG_DONTWAIT), 1);
    return bytes_read(peer);
  }
  size_t bytes_read(const Peer& peer) {
    event_base_loop(base_, EVLOOP_NONBLOCK);
    return evbuffer_get_length(bufferevent_get_input(peer.socket));
  }
  static bool reading(const Peer& peer) { return bufferevent_get_enabled(peer.socket) & EV_READ; }
  int reading_count() const {
    int count = 0;
    for (const Peer& peer : peers_) count += reading(peer);
    return count;
  }

  int shut_count() const {
    int count = 0;
    for (const Peer& peer : peers_) count += shut(peer);
    return count;
  }

  // Sweeps at first_ms and then every tick (10 ms): each sweep must add per_sweep to what
  // `counted` counts, until all of the cohort is counted. Returns the last sweep's time.
  template <typename Count>
  int64_t expect_slices(int64_t first_ms, int per_sweep, int cohort, Count counted) {
    int64_t now_ms = first_ms;
    for (int expected = per_sweep;; expected += per_sweep, now_ms += 10) {
      table_->sweep(now_ms);
      EXPECT_EQ(counted(), std::min(expected, cohort)) << "sweep at " << now_ms << " ms";
      if (expected >= cohort) return now_ms;
    }
  }

  event_base* base_ = nullptr;
  std::unique_ptr<HttpConnections> table_;
  std::vector<Peer> peers_;
};

TEST_F(HttpConnectionsTest, ACohortPastItsDeadlineIsShutDownAFewPerSweep) {
  constexpr int kCohort = 40;
  constexpr int kPerSweep = static_cast<int>(HttpConnections::kShutDownsPerSweepMax);
  static_assert(kCohort > 2 * kPerSweep, "the cohort takes three sweeps");
  open(kCohort, 0);
  table_->sweep(kTimeoutMs - 1);  // scans: none is due yet
  EXPECT_EQ(shut_count(), 0);
  const int64_t last_ms =
      expect_slices(kTimeoutMs - 1 + kScanMs, kPerSweep, kCohort, [this] { return shut_count(); });
  table_->sweep(last_ms + kScanMs);
  EXPECT_EQ(shut_count(), kCohort);
}

TEST_F(HttpConnectionsTest, ARequestThatArrivedAfterTheScanKeepsItsConnection) {
  open(HttpConnections::kShutDownsPerSweepMax + 4, 0);
  table_->sweep(kTimeoutMs);  // scans: all are due; the first slice is shut down
  ASSERT_EQ(shut_count(), static_cast<int>(HttpConnections::kShutDownsPerSweepMax));
  const Peer* spared = nullptr;
  for (const Peer& peer : peers_) {
    if (!shut(peer)) spared = &peer;
  }
  ASSERT_NE(spared, nullptr);
  table_->request_read(spared->socket);  // its clock stops while the server works
  table_->sweep(kTimeoutMs + 10);
  EXPECT_EQ(shut_count(), static_cast<int>(peers_.size()) - 1);
  EXPECT_FALSE(shut(*spared));
  // Replied to: its deadline starts again from the reply.
  table_->reply_given(spared->socket, kTimeoutMs + 20);
  table_->sweep(2 * kTimeoutMs + 10);
  EXPECT_FALSE(shut(*spared));
  table_->sweep(2 * kTimeoutMs + 20 + HttpConnections::kScanIntervalMs);
  EXPECT_TRUE(shut(*spared));
}

TEST_F(HttpConnectionsTest, ConnectionsFreedByEvhttpAreForgotten) {
  open(5, 0);
  EXPECT_EQ(table_->open_count(), 5u);
  bufferevent_free(peers_.back().socket);  // as evhttp frees a connection that ended
  ::close(peers_.back().fd);
  peers_.pop_back();
  EXPECT_EQ(table_->sweep(HttpConnections::kScanIntervalMs), 1u);
  EXPECT_EQ(table_->open_count(), 4u);
  EXPECT_EQ(shut_count(), 0);
}

TEST_F(HttpConnectionsTest, ARequestTrickledPastTheGraceIsReadOnTheTablesSchedule) {
  open(1, 0);
  const Peer& peer = peers_[0];
  EXPECT_EQ(trickle(peer), 1u);
  int64_t now_ms = kScanMs;
  table_->sweep(now_ms);  // the scan sees the request's first bytes
  for (; now_ms < kScanMs + kGraceMs; now_ms += kScanMs) table_->sweep(now_ms);
  EXPECT_EQ(trickle(peer), 2u);  // within the grace: read as it comes
  EXPECT_EQ(table_->paced(), 0u);
  table_->sweep(now_ms);  // past the grace: paused
  EXPECT_EQ(table_->paced(), 1u);
  EXPECT_FALSE(reading(peer));
  EXPECT_EQ(trickle(peer), 2u);
  EXPECT_EQ(trickle(peer), 2u);
  // Read again once the interval has passed (at the first scan after it), every byte waiting.
  const int64_t paused_ms = now_ms;
  for (now_ms += kScanMs; now_ms < paused_ms + kIntervalMs; now_ms += kScanMs) {
    table_->sweep(now_ms);
    EXPECT_EQ(bytes_read(peer), 2u) << now_ms;
  }
  table_->sweep(now_ms);
  EXPECT_TRUE(reading(peer));
  EXPECT_EQ(bytes_read(peer), 4u);
  // Still not whole at the next scan: paused again.
  table_->sweep(now_ms + kScanMs);
  EXPECT_EQ(table_->paced(), 2u);
  EXPECT_EQ(trickle(peer), 4u);
  // The request was whole after all (the bytes read when reading resumed): it is no longer paced.
  table_->sweep(now_ms + kScanMs + kIntervalMs);
  EXPECT_EQ(bytes_read(peer), 5u);
  table_->request_read(peer.socket);
  EXPECT_TRUE(reading(peer));
  table_->sweep(now_ms + 2 * kScanMs + kIntervalMs);
  EXPECT_EQ(table_->paced(), 2u);
}

TEST_F(HttpConnectionsTest, WholeRequestsAndIdleConnectionsAreNeverPaced) {
  open(2, 0);
  const Peer& busy = peers_[0];
  const Peer& idle = peers_[1];
  int64_t now_ms = 0;
  for (int request = 0; request < 5; request++) {
    // A request in two parts that straddle a scan, then its reply: the next one starts afresh.
    EXPECT_GT(trickle(busy), 0u);
    table_->sweep(now_ms += kScanMs);
    EXPECT_GT(trickle(busy), 0u);
    table_->request_read(busy.socket);
    evbuffer_drain(bufferevent_get_input(busy.socket), 2);  // as evhttp parses it
    table_->reply_given(busy.socket, now_ms);
    table_->sweep(now_ms += kGraceMs);
  }
  EXPECT_EQ(table_->paced(), 0u);
  EXPECT_TRUE(reading(busy));
  EXPECT_TRUE(reading(idle));
  EXPECT_EQ(shut_count(), 0);
}

TEST_F(HttpConnectionsTest, APausedConnectionIsCutAtItsDeadlineWithReadingOn) {
  open(1, 0);
  const Peer& peer = peers_[0];
  trickle(peer);
  table_->sweep(kScanMs);
  table_->sweep(kScanMs + kGraceMs);
  ASSERT_EQ(table_->paced(), 1u);
  ASSERT_FALSE(reading(peer));
  // Paused until past its deadline (evhttp must read to see the end of the stream and free it).
  table_->sweep(kTimeoutMs);
  EXPECT_EQ(shut_count(), 1);
  EXPECT_TRUE(reading(peer));
}

TEST_F(HttpConnectionsTest, ReadingResumesAFewConnectionsPerSweep) {
  constexpr int kCohort = 40;
  constexpr int kPerSweep = static_cast<int>(HttpConnections::kReadsResumedPerSweepMax);
  static_assert(kCohort > 2 * kPerSweep, "the cohort takes three sweeps");
  open(kCohort, 0);
  for (const Peer& peer : peers_) trickle(peer);
  table_->sweep(kScanMs);
  table_->sweep(kScanMs + kGraceMs);  // the cohort trickles in step: all paused at once
  ASSERT_EQ(table_->paced(), static_cast<uint64_t>(kCohort));
  EXPECT_EQ(reading_count(), 0);
  expect_slices(kScanMs + kGraceMs + kIntervalMs, kPerSweep, kCohort,
                [this] { return reading_count(); });
}

}  // namespace
}  // namespace boxoffice::net
