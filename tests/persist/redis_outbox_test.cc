// RedisOutbox against a private redis-server started here (never the system instance):
// addresses parse, tickets and voids land in the stream with the right fields and the progress,
// the length cap holds, error replies and a dead or hung Redis are false returns bounded by the
// timeout, and a restarted Redis is usable again after reconnecting. Also prints the publish
// rate for 100,000 rows.
#include "persist/redis_outbox.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace boxoffice::persist {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

// A redis-server child listening only on a unix socket in a private directory, no persistence.
class RedisServer {
 public:
  explicit RedisServer(std::string directory)
      : directory_(std::move(directory)), socket_path_(directory_ + "/redis.sock") {}
  ~RedisServer() { stop(SIGKILL); }

  // Starts it and waits (at most 10 s) until it answers PING.
  bool start(std::string* error) {
    std::filesystem::remove(socket_path_);
    const std::string log = directory_ + "/redis.log";
    std::vector<std::string> args = {kRedisServer, "--port",      "0",  "--unixsocket",
                                     socket_path_, "--save",      "",   "--appendonly",
                                     "no",         "--daemonize", "no", "--dir",
                                     directory_,   "--logfile",   log};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no server behind
      ::execv(kRedisServer, argv.data());
      ::_exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "redis-server exited early; see " + log;
        return false;
      }
      if (answers_ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    *error = "redis-server did not answer within 10 s";
    return false;
  }
  void stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void signal(int signal) { ::kill(pid_, signal); }
  const std::string& socket_path() const { return socket_path_; }

 private:
  bool answers_ping() const {
    Context context(redisConnectUnix(socket_path_.c_str()));
    if (context == nullptr || context->err != 0) return false;
    Reply reply(static_cast<redisReply*>(redisCommand(context.get(), "PING")));
    return reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  }

  std::string directory_;
  std::string socket_path_;
  pid_t pid_ = -1;
};

TicketRow make_ticket(uint64_t i) {
  TicketRow ticket;
  ticket.origin = {1, i + 1};
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(i));
  ticket.ticket_id = id;
  ticket.event_index = static_cast<uint32_t>(i % 7);
  ticket.event_id = "evt-" + std::to_string(i % 7);
  ticket.seat_index = static_cast<uint32_t>(i);
  ticket.seat_label = "A/" + std::to_string(i / 100) + "/" + std::to_string(i % 100);
  ticket.generation = static_cast<uint32_t>(i % 3 + 1);
  ticket.nonce = i * 977;
  ticket.price_cents = 4500 + static_cast<int64_t>(i % 10) * 100;
  ticket.sold_at_ms = 1'700'000'000'000 + static_cast<int64_t>(i);
  ticket.buyer_ref = "buyer " + std::to_string(i);  // a space: arguments are binary-safe
  return ticket;
}

VoidRow make_void(uint64_t i) {
  const TicketRow ticket = make_ticket(i);
  VoidRow voided;
  voided.origin = {0, i + 1};
  voided.ticket_id = ticket.ticket_id;
  voided.event_index = ticket.event_index;
  voided.event_id = ticket.event_id;
  voided.seat_index = ticket.seat_index;
  voided.generation = ticket.generation;
  voided.voided_at_ms = ticket.sold_at_ms + 60'000;
  return voided;
}

using Fields = std::map<std::string, std::string>;

Fields sale_fields(const TicketRow& t) {
  return {{"type", "sale"},
          {"ticket_id", t.ticket_id},
          {"event_id", t.event_id},
          {"event_index", std::to_string(t.event_index)},
          {"seat_index", std::to_string(t.seat_index)},
          {"seat_label", t.seat_label},
          {"generation", std::to_string(t.generation)},
          {"price_cents", std::to_string(t.price_cents)},
          {"sold_at_ms", std::to_string(t.sold_at_ms)},
          {"buyer_ref", t.buyer_ref}};
}

Fields void_fields(const VoidRow& v) {
  return {{"type", "void"},
          {"ticket_id", v.ticket_id},
          {"event_id", v.event_id},
          {"event_index", std::to_string(v.event_index)},
          {"seat_index", std::to_string(v.seat_index)},
          {"generation", std::to_string(v.generation)},
          {"voided_at_ms", std::to_string(v.voided_at_ms)}};
}

// `tickets` sales then `voids` voids, and the given progress.
PersistBatch make_batch(uint64_t tickets, uint64_t voids, std::vector<StreamProgress> streams) {
  PersistBatch batch;
  for (uint64_t i = 0; i < tickets; ++i) batch.tickets.push_back(make_ticket(i));
  for (uint64_t i = 0; i < voids; ++i) batch.voids.push_back(make_void(i));
  batch.streams = std::move(streams);
  return batch;
}

TEST(ParseRedisAddressTest, AcceptsTheThreeForms) {
  RedisConfig config;
  std::string error;
  config.unix_socket = "/old.sock";
  ASSERT_TRUE(parse_redis_address("10.1.2.3:6380", &config, &error)) << error;
  EXPECT_EQ(config.host, "10.1.2.3");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.unix_socket, "");  // a TCP address replaces a socket
  ASSERT_TRUE(parse_redis_address("redis.internal:65535", &config, &error)) << error;
  EXPECT_EQ(config.host, "redis.internal");
  EXPECT_EQ(config.port, 65535);
  ASSERT_TRUE(parse_redis_address("[::1]:7000", &config, &error)) << error;
  EXPECT_EQ(config.host, "::1");
  EXPECT_EQ(config.port, 7000);
  ASSERT_TRUE(parse_redis_address("[2001:db8::10]:1", &config, &error)) << error;
  EXPECT_EQ(config.host, "2001:db8::10");
  EXPECT_EQ(config.port, 1);
  ASSERT_TRUE(parse_redis_address("unix:/run/redis/redis.sock", &config, &error)) << error;
  EXPECT_EQ(config.unix_socket, "/run/redis/redis.sock");
}

TEST(ParseRedisAddressTest, RejectsMalformedAndLeavesConfigAlone) {
  for (const char* bad : {"",           "localhost",        "localhost:", ":6379",     "host:0",
                          "host:65536", "host:99999999999", "host:12x",   "host:-1",   "host:+80",
                          "host: 80",   "::1:6379",         "[::1]",      "[::1]6379", "[::1]:",
                          "[]:6379",    "[not-v6]:6379",    "[::1:6379",  "unix:",     "a b:1"}) {
    RedisConfig config;
    std::string error;
    EXPECT_FALSE(parse_redis_address(bad, &config, &error)) << "'" << bad << "'";
    EXPECT_FALSE(error.empty()) << "'" << bad << "'";
    EXPECT_EQ(config.host, "127.0.0.1") << "'" << bad << "'";
    EXPECT_EQ(config.port, 6379) << "'" << bad << "'";
    EXPECT_EQ(config.unix_socket, "") << "'" << bad << "'";
  }
  RedisConfig config;
  std::string error;
  EXPECT_FALSE(parse_redis_address("unix:/" + std::string(200, 'x'), &config, &error));
}

TEST(RedisOutboxConnectTest, RefusedPortAndBadConfigFailFast) {
  // A port that was just free: nothing listens there.
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(probe, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(probe);

  RedisConfig config;
  config.port = ntohs(address.sin_port);
  std::string error;
  const auto start = Clock::now();
  EXPECT_EQ(RedisOutbox::connect(config, &error), nullptr);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_NE(error.find("127.0.0.1:"), std::string::npos) << error;

  config.timeout_ms = 0;  // would wait forever
  error.clear();
  EXPECT_EQ(RedisOutbox::connect(config, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

class RedisOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << kRedisServer << " not installed";
    char pattern[] = "/tmp/boxoffice-redis-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    directory_ = pattern;
    server_ = std::make_unique<RedisServer>(directory_);
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;
    config_.unix_socket = server_->socket_path();
  }
  void TearDown() override {
    server_.reset();
    if (!directory_.empty()) std::filesystem::remove_all(directory_);
  }

  std::unique_ptr<RedisOutbox> connect() {
    std::string error;
    auto outbox = RedisOutbox::connect(config_, &error);
    EXPECT_NE(outbox, nullptr) << error;
    return outbox;
  }
  // One command on a connection of the test's own.
  Reply command(const std::vector<std::string>& args) {
    Context context(redisConnectUnix(server_->socket_path().c_str()));
    EXPECT_TRUE(context != nullptr && context->err == 0);
    if (context == nullptr || context->err != 0) return nullptr;
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(
        context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
  }
  long long stream_length() {
    const Reply reply = command({"XLEN", config_.stream});
    EXPECT_TRUE(reply != nullptr && reply->type == REDIS_REPLY_INTEGER);
    return reply != nullptr ? reply->integer : -1;
  }
  // The fields of one entry of an XRANGE / XREVRANGE reply.
  static Fields entry_fields(const redisReply& entry) {
    Fields fields;
    EXPECT_EQ(entry.type, REDIS_REPLY_ARRAY);
    EXPECT_EQ(entry.elements, 2u);
    const redisReply& pairs = *entry.element[1];
    for (size_t i = 0; i + 1 < pairs.elements; i += 2) {
      fields[std::string(pairs.element[i]->str, pairs.element[i]->len)] =
          std::string(pairs.element[i + 1]->str, pairs.element[i + 1]->len);
    }
    return fields;
  }

  std::string directory_;
  std::unique_ptr<RedisServer> server_;
  RedisConfig config_;
};

TEST_F(RedisOutboxTest, PublishesSalesThenVoidsWithProgress) {
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  std::vector<StreamProgress> progress;
  std::string error;
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  EXPECT_TRUE(progress.empty());

  // 20,000 entries: four transactions. The event row is not published.
  PersistBatch batch = make_batch(19'000, 1'000, {{"worker-1", 19'000}, {"control", 7}});
  batch.events.push_back({{0, 1}, 0, "evt-0", "venue", "Concert", "open", 1, "{}"});
  ASSERT_TRUE(outbox->publish(batch, &error)) << error;
  EXPECT_EQ(stream_length(), 20'000);

  const Reply first = command({"XRANGE", config_.stream, "-", "+", "COUNT", "1"});
  ASSERT_TRUE(first != nullptr && first->type == REDIS_REPLY_ARRAY && first->elements == 1);
  EXPECT_EQ(entry_fields(*first->element[0]), sale_fields(batch.tickets.front()));
  const Reply tail = command({"XREVRANGE", config_.stream, "+", "-", "COUNT", "1001"});
  ASSERT_TRUE(tail != nullptr && tail->type == REDIS_REPLY_ARRAY && tail->elements == 1001);
  EXPECT_EQ(entry_fields(*tail->element[0]), void_fields(batch.voids.back()));
  EXPECT_EQ(entry_fields(*tail->element[999]), void_fields(batch.voids.front()));
  EXPECT_EQ(entry_fields(*tail->element[1000]), sale_fields(batch.tickets.back()));

  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[0].name, "control");
  EXPECT_EQ(progress[0].sequence, 7u);
  EXPECT_EQ(progress[1].name, "worker-1");
  EXPECT_EQ(progress[1].sequence, 19'000u);

  // A later batch moves the streams it names and leaves the others.
  PersistBatch next = make_batch(3, 0, {{"worker-1", 19'003}, {"worker-0", 2}});
  ASSERT_TRUE(outbox->publish(next, &error)) << error;
  EXPECT_EQ(stream_length(), 20'003);
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress[0].name, "control");
  EXPECT_EQ(progress[0].sequence, 7u);
  EXPECT_EQ(progress[1].name, "worker-0");
  EXPECT_EQ(progress[1].sequence, 2u);
  EXPECT_EQ(progress[2].name, "worker-1");
  EXPECT_EQ(progress[2].sequence, 19'003u);
}

TEST_F(RedisOutboxTest, ProgressOnlyBatchAndEmptyBatch) {
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  std::string error;
  ASSERT_TRUE(outbox->publish(PersistBatch{}, &error)) << error;
  PersistBatch events_only = make_batch(0, 0, {{"control", 3}});
  events_only.events.push_back({{0, 3}, 0, "evt-0", "venue", "Concert", "open", 1, "{}"});
  ASSERT_TRUE(outbox->publish(events_only, &error)) << error;
  EXPECT_EQ(stream_length(), 0);
  std::vector<StreamProgress> progress;
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].name, "control");
  EXPECT_EQ(progress[0].sequence, 3u);
}

TEST_F(RedisOutboxTest, CapsTheStreamLength) {
  config_.stream_length_max = 1'000;
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  std::string error;
  ASSERT_TRUE(outbox->publish(make_batch(20'000, 0, {{"worker-0", 20'000}}), &error)) << error;
  // MAXLEN ~ trims whole stream nodes (stream-node-max-entries, 100 by default).
  const long long length = stream_length();
  EXPECT_GE(length, 1'000);
  EXPECT_LE(length, 1'000 + 200);
}

TEST_F(RedisOutboxTest, ErrorReplyInsideExecIsAFailureAndTheConnectionSurvives) {
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  // The progress key of the wrong type: HSET fails inside EXEC, after the XADDs ran.
  const Reply set = command({"SET", config_.stream + ":progress", "not a hash"});
  ASSERT_TRUE(set != nullptr && set->type == REDIS_REPLY_STATUS);
  std::string error;
  const PersistBatch batch = make_batch(10, 0, {{"worker-0", 10}});
  EXPECT_FALSE(outbox->publish(batch, &error));
  EXPECT_NE(error.find("WRONGTYPE"), std::string::npos) << error;
  std::vector<StreamProgress> progress;
  EXPECT_FALSE(outbox->load_progress(&progress, &error));

  // Redis does not roll back: the entries are there, and the resend duplicates them.
  EXPECT_EQ(stream_length(), 10);
  const Reply del = command({"DEL", config_.stream + ":progress"});
  ASSERT_TRUE(del != nullptr && del->type == REDIS_REPLY_INTEGER);
  ASSERT_TRUE(outbox->publish(batch, &error)) << error;
  EXPECT_EQ(stream_length(), 20);
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].sequence, 10u);
}

TEST_F(RedisOutboxTest, RejectedCommandAbortsTheTransaction) {
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  // Out of memory with noeviction: XADD is refused when queued and EXEC answers EXECABORT.
  ASSERT_NE(command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}), nullptr);
  ASSERT_NE(command({"CONFIG", "SET", "maxmemory", "1"}), nullptr);
  std::string error;
  const PersistBatch batch = make_batch(100, 0, {{"worker-0", 100}});
  EXPECT_FALSE(outbox->publish(batch, &error));
  EXPECT_NE(error.find("EXECABORT"), std::string::npos) << error;
  EXPECT_NE(error.find("OOM"), std::string::npos) << error;
  ASSERT_NE(command({"CONFIG", "SET", "maxmemory", "0"}), nullptr);
  EXPECT_EQ(stream_length(), 0);

  ASSERT_TRUE(outbox->publish(batch, &error)) << error;
  EXPECT_EQ(stream_length(), 100);
}

TEST_F(RedisOutboxTest, KilledRedisFailsFastAndRestartedRedisWorksAfterReconnect) {
  config_.timeout_ms = 1'000;
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  std::string error;
  const PersistBatch batch = make_batch(6'000, 100, {{"worker-0", 6'000}, {"control", 100}});
  ASSERT_TRUE(outbox->publish(batch, &error)) << error;

  server_->stop(SIGKILL);
  auto start = Clock::now();
  EXPECT_FALSE(outbox->publish(batch, &error));
  const double elapsed_s = seconds_since(start);
  EXPECT_LT(elapsed_s, 5.0);
  EXPECT_FALSE(error.empty());
  std::printf("killed redis: publish failed after %.3f s: %s\n", elapsed_s, error.c_str());
  start = Clock::now();
  EXPECT_FALSE(outbox->publish(batch, &error));  // broken: fails at once
  EXPECT_NE(error.find("connect again"), std::string::npos) << error;
  std::vector<StreamProgress> progress;
  EXPECT_FALSE(outbox->load_progress(&progress, &error));
  EXPECT_EQ(RedisOutbox::connect(config_, &error), nullptr);
  EXPECT_LT(seconds_since(start), 5.0);

  ASSERT_TRUE(server_->start(&error)) << error;
  outbox = connect();
  ASSERT_NE(outbox, nullptr);
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  EXPECT_TRUE(progress.empty());  // a fresh server without persistence
  ASSERT_TRUE(outbox->publish(batch, &error)) << error;
  EXPECT_EQ(stream_length(), 6'100);
  ASSERT_TRUE(outbox->load_progress(&progress, &error)) << error;
  EXPECT_EQ(progress.size(), 2u);
}

TEST_F(RedisOutboxTest, HungRedisTimesOut) {
  config_.timeout_ms = 300;
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  std::string error;
  server_->signal(SIGSTOP);
  const auto start = Clock::now();
  // Big enough to fill the socket buffers, so the writes wait too, not only the reads.
  EXPECT_FALSE(outbox->publish(make_batch(20'000, 0, {{"worker-0", 20'000}}), &error));
  const double elapsed_s = seconds_since(start);
  server_->signal(SIGCONT);
  EXPECT_LT(elapsed_s, 5.0);
  EXPECT_FALSE(error.empty());
  std::printf("hung redis: publish failed after %.3f s: %s\n", elapsed_s, error.c_str());
}

TEST_F(RedisOutboxTest, PublishRate) {
  auto outbox = connect();
  ASSERT_NE(outbox, nullptr);
  constexpr uint64_t kRows = 100'000;
  const PersistBatch batch = make_batch(kRows, 0, {{"worker-0", kRows}});
  std::string error;
  const auto start = Clock::now();
  ASSERT_TRUE(outbox->publish(batch, &error)) << error;
  const double elapsed_s = seconds_since(start);
  EXPECT_EQ(stream_length(), static_cast<long long>(kRows));
  std::printf(
      "{\"bench\":\"redis_outbox_publish\",\"rows\":%llu,\"seconds\":%.3f,"
      "\"entries_per_s\":%.0f}\n",
      static_cast<unsigned long long>(kRows), elapsed_s, kRows / elapsed_s);
}

}  // namespace
}  // namespace boxoffice::persist
