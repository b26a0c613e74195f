// report: boxoffice-load's results as text (the final summary) and JSON (--json FILE), from the
// merged worker results. Latencies are microseconds; ops_per_s counts every answered request
// (ok + conflicts + errors) in the measured window.
// Thread safety: plain functions over values; the main thread calls them after the run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/load/latency_histogram.h"
#include "tools/load/operation.h"
#include "tools/load/verify.h"

namespace boxoffice::load {

struct RunReport {
  std::string target;
  std::string scenario;
  std::string event;
  uint32_t connections = 0;
  uint32_t pipeline = 0;
  uint32_t threads = 0;
  std::string io;  // the client's transport: io_uring or epoll
  double duration_s = 0;
  double rate_ops_per_s = 0;
  double elapsed_s = 0;  // the window, shorter when the on-sale sold out first
  double client_cpu_cores = 0;  // boxoffice-load's own CPU use (user + system) over the run
  bool sold_out = false;
  uint64_t ok = 0;
  uint64_t conflicts = 0;
  uint64_t errors = 0;
  uint64_t errors_by_code[kErrorCodesMax] = {};
  LatencyHistogram latency;
  uint64_t protocol_errors = 0;
  uint64_t connections_lost = 0;
  uint64_t unanswered = 0;
  uint64_t tickets = 0;  // every ticket the clients got, warm-up and drain included
  std::optional<VerifyResult> verify;

  double ops_per_s() const;
};

// The name of an error code (core/status.h's); 0, an error without a code, and unknown codes:
// OTHER.
std::string_view error_name(int code);
// "SEAT_TAKEN 3, BUSY 1" for the non-zero counts; empty when none.
std::string errors_text(const uint64_t (&errors_by_code)[kErrorCodesMax]);
std::string summary_text(const RunReport& report);
std::string to_json(const RunReport& report);

}  // namespace boxoffice::load
