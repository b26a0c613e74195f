// boxoffice-load's transports (tools/load/transport.h), each backend over a real socket pair:
// receive and send completions carry the bytes moved, a send larger than the socket buffer
// completes in parts that add up, a closed peer reads as 0, and shut() ends a pending receive.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tools/load/epoll_transport.h"
#include "tools/load/transport.h"
#include "tools/load/uring_transport.h"

namespace boxoffice::load {
namespace {

constexpr int64_t kWaitNs = 2'000'000'000;

class TransportTest : public ::testing::TestWithParam<IoChoice> {
 protected:
  void SetUp() override {
    std::string why;
    transport_ = make_transport(GetParam(), 4, &why);
    if (!transport_ && GetParam() == IoChoice::kUring) GTEST_SKIP() << "io_uring refused: " << why;
    ASSERT_TRUE(transport_) << why;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    ours_ = pair[0];
    peer_ = pair[1];
    transport_->add(0, ours_);
  }
  void TearDown() override {
    transport_.reset();
    if (ours_ >= 0) ::close(ours_);
    if (peer_ >= 0) ::close(peer_);
  }
  // The next completion, waiting up to kWaitNs in all.
  Completion next() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(kWaitNs);
    Completion out[1];
    while (std::chrono::steady_clock::now() < deadline) {
      const int n = transport_->wait(50'000'000, out);
      EXPECT_GE(n, 0);
      if (n == 1) return out[0];
    }
    ADD_FAILURE() << "no completion";
    return {};
  }

  std::unique_ptr<Transport> transport_;
  int ours_ = -1;
  int peer_ = -1;
};

TEST_P(TransportTest, ReceiveGetsWhatThePeerWrote) {
  char space[64];
  transport_->receive(0, space);
  Completion none[1];
  EXPECT_EQ(transport_->wait(10'000'000, none), 0);  // nothing written yet
  ASSERT_EQ(::write(peer_, "hello", 5), 5);
  const Completion done = next();
  EXPECT_EQ(done.connection, 0u);
  EXPECT_EQ(done.kind, Completion::kReceive);
  ASSERT_EQ(done.result, 5);
  EXPECT_EQ(std::string(space, 5), "hello");
}

TEST_P(TransportTest, SendLargerThanTheSocketBufferCompletesInParts) {
  std::vector<char> bytes(4 << 20);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::vector<char> received;
  size_t sent = 0;
  transport_->send(0, std::span<const char>(bytes.data(), bytes.size()));
  bool in_flight = true;
  std::vector<char> chunk(1 << 16);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sent < bytes.size() || received.size() < bytes.size()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "stalled: sent " << sent << ", received " << received.size();
    const ssize_t got = ::read(peer_, chunk.data(), chunk.size());
    if (got > 0) received.insert(received.end(), chunk.data(), chunk.data() + got);
    if (!in_flight) continue;
    Completion out[1];
    if (transport_->wait(got > 0 ? 0 : 1'000'000, out) == 1) {
      ASSERT_EQ(out[0].kind, Completion::kSend);
      ASSERT_GT(out[0].result, 0);
      sent += static_cast<size_t>(out[0].result);
      in_flight = sent < bytes.size();
      if (in_flight) transport_->send(0, std::span<const char>(bytes.data() + sent, bytes.size() - sent));
    }
  }
  EXPECT_EQ(sent, bytes.size());
  EXPECT_TRUE(received == bytes);
}

TEST_P(TransportTest, ClosedPeerReadsAsZero) {
  char space[16];
  transport_->receive(0, space);
  ::close(peer_);
  peer_ = -1;
  const Completion done = next();
  EXPECT_EQ(done.kind, Completion::kReceive);
  EXPECT_EQ(done.result, 0);
}

TEST_P(TransportTest, ShutEndsAPendingReceive) {
  char space[16] = {};
  transport_->receive(0, space);
  transport_->shut(0);
  // Bytes the peer tries to send after shut() never reach the receive (the socket is shut down:
  // the send fails with EPIPE).
  (void)::send(peer_, "late", 4, MSG_NOSIGNAL);
  if (GetParam() == IoChoice::kUring) {
    // io_uring: the receive in flight ends at once, with 0 or an error (the caller ignores it).
    const Completion done = next();
    EXPECT_EQ(done.kind, Completion::kReceive);
    EXPECT_LE(done.result, 0);
  } else {
    // epoll: the receive is forgotten; nothing completes.
    Completion out[4];
    EXPECT_EQ(transport_->wait(50'000'000, out), 0);
  }
  EXPECT_EQ(std::string(space, 4), std::string(4, '\0'));
}

INSTANTIATE_TEST_SUITE_P(LoadIo, TransportTest,
                         ::testing::Values(IoChoice::kUring, IoChoice::kEpoll),
                         [](const auto& info) {
                           return std::string(info.param == IoChoice::kUring ? "Uring" : "Epoll");
                         });

}  // namespace
}  // namespace boxoffice::load
