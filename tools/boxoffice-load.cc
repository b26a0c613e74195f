// boxoffice-load: a load generator for boxofficed and its peers (DESIGN.md section 8). It opens
// --connections over --threads (one io_uring, or epoll set, each), keeps up to --pipeline requests
// in flight per connection, and runs a scenario against one of three targets:
//   --target boxoffice  msgpack-rpc (net/PROTOCOL.md)          tools/load/rpc_codec.h
//   --target http       the /v1 HTTP routes (net/HTTP_API.md)   tools/load/http_codec.h
//   --target redis      SET seat:{E}:{i} <token> NX PX <ttl> for one seat; EVALSHA of a Lua
//                       script that checks every key is free, then sets them all, for several
//                       (buy: the same without expiry); confirm/release: Lua compare-and-
//                       persist/delete                        tools/load/redis_codec.h
// Scenarios (tools/load/scenario.h): hold, hold4, best, buy, flow (hold then confirm or
// release), onsale (everyone buys the front rows, Zipf-skewed, until sold out). Closed loop by
// default (every answer sends the next request); --rate OPS makes it open loop, each thread
// sending rate/threads requests per second at fixed intended times and measuring latency from
// them (no coordinated omission). Answers during --warmup are not counted; after the window the
// threads drain what is in flight. One progress line per second, a summary at the end, --json
// FILE with the same. --verify checks the server's state against what the clients saw
// (tools/load/verify.h); exit status 1 on any mismatch, a lost connection or a malformed answer.
#include <hiredis/hiredis.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tools/load/control_client.h"
#include "tools/load/mariadb_verify.h"
#include "tools/load/redis_codec.h"
#include "tools/load/redis_verify.h"
#include "tools/load/report.h"
#include "tools/load/run_state.h"
#include "tools/load/scenario.h"
#include "tools/load/transport.h"
#include "tools/load/uring_transport.h"
#include "tools/load/verify.h"
#include "tools/load/worker.h"

namespace {

using namespace boxoffice::load;

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr uint32_t kConnectionsPerThreadMax = 16'384;  // uring_transport.h: its ring's size
// --seats N: rows of 100 seats front to back, longer rows when a zone would exceed its
// 1,000 rows (core/layout.h LayoutLimits), up to 1,000 x 1,000 seats.
constexpr uint32_t kSeatsPerRow = 100;
constexpr uint32_t kRowsMax = 1000;

struct Options {
  std::string target = "boxoffice";
  std::string addr;
  std::string scenario = "hold";
  uint32_t connections = 16;
  uint32_t pipeline = 1;
  uint32_t threads = 1;
  std::string io = "auto";
  double duration_s = 10;
  double warmup_s = 1;
  double rate = 0;
  std::string event;
  std::string create_event_layout;
  uint32_t seats = 0;
  std::string seat_dist;  // default: zipf for onsale, uniform otherwise
  double zipf_exponent = 1.0;
  uint32_t seats_per_op = 1;
  uint32_t best_zone = 1;
  uint32_t best_count = 4;
  uint32_t release_percent = 20;
  uint32_t hold_ttl_ms = 600'000;
  std::string json_path;
  bool verify = false;
  bool verify_exclusive = false;
  bool ignore_retry_after = false;
  std::string verify_mariadb_url;
  double verify_wait_s = 30;
  uint64_t seed = 0;
};

double cpu_s() {  // this process's CPU time, user + system
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ScenarioKind scenario_kind(const std::string& name) {
  if (name == "hold4") return ScenarioKind::kHold4;
  if (name == "best") return ScenarioKind::kBest;
  if (name == "buy") return ScenarioKind::kBuy;
  if (name == "flow") return ScenarioKind::kFlow;
  if (name == "onsale") return ScenarioKind::kOnsale;
  return ScenarioKind::kHold;
}

TargetKind target_kind(const std::string& name) {
  if (name == "http") return TargetKind::kHttp;
  if (name == "redis") return TargetKind::kRedis;
  return TargetKind::kBoxoffice;
}

// A fresh event id, so the run is the event's only writer.
std::string fresh_event_id() {
  return "load-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() %
                        1'000'000'000);
}

nlohmann::json generated_layout(uint32_t seats) {
  const uint32_t seats_per_row = std::max(kSeatsPerRow, (seats + kRowsMax - 1) / kRowsMax);
  nlohmann::json rows = nlohmann::json::array();
  for (uint32_t first = 0, row = 1; first < seats; first += seats_per_row, ++row) {
    rows.push_back(
        {{"label", "R" + std::to_string(row)}, {"seats", std::min(seats_per_row, seats - first)}});
  }
  return {{"venue", "boxoffice-load"},
          {"name", "generated"},
          {"zones", {{{"id", 1}, {"name", "Load"}, {"price_cents", 1000}, {"rows", rows}}}}};
}

// Creates the event (--create-event, or --seats without --event) or finds it; returns its seat
// count, 0 on failure. *created tells which.
uint32_t prepare_event(const Options& o, ControlClient* client, std::string* event, bool* created) {
  *created = false;
  if (!o.create_event_layout.empty() || (o.seats > 0 && o.event.empty())) {
    nlohmann::json layout;
    if (!o.create_event_layout.empty()) {
      std::ifstream in(o.create_event_layout);
      layout = nlohmann::json::parse(in, nullptr, false);
      if (layout.is_discarded()) {
        std::fprintf(stderr, "boxoffice-load: %s: not JSON\n", o.create_event_layout.c_str());
        return 0;
      }
    } else {
      layout = generated_layout(o.seats);
    }
    if (event->empty()) *event = fresh_event_id();
    const ControlReply reply =
        client->call("event.create", {{"id", *event}, {"layout", layout}, {"name", "load"}});
    if (!reply.transport_ok || !reply.error.is_null()) {
      std::fprintf(stderr, "boxoffice-load: event.create %s: %s\n", event->c_str(),
                   reply.transport_ok ? reply.error.dump().c_str() : "no answer");
      return 0;
    }
    *created = true;
  }
  const ControlReply stats = client->call("event.stats", {{"event", *event}});
  if (!stats.transport_ok || !stats.error.is_null()) {
    std::fprintf(stderr, "boxoffice-load: event.stats %s: %s\n", event->c_str(),
                 stats.transport_ok ? stats.error.dump().c_str() : "no answer");
    return 0;
  }
  return stats.result.value("seats_total", 0u);
}

// Loads the Redis target's Lua scripts (redis_codec.h) into *options; false if Redis refused.
bool redis_load_scripts(const std::string& addr, TargetOptions* options) {
  std::string error;
  redisContext* c = redis_connect(addr, &error);
  if (c == nullptr) {
    std::fprintf(stderr, "boxoffice-load: %s\n", error.c_str());
    return false;
  }
  const std::pair<const char*, std::string*> scripts[] = {
      {kHoldManyScript, &options->redis_script_sha},
      {kConfirmScript, &options->redis_confirm_sha},
      {kReleaseScript, &options->redis_release_sha}};
  bool loaded = true;
  for (const auto& [script, sha] : scripts) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %s", script));
    if (r != nullptr && r->type == REDIS_REPLY_STRING) {
      sha->assign(r->str, r->len);
    } else {
      std::fprintf(stderr, "boxoffice-load: redis %s: SCRIPT LOAD: %s\n", addr.c_str(),
                   r != nullptr && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
      loaded = false;
    }
    if (r) freeReplyObject(r);
  }
  redisFree(c);
  return loaded;
}

void print_progress(int64_t second, bool warmup,
                    const std::vector<std::unique_ptr<Worker>>& workers,
                    uint64_t (&previous)[3 + kErrorCodesMax], Progress* progress) {
  uint64_t now[3 + kErrorCodesMax] = {};
  for (const auto& w : workers) {
    const ThreadCounters& c = w->counters();
    now[0] += c.ok.load(std::memory_order_relaxed);
    now[1] += c.conflicts.load(std::memory_order_relaxed);
    now[2] += c.errors.load(std::memory_order_relaxed);
    for (int code = 0; code < kErrorCodesMax; ++code) {
      now[3 + code] += c.errors_by_code[code].load(std::memory_order_relaxed);
    }
  }
  uint64_t errors_by_code[kErrorCodesMax];
  for (int code = 0; code < kErrorCodesMax; ++code) {
    errors_by_code[code] = now[3 + code] - previous[3 + code];
  }
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  progress->quantiles(second, &p50_ns, &p99_ns);
  const std::string errors = errors_text(errors_by_code);
  std::printf(
      "[%3llds%s] %llu ops/s  ok %llu  conflicts %llu  errors %llu%s%s%s  p50 %.1f us  "
      "p99 %.1f us\n",
      static_cast<long long>(second + 1), warmup ? " warmup" : "",
      static_cast<unsigned long long>(now[0] + now[1] + now[2] - previous[0] - previous[1] -
                                      previous[2]),
      static_cast<unsigned long long>(now[0] - previous[0]),
      static_cast<unsigned long long>(now[1] - previous[1]),
      static_cast<unsigned long long>(now[2] - previous[2]), errors.empty() ? "" : " (",
      errors.c_str(), errors.empty() ? "" : ")", static_cast<double>(p50_ns) / 1e3,
      static_cast<double>(p99_ns) / 1e3);
  std::fflush(stdout);
  std::copy(std::begin(now), std::end(now), std::begin(previous));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"boxoffice-load: load generator for boxofficed (msgpack-rpc, HTTP) and Redis"};
  app.add_option("--target", o.target, "what to load")
      ->check(CLI::IsMember({"boxoffice", "http", "redis"}))
      ->capture_default_str();
  app.add_option("--addr", o.addr, "server HOST:PORT (default: the target's default port)");
  app.add_option("--scenario", o.scenario, "what the clients do")
      ->check(CLI::IsMember({"hold", "hold4", "best", "buy", "flow", "onsale"}))
      ->capture_default_str();
  app.add_option("--connections", o.connections, "connections in all")
      ->check(CLI::Range(1u, 100'000u))
      ->capture_default_str();
  app.add_option("--pipeline", o.pipeline, "requests in flight per connection")
      ->check(CLI::Range(1u, 65'535u))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "client threads")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--io", o.io, "client transport: io_uring, else epoll (auto), or one of them")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 86'400.0))
      ->capture_default_str();
  CLI::Option* warmup_option =
      app.add_option("--warmup", o.warmup_s, "seconds before measuring (not counted; onsale: 0)")
          ->check(CLI::Range(0.0, 3600.0))
          ->capture_default_str();
  app.add_option("--rate", o.rate, "open loop: requests per second in all (0: closed loop)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--event", o.event, "event id (an existing event unless it is created)");
  app.add_option("--create-event", o.create_event_layout,
                 "create the event from this layout JSON file first");
  app.add_option("--seats", o.seats,
                 "without --event/--create-event: create an event of N seats (rows of 100); "
                 "--target redis: seat indices are drawn in [0, N)");
  app.add_option("--seat-dist", o.seat_dist,
                 "first seat's rank: zipf (onsale's default) or uniform")
      ->check(CLI::IsMember({"zipf", "uniform"}));
  app.add_option("--zipf-exponent", o.zipf_exponent, "Zipf exponent s")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  app.add_option("--seats-per-op", o.seats_per_op, "seats per hold/buy (hold4: 4)")
      ->check(CLI::Range(1u, 32u))
      ->capture_default_str();
  app.add_option("--zone", o.best_zone, "best: zone id")->capture_default_str();
  app.add_option("--best-count", o.best_count, "best: seats per hold.best")
      ->check(CLI::Range(1u, 32u))
      ->capture_default_str();
  app.add_option("--release-percent", o.release_percent, "flow: holds released, not confirmed")
      ->check(CLI::Range(0u, 100u))
      ->capture_default_str();
  app.add_option("--hold-ttl-ms", o.hold_ttl_ms, "hold TTL")->capture_default_str();
  app.add_option("--json", o.json_path, "also write the results to this JSON file");
  app.add_flag("--verify", o.verify, "check the server's state against what the clients saw");
  app.add_flag("--ignore-retry-after", o.ignore_retry_after,
               "after a BUSY answer send the slot's next request at once, instead of after the "
               "retry_after_ms (HTTP: Retry-After) the answer names");
  app.add_flag("--verify-exclusive", o.verify_exclusive,
               "this run was the event's only writer: also check event.stats counts");
  app.add_option("--verify-mariadb", o.verify_mariadb_url,
                 "with --verify: also check that MariaDB (boxofficed's --mariadb URL) has every "
                 "ticket once the persister has drained");
  app.add_option("--verify-wait", o.verify_wait_s, "--verify-mariadb: seconds to wait for it")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (0: from the clock)");
  CLI11_PARSE(app, argc, argv);

  const TargetKind target = target_kind(o.target);
  const ScenarioKind scenario = scenario_kind(o.scenario);
  // An on-sale is measured from its first request: the sale is the interesting part.
  if (scenario == ScenarioKind::kOnsale && warmup_option->count() == 0) o.warmup_s = 0;
  if (o.addr.empty()) {
    o.addr = target == TargetKind::kHttp    ? "127.0.0.1:7780"
             : target == TargetKind::kRedis ? "127.0.0.1:6379"
                                            : "127.0.0.1:7700";
  }
  o.threads = std::min(o.threads, o.connections);
  if (o.seed == 0) o.seed = static_cast<uint64_t>(now_ns());

  TargetOptions target_options;
  target_options.pipeline_depth = o.pipeline;
  target_options.hold_ttl_ms = o.hold_ttl_ms;
  uint32_t seats_total = 0;
  bool created = false;
  std::unique_ptr<ControlClient> control;
  std::string event = o.event;
  if (!o.verify_mariadb_url.empty() && (!o.verify || target == TargetKind::kRedis)) {
    std::fprintf(stderr,
                 "boxoffice-load: --verify-mariadb goes with --verify, not --target redis\n");
    return 2;
  }
  if (event.empty() && o.seats == 0 && o.create_event_layout.empty()) {
    std::fprintf(stderr, "boxoffice-load: give --event ID, --create-event FILE or --seats N\n");
    return 2;
  }
  // Each client thread's io_uring has two operations in flight per connection.
  if ((o.connections + o.threads - 1) / o.threads > kConnectionsPerThreadMax) {
    std::fprintf(stderr, "boxoffice-load: at most %u connections per thread (--threads)\n",
                 kConnectionsPerThreadMax);
    return 2;
  }
  if (target == TargetKind::kRedis) {
    if (scenario == ScenarioKind::kBest) {
      std::fprintf(stderr,
                   "boxoffice-load: --target redis has no best-available form (no Redis command "
                   "finds adjacent free keys); it runs hold, hold4, buy, flow and onsale\n");
      return 2;
    }
    if (o.seats == 0) {
      std::fprintf(stderr, "boxoffice-load: --target redis needs --seats N\n");
      return 2;
    }
    if (event.empty()) {
      event = fresh_event_id();
      created = true;  // no other writer uses these keys: --verify checks the counts
    }
    seats_total = o.seats;
    if (!redis_load_scripts(o.addr, &target_options)) return 1;
  } else {
    control = std::make_unique<ControlClient>(target, o.addr);
    std::string error;
    if (!control->connect(&error)) {
      std::fprintf(stderr, "boxoffice-load: %s\n", error.c_str());
      return 1;
    }
    seats_total = prepare_event(o, control.get(), &event, &created);
    if (seats_total == 0) return 1;
  }
  if (event.size() > 64) {
    std::fprintf(stderr, "boxoffice-load: --event: at most 64 bytes\n");
    return 2;
  }
  target_options.event = event;

  ScenarioConfig scenario_config;
  scenario_config.kind = scenario;
  scenario_config.seats_total = seats_total;
  scenario_config.seats_per_op = std::min(o.seats_per_op, seats_total);
  scenario_config.zipf =
      o.seat_dist.empty() ? scenario == ScenarioKind::kOnsale : o.seat_dist == "zipf";
  scenario_config.zipf_exponent = o.zipf_exponent;
  scenario_config.best_zone = o.best_zone;
  scenario_config.best_count = static_cast<uint16_t>(o.best_count);
  scenario_config.release_percent = o.release_percent;

  // One transport for every thread, decided here: io_uring unless refused (ENOSYS, or EPERM from
  // a container's seccomp filter), which --io auto reports once and answers with epoll.
  IoChoice io = o.io == "epoll" ? IoChoice::kEpoll : IoChoice::kUring;
  if (io == IoChoice::kUring) {
    std::string why;
    if (!UringTransport::create(1, &why)) {
      if (o.io == "uring") {
        std::fprintf(stderr, "boxoffice-load: --io uring: %s\n", why.c_str());
        return 1;
      }
      std::fprintf(stderr, "boxoffice-load: io_uring unavailable (%s); using epoll\n", why.c_str());
      io = IoChoice::kEpoll;
    }
  }

  std::vector<std::vector<int>> fds(o.threads);
  for (uint32_t i = 0; i < o.connections; ++i) {
    std::string error;
    const int fd = connect_tcp(o.addr, true, &error);
    if (fd < 0) {
      std::fprintf(stderr, "boxoffice-load: %s\n", error.c_str());
      return 1;
    }
    fds[i % o.threads].push_back(fd);
  }

  SharedRun shared;
  SharedSeats shared_seats(seats_total);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t t = 0; t < o.threads; ++t) {
    WorkerConfig config;
    config.target = target;
    config.target_options = target_options;
    config.scenario = scenario_config;
    config.pipeline = o.pipeline;
    config.rate_ops_per_s = o.rate / o.threads;
    config.record_tickets = o.verify;
    config.seed = o.seed + 0x9e3779b97f4a7c15ull * (t + 1);
    config.io = io;
    config.honor_retry_after = !o.ignore_retry_after;
    workers.push_back(std::make_unique<Worker>(config, &shared, &shared_seats, std::move(fds[t])));
  }

  std::printf(
      "boxoffice-load: %s %s on event %s (%u seats), %u connections x pipeline %u, %u "
      "thread(s) on %s, warm-up %.1f s, %.1f s%s\n",
      o.target.c_str(), o.scenario.c_str(), event.c_str(), seats_total, o.connections, o.pipeline,
      o.threads, io == IoChoice::kUring ? "io_uring" : "epoll", o.warmup_s, o.duration_s,
      o.rate > 0 ? (", rate " + std::to_string(static_cast<int64_t>(o.rate))).c_str()
                 : ", closed loop");
  std::fflush(stdout);
  const double run_cpu_start_s = cpu_s();
  shared.window.start_ns = now_ns();
  shared.window.begin_ns = shared.window.start_ns + static_cast<int64_t>(o.warmup_s * 1e9);
  shared.window.end_ns = shared.window.begin_ns + static_cast<int64_t>(o.duration_s * 1e9);
  std::atomic<uint32_t> workers_done{0};
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get()] {
      worker->run();
      workers_done.fetch_add(1);
    });
  }

  // Once a second: the progress line, and for onsale whether the server says it is sold out.
  uint64_t previous[3 + kErrorCodesMax] = {};
  bool sold_out = false;
  for (int64_t second = 0; workers_done.load() < workers.size(); ++second) {
    const int64_t report_ns = shared.window.start_ns + (second + 1) * kSecondNs + 20'000'000;
    while (workers_done.load() < workers.size() && now_ns() < report_ns) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (workers_done.load() == workers.size()) break;
    print_progress(second, (second + 1) * kSecondNs <= static_cast<int64_t>(o.warmup_s * 1e9),
                   workers, previous, &shared.progress);
    if (scenario == ScenarioKind::kOnsale && !sold_out) {
      bool server_sold_out = false;
      if (control) {
        const ControlReply stats = control->call("event.stats", {{"event", event}});
        server_sold_out = stats.transport_ok && stats.error.is_null() &&
                          stats.result.value("seats_free", int64_t{-1}) == 0;
      }
      if (server_sold_out || shared_seats.all_taken()) {
        sold_out = true;
        shared.stop.store(true);
      }
    }
  }
  for (auto& t : threads) t.join();
  const double run_cpu_s = cpu_s() - run_cpu_start_s;
  const double run_wall_s = static_cast<double>(now_ns() - shared.window.start_ns) / 1e9;
  if (scenario == ScenarioKind::kOnsale && shared_seats.all_taken()) sold_out = true;

  RunReport report;
  report.target = o.target;
  report.scenario = o.scenario;
  report.event = event;
  report.connections = o.connections;
  report.pipeline = o.pipeline;
  report.threads = o.threads;
  report.io = io == IoChoice::kUring ? "io_uring" : "epoll";
  report.duration_s = o.duration_s;
  report.rate_ops_per_s = o.rate;
  report.sold_out = sold_out;
  report.client_cpu_cores = run_wall_s > 0 ? run_cpu_s / run_wall_s : 0;
  VerifyInput verify_input;
  verify_input.event = event;
  verify_input.seats_total = seats_total;
  verify_input.exclusive = created || o.verify_exclusive;
  int64_t last_reply_ns = 0;
  bool io_failed = false;
  for (const auto& w : workers) {
    const WorkerResult& r = w->result();
    if (r.io_failed) {
      std::fprintf(stderr, "boxoffice-load: a client thread's transport failed%s%s\n",
                   r.io_fallback.empty() ? "" : ": ", r.io_fallback.c_str());
      io_failed = true;
    }
    report.ok += r.ok;
    report.conflicts += r.conflicts;
    report.errors += r.errors;
    for (int code = 0; code < kErrorCodesMax; ++code)
      report.errors_by_code[code] += r.errors_by_code[code];
    report.latency.merge(r.latency);
    report.protocol_errors += r.protocol_errors;
    report.connections_lost += r.connections_lost;
    report.unanswered += r.unanswered;
    report.tickets += r.tickets_ok_total;
    last_reply_ns = std::max(last_reply_ns, r.last_reply_ns);
    verify_input.tickets.insert(verify_input.tickets.end(), r.tickets.begin(), r.tickets.end());
    verify_input.open_hold_seats += r.open_hold_seats;
  }
  verify_input.unanswered = report.unanswered;
  // The window, or its part until the sale ended.
  int64_t window_end_ns = shared.window.end_ns;
  if (sold_out && last_reply_ns > 0) window_end_ns = std::min(window_end_ns, last_reply_ns);
  report.elapsed_s =
      std::max<double>(0, static_cast<double>(window_end_ns - shared.window.begin_ns) / 1e9);

  if (o.verify && target == TargetKind::kRedis) {
    report.verify = verify_redis(o.addr, &verify_input);
  } else if (o.verify) {
    ControlClient verifier(target, o.addr);
    std::string error;
    if (!verifier.connect(&error)) {
      std::fprintf(stderr, "boxoffice-load: verify: %s\n", error.c_str());
      return 1;
    }
    report.verify = verify(&verifier, &verify_input);
    if (!o.verify_mariadb_url.empty()) {
      verify_mariadb(o.verify_mariadb_url, verify_input, o.verify_wait_s, &*report.verify);
    }
  }
  std::fputs(summary_text(report).c_str(), stdout);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << to_json(report);
    if (!out) {
      std::fprintf(stderr, "boxoffice-load: cannot write %s\n", o.json_path.c_str());
      return 1;
    }
  }
  const bool failed = io_failed || report.protocol_errors > 0 || report.connections_lost > 0 ||
                      (report.verify && report.verify->mismatches > 0) ||
                      report.ok + report.conflicts + report.errors + report.tickets == 0;
  return failed ? 1 : 0;
}
