// Reactor backends against real loopback sockets: a line-echo handler, clients that split,
// flood, stall and vanish, and every limit in ReactorOptions. Each test runs once per backend
// this machine supports (epoll always, io_uring when uring_supported()). Every client-side wait
// is a poll() with a timeout, so a broken backend fails a test instead of hanging it.
#include "net/reactor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/reactor_support.h"
#include "net/uring_reactor.h"

namespace boxoffice::net {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWaitMs = 5'000;  // the longest any client waits for one thing

std::vector<IoBackend> test_backends() {
  std::vector<IoBackend> backends = {IoBackend::kEpoll};
  std::string why;
  if (uring_supported(&why)) backends.push_back(IoBackend::kUring);
  return backends;
}

int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// Echoes every complete '\n'-terminated line; "quit" closes the connection (after the lines
// before it were echoed). A refused append closes it too. Bookkeeping is checked after run().
class LineEchoHandler final : public ConnectionHandler {
 public:
  void on_open(ConnectionId id) override {
    std::lock_guard lock(mutex_);
    if (!open_ids_.insert(id).second) pairing_errors++;
    if (!all_ids_.insert(id).second) reused_ids++;
    opens++;
  }

  size_t on_data(ConnectionId id, std::span<const uint8_t> input, int64_t, Output& output,
                 bool* close) override {
    {
      std::lock_guard lock(mutex_);
      if (open_ids_.count(id) == 0) pairing_errors++;
    }
    data_calls++;
    size_t consumed = 0;
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    while (true) {
      const size_t end = text.find('\n', consumed);
      if (end == std::string_view::npos) break;
      const std::string_view line = text.substr(consumed, end - consumed + 1);
      if (line == "quit\n") {
        *close = true;
        return end + 1;
      }
      if (!output.append(std::span<const uint8_t>(input.data() + consumed, line.size()))) {
        append_refusals++;
        *close = true;
        return end + 1;
      }
      if (output.pending_bytes() > pending_bytes_max) pending_bytes_max = output.pending_bytes();
      consumed = end + 1;
    }
    if (consumed < input.size()) partial_inputs++;
    return consumed;
  }

  void on_close(ConnectionId id) override {
    std::lock_guard lock(mutex_);
    if (open_ids_.erase(id) != 1) pairing_errors++;
    closes++;
    closes_this_turn++;
    if (closes_this_turn > closes_per_turn_max) closes_per_turn_max = closes_this_turn.load();
  }

  void on_loop_turn(int64_t now_ms) override {
    if (now_ms <= 0) pairing_errors++;
    loop_turns++;
    closes_this_turn = 0;
  }

  std::vector<ConnectionId> ids() const {
    std::lock_guard lock(mutex_);
    return {all_ids_.begin(), all_ids_.end()};
  }

  std::atomic<int> opens{0};
  std::atomic<int> closes{0};
  std::atomic<int> pairing_errors{0};
  std::atomic<int> reused_ids{0};
  std::atomic<int> data_calls{0};
  std::atomic<int> partial_inputs{0};
  std::atomic<int> append_refusals{0};
  std::atomic<size_t> pending_bytes_max{0};
  std::atomic<int> loop_turns{0};
  std::atomic<int> closes_this_turn{0};     // since the last on_loop_turn
  std::atomic<int> closes_per_turn_max{0};  // the most closes between two on_loop_turns

 private:
  mutable std::mutex mutex_;
  std::set<ConnectionId> open_ids_;
  std::set<ConnectionId> all_ids_;
};

// One reactor running on its own thread.
class Server {
 public:
  Server(IoBackend backend, ReactorOptions options) {
    options.host = "127.0.0.1";
    reactor_ = make_reactor(backend, options, &handler, nullptr);
    if (reactor_ == nullptr) {
      error_ = "make_reactor returned null";
      return;
    }
    error_ = reactor_->start();
    if (!error_.empty()) return;
    thread_ = std::thread([this] {
      reactor_->run();
      run_returned = true;
    });
  }
  ~Server() { stop(); }

  const std::string& error() const { return error_; }
  uint16_t port() const { return reactor_->port(); }
  Reactor& reactor() { return *reactor_; }

  // Returns how long run() took to return after request_stop(), in ms.
  int64_t stop() {
    if (!thread_.joinable()) return 0;
    const auto begin = Clock::now();
    reactor_->request_stop();
    thread_.join();
    return elapsed_ms(begin);
  }

  // Waits (bounded) until the handler saw `count` closes.
  bool wait_closes(int count, int timeout_ms = kWaitMs) {
    const auto begin = Clock::now();
    while (handler.closes.load() < count) {
      if (elapsed_ms(begin) > timeout_ms) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  LineEchoHandler handler;
  std::atomic<bool> run_returned{false};

 private:
  std::unique_ptr<Reactor> reactor_;
  std::string error_;
  std::thread thread_;
};

// A blocking loopback client; every wait goes through poll() with a deadline.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `data` while reading replies (so neither side blocks on a full buffer) until
  // `reply_bytes` arrived too, the peer closed, or the deadline passed. Returns what was read.
  std::string exchange(std::string_view data, size_t reply_bytes, int timeout_ms = kWaitMs) {
    std::string reply;
    size_t sent = 0;
    const auto begin = Clock::now();
    while ((reply.size() < reply_bytes || sent < data.size()) && !closed_) {
      const int remaining_ms = timeout_ms - static_cast<int>(elapsed_ms(begin));
      if (remaining_ms <= 0) break;
      pollfd p{fd_, static_cast<short>(POLLIN | (sent < data.size() ? POLLOUT : 0)), 0};
      if (poll(&p, 1, remaining_ms) <= 0) continue;
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buffer[65536];
        const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0) {
          reply.append(buffer, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          closed_ = true;
        }
      }
      if ((p.revents & POLLOUT) && sent < data.size()) {
        const ssize_t n =
            send(fd_, data.data() + sent, data.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) closed_ = true;
      }
    }
    return reply;
  }

  // Reads until the server closes (EOF or reset) or the deadline passes; true if it closed.
  bool wait_closed(int timeout_ms = kWaitMs, std::string* received = nullptr) {
    const auto begin = Clock::now();
    while (!closed_) {
      const int remaining_ms = timeout_ms - static_cast<int>(elapsed_ms(begin));
      if (remaining_ms <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, remaining_ms) <= 0) continue;
      char buffer[65536];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0 && received != nullptr) received->append(buffer, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) closed_ = true;
    }
    return true;
  }

  // True if nothing arrives and the connection stays open for `ms`.
  bool quiet_for(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, ms) == 0;
  }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string numbered_lines(int count, size_t width = 0) {
  std::string text;
  for (int i = 0; i < count; i++) {
    std::string line = "line " + std::to_string(i);
    if (line.size() < width) line.append(width - line.size(), 'x');
    text += line + '\n';
  }
  return text;
}

class ReactorTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  std::unique_ptr<Server> serve(ReactorOptions options = {}) {
    options.port = 0;
    auto server = std::make_unique<Server>(GetParam(), options);
    EXPECT_EQ(server->error(), "");
    return server;
  }
};

TEST_P(ReactorTest, StartsOnAnEphemeralPortAndNamesItsBackend) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  EXPECT_NE(server->port(), 0);
  EXPECT_STREQ(server->reactor().backend_name(),
               GetParam() == IoBackend::kEpoll ? "epoll" : "io_uring");
}

TEST_P(ReactorTest, BadListenAddressIsAnErrorNotACrash) {
  ReactorOptions options;
  options.host = "256.1.2.3";
  options.port = 0;
  LineEchoHandler handler;
  auto reactor = make_reactor(GetParam(), options, &handler, nullptr);
  ASSERT_NE(reactor, nullptr);
  EXPECT_NE(reactor->start(), "");
}

TEST_P(ReactorTest, EchoesManyLinesSentInOneWrite) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  const std::string text = numbered_lines(20'000);  // ~200 KB, far beyond one read
  EXPECT_EQ(client.exchange(text, text.size()), text);
}

TEST_P(ReactorTest, EchoesLinesSplitAtEveryByteBoundary) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  const std::string text = "alpha\nbeta gamma\n\ndelta\n";
  for (size_t split = 1; split < text.size(); split++) {
    Client client(server->port());
    ASSERT_TRUE(client.connected());
    const std::string first = text.substr(0, split);
    const size_t first_lines_bytes =
        first.rfind('\n') == std::string::npos ? 0 : first.rfind('\n') + 1;
    EXPECT_EQ(client.exchange(first, first_lines_bytes), text.substr(0, first_lines_bytes))
        << "split at " << split;
    EXPECT_EQ(client.exchange(text.substr(split), text.size() - first_lines_bytes),
              text.substr(first_lines_bytes))
        << "split at " << split;
  }
  // One byte per write, with pauses so the reactor sees most of them separately.
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  std::string reply;
  for (char c : text) {
    reply += client.exchange(std::string_view(&c, 1), 0, 50);
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  reply += client.exchange("", text.size() - reply.size());
  EXPECT_EQ(reply, text);
  EXPECT_GT(server->handler.partial_inputs.load(), 0);
}

TEST_P(ReactorTest, ServesTwoHundredConcurrentClients) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; i++) {
    clients.push_back(std::make_unique<Client>(server->port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  // Everyone sends before anyone reads, so the reactor has many connections in flight at once.
  for (int i = 0; i < kClients; i++) {
    const std::string line = "hello from " + std::to_string(i) + "\n";
    ASSERT_EQ(send(clients[i]->fd(), line.data(), line.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(line.size()));
  }
  for (int i = 0; i < kClients; i++) {
    const std::string line = "hello from " + std::to_string(i) + "\n";
    EXPECT_EQ(clients[i]->exchange("", line.size()), line);
  }
  EXPECT_EQ(server->handler.opens.load(), kClients);
  clients.clear();
  EXPECT_TRUE(server->wait_closes(kClients));
  EXPECT_EQ(server->handler.pairing_errors.load(), 0);
}

TEST_P(ReactorTest, ConnectionsBeyondTheLimitAreClosedAndSlotsAreReused) {
  ReactorOptions options;
  options.connections_max = 4;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; i++) {
    clients.push_back(std::make_unique<Client>(server->port()));
    ASSERT_EQ(clients.back()->exchange("x\n", 2), "x\n");
  }
  Client extra(server->port());  // the kernel completes the handshake; the reactor closes it
  EXPECT_TRUE(extra.wait_closed());
  EXPECT_EQ(server->handler.opens.load(), 4);

  clients[0].reset();  // frees a slot; the next connection gets it with a new generation
  ASSERT_TRUE(server->wait_closes(1));
  Client next(server->port());
  EXPECT_EQ(next.exchange("y\n", 2), "y\n");
  EXPECT_EQ(server->handler.opens.load(), 5);
  EXPECT_EQ(server->handler.reused_ids.load(), 0);
  for (const ConnectionId id : server->handler.ids()) EXPECT_LT(id & 0xffff'ffffu, 4u);
}

TEST_P(ReactorTest, InputBeyondTheLimitWithoutAFrameCloses) {
  ReactorOptions options;
  options.input_bytes_max = 1024;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");

  Client fits(server->port());  // a frame of exactly input_bytes_max bytes is fine
  const std::string line = std::string(1023, 'a') + "\n";
  EXPECT_EQ(fits.exchange(line, line.size()), line);

  Client flood(server->port());
  ASSERT_TRUE(flood.connected());
  flood.exchange(std::string(4096, 'b'), 0, 200);  // no newline, ever
  EXPECT_TRUE(flood.wait_closed());
  ASSERT_TRUE(server->wait_closes(1));
  EXPECT_EQ(fits.exchange(line, line.size()), line);  // the other connection is unaffected
}

TEST_P(ReactorTest, AClientThatNeverReadsHitsTheOutputLimit) {
  ReactorOptions options;
  options.output_bytes_max = 64 * 1024;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  int rcvbuf = 4096;  // keep the kernel from absorbing megabytes on our behalf
  setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  // Each chunk fits the output buffer easily; only the socket backing up makes it overflow.
  const std::string chunk = numbered_lines(100, 100);
  const auto begin = Clock::now();
  while (server->handler.closes.load() == 0 && elapsed_ms(begin) < kWaitMs) {
    pollfd p{client.fd(), POLLOUT, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    if (p.revents & (POLLERR | POLLHUP)) break;
    if (send(client.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
        errno != EAGAIN) {
      break;
    }
  }
  EXPECT_TRUE(server->wait_closes(1));
  EXPECT_GE(server->handler.append_refusals.load(), 1);
  EXPECT_LE(server->handler.pending_bytes_max.load(), options.output_bytes_max);
}

TEST_P(ReactorTest, IdleConnectionsAreClosed) {
  ReactorOptions options;
  options.idle_timeout_ms = 200;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");
  Client idle(server->port());
  Client busy(server->port());
  ASSERT_TRUE(idle.connected());
  const auto begin = Clock::now();
  EXPECT_TRUE(idle.quiet_for(100));
  // `busy` talks every ~50 ms until `idle` is closed (however coarse the backend's sweep is)
  // and stays open.
  bool idle_closed = false;
  while (!idle_closed && elapsed_ms(begin) < kWaitMs) {
    EXPECT_EQ(busy.exchange("ping\n", 5), "ping\n");
    idle_closed = idle.wait_closed(50);
  }
  EXPECT_TRUE(idle_closed);
  EXPECT_GE(elapsed_ms(begin), 190);
  EXPECT_EQ(busy.exchange("ping\n", 5), "ping\n");
  EXPECT_TRUE(busy.wait_closed(3'000));  // and then it goes idle too
}

// Idleness counts whole requests: a client sending a byte every 40 ms but never a whole line
// (the echo handler's request) is closed at the idle timeout all the same.
TEST_P(ReactorTest, ARequestTrickledAByteAtATimeIsClosedAtTheIdleTimeout) {
  ReactorOptions options;
  options.idle_timeout_ms = 200;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");
  Client trickler(server->port());
  ASSERT_TRUE(trickler.connected());
  const auto begin = Clock::now();
  bool closed = false;
  while (!closed && elapsed_ms(begin) < kWaitMs) {
    (void)send(trickler.fd(), "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    closed = trickler.wait_closed(40);
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed_ms(begin), 190);
}

// Idle clients opened in one burst time out together: the sweep closes them a few per loop
// turn (kIdleClosesPerTurnMax), so the live connections' requests are served between slices
// of close work, and all of them still close soon after the timeout.
TEST_P(ReactorTest, AnIdleCohortIsClosedAFewPerLoopTurn) {
  constexpr int kCohort = 100;
  static_assert(kCohort > 4 * static_cast<int>(kIdleClosesPerTurnMax));
  ReactorOptions options;
  options.idle_timeout_ms = 200;
  auto server = serve(options);
  ASSERT_EQ(server->error(), "");
  std::vector<std::unique_ptr<Client>> cohort;
  for (int i = 0; i < kCohort; i++) {
    cohort.push_back(std::make_unique<Client>(server->port()));
    ASSERT_TRUE(cohort.back()->connected());
  }
  const auto begin = Clock::now();
  for (auto& client : cohort) EXPECT_TRUE(client->wait_closed());
  EXPECT_LT(elapsed_ms(begin), 2'000);
  EXPECT_TRUE(server->wait_closes(kCohort));  // the client may see its end first
  EXPECT_GE(server->handler.closes_per_turn_max.load(), 1);
  EXPECT_LE(server->handler.closes_per_turn_max.load(), static_cast<int>(kIdleClosesPerTurnMax));
}

TEST_P(ReactorTest, HandlerCloseFlushesThenCloses) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  const std::string before = numbered_lines(5'000);  // more than one send() may take
  std::string received = client.exchange(before + "quit\nnot echoed\n", 0);
  EXPECT_TRUE(client.wait_closed(kWaitMs, &received));
  EXPECT_EQ(received.size(), before.size());
  EXPECT_TRUE(received == before);
}

TEST_P(ReactorTest, PeerHalfCloseStillGetsItsReplies) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(send(client.fd(), "one\ntwo\n", 8, MSG_NOSIGNAL), 8);
  shutdown(client.fd(), SHUT_WR);
  std::string received;
  EXPECT_TRUE(client.wait_closed(kWaitMs, &received));
  EXPECT_EQ(received, "one\ntwo\n");
}

TEST_P(ReactorTest, OpenAndCloseArePairedWithUniqueIds) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  for (int round = 0; round < 20; round++) {
    Client a(server->port());
    Client b(server->port());
    EXPECT_EQ(a.exchange("a\n", 2), "a\n");
    EXPECT_EQ(b.exchange("quit\n", 0), "");
    EXPECT_TRUE(b.wait_closed());
  }
  ASSERT_TRUE(server->wait_closes(40));
  server->stop();
  EXPECT_EQ(server->handler.opens.load(), 40);
  EXPECT_EQ(server->handler.closes.load(), 40);
  EXPECT_EQ(server->handler.pairing_errors.load(), 0);
  EXPECT_EQ(server->handler.reused_ids.load(), 0);
  EXPECT_GT(server->handler.loop_turns.load(), 0);
}

TEST_P(ReactorTest, RequestStopFromAnotherThreadClosesEverything) {
  auto server = serve();
  ASSERT_EQ(server->error(), "");
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 10; i++) {
    clients.push_back(std::make_unique<Client>(server->port()));
    ASSERT_EQ(clients.back()->exchange("hi\n", 3), "hi\n");
  }
  ASSERT_EQ(send(clients[0]->fd(), "partial", 7, MSG_NOSIGNAL), 7);  // an unfinished frame
  const int64_t stop_ms = server->stop();
  EXPECT_LT(stop_ms, 2'000);
  EXPECT_TRUE(server->run_returned.load());
  EXPECT_EQ(server->handler.opens.load(), 10);
  EXPECT_EQ(server->handler.closes.load(), 10);
  EXPECT_EQ(server->handler.pairing_errors.load(), 0);
  for (auto& client : clients) EXPECT_TRUE(client->wait_closed(1'000));
  Client late(server->port());  // the listening socket is gone
  EXPECT_FALSE(late.connected());
}

TEST_P(ReactorTest, RequestStopBeforeRunReturnsAtOnce) {
  ReactorOptions options;
  options.port = 0;
  LineEchoHandler handler;
  auto reactor = make_reactor(GetParam(), options, &handler, nullptr);
  ASSERT_NE(reactor, nullptr);
  ASSERT_EQ(reactor->start(), "");
  reactor->request_stop();
  reactor->request_stop();  // idempotent
  const auto begin = Clock::now();
  reactor->run();
  EXPECT_LT(elapsed_ms(begin), 2'000);
}

TEST_P(ReactorTest, TwoReactorsShareAPortThroughReusePort) {
  auto first = serve();
  ASSERT_EQ(first->error(), "");
  ReactorOptions options;
  options.port = first->port();
  Server second(GetParam(), options);
  ASSERT_EQ(second.error(), "");
  EXPECT_EQ(second.port(), first->port());
  for (int i = 0; i < 64; i++) {
    Client client(first->port());
    EXPECT_EQ(client.exchange("x\n", 2), "x\n");
  }
  EXPECT_GT(first->handler.opens.load(), 0);
  EXPECT_GT(second.handler.opens.load(), 0);
  EXPECT_EQ(first->handler.opens.load() + second.handler.opens.load(), 64);
}

// Replies written in on_loop_turn, not in on_data (as a reply waits for the journal fsync),
// through the Output& that on_data was given; they still leave in the same turn.
class DeferredReplyHandler final : public ConnectionHandler {
 public:
  void on_open(ConnectionId) override {}
  size_t on_data(ConnectionId, std::span<const uint8_t> input, int64_t, Output& output,
                 bool*) override {
    waiting_ = &output;
    pending_ += input.size();
    return input.size();
  }
  void on_close(ConnectionId) override { waiting_ = nullptr; }
  void on_loop_turn(int64_t) override {
    if (waiting_ == nullptr || pending_ == 0) return;
    const std::string reply = "got " + std::to_string(pending_) + "\n";
    waiting_->append(std::span(reinterpret_cast<const uint8_t*>(reply.data()), reply.size()));
    pending_ = 0;
  }

 private:
  Output* waiting_ = nullptr;
  size_t pending_ = 0;
};

TEST_P(ReactorTest, OutputWrittenInTheLoopTurnIsFlushed) {
  ReactorOptions options;
  options.port = 0;
  DeferredReplyHandler handler;
  auto reactor = make_reactor(GetParam(), options, &handler, nullptr);
  ASSERT_NE(reactor, nullptr);
  ASSERT_EQ(reactor->start(), "");
  std::thread loop([&] { reactor->run(); });
  {
    Client client(reactor->port());
    EXPECT_EQ(client.exchange("abc", 6), "got 3\n");
    EXPECT_EQ(client.exchange("defgh", 6), "got 5\n");
  }
  reactor->request_stop();
  loop.join();
}

// Records, for each call, the receive timestamp it was given and when it ran; a "sleep" line
// holds the loop for kSleepMs (as a long turn would), so bytes sent meanwhile queue.
class StampRecordingHandler final : public ConnectionHandler {
 public:
  static constexpr int kSleepMs = 150;
  void on_open(ConnectionId) override {}
  size_t on_data(ConnectionId, std::span<const uint8_t> input, int64_t received_at_ns,
                 Output& output, bool*) override {
    std::lock_guard lock(mutex);
    stamps.push_back(received_at_ns);
    read_at.push_back(realtime_ns());
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    if (text == "sleep\n") std::this_thread::sleep_for(std::chrono::milliseconds(kSleepMs));
    output.append(input);
    return input.size();
  }
  void on_close(ConnectionId) override {}
  void on_loop_turn(int64_t) override {}

  std::mutex mutex;
  std::vector<int64_t> stamps;
  std::vector<int64_t> read_at;
};

TEST_P(ReactorTest, ReceiveTimestampsTellHowLongBytesQueued) {
  // The kernel turns stamping on for the whole machine a moment after the first socket asks
  // (a deferred static key), later still on a loaded machine: a socket of the test's own asks
  // first and keeps it on throughout.
  const int keeper = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(keeper, 0);
  enable_receive_timestamps(keeper);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const bool stamped : {true, false}) {
    SCOPED_TRACE(stamped ? "receive_timestamps on" : "receive_timestamps off");
    ReactorOptions options;
    options.port = 0;
    options.receive_timestamps = stamped;
    StampRecordingHandler handler;
    int64_t late_sent_ns = 0;
    auto reactor = make_reactor(GetParam(), options, &handler, nullptr);
    ASSERT_NE(reactor, nullptr);
    ASSERT_EQ(reactor->start(), "");
    std::thread loop([&] { reactor->run(); });
    {
      Client client(reactor->port());
      ASSERT_TRUE(client.connected());
      EXPECT_EQ(client.exchange("ping\n", 5), "ping\n");
      // The loop sleeps in on_data for "sleep"; "late" arrives meanwhile and waits.
      ASSERT_EQ(send(client.fd(), "sleep\n", 6, 0), 6);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      late_sent_ns = realtime_ns();
      EXPECT_EQ(client.exchange("late\n", 11), "sleep\nlate\n");
      // The end of the stream still reads as one (with recvmsg: a buffer without payload).
      ASSERT_EQ(shutdown(client.fd(), SHUT_WR), 0);
      pollfd p{client.fd(), POLLIN, 0};
      ASSERT_EQ(poll(&p, 1, kWaitMs), 1);
      char byte;
      EXPECT_EQ(recv(client.fd(), &byte, 1, 0), 0);  // closed by the server in turn
    }
    reactor->request_stop();
    loop.join();
    std::lock_guard lock(handler.mutex);
    ASSERT_EQ(handler.stamps.size(), 3u);
    if (!stamped) {
      for (int64_t stamp : handler.stamps) EXPECT_EQ(stamp, 0);
      continue;
    }
    // The kernel turns stamping on for the whole machine a moment after the first socket asks
    // (a deferred static key): the first bytes after a start may carry no stamp (0: unknown,
    // never refused). By "late", 30 ms and two exchanges later, it is on.
    for (size_t i = 0; i < 3; ++i) EXPECT_LE(handler.stamps[i], handler.read_at[i]);
    ASSERT_GT(handler.stamps[2], 0);
    EXPECT_GE(handler.stamps[2], late_sent_ns);  // when it arrived, not when it was read
    // "late" was read once the sleep was over: it had queued for most of it.
    const int64_t queued_ms = (handler.read_at[2] - handler.stamps[2]) / 1'000'000;
    EXPECT_GE(queued_ms, StampRecordingHandler::kSleepMs - 30 - 10);
    if (handler.stamps[0] > 0) {
      EXPECT_LT(handler.read_at[0] - handler.stamps[0], int64_t{50'000'000});  // read at once
    }
  }
  close(keeper);
}

std::string backend_name(const ::testing::TestParamInfo<IoBackend>& info) {
  return info.param == IoBackend::kUring ? "Uring" : "Epoll";
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace boxoffice::net
