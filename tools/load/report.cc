#include "tools/load/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace boxoffice::load {
namespace {

double us(int64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

double RunReport::ops_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(ok + conflicts + errors) / elapsed_s : 0;
}

std::string_view error_name(int code) {
  // The server's names (core/status.h); 0, an error without a code, and codes it does not have
  // are OTHER.
  constexpr int kLastCode = static_cast<int>(ErrorCode::kInternal);
  if (code <= 0 || code > kLastCode) return "OTHER";
  return boxoffice::error_name(static_cast<ErrorCode>(code));
}

std::string errors_text(const uint64_t (&errors_by_code)[kErrorCodesMax]) {
  std::string text;
  for (int code = 0; code < kErrorCodesMax; ++code) {
    if (errors_by_code[code] == 0) continue;
    if (!text.empty()) text += ", ";
    text.append(error_name(code)).append(" ").append(std::to_string(errors_by_code[code]));
  }
  return text;
}

std::string summary_text(const RunReport& r) {
  char line[1024];
  const std::string errors = errors_text(r.errors_by_code);
  std::snprintf(
      line, sizeof line,
      "boxoffice-load %s %s: %u connections x pipeline %u, %u thread(s) on %s, %.2f s%s%s: "
      "%.0f ops/s, "
      "ok %llu, conflicts %llu, errors %llu%s%s%s\n"
      "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  max %.1f;  "
      "client CPU %.2f cores\n",
      r.target.c_str(), r.scenario.c_str(), r.connections, r.pipeline, r.threads, r.io.c_str(),
      r.elapsed_s,
      r.rate_ops_per_s > 0
          ? (", rate " + std::to_string(static_cast<int64_t>(r.rate_ops_per_s))).c_str()
          : "",
      r.sold_out ? ", sold out" : "", r.ops_per_s(), static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.conflicts), static_cast<unsigned long long>(r.errors),
      errors.empty() ? "" : " (", errors.c_str(), errors.empty() ? "" : ")",
      us(r.latency.value_at_percentile_ns(50)), us(r.latency.value_at_percentile_ns(90)),
      us(r.latency.value_at_percentile_ns(99)), us(r.latency.value_at_percentile_ns(99.9)),
      us(r.latency.value_at_percentile_ns(99.99)), us(r.latency.max_ns()), r.client_cpu_cores);
  std::string text = line;
  if (r.protocol_errors + r.connections_lost + r.unanswered > 0) {
    text += "  protocol errors " + std::to_string(r.protocol_errors) + ", connections lost " +
            std::to_string(r.connections_lost) + ", unanswered " + std::to_string(r.unanswered) +
            "\n";
  }
  if (r.verify) {
    const VerifyResult& v = *r.verify;
    text += "  verify: " + std::to_string(v.tickets_checked) + " tickets checked, " +
            std::to_string(v.mismatches) + " mismatches";
    if (v.counts_checked) {
      text += "; server seats_sold " + std::to_string(v.server_seats_sold) + ", seats_held " +
              std::to_string(v.server_seats_held) + ", seats_free " +
              std::to_string(v.server_seats_free);
    }
    if (v.mariadb_checked) {
      text += "; MariaDB " + std::to_string(v.mariadb_rows) + " valid tickets, " +
              std::to_string(v.mariadb_mismatches) + " disagree";
    }
    text += "\n";
    for (const std::string& detail : v.details) text += "    mismatch: " + detail + "\n";
  }
  return text;
}

std::string to_json(const RunReport& r) {
  nlohmann::json errors_by_code = nlohmann::json::object();
  for (int code = 0; code < kErrorCodesMax; ++code) {
    if (r.errors_by_code[code] > 0) {
      errors_by_code[std::string(error_name(code))] = r.errors_by_code[code];
    }
  }
  nlohmann::json j = {
      {"target", r.target},
      {"scenario", r.scenario},
      {"event", r.event},
      {"connections", r.connections},
      {"pipeline", r.pipeline},
      {"threads", r.threads},
      {"io", r.io},
      {"duration_s", r.duration_s},
      {"elapsed_s", r.elapsed_s},
      {"rate", r.rate_ops_per_s},
      {"sold_out", r.sold_out},
      {"ops_per_s", r.ops_per_s()},
      {"client_cpu_cores", r.client_cpu_cores},
      {"ok", r.ok},
      {"conflicts", r.conflicts},
      {"errors", r.errors},
      {"errors_by_code", errors_by_code},
      {"p50_us", us(r.latency.value_at_percentile_ns(50))},
      {"p90_us", us(r.latency.value_at_percentile_ns(90))},
      {"p99_us", us(r.latency.value_at_percentile_ns(99))},
      {"p999_us", us(r.latency.value_at_percentile_ns(99.9))},
      {"p9999_us", us(r.latency.value_at_percentile_ns(99.99))},
      {"max_us", us(r.latency.max_ns())},
      {"protocol_errors", r.protocol_errors},
      {"connections_lost", r.connections_lost},
      {"unanswered", r.unanswered},
      {"tickets", r.tickets},
  };
  if (r.verify) {
    const VerifyResult& v = *r.verify;
    j["verify"] = {{"tickets_checked", v.tickets_checked},
                   {"tickets_missing", v.tickets_missing},
                   {"tickets_not_valid", v.tickets_not_valid},
                   {"tickets_wrong_seat", v.tickets_wrong_seat},
                   {"seats_double_sold", v.seats_double_sold},
                   {"ticket_ids_repeated", v.ticket_ids_repeated},
                   {"counts_checked", v.counts_checked},
                   {"server_seats_sold", v.server_seats_sold},
                   {"server_seats_held", v.server_seats_held},
                   {"server_seats_free", v.server_seats_free},
                   {"count_mismatches", v.count_mismatches},
                   {"unanswered", v.unanswered},
                   {"mariadb_checked", v.mariadb_checked},
                   {"mariadb_rows", v.mariadb_rows},
                   {"mariadb_missing", v.mariadb_missing},
                   {"mariadb_wrong_seat", v.mariadb_wrong_seat},
                   {"mariadb_extra", v.mariadb_extra},
                   {"mariadb_mismatches", v.mariadb_mismatches},
                   {"mismatches", v.mismatches},
                   {"details", v.details}};
  }
  return j.dump(1) + "\n";
}

}  // namespace boxoffice::load
