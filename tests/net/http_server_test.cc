// HttpServer + ApiRoutes with real sockets, on two HTTP threads that are engine workers with
// their own journals (--durability journal): concurrent buyers over keep-alive connections
// fighting for the same seats while /metrics is scraped. Checks that no seat is sold twice,
// that every 201 is a real ticket whose journal record was durable before the reply left, and
// that the counters agree. Also run under ThreadSanitizer (tools/test.sh).
#include "net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/api_routes.h"
#include "net/ops_routes.h"
#include "net/reactor_support.h"
#include "net/seat_feed.h"
#include "persist/worker_log.h"
#include "tests/core/engine_fixture.h"

namespace boxoffice::net {
namespace {

using boxoffice::testing::event_document;
using boxoffice::testing::small_geometry;
using boxoffice::testing::TempTablePath;

struct Reply {
  int status = 0;
  std::string body;
};

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  return fd;
}

// A keep-alive HTTP/1.1 client on a plain socket (the server under test parses for real).
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { ::close(fd_); }

  Reply send(const std::string& method, const std::string& path, const std::string& body = "") {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: test\r\n";
    if (!body.empty() || method == "POST") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + body;
    if (!connected_ ||
        ::write(fd_, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
      return {};
    }
    // Headers, then Content-Length bytes of body.
    while (buffer_.find("\r\n\r\n") == std::string::npos && fill()) {
    }
    const size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return {};
    Reply reply;
    reply.status = std::stoi(buffer_.substr(9, 3));
    const size_t length_at = buffer_.find("Content-Length: ");
    const size_t length = length_at < end ? std::stoul(buffer_.substr(length_at + 16)) : size_t{0};
    while (buffer_.size() < end + 4 + length && fill()) {
    }
    if (buffer_.size() < end + 4 + length) return {};
    reply.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return reply;
  }

 private:
  bool fill() {
    char chunk[16384];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kThreads = 2;

  void SetUp() override {
    std::string pattern =
        std::filesystem::temp_directory_path().string() + "/boxoffice-http-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    std::string error;
    const int64_t now_ms = wall_clock_ms();
    table_ = shm::SeatTable::open({table_path_.path(), small_geometry(), now_ms}, &error);
    ASSERT_NE(table_, nullptr) << error;
    engine_ = Engine::open(table_.get(), EngineOptions{}, &error);
    ASSERT_NE(engine_, nullptr) << error;
    uint32_t index = 0;
    ASSERT_TRUE(engine_->create_event(event_document("E", "cinema.json"), now_ms, &index).is_ok());
    feed_ = std::make_unique<SeatFeed>(small_geometry().events_max);
    engine_->set_observer(feed_.get());
    ops_state_.engine = engine_.get();
    ops_ = std::make_unique<OpsRoutes>(&ops_state_);
    std::vector<HttpRoutes*> per_thread;
    for (uint32_t t = 0; t < kThreads; ++t) {
      persist::WorkerLogOptions options;
      options.journal_directory = dir_ + "/worker-" + std::to_string(t);
      options.staging_path = dir_ + "/table.log-" + std::to_string(t);
      options.staging_bytes = 1u << 20;
      persist::WorkerLogOpenReport report;
      logs_.push_back(persist::WorkerLog::open(options, &report, &error));
      ASSERT_NE(logs_.back(), nullptr) << error;
      contexts_.push_back(std::make_unique<WorkerContext>(t, small_geometry().holds_max, now_ms));
      contexts_.back()->set_sale_log(logs_.back().get());
      routes_.push_back(std::make_unique<ApiRoutes>(engine_.get(), contexts_.back().get(),
                                                    DispatchOptions{}, ops_.get()));
      routes_.back()->set_journal(logs_.back().get(), Durability::kJournal);
      routes_.back()->set_feed(feed_.get());
      ops_state_.journals.push_back(logs_.back().get());
      ops_state_.http_stats.push_back(&routes_.back()->stats());
      per_thread.push_back(routes_.back().get());
    }
    HttpOptions options;
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, per_thread);
    ASSERT_EQ(server_->start(), "");
  }

  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    routes_.clear();
    std::filesystem::remove_all(dir_);
  }

  uint64_t durable_records() const {
    uint64_t total = 0;
    for (const auto& log : logs_) total += log->durable_sequence();
    return total;
  }

  std::string dir_;
  TempTablePath table_path_;
  std::unique_ptr<shm::SeatTable> table_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SeatFeed> feed_;  // the engine's observer; outlives the routes
  OpsState ops_state_;
  std::unique_ptr<OpsRoutes> ops_;
  std::vector<std::unique_ptr<persist::WorkerLog>> logs_;
  std::vector<std::unique_ptr<WorkerContext>> contexts_;
  std::vector<std::unique_ptr<ApiRoutes>> routes_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ConcurrentBuyersNeverShareASeatAndEveryTicketIsDurableWhenAnswered) {
  constexpr int kBuyers = 6;
  constexpr int kRequestsEach = 150;
  const uint32_t seats = engine_->layout(0).seat_count();
  std::mutex mutex;
  std::map<uint32_t, std::string> ticket_of_seat;  // seat -> ticket id
  std::atomic<int> sold{0}, taken{0}, other{0}, not_durable{0};
  std::atomic<bool> stop_scraping{false};
  std::thread scraper([&] {
    Client client(server_->port());
    while (!stop_scraping.load()) {
      const Reply metrics = client.send("GET", "/metrics");
      if (metrics.status != 200) ++other;
    }
  });
  std::vector<std::thread> buyers;
  for (int b = 0; b < kBuyers; ++b) {
    buyers.emplace_back([&, b] {
      Client client(server_->port());
      std::mt19937 random(static_cast<uint32_t>(b));
      for (int i = 0; i < kRequestsEach; ++i) {
        const uint32_t seat = random() % seats;
        const Reply reply = client.send("POST", "/v1/events/E/tickets",
                                        "{\"seats\":[" + std::to_string(seat) + "]}");
        if (reply.status == 201) {
          ++sold;
          const auto body = nlohmann::json::parse(reply.body);
          const std::string id = body["tickets"][0]["id"];
          // The reply left after its record's fdatasync: what is durable covers every sale
          // answered so far (each sale is one record).
          if (durable_records() < static_cast<uint64_t>(sold.load())) ++not_durable;
          std::lock_guard lock(mutex);
          EXPECT_TRUE(ticket_of_seat.emplace(seat, id).second) << "seat " << seat << " sold twice";
        } else if (reply.status == 409) {
          ++taken;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : buyers) t.join();
  stop_scraping = true;
  scraper.join();

  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(not_durable.load(), 0);
  EXPECT_EQ(sold.load() + taken.load(), kBuyers * kRequestsEach);
  EXPECT_EQ(static_cast<int64_t>(ticket_of_seat.size()), engine_->counts(0).seats_sold);
  EXPECT_GT(taken.load(), 0);  // 900 random picks of 120 seats must collide
  for (const auto& [seat, id] : ticket_of_seat) {
    const std::optional<TicketId> ticket = TicketId::parse(id);
    ASSERT_TRUE(ticket.has_value());
    const TicketInfo info = engine_->ticket(*ticket);
    ASSERT_TRUE(info.status.is_ok());
    EXPECT_EQ(info.seat_index, seat);
  }
  uint64_t counted = 0;
  for (const auto& routes : routes_) {
    counted += routes->stats().count(Method::kBuy, ErrorCode::kOk);
  }
  EXPECT_EQ(counted, static_cast<uint64_t>(sold.load()));
  EXPECT_EQ(durable_records(), static_cast<uint64_t>(sold.load()));
}

// Requests answered at once (probes) must not hold back the journal's group commit that a
// buy's reply waits for. (With the commit at a lower libevent priority than I/O, a flood of
// 1,000 wrk connections held buys for seconds; this smaller flood checks the commit keeps
// running under steady pipelined probes.)
TEST_F(HttpServerTest, AFloodOfProbesDoesNotHoldBackSaleReplies) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> flooders;
  for (int f = 0; f < 8; ++f) {
    flooders.emplace_back([&] {
      // 16 requests pipelined per write, so input is ready on every pass of the loop.
      std::string batch;
      for (int i = 0; i < 16; ++i) batch += "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
      const int fd = connect_to(server_->port());
      std::string seen;
      while (!stop.load()) {
        if (::write(fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size())) break;
        size_t replies = 0;
        char chunk[65536];
        while (replies < 16) {
          const ssize_t n = ::read(fd, chunk, sizeof chunk);
          if (n <= 0) break;
          seen.append(chunk, static_cast<size_t>(n));
          for (size_t at = seen.find("HTTP/1.1 "); at != std::string::npos;
               at = seen.find("HTTP/1.1 ", at + 1)) {
            ++replies;
          }
          seen.erase(0, seen.size() > 16 ? seen.size() - 16 : 0);  // a split status line
        }
      }
      ::close(fd);
    });
  }
  Client buyer(server_->port());
  int64_t slowest_ms = 0;
  for (uint32_t seat = 0; seat < 40; ++seat) {
    const int64_t started = wall_clock_ms();
    const Reply reply =
        buyer.send("POST", "/v1/events/E/tickets", "{\"seats\":[" + std::to_string(seat) + "]}");
    EXPECT_EQ(reply.status, 201) << reply.body;
    slowest_ms = std::max(slowest_ms, wall_clock_ms() - started);
  }
  stop = true;
  for (auto& t : flooders) t.join();
  EXPECT_LT(slowest_ms, 1000) << "a sale's reply waited behind the probes";
}

TEST_F(HttpServerTest, AStormOfConnectionsIsAcceptedAndEveryOneServed) {
  // More connections than one slice of accepts, all in the listen backlog before the server
  // accepts any: accepting rests between slices and must always resume.
  constexpr int kStorm = 300;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kStorm; ++i) clients.push_back(std::make_unique<Client>(server_->port()));
  int served = 0;
  for (auto& client : clients) {
    if (client->send("GET", "/v1/ping").status != 200) break;  // not accepted (10 s timeout)
    served++;
  }
  EXPECT_EQ(served, kStorm);
}

TEST_F(HttpServerTest, StopAnswersWhatArrivedAndJoins) {
  Client client(server_->port());
  EXPECT_EQ(client.send("GET", "/v1/ping").status, 200);
  EXPECT_EQ(client.send("POST", "/v1/events/E/tickets", R"({"seats":[5]})").status, 201);
  server_->stop();
  server_.reset();
  EXPECT_EQ(durable_records(), 1u);
}

// A change stream (GET /v1/events/E/changes) on one thread sees every sale that buyers on both
// threads make, and stop() ends it with the last chunk.
TEST_F(HttpServerTest, AChangeStreamSeesEverySaleAndEndsOnStop) {
  const int stream = connect_to(server_->port());
  const std::string request = "GET /v1/events/E/changes HTTP/1.1\r\nHost: test\r\n\r\n";
  ASSERT_EQ(::write(stream, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string received;
  auto read_until = [&](const std::string& text) {
    char chunk[16384];
    while (received.find(text) == std::string::npos) {
      const ssize_t n = ::read(stream, chunk, sizeof chunk);
      if (n <= 0) return false;
      received.append(chunk, static_cast<size_t>(n));
    }
    return true;
  };
  ASSERT_TRUE(read_until(": subscribed"));
  EXPECT_NE(received.find("Content-Type: text/event-stream"), std::string::npos);

  constexpr int kSeats = 60;
  std::vector<std::thread> buyers;
  for (int b = 0; b < 2; ++b) {
    buyers.emplace_back([&, b] {
      Client client(server_->port());
      for (int seat = b; seat < kSeats; seat += 2) {
        EXPECT_EQ(
            client
                .send("POST", "/v1/events/E/tickets", "{\"seats\":[" + std::to_string(seat) + "]}")
                .status,
            201);
      }
    });
  }
  for (std::thread& t : buyers) t.join();
  std::set<int> sold;
  for (int seat = 0; seat < kSeats; ++seat) {
    const std::string event =
        "{\"event\":\"E\",\"seats\":[" + std::to_string(seat) + "],\"state\":\"sold\"}";
    ASSERT_TRUE(read_until(event)) << "seat " << seat << " not seen sold:\n" << received;
    sold.insert(seat);
  }
  EXPECT_EQ(sold.size(), size_t{kSeats});

  server_->stop();
  EXPECT_TRUE(read_until("\r\n0\r\n\r\n"));  // the chunked body's end
  ::close(stream);
}

// Routes whose POST /held replies wait for a sequence the test releases, as ApiRoutes' sales
// wait for their journal record: the server's held-reply limit, and stop() with a reply held.
class HeldRoutes : public HttpRoutes {
 public:
  HttpResponse handle(const HttpRequest& request) override {
    HttpResponse response;
    response.status = 201;
    response.body = R"({"ok":true})";
    if (request.path == "/held") response.wait_sequence = ++appended_;
    handled.fetch_add(1);
    return response;
  }
  uint64_t released_sequence() const override { return released.load(); }
  void refused_busy() override { refused.fetch_add(1); }

  // Waits (up to 10 s) until `n` requests have run.
  bool wait_handled(uint64_t n) const {
    for (int i = 0; i < 1000 && handled.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return handled.load() >= n;
  }

  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> released{0};
  std::atomic<uint64_t> refused{0};

 private:
  uint64_t appended_ = 0;  // the server's thread only
};

const std::string kHeldRequest = "POST /held HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";

std::string read_reply(int fd) {
  std::string reply(4096, '\0');
  const ssize_t n = ::read(fd, reply.data(), reply.size());
  reply.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return reply;
}

TEST(HttpServerHeldReplies, PastTheLimitRequestsAre503UntilTheHeldOnesAreReleased) {
  HeldRoutes routes;
  HttpOptions options;
  options.port = 0;
  options.held_replies_max = 2;
  HttpServer server(options, {&routes});
  ASSERT_EQ(server.start(), "");
  const int first = connect_to(server.port());
  const int second = connect_to(server.port());
  for (const int fd : {first, second}) {
    ASSERT_EQ(::write(fd, kHeldRequest.data(), kHeldRequest.size()),
              static_cast<ssize_t>(kHeldRequest.size()));
  }
  ASSERT_TRUE(routes.wait_handled(2));
  // Two replies wait: the third request is answered 503 at once, without running.
  Client third(server.port());
  const Reply refused = third.send("POST", "/held");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("too many replies waiting for the journal"), std::string::npos)
      << refused.body;
  EXPECT_EQ(routes.handled.load(), 2u);
  EXPECT_EQ(routes.refused.load(), 1u);
  // Released: both held replies come, and requests run again.
  routes.released.store(UINT64_MAX);
  for (const int fd : {first, second}) {
    EXPECT_EQ(read_reply(fd).substr(0, 12), "HTTP/1.1 201");
    ::close(fd);
  }
  EXPECT_EQ(third.send("POST", "/held").status, 201);
  server.stop();
}

TEST(HttpServerHeldReplies, StopAnswersAReplyStillHeldWith503) {
  HeldRoutes routes;
  HttpOptions options;
  options.port = 0;
  HttpServer server(options, {&routes});
  ASSERT_EQ(server.start(), "");
  const int waiting = connect_to(server.port());
  ASSERT_EQ(::write(waiting, kHeldRequest.data(), kHeldRequest.size()),
            static_cast<ssize_t>(kHeldRequest.size()));
  ASSERT_TRUE(routes.wait_handled(1));
  server.stop();
  const std::string reply = read_reply(waiting);
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 503") << reply;
  EXPECT_NE(reply.find("its outcome is unknown"), std::string::npos) << reply;
  ::close(waiting);
}

}  // namespace
}  // namespace boxoffice::net
