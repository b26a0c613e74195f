// boxofficed: the boxoffice server. Opens (or re-attaches and recovers) the seat table, then
// runs one pinned worker thread per core, each with its own reactor (io_uring, or epoll when
// io_uring is refused) serving msgpack-rpc (net/PROTOCOL.md) on the same SO_REUSEPORT address.
// SIGTERM and SIGINT stop accepting, answer what has arrived, close connections and exit.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "net/api_keys.h"
#include "net/reactor.h"
#include "net/reactor_support.h"
#include "net/rpc_handler.h"
#include "net/seat_feed.h"

namespace {

using namespace boxoffice;

enum class LogLevel { kDebug, kInfo, kWarn, kError };
LogLevel g_log_level = LogLevel::kInfo;

// One line per event: time, level, message.
template <typename... Args>
void log(LogLevel level, const char* format, Args... args) {
  if (level < g_log_level) return;
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::fprintf(stderr, "%s.%03dZ %-5s ", stamp, static_cast<int>(ms.count()),
               kNames[static_cast<int>(level)]);
  std::fprintf(stderr, format, args...);
  std::fputc('\n', stderr);
}

struct Config {
  std::string listen = "127.0.0.1:7700";
  std::string data_dir = "./var";
  std::string shm_path;  // default /dev/shm/boxoffice-<port>
  unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::string io = "auto";
  std::string durability = "memory";
  std::string api_keys_path;
  std::string log_level = "info";
  bool pin = true;
  // Limits.
  uint32_t connections_max = 10'000;  // per worker
  uint32_t frame_bytes_max = 1u << 20;
  uint32_t output_bytes_max = 4u << 20;
  uint32_t requests_per_read_max = 1024;
  uint32_t seats_per_request_max = shm::kSeatsPerHoldMax;
  int64_t idle_timeout_ms = 60'000;
  int64_t hold_ttl_default_ms = 10 * 60 * 1000;
  int64_t hold_ttl_max_ms = 15 * 60 * 1000;
  int64_t hold_lifetime_max_ms = 30 * 60 * 1000;
  // Seat table geometry (fixed when the table file is created).
  uint32_t events_max = 1024;
  uint32_t holds_max = 1u << 20;
  uint32_t idempotency_keys_max = 1u << 20;
  uint64_t arena_bytes = uint64_t{4} << 30;
};

bool split_host_port(const std::string& text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  *host = text.substr(0, colon);
  const std::string digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const unsigned long value = std::stoul(digits);
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return !host->empty();
}

int run(const Config& config) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(config.listen, &host, &port)) {
    log(LogLevel::kError, "--listen must be HOST:PORT, not \"%s\"", config.listen.c_str());
    return 2;
  }
  if (config.durability != "memory") {
    log(LogLevel::kError,
        "--durability %s is not available yet: this build keeps sales in the seat table only "
        "(use --durability memory)",
        config.durability.c_str());
    return 2;
  }
  net::IoBackend backend = net::IoBackend::kAuto;
  if (config.io == "uring") backend = net::IoBackend::kUring;
  if (config.io == "epoll") backend = net::IoBackend::kEpoll;

  net::DispatchOptions dispatch;
  if (!config.api_keys_path.empty()) {
    std::string error;
    if (!net::load_api_keys(config.api_keys_path, &dispatch.api_keys, &error)) {
      log(LogLevel::kError, "%s", error.c_str());
      return 2;
    }
    log(LogLevel::kInfo, "authentication on: %zu api keys", dispatch.api_keys.size());
  }
  ::mkdir(config.data_dir.c_str(), 0750);

  shm::TableGeometry geometry;
  geometry.events_max = config.events_max;
  geometry.workers_max = shm::kWorkersMax;
  geometry.holds_max = config.holds_max;
  geometry.idempotency_entries_max = config.idempotency_keys_max;
  geometry.arena_bytes = config.arena_bytes;
  if (config.workers == 0 || config.workers > geometry.workers_max) {
    log(LogLevel::kError, "--workers must be in 1..%u", geometry.workers_max);
    return 2;
  }
  const std::string shm_path =
      config.shm_path.empty() ? "/dev/shm/boxoffice-" + std::to_string(port) : config.shm_path;
  const int64_t start_ms = net::wall_clock_ms();
  std::string error;
  auto table = shm::SeatTable::open({shm_path, geometry, start_ms}, &error);
  if (!table) {
    log(LogLevel::kError, "%s", error.c_str());
    return 1;
  }
  EngineOptions engine_options;
  engine_options.seats_per_request_max = config.seats_per_request_max;
  engine_options.hold_ttl_ms_default = config.hold_ttl_default_ms;
  engine_options.hold_ttl_ms_max = config.hold_ttl_max_ms;
  engine_options.hold_lifetime_ms_max = config.hold_lifetime_max_ms;
  auto engine = Engine::open(table.get(), engine_options, &error);
  if (!engine) {
    log(LogLevel::kError, "%s", error.c_str());
    return 1;
  }

  // Worker contexts first: worker 0's wheel takes the holds found by recovery.
  std::vector<std::unique_ptr<WorkerContext>> contexts;
  for (unsigned i = 0; i < config.workers; ++i) {
    contexts.push_back(std::make_unique<WorkerContext>(i, geometry.holds_max, start_ms));
  }
  if (table->created()) {
    log(LogLevel::kInfo, "seat table %s created (%llu bytes, sparse)", shm_path.c_str(),
        static_cast<unsigned long long>(table->file_bytes()));
  } else {
    const RecoveryReport report = engine->recover(*contexts[0], net::wall_clock_ms());
    log(LogLevel::kInfo, "seat table %s re-attached: %s", shm_path.c_str(),
        report.to_string().c_str());
  }

  net::FrameLimits frame_limits;
  frame_limits.frame_bytes_max = config.frame_bytes_max;
  net::ReactorOptions reactor_options;
  reactor_options.host = host;
  reactor_options.port = port;
  reactor_options.connections_max = config.connections_max;
  reactor_options.input_bytes_max = config.frame_bytes_max;
  reactor_options.output_bytes_max = config.output_bytes_max;
  reactor_options.idle_timeout_ms = config.idle_timeout_ms;

  net::RpcLimits rpc_limits;
  rpc_limits.frame = frame_limits;
  rpc_limits.connections_max = config.connections_max;
  rpc_limits.requests_per_read_max = config.requests_per_read_max;
  rpc_limits.notification_backlog_bytes = config.output_bytes_max / 4;
  // Seat changes of subscribed events, from every worker to every worker.
  net::SeatFeed feed(geometry.events_max);
  engine->set_observer(&feed);
  std::vector<std::unique_ptr<net::RpcHandler>> handlers;
  std::vector<std::unique_ptr<net::Reactor>> reactors;
  for (unsigned i = 0; i < config.workers; ++i) {
    handlers.push_back(std::make_unique<net::RpcHandler>(engine.get(), contexts[i].get(), dispatch,
                                                         rpc_limits, &feed));
    net::ReactorOptions options = reactor_options;
    options.cpu = config.pin ? static_cast<int>(i % std::thread::hardware_concurrency()) : -1;
    std::string why_fallback;
    auto reactor = net::make_reactor(backend, options, handlers.back().get(), &why_fallback);
    if (!reactor) {
      log(LogLevel::kError, "--io %s: cannot start a reactor", config.io.c_str());
      return 1;
    }
    if (!why_fallback.empty() && i == 0) log(LogLevel::kWarn, "%s", why_fallback.c_str());
    if (std::string bind_error = reactor->start(); !bind_error.empty()) {
      log(LogLevel::kError, "listen %s: %s", config.listen.c_str(), bind_error.c_str());
      return 1;
    }
    backend = std::string(reactor->backend_name()) == "io_uring" ? net::IoBackend::kUring
                                                                 : net::IoBackend::kEpoll;
    reactors.push_back(std::move(reactor));
  }
  log(LogLevel::kInfo, "boxofficed listening on %s:%u with %u %s workers", host.c_str(),
      reactors[0]->port(), config.workers, reactors[0]->backend_name());

  // Signals are taken by this thread only; workers run with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);  // logs go to stderr: nothing to reopen, and no reason to die
  std::vector<std::thread> threads;
  for (auto& reactor : reactors) threads.emplace_back([r = reactor.get()] { r->run(); });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log(LogLevel::kInfo, "%s: draining", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  for (auto& reactor : reactors) reactor->request_stop();
  for (auto& thread : threads) thread.join();
  engine->set_observer(nullptr);  // the feed goes before the engine
  uint64_t requests = 0, busy = 0;
  for (auto& handler : handlers) {
    requests += handler->requests_handled();
    busy += handler->requests_refused_busy();
  }
  log(LogLevel::kInfo, "stopped after %llu requests (%llu more refused BUSY)",
      static_cast<unsigned long long>(requests), static_cast<unsigned long long>(busy));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{
      "boxofficed: the boxoffice ticket-booking server (msgpack-rpc, see net/PROTOCOL.md)"};
  app.set_config("--config", "", "TOML file setting any of these options (flags win)");
  app.allow_config_extras(CLI::config_extras_mode::error);  // a typo in the file is an error
  app.add_option("--listen", config.listen, "msgpack-rpc listener HOST:PORT")
      ->capture_default_str();
  app.add_option("--data-dir", config.data_dir, "directory for runtime files")
      ->capture_default_str();
  app.add_option("--shm", config.shm_path, "seat table file (default /dev/shm/boxoffice-<port>)");
  app.add_option("--workers", config.workers, "worker threads, one per core")
      ->capture_default_str();
  app.add_option("--io", config.io, "reactor backend")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}))
      ->capture_default_str();
  app.add_option("--durability", config.durability, "when a sale is acknowledged")
      ->check(CLI::IsMember({"journal", "memory", "db"}))
      ->capture_default_str();
  app.add_option("--api-keys", config.api_keys_path,
                 "file of `KEY sell|admin` lines: enables auth");
  app.add_option("--log-level", config.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_flag("!--no-pin", config.pin, "do not pin worker threads to cores");
  app.add_option("--max-connections", config.connections_max, "connections per worker")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--max-frame-bytes", config.frame_bytes_max, "largest request")
      ->check(CLI::Range(1024u, 64u << 20))
      ->capture_default_str();
  app.add_option("--max-output-bytes", config.output_bytes_max,
                 "unsent responses per connection before it is closed")
      ->check(CLI::Range(64u << 10, 1u << 30))
      ->capture_default_str();
  app.add_option("--max-inflight", config.requests_per_read_max,
                 "requests run per connection per read; the rest get BUSY")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--max-seats-per-request", config.seats_per_request_max,
                 "seats in one hold or buy")
      ->check(CLI::Range(1u, shm::kSeatsPerHoldMax))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", config.idle_timeout_ms, "close connections idle this long")
      ->check(CLI::Range(int64_t{100}, int64_t{86'400'000}))
      ->capture_default_str();
  app.add_option("--hold-ttl-default-ms", config.hold_ttl_default_ms, "hold TTL when none is given")
      ->capture_default_str();
  app.add_option("--hold-ttl-max-ms", config.hold_ttl_max_ms, "largest TTL one request may ask")
      ->capture_default_str();
  app.add_option("--hold-lifetime-max-ms", config.hold_lifetime_max_ms,
                 "a hold's whole life, extensions included")
      ->capture_default_str();
  app.add_option("--events-max", config.events_max, "seat table: events")->capture_default_str();
  app.add_option("--holds-max", config.holds_max, "seat table: live holds (multiple of 64)")
      ->capture_default_str();
  app.add_option("--idempotency-keys-max", config.idempotency_keys_max,
                 "seat table: idempotency keys (power of two)")
      ->capture_default_str();
  app.add_option("--arena-bytes", config.arena_bytes,
                 "seat table: bytes for event regions (sparse)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (config.log_level == "debug") g_log_level = LogLevel::kDebug;
  if (config.log_level == "warn") g_log_level = LogLevel::kWarn;
  if (config.log_level == "error") g_log_level = LogLevel::kError;
  return run(config);
}
