// boxofficed: the boxoffice server. Opens (or re-attaches and recovers) the seat table, then
// runs one pinned worker thread per core, each with its own reactor (io_uring, or epoll when
// io_uring is refused) serving msgpack-rpc (net/PROTOCOL.md) on the same SO_REUSEPORT address.
// SIGTERM and SIGINT stop accepting, answer what has arrived, close connections and exit.
// Logs go to stderr, or with --log-file to a file that SIGHUP reopens (log rotation).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "net/admin_server.h"
#include "net/api_keys.h"
#include "net/api_routes.h"
#include "net/http_server.h"
#include "net/ops_routes.h"
#include "net/reactor.h"
#include "net/reactor_support.h"
#include "net/rpc_handler.h"
#include "net/seat_feed.h"
#include "persist/restore.h"
#include "persist/sinks.h"

namespace {

using namespace boxoffice;

enum class LogLevel { kDebug, kInfo, kWarn, kError };
std::atomic<LogLevel> g_log_level{LogLevel::kInfo};  // the admin socket may change it

// One line per event: time, level, message.
template <typename... Args>
void log(LogLevel level, const char* format, Args... args) {
  if (level < g_log_level.load(std::memory_order_relaxed)) return;
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

// Points stderr (every log line, the libraries' messages too) at `path`, opened for appending
// (created 0640 if absent). Called at start and on SIGHUP: after a rotation moved the file
// away, the next lines go to a new file at `path`. On failure stderr is left as it was and the
// reason is returned.
std::string redirect_stderr(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return std::strerror(errno);
  // dup2 replaces descriptor 2 in one step: a thread writing a log line meanwhile writes to
  // the old file or the new one, never to a closed descriptor.
  const bool moved = ::dup2(fd, STDERR_FILENO) == STDERR_FILENO;
  const std::string error = moved ? "" : std::strerror(errno);
  ::close(fd);
  return error;
}

// "debug", "info", "warn" or "error"; false for anything else.
bool set_log_level(const std::string& name) {
  static constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; ++i) {
    if (name != kLevelNames[i]) continue;
    g_log_level.store(static_cast<LogLevel>(i), std::memory_order_relaxed);
    return true;
  }
  return false;
}

struct Config {
  std::string listen = "127.0.0.1:7700";
  std::string http = "127.0.0.1:7780";  // "off": no HTTP listener
  std::string admin;                    // default <data-dir>/admin.sock; "off": none
  unsigned http_threads = 1;
  uint32_t http_body_bytes_max = 1u << 20;
  int http_timeout_s = 30;
  uint32_t http_connections_max = 10'000;
  std::string http_cors_origin;  // "": no CORS
  std::string data_dir = "./var";
  std::string shm_path;  // default /dev/shm/boxoffice-<port>
  // One per core, leaving a worker index for the HTTP thread on very large machines.
  unsigned workers =
      std::min(std::max(1u, std::thread::hardware_concurrency()), shm::kWorkersMax - 1);
  std::string io = "auto";
  std::string durability = "journal";
  std::string mariadb_url;    // empty: no MariaDB (the journal alone keeps the sales)
  std::string redis_address;  // empty: no Redis outbox
  std::string redis_stream = "boxoffice:tickets";
  uint64_t redis_stream_length_max = 1'000'000;
  uint64_t persist_backlog_max = 1'000'000;  // records not yet in MariaDB; then sales get BUSY
  uint32_t persist_batch_rows = 10'000;
  int64_t persist_linger_ms = 20;             // after a small batch; 0 with --durability db
  uint64_t persist_rows_per_s_max = 25'000;   // while sales come in; 0: never paced
  int64_t persist_drain_ms = 5'000;           // on shutdown: time the persisters get to catch up
  uint64_t journal_staging_bytes = 4u << 20;  // per worker
  uint64_t journal_segment_bytes = 64u << 20;
  std::string api_keys_path;
  std::string log_level = "info";
  std::string log_file;  // "": stderr
  bool pin = true;
  // Limits.
  uint32_t connections_max = 10'000;  // per worker
  uint32_t frame_bytes_max = 1u << 20;
  uint32_t output_bytes_max = 4u << 20;
  uint32_t requests_per_read_max = 1024;
  uint32_t queue_budget_ms = 1000;  // msgpack-rpc requests queued longer in the socket: BUSY
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

// A worker journal that ends below what MariaDB or Redis already has (a damaged tail cut at
// start, or records that were only in the page cache when the machine went down): those
// sequences must not be given to new records, or the persister, resuming after them, would
// skip the new ones. Filler records take them.
constexpr uint64_t kLostSequencesMax = 1'000'000;  // more is not damage but a mix-up

void keep_lost_sequences(const Config& config, const persist::MariadbConfig& mariadb,
                         const persist::RedisConfig& redis, persist::JournalSet& journals) {
  if (config.mariadb_url.empty() && config.redis_address.empty()) return;
  std::vector<persist::StreamProgress> rows;
  std::string check_error;
  if (!config.mariadb_url.empty()) {
    auto store = persist::MariadbStore::connect(mariadb, &check_error);
    if (store) store->load_progress(&rows, &check_error);
  }
  if (!config.redis_address.empty()) {
    auto outbox = persist::RedisOutbox::connect(redis, &check_error);
    if (outbox) outbox->load_progress(&rows, &check_error);
  }
  if (!check_error.empty()) {
    log(LogLevel::kWarn, "could not check the journals against MariaDB/Redis progress: %s",
        check_error.c_str());
  }
  for (size_t i = 0; i < journals.workers.size(); ++i) {
    uint64_t progress = 0;
    for (const persist::StreamProgress& row : rows) {
      if (row.name == journals.stream_name(i)) progress = std::max(progress, row.sequence);
    }
    const uint64_t last = journals.workers[i]->appended_sequence();  // nothing appended yet
    if (progress > last + kLostSequencesMax) {
      log(LogLevel::kError,
          "%s journal ends at %llu but MariaDB/Redis have it up to %llu: is that database "
          "shared with another server? Its new records will be skipped until the journal "
          "passes %llu",
          journals.stream_name(i).c_str(), static_cast<unsigned long long>(last),
          static_cast<unsigned long long>(progress), static_cast<unsigned long long>(progress));
    } else if (progress > last) {
      const uint64_t filled = journals.workers[i]->fill_to(progress);
      log(LogLevel::kWarn,
          "%s journal lost records %llu..%llu that MariaDB/Redis already have; %llu filler "
          "records keep those sequences from new sales",
          journals.stream_name(i).c_str(), static_cast<unsigned long long>(last + 1),
          static_cast<unsigned long long>(progress), static_cast<unsigned long long>(filled));
    }
  }
}

int run(const Config& config) {
  // Signals are taken by this thread only: blocked before any other thread (persisters, HTTP,
  // workers) starts, so they all inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reopen the log file
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  if (!config.log_file.empty()) {
    if (std::string error = redirect_stderr(config.log_file); !error.empty()) {
      log(LogLevel::kError, "--log-file %s: %s", config.log_file.c_str(), error.c_str());
      return 2;
    }
  }
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(config.listen, &host, &port)) {
    log(LogLevel::kError, "--listen must be HOST:PORT, not \"%s\"", config.listen.c_str());
    return 2;
  }
  net::Durability durability = net::Durability::kJournal;
  if (config.durability == "memory") durability = net::Durability::kMemory;
  if (config.durability == "db") durability = net::Durability::kDb;
  persist::MariadbConfig mariadb;
  if (!config.mariadb_url.empty()) {
    std::string error;
    if (!persist::parse_mariadb_url(config.mariadb_url, &mariadb, &error)) {
      log(LogLevel::kError, "--mariadb: %s", error.c_str());
      return 2;
    }
  } else if (durability == net::Durability::kDb) {
    log(LogLevel::kError, "--durability db needs --mariadb");
    return 2;
  }
  persist::RedisConfig redis;
  if (!config.redis_address.empty()) {
    std::string error;
    if (!persist::parse_redis_address(config.redis_address, &redis, &error)) {
      log(LogLevel::kError, "--redis: %s", error.c_str());
      return 2;
    }
    redis.stream = config.redis_stream;
    redis.stream_length_max = config.redis_stream_length_max;
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
  // HTTP threads are engine workers too (each has a worker index and a journal stream).
  const unsigned http_threads = config.http == "off" ? 0 : config.http_threads;
  if (config.workers == 0 || config.workers + http_threads > geometry.workers_max) {
    log(LogLevel::kError, "--workers plus --http-threads must be at most %u", geometry.workers_max);
    return 2;
  }
  net::HttpOptions http_options;
  if (http_threads > 0 && !split_host_port(config.http, &http_options.host, &http_options.port)) {
    log(LogLevel::kError, "--http must be HOST:PORT or off, not \"%s\"", config.http.c_str());
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
  if (table->created()) {
    log(LogLevel::kInfo, "seat table %s created (%llu bytes, sparse)", shm_path.c_str(),
        static_cast<unsigned long long>(table->file_bytes()));
  }

  // The journals: repaired, staged records written, then checked against the table.
  persist::JournalSetOptions journal_options;
  journal_options.directory = config.data_dir + "/journal";
  journal_options.staging_prefix = shm_path;
  journal_options.workers = config.workers + http_threads;
  journal_options.staging_bytes = config.journal_staging_bytes;
  journal_options.segment_bytes_max = config.journal_segment_bytes;
  // Without MariaDB nothing drains the journal, so there is no backlog to bound.
  journal_options.backlog_records_max = config.mariadb_url.empty() ? 0 : config.persist_backlog_max;
  journal_options.control_record_bytes_max = engine_options.layout.document_bytes_max + 64 * 1024;
  persist::JournalSet journals;
  std::vector<std::string> notes;
  if (!persist::open_journals(journal_options, &journals, &notes, &error)) {
    log(LogLevel::kError, "%s", error.c_str());
    return 1;
  }
  keep_lost_sequences(config, mariadb, redis, journals);
  persist::ControlEvents control;
  if (!persist::read_control(journals.control->directory(), &control, &error)) {
    log(LogLevel::kError, "%s", error.c_str());
    return 1;
  }
  // Replaces the table with a new, empty one (to be rebuilt).
  auto fresh_table = [&] {
    engine.reset();
    table.reset();
    ::unlink(shm_path.c_str());
    table = shm::SeatTable::open({shm_path, geometry, start_ms}, &error);
    if (table) engine = Engine::open(table.get(), engine_options, &error);
    return engine != nullptr;
  };
  bool rebuild = table->created() && !control.events.empty();
  if (!table->created()) {
    if (!persist::reconcile_events(*engine, *journals.control, control, start_ms, &rebuild, &notes,
                                   &error)) {
      log(LogLevel::kError, "%s", error.c_str());
      return 1;
    }
    if (rebuild) {
      // Older than its journal: start again from an empty table.
      if (!fresh_table()) {
        log(LogLevel::kError, "%s", error.c_str());
        return 1;
      }
    }
  }
  for (const std::string& note : notes) log(LogLevel::kWarn, "recovery: %s", note.c_str());
  if (rebuild) {
    // MariaDB is read whenever there is one: it has every sale the journal trimmed, and also
    // any whose record a damaged journal lost after MariaDB got it.
    const bool needs_database = persist::rebuild_needs_database(journals);
    if (needs_database && config.mariadb_url.empty()) {
      log(LogLevel::kError,
          "the seat table must be rebuilt, and the journal was trimmed after MariaDB got its "
          "records: give --mariadb");
      return 1;
    }
    persist::TicketSource database;
    if (!config.mariadb_url.empty()) {
      database =
          persist::mariadb_ticket_source(mariadb, static_cast<uint32_t>(control.events.size()));
    }
    persist::RebuildReport report;
    bool rebuilt = persist::rebuild_table(*engine, control, journals,
                                          database ? &database : nullptr, &report, &error);
    bool with_database = static_cast<bool>(database);
    if (!rebuilt && with_database && !needs_database) {
      // MariaDB unreachable, but the journal has everything it ever had: rebuild from it.
      log(LogLevel::kWarn, "rebuilding with MariaDB failed (%s); from the journal alone",
          error.c_str());
      rebuilt = fresh_table() &&
                persist::rebuild_table(*engine, control, journals, nullptr, &report, &error);
      with_database = false;
    }
    if (!rebuilt) {
      log(LogLevel::kError, "rebuilding the seat table: %s", error.c_str());
      return 1;
    }
    log(LogLevel::kWarn, "seat table %s rebuilt from the journal%s: %s", shm_path.c_str(),
        with_database ? " and MariaDB" : "", report.to_string().c_str());
  }

  // The hold table's pages are mapped before the first hold rather than by it (each page on
  // first use cost the hold route about 1 us per hold here; 192 MiB and ~120 ms at start for
  // the default --holds-max). The events' pages are mapped when each is created.
  table->populate_holds();

  // Worker contexts first: worker 0's wheel takes the holds found by recovery, and its log the
  // sales recovery rolls forward. The msgpack-rpc workers, then the HTTP threads.
  std::vector<std::unique_ptr<WorkerContext>> contexts;
  for (unsigned i = 0; i < config.workers + http_threads; ++i) {
    contexts.push_back(std::make_unique<WorkerContext>(i, geometry.holds_max, start_ms));
    contexts[i]->set_sale_log(journals.workers[i].get());
  }
  engine->set_event_log(journals.control.get());
  if (!table->created() || rebuild) {
    const RecoveryReport report = engine->recover(*contexts[0], net::wall_clock_ms());
    log(LogLevel::kInfo, "seat table %s %s: %s", shm_path.c_str(),
        rebuild ? "rebuilt" : "re-attached", report.to_string().c_str());
  }
  for (auto& worker_log : journals.workers) {
    if (!worker_log->sync_now(&error)) {
      log(LogLevel::kError, "journal %s: %s", worker_log->directory().c_str(), error.c_str());
      return 1;
    }
    // What MariaDB has is at least what the journal no longer keeps.
    const uint64_t first = persist::first_retained_sequence(worker_log->directory());
    worker_log->set_persisted(first > 0 ? first - 1 : 0);
  }

  // Persisters: MariaDB and the Redis outbox each tail every journal with their own progress;
  // a segment goes once both have it.
  std::vector<std::unique_ptr<persist::Persister>> persisters;
  std::vector<persist::PersistStream> streams;
  streams.push_back({"control", journals.control->directory(),
                     [log = journals.control.get()] { return log->durable_sequence(); }});
  for (size_t i = 0; i < journals.workers.size(); ++i) {
    persist::WorkerLog* worker_log = journals.workers[i].get();
    streams.push_back({journals.stream_name(i), worker_log->directory(),
                       [worker_log] { return worker_log->durable_sequence(); }});
  }
  persist::PersisterOptions persister_options;
  persister_options.batch_rows_max = config.persist_batch_rows;
  // In db mode every reply waits for the persister: it must not linger.
  persister_options.linger_ms = durability == net::Durability::kDb ? 0 : config.persist_linger_ms;
  persister_options.rows_per_s_max =
      durability == net::Durability::kDb ? 0 : config.persist_rows_per_s_max;
  // Paced while selling, until half the workers' backlog limit: then draining comes first.
  persister_options.pace_lag_records_max =
      journal_options.backlog_records_max == 0
          ? UINT64_MAX
          : journal_options.backlog_records_max / 2 * journals.workers.size();
  auto on_persisted = [&journals, &persisters](size_t stream, uint64_t) {
    if (stream == 0) return;  // the control journal is kept whole (rebuilds need it)
    uint64_t floor = UINT64_MAX;
    for (const auto& p : persisters) floor = std::min(floor, p->persisted(stream));
    persist::WorkerLog& worker_log = *journals.workers[stream - 1];
    if (persisters[0]->name() == "mariadb")
      worker_log.set_persisted(persisters[0]->persisted(stream));
    persist::delete_persisted_segments(worker_log.directory(), floor);
  };
  auto persister_log = [](const std::string& line) { log(LogLevel::kWarn, "%s", line.c_str()); };
  if (!config.mariadb_url.empty()) {
    persisters.push_back(std::make_unique<persist::Persister>(
        "mariadb", persist::make_mariadb_sink(mariadb), streams, engine.get(), persister_options,
        on_persisted, persister_log));
    log(LogLevel::kInfo, "persisting to %s", persist::redacted_url(mariadb).c_str());
  }
  if (!config.redis_address.empty()) {
    persisters.push_back(std::make_unique<persist::Persister>(
        "redis", persist::make_redis_sink(redis), streams, engine.get(), persister_options,
        on_persisted, persister_log));
    log(LogLevel::kInfo, "publishing tickets to Redis stream %s at %s", redis.stream.c_str(),
        config.redis_address.c_str());
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
  reactor_options.receive_timestamps = config.queue_budget_ms > 0;

  net::RpcLimits rpc_limits;
  rpc_limits.frame = frame_limits;
  rpc_limits.connections_max = config.connections_max;
  rpc_limits.requests_per_read_max = config.requests_per_read_max;
  rpc_limits.queue_budget_ms = config.queue_budget_ms;
  rpc_limits.notification_backlog_bytes = config.output_bytes_max / 4;
  // Released replies must fit in the output next to what is already there.
  rpc_limits.held_reply_bytes_max = config.output_bytes_max / 2;
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
    handlers.back()->set_journal(journals.workers[i].get(), durability, reactor.get());
    reactors.push_back(std::move(reactor));
  }
  for (auto& persister : persisters) persister->start();

  // The HTTP adapter: its threads run the same methods as the workers, with their own
  // worker contexts and journals; /health, /ready and /metrics read what everyone shares.
  net::OpsState ops;
  ops.engine = engine.get();
  for (unsigned i = 0; i < config.workers + http_threads; ++i) {
    ops.journals.push_back(journals.workers[i].get());
  }
  for (auto& persister : persisters) ops.persisters.push_back(persister.get());
  for (auto& handler : handlers) ops.rpc_stats.push_back(&handler->stats());
  ops.io_backend = reactors[0]->backend_name();
  ops.durability = net::durability_name(durability);
  net::OpsRoutes ops_routes(&ops);
  std::vector<std::unique_ptr<net::ApiRoutes>> api_routes;
  std::unique_ptr<net::HttpServer> http;
  if (http_threads > 0) {
    std::vector<net::HttpRoutes*> per_thread;
    for (unsigned t = 0; t < http_threads; ++t) {
      const unsigned worker = config.workers + t;
      api_routes.push_back(std::make_unique<net::ApiRoutes>(engine.get(), contexts[worker].get(),
                                                            dispatch, &ops_routes));
      api_routes.back()->set_journal(journals.workers[worker].get(), durability);
      api_routes.back()->set_feed(&feed);
      ops.http_stats.push_back(&api_routes.back()->stats());
      per_thread.push_back(api_routes.back().get());
    }
    http_options.body_bytes_max = config.http_body_bytes_max;
    http_options.timeout_s = config.http_timeout_s;
    http_options.connections_max = config.http_connections_max;
    http_options.cors_origin = config.http_cors_origin;
    http = std::make_unique<net::HttpServer>(http_options, per_thread);
    if (std::string http_error = http->start(); !http_error.empty()) {
      log(LogLevel::kError, "--http %s: %s", config.http.c_str(), http_error.c_str());
      return 1;
    }
    log(LogLevel::kInfo, "HTTP on %s:%u with %u threads (/v1, CQRS routes, /metrics)",
        http_options.host.c_str(), http->port(), http_threads);
  }
  // The admin socket (boxoffice-ctl) on a thread of its own. Its hooks use what is declared
  // above, and it stops before any of that goes (first thing after the stop signal).
  net::AdminState admin_state;
  admin_state.engine = engine.get();
  admin_state.ops = &ops;
  admin_state.version = BOXOFFICE_VERSION;
  admin_state.listen = host + ":" + std::to_string(reactors[0]->port());
  admin_state.http =
      http ? config.http.substr(0, config.http.rfind(':') + 1) + std::to_string(http->port())
           : "off";
  admin_state.log_level = config.log_level;
  admin_state.started_at_ms = start_ms;
  admin_state.set_log_level = set_log_level;
  // kill(), not raise(): the signal is for the process, whose main thread waits for it below;
  // raise() would aim it at the admin thread, which blocks it.
  admin_state.shutdown = [] { ::kill(::getpid(), SIGTERM); };
  admin_state.log = [](const std::string& line) { log(LogLevel::kInfo, "%s", line.c_str()); };
  net::AdminService admin_service(&admin_state);
  std::unique_ptr<net::AdminServer> admin;
  if (config.admin != "off") {
    net::AdminServerOptions admin_options;
    admin_options.path = config.admin.empty() ? config.data_dir + "/admin.sock" : config.admin;
    admin_state.admin_path = admin_options.path;
    admin = std::make_unique<net::AdminServer>(admin_options, &admin_service);
    if (std::string admin_error = admin->start(); !admin_error.empty()) {
      log(LogLevel::kError, "--admin: %s (give another --admin PATH, or off)", admin_error.c_str());
      return 1;
    }
    log(LogLevel::kInfo, "admin socket %s (mode 0660; boxoffice-ctl --socket %s help)",
        admin_options.path.c_str(), admin_options.path.c_str());
  }
  log(LogLevel::kInfo, "boxofficed listening on %s:%u with %u %s workers, durability %s",
      host.c_str(), reactors[0]->port(), config.workers, reactors[0]->backend_name(),
      net::durability_name(durability));

  std::vector<std::thread> threads;
  for (auto& reactor : reactors) threads.emplace_back([r = reactor.get()] { r->run(); });
  ops.ready.store(true, std::memory_order_release);
  // Wait for a stop signal; meanwhile, a line on each persister every 10 s while it works.
  int signal_number = 0;
  std::vector<uint64_t> batches_seen(persisters.size(), 0);
  while (true) {
    const timespec interval{10, 0};
    signal_number = sigtimedwait(&signals, nullptr, &interval);
    if (signal_number == SIGHUP) {
      if (config.log_file.empty()) {
        log(LogLevel::kInfo, "SIGHUP: logs go to stderr, nothing to reopen");
      } else if (std::string error = redirect_stderr(config.log_file); !error.empty()) {
        log(LogLevel::kError, "SIGHUP: cannot reopen %s (%s); still logging to the old file",
            config.log_file.c_str(), error.c_str());
      } else {
        log(LogLevel::kInfo, "SIGHUP: log file %s reopened", config.log_file.c_str());
      }
      continue;
    }
    if (signal_number > 0) break;
    for (size_t i = 0; i < persisters.size(); ++i) {
      const persist::PersisterStats stats = persisters[i]->stats();
      if (stats.batches == batches_seen[i] && stats.lag_records == 0) continue;
      batches_seen[i] = stats.batches;
      log(LogLevel::kInfo,
          "%s: %s, lag %llu records (%lld ms), %.0f rows/s, %llu batches (last %llu rows), "
          "%llu errors",
          persisters[i]->name().c_str(), stats.connected ? "connected" : "DISCONNECTED",
          static_cast<unsigned long long>(stats.lag_records), static_cast<long long>(stats.lag_ms),
          stats.rows_per_s, static_cast<unsigned long long>(stats.batches),
          static_cast<unsigned long long>(stats.last_batch_rows),
          static_cast<unsigned long long>(stats.errors));
    }
  }
  log(LogLevel::kInfo, "%s: draining", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  if (admin) admin->stop();  // no command from here on (a `resume` would undo the drain)
  ops.ready.store(false, std::memory_order_release);
  for (auto& reactor : reactors) reactor->request_stop();
  if (http) http->stop();
  for (auto& thread : threads) thread.join();
  for (auto& persister : persisters) {
    if (!persister->wait_caught_up(config.persist_drain_ms)) {
      log(LogLevel::kWarn, "%s: not caught up after %lld ms; the rest is sent at the next start",
          persister->name().c_str(), static_cast<long long>(config.persist_drain_ms));
    }
    persister->stop();
  }
  engine->set_observer(nullptr);  // the feed goes before the engine
  uint64_t requests = 0, busy = 0;
  for (auto& handler : handlers) {
    requests += handler->stats().requests();
    busy += handler->stats().busy_refused();
  }
  for (auto& routes : api_routes) requests += routes->stats().requests();
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
  app.add_option("--http", config.http,
                 "HTTP listener HOST:PORT (/v1 API, CQRS routes, /health, /ready, /metrics), or "
                 "\"off\"")
      ->capture_default_str();
  app.add_option("--http-threads", config.http_threads,
                 "HTTP threads (each is an engine worker with its own journal)")
      ->check(CLI::Range(1u, 16u))
      ->capture_default_str();
  app.add_option("--http-body-max", config.http_body_bytes_max,
                 "largest HTTP request body; larger: 413")
      ->check(CLI::Range(1024u, 64u << 20))
      ->capture_default_str();
  app.add_option("--http-timeout-s", config.http_timeout_s,
                 "each whole HTTP request must arrive within this of the connection's accept or "
                 "last reply (idle keep-alive included), and each read or write progress within "
                 "it; else the connection is closed")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--http-connections-max", config.http_connections_max,
                 "open HTTP connections per HTTP thread; more are answered 503 and closed")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--http-cors-origin", config.http_cors_origin,
                 "let browser pages of this origin (e.g. https://shop.example, or *) call the "
                 "HTTP API: CORS headers on every reply, OPTIONS preflights answered 204")
      ->check([](const std::string& origin) -> std::string {
        if (origin == "*") return "";
        for (const std::string_view scheme : {"http://", "https://"}) {
          if (!origin.starts_with(scheme)) continue;
          const std::string_view host = std::string_view(origin).substr(scheme.size());
          if (!host.empty() && host.find_first_of(" \t\r\n,/") == std::string_view::npos) {
            return "";
          }
        }
        return "an origin is * or scheme://host[:port], without a path";
      });
  app.add_option("--data-dir", config.data_dir, "directory for runtime files")
      ->capture_default_str();
  app.add_option("--admin", config.admin,
                 "admin Unix socket, mode 0660, for boxoffice-ctl (default <data-dir>/admin.sock), "
                 "or \"off\"");
  app.add_option("--shm", config.shm_path, "seat table file (default /dev/shm/boxoffice-<port>)");
  app.add_option("--workers", config.workers, "worker threads, one per core")
      ->capture_default_str();
  app.add_option("--io", config.io, "reactor backend")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}))
      ->capture_default_str();
  app.add_option("--durability", config.durability, "when a sale is acknowledged")
      ->check(CLI::IsMember({"journal", "memory", "db"}))
      ->capture_default_str();
  app.add_option("--mariadb", config.mariadb_url,
                 "persist tickets to mariadb://user:password@host[:port]/db[?socket=/path]");
  app.add_option("--redis", config.redis_address,
                 "publish tickets to a Redis Stream at HOST:PORT or unix:/path");
  app.add_option("--redis-stream", config.redis_stream, "the stream's key")->capture_default_str();
  app.add_option("--redis-stream-max", config.redis_stream_length_max,
                 "approximate length cap of the stream (XADD MAXLEN ~)")
      ->capture_default_str();
  app.add_option("--persist-backlog-max", config.persist_backlog_max,
                 "journal records per worker not yet in MariaDB before sales get BUSY")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--persist-batch-rows", config.persist_batch_rows, "rows per MariaDB transaction")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--persist-linger-ms", config.persist_linger_ms,
                 "after a small batch, wait this long to gather a larger one (not in db mode)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--persist-rows-per-s-max", config.persist_rows_per_s_max,
                 "while sales come in, persist at most this many rows/s (0: never paced), so a "
                 "backlog drain leaves CPU to selling; lifted past half the backlog limit")
      ->capture_default_str();
  app.add_option("--persist-drain-ms", config.persist_drain_ms,
                 "on shutdown, time the persisters get to catch up")
      ->capture_default_str();
  app.add_option("--journal-staging-bytes", config.journal_staging_bytes,
                 "per worker: records staged between two journal writes")
      ->check(CLI::Range(uint64_t{64} << 10, uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--journal-segment-bytes", config.journal_segment_bytes,
                 "journal segment size before rotation")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 34))
      ->capture_default_str();
  app.add_option("--api-keys", config.api_keys_path,
                 "file of `KEY sell|admin` lines: enables auth");
  app.add_option("--log-file", config.log_file,
                 "append the log (all the server writes to stderr) to this file instead; "
                 "SIGHUP reopens it, for log rotation");
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
  app.add_option("--queue-budget-ms", config.queue_budget_ms,
                 "msgpack-rpc requests that waited longer than this in the socket before a "
                 "worker read them get BUSY without running (pings excepted); 0: off")
      ->check(CLI::Range(0u, 3'600'000u))
      ->capture_default_str();
  app.add_option("--max-seats-per-request", config.seats_per_request_max,
                 "seats in one hold or buy")
      ->check(CLI::Range(1u, shm::kSeatsPerHoldMax))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", config.idle_timeout_ms,
                 "close connections that send no whole request and are sent nothing for this long")
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
