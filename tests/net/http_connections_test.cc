// HttpConnections: connections past their deadline are shut down a few per sweep, and a
// connection whose request arrived after the scan that listed it is left alone. The sockets are
// Unix socket pairs: the table's end is given to a bufferevent as evhttp would, and the peer's
// end tells whether the table shut it down (end of stream).
#include "net/http_connections.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace boxoffice::net {
namespace {

constexpr int64_t kTimeoutMs = 1000;

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
      peers_.push_back({socket, fds[1]});
    }
  }

  static bool shut(const Peer& peer) {
    char byte;
    return ::recv(peer.fd, &byte, 1, MSG_DONTWAIT) == 0;  // end of stream, not EAGAIN
  }

  int shut_count() const {
    int count = 0;
    for (const Peer& peer : peers_) count += shut(peer);
    return count;
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
  const int64_t scan_ms = kTimeoutMs - 1 + HttpConnections::kScanIntervalMs;
  table_->sweep(scan_ms);
  EXPECT_EQ(shut_count(), kPerSweep);
  table_->sweep(scan_ms + 10);
  EXPECT_EQ(shut_count(), 2 * kPerSweep);
  table_->sweep(scan_ms + 20);
  EXPECT_EQ(shut_count(), kCohort);
  table_->sweep(scan_ms + HttpConnections::kScanIntervalMs);
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

}  // namespace
}  // namespace boxoffice::net
