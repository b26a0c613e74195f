#include "net/ops_routes.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "net/http_json.h"
#include "persist/persister.h"
#include "persist/worker_log.h"
#include "shm/check.h"

namespace boxoffice::net {
namespace {

// One Prometheus metric family: HELP and TYPE once, then samples.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help)
      : out_(out), name_(name) {
    *out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  // `labels` is `key="value",...` (values restricted to characters that need no escaping).
  void sample(const std::string& labels, double value) { sample_as(name_, labels, value); }
  // A sample under another name of the family (a histogram's _bucket, _sum and _count).
  void sample_as(const char* name, const std::string& labels, double value) {
    char number[64];
    std::snprintf(number, sizeof number, "%.17g", value);
    *out_ += name;
    if (!labels.empty()) *out_ += "{" + labels + "}";
    *out_ += std::string(" ") + number + "\n";
  }
  // One series of a histogram family: `counts[b]` observations fell in bucket b, whose upper
  // bound is `bounds[b] / bounds_per_second` seconds (the bucket after the last bound is +Inf);
  // written as cumulative _bucket samples, then _sum and _count.
  void histogram(const std::string& labels, std::span<const uint64_t> counts,
                 std::span<const uint32_t> bounds, double bounds_per_second, double sum_seconds) {
    BOXOFFICE_ASSERT(counts.size() == bounds.size() + 1);
    const std::string prefix = labels.empty() ? "" : labels + ",";
    const std::string bucket = std::string(name_) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < counts.size(); ++b) {
      cumulative += counts[b];
      char le[32];
      if (b < bounds.size()) {
        std::snprintf(le, sizeof le, "%g", static_cast<double>(bounds[b]) / bounds_per_second);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      sample_as(bucket.c_str(), prefix + "le=\"" + le + "\"", static_cast<double>(cumulative));
    }
    sample_as((std::string(name_) + "_sum").c_str(), labels, sum_seconds);
    sample_as((std::string(name_) + "_count").c_str(), labels, static_cast<double>(cumulative));
  }

 private:
  std::string* out_;
  const char* name_;
};

}  // namespace

HttpResponse OpsRoutes::handle(const HttpRequest& request) {
  std::string path = request.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path != "/health" && path != "/ready" && path != "/metrics") {
    return error_response(404, ErrorCode::kNotFound, "no such route: " + request.path);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse response = error_response(405, ErrorCode::kBadRequest,
                                           request.method + " is not allowed here; use GET");
    response.headers.emplace_back("Allow", "GET");
    return response;
  }
  if (path == "/health") return health();
  if (path == "/ready") return ready();
  return metrics();
}

// The checks both probes show; whether all of them pass.
bool OpsRoutes::checks(nlohmann::json* checks) const {
  bool journal_ok = true;
  for (const persist::WorkerLog* log : state_->journals) journal_ok = journal_ok && !log->failed();
  (*checks)["journal"] = journal_ok;
  bool all = journal_ok;
  for (const persist::Persister* persister : state_->persisters) {
    const bool connected = persister->stats().connected;
    (*checks)[persister->name()] = connected;
    // MariaDB or Redis down does not stop selling (the journal holds the backlog): reported,
    // not a reason to take the server out of rotation.
  }
  const bool serving = state_->ready.load(std::memory_order_acquire);
  (*checks)["serving"] = serving;
  return all && serving;
}

// Liveness: 200 whenever the HTTP thread answers (a restart would not mend a failed journal or
// a draining server); the checks tell what is wrong, and "status" is "degraded" then.
HttpResponse OpsRoutes::health() const {
  nlohmann::json checks_now;
  const bool all = checks(&checks_now);
  return json_response(200, {{"status", all ? "ok" : "degraded"}, {"checks", checks_now}});
}

// Readiness: 503 (with Retry-After) while starting, draining, or the journal cannot be
// written: the server should get no traffic then.
HttpResponse OpsRoutes::ready() const {
  nlohmann::json checks_now;
  const bool all = checks(&checks_now);
  HttpResponse response = json_response(
      all ? 200 : 503, {{"status", all ? "ok" : "unavailable"}, {"checks", checks_now}});
  if (!all) response.retry_after_s = 1;
  return response;
}

// Per interface and method: requests by outcome, latency histograms; connections, BUSY.
void OpsRoutes::requests(std::string* out) const {
  const std::pair<const char*, const std::vector<const RequestStats*>*> interfaces[] = {
      {"rpc", &state_->rpc_stats}, {"http", &state_->http_stats}};
  auto sum = [](const std::vector<const RequestStats*>& all, auto value) {
    uint64_t total = 0;
    for (const RequestStats* stats : all) total += value(*stats);
    return total;
  };
  auto methods = [](auto each) {
    for (size_t m = 1; m < RequestStats::kMethods; ++m) each(static_cast<Method>(m));
  };
  {
    Family f(out, "boxoffice_requests_total", "counter",
             "Requests run, by interface, method and outcome code.");
    for (const auto& interface : interfaces) {
      // Named copies, not a structured binding: lambdas capture them (clang < 16 cannot).
      const char* name = interface.first;
      const std::vector<const RequestStats*>* all = interface.second;
      methods([&](Method method) {
        for (size_t c = 0; c < RequestStats::kCodes; ++c) {
          const auto code = static_cast<ErrorCode>(c);
          const uint64_t n =
              sum(*all, [&](const RequestStats& s) { return s.count(method, code); });
          if (n == 0) continue;
          f.sample(std::string("interface=\"") + name + "\",method=\"" +
                       std::string(method_name(method)) + "\",code=\"" +
                       std::string(error_name(code)) + "\"",
                   static_cast<double>(n));
        }
      });
    }
  }
  {
    Family f(out, "boxoffice_request_duration_seconds", "histogram",
             "Time spent running a request (the wait for a journal fdatasync not included).");
    for (const auto& interface : interfaces) {
      // Named copies, not a structured binding: lambdas capture them (clang < 16 cannot).
      const char* name = interface.first;
      const std::vector<const RequestStats*>* all = interface.second;
      methods([&](Method method) {
        std::array<uint64_t, RequestStats::kBuckets> buckets{};
        uint64_t count = 0;
        for (size_t b = 0; b < buckets.size(); ++b) {
          buckets[b] = sum(*all, [&](const RequestStats& s) { return s.bucket(method, b); });
          count += buckets[b];
        }
        if (count == 0) return;
        const double sum_ns = static_cast<double>(
            sum(*all, [&](const RequestStats& s) { return s.latency_sum_ns(method); }));
        f.histogram(std::string("interface=\"") + name + "\",method=\"" +
                        std::string(method_name(method)) + "\"",
                    buckets, kLatencyBucketsUs, 1e6, sum_ns / 1e9);
      });
    }
  }
  {
    Family f(out, "boxoffice_connections", "gauge", "Open connections.");
    for (const auto& [name, all] : interfaces) {
      const uint64_t open = sum(*all, [](const RequestStats& s) { return s.connections_open(); });
      f.sample("interface=\"" + std::string(name) + "\"", static_cast<double>(open));
    }
  }
  {
    Family f(out, "boxoffice_busy_rejections_total", "counter",
             "Requests answered BUSY (HTTP 503): overload, journal behind, key in flight.");
    for (const auto& [name, all] : interfaces) {
      const uint64_t n = sum(*all, [&](const RequestStats& s) {
        uint64_t busy = s.busy_refused();
        for (size_t m = 0; m < RequestStats::kMethods; ++m)
          busy += s.count(static_cast<Method>(m), ErrorCode::kBusy);
        return busy;
      });
      f.sample(std::string("interface=\"") + name + "\"", static_cast<double>(n));
    }
  }
  {
    Family f(out, "boxoffice_queue_budget_rejections_total", "counter",
             "Requests answered BUSY for having waited in the socket longer than "
             "--queue-budget-ms (counted in boxoffice_busy_rejections_total too).");
    for (const auto& [name, all] : interfaces) {
      f.sample(
          std::string("interface=\"") + name + "\"",
          static_cast<double>(sum(*all, [](const RequestStats& s) { return s.queued_refused(); })));
    }
  }
  {
    Family f(out, "boxoffice_journal_syncs_total", "counter",
             "Journal group commits (one write and one fdatasync each).");
    for (const auto& [name, all] : interfaces) {
      f.sample(
          std::string("interface=\"") + name + "\"",
          static_cast<double>(sum(*all, [](const RequestStats& s) { return s.journal_syncs(); })));
    }
  }
  {
    Family f(out, "boxoffice_journal_sync_seconds_total", "counter",
             "Time spent in journal group commits.");
    for (const auto& [name, all] : interfaces) {
      f.sample(std::string("interface=\"") + name + "\"",
               static_cast<double>(
                   sum(*all, [](const RequestStats& s) { return s.journal_sync_sum_ns(); })) /
                   1e9);
    }
  }
  {
    Family f(out, "boxoffice_hold_expiry_lateness_seconds", "histogram",
             "How late each worker's timer wheel expired holds, after their deadline.");
    std::vector<const RequestStats*> every;
    for (const auto& interface : interfaces) {
      every.insert(every.end(), interface.second->begin(), interface.second->end());
    }
    std::array<uint64_t, RequestStats::kExpiryBuckets> buckets{};
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b] = sum(every, [&](const RequestStats& s) { return s.expiry_bucket(b); });
    }
    const double sum_ms = static_cast<double>(
        sum(every, [](const RequestStats& s) { return s.expiry_late_sum_ms(); }));
    f.histogram("", buckets, kExpiryLateBucketsMs, 1e3, sum_ms / 1e3);
  }
}

HttpResponse OpsRoutes::metrics() const {
  std::string out;
  {
    Family f(&out, "boxoffice_info", "gauge", "Constant 1, labelled with how the server runs.");
    f.sample("io=\"" + state_->io_backend + "\",durability=\"" + state_->durability + "\"", 1);
  }
  requests(&out);
  const Engine& engine = *state_->engine;
  std::vector<std::pair<std::string, EventCounts>> events;
  for (uint32_t e = 0; e < engine.event_count(); ++e) {
    if (engine.event_exists(e))
      events.emplace_back(std::string(engine.event_id(e)), engine.counts(e));
  }
  {
    Family f(&out, "boxoffice_event_seats", "gauge", "Seats of an event by state.");
    for (const auto& [id, c] : events) {
      f.sample("event=\"" + id + "\",state=\"free\"",
               static_cast<double>(c.seats_total - c.seats_held - c.seats_sold));
      f.sample("event=\"" + id + "\",state=\"held\"", static_cast<double>(c.seats_held));
      f.sample("event=\"" + id + "\",state=\"sold\"", static_cast<double>(c.seats_sold));
    }
  }
  {
    Family f(&out, "boxoffice_event_revenue_cents", "gauge", "Revenue of the valid tickets.");
    for (const auto& [id, c] : events)
      f.sample("event=\"" + id + "\"", static_cast<double>(c.revenue_cents));
  }
  {
    Family f(&out, "boxoffice_holds_expired_total", "counter", "Holds that timed out.");
    for (const auto& [id, c] : events)
      f.sample("event=\"" + id + "\"", static_cast<double>(c.holds_expired));
  }
  {
    Family f(&out, "boxoffice_journal_records_total", "counter",
             "Journal records appended by each worker.");
    for (size_t w = 0; w < state_->journals.size(); ++w) {
      f.sample("worker=\"" + std::to_string(w) + "\"",
               static_cast<double>(state_->journals[w]->appended_sequence()));
    }
  }
  {
    Family f(&out, "boxoffice_journal_durable_records_total", "counter",
             "Journal records on disk (fdatasynced), per worker.");
    for (size_t w = 0; w < state_->journals.size(); ++w) {
      f.sample("worker=\"" + std::to_string(w) + "\"",
               static_cast<double>(state_->journals[w]->durable_sequence()));
    }
  }
  std::vector<std::pair<std::string, persist::PersisterStats>> stats;
  for (const persist::Persister* p : state_->persisters) stats.emplace_back(p->name(), p->stats());
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    Family f(&out, name, type, help);
    for (const auto& [dest, s] : stats) f.sample("destination=\"" + dest + "\"", value(s));
  };
  using S = persist::PersisterStats;
  family("boxoffice_persister_connected", "gauge", "1 while the destination is reachable.",
         [](const S& s) { return s.connected ? 1.0 : 0.0; });
  family("boxoffice_persister_lag_records", "gauge", "Durable records not yet persisted.",
         [](const S& s) { return static_cast<double>(s.lag_records); });
  family("boxoffice_persister_lag_ms", "gauge", "Age of the oldest sale not yet persisted.",
         [](const S& s) { return static_cast<double>(s.lag_ms); });
  family("boxoffice_persister_rows_per_second", "gauge", "Rows written over the last second.",
         [](const S& s) { return s.rows_per_s; });
  family("boxoffice_persister_records_total", "counter", "Records persisted since start.",
         [](const S& s) { return static_cast<double>(s.records_persisted); });
  family("boxoffice_persister_batches_total", "counter", "Batches committed since start.",
         [](const S& s) { return static_cast<double>(s.batches); });
  family("boxoffice_persister_last_batch_rows", "gauge", "Rows in the last batch.",
         [](const S& s) { return static_cast<double>(s.last_batch_rows); });
  family("boxoffice_persister_errors_total", "counter", "Failed connects and writes.",
         [](const S& s) { return static_cast<double>(s.errors); });
  return {200, "text/plain; version=0.0.4; charset=utf-8", out};
}

}  // namespace boxoffice::net
