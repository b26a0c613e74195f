// RequestStats: what one serving thread (a msgpack-rpc worker or an HTTP thread) counts about
// the requests it runs, for /metrics and the admin socket: requests by method and outcome
// code, a latency histogram per method, open connections, requests refused BUSY before they
// ran, and how late its timer wheel expired holds (now - deadline, Engine::expire_due).
//
// Latency is the time the thread spent running the request (decode to packed reply); a reply
// that then waits for its journal fdatasync (--durability journal) is not included: that wait
// is the journal's, measured once per sync (journal_sync_seconds).
//
// Thread safety: one writer (the owning thread) and any number of readers. Every cell is an
// atomic updated with relaxed load + store by the writer, so counting costs no locked
// instruction; readers see each cell's latest value (cells may be slightly out of step with
// each other, which a scrape tolerates).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "net/rpc_request.h"

namespace boxoffice::net {

// Upper bounds of the latency buckets, in microseconds (the last bucket is +Inf).
inline constexpr std::array<uint32_t, 12> kLatencyBucketsUs = {
    5, 10, 25, 50, 100, 250, 500, 1'000, 2'500, 5'000, 10'000, 100'000};
// Upper bounds of the hold expiry lateness buckets, in milliseconds (the last bucket is +Inf).
inline constexpr std::array<uint32_t, 8> kExpiryLateBucketsMs = {1, 5, 10, 25, 50, 100, 250, 1'000};

class RequestStats {
 public:
  static constexpr size_t kMethods = static_cast<size_t>(Method::kSubscribe) + 1;
  static constexpr size_t kCodes = static_cast<size_t>(ErrorCode::kInternal) + 1;
  static constexpr size_t kBuckets = kLatencyBucketsUs.size() + 1;
  static constexpr size_t kExpiryBuckets = kExpiryLateBucketsMs.size() + 1;

  // Writer side.
  void record(Method method, ErrorCode code, uint64_t elapsed_ns);
  void refused_busy() { bump(busy_refused_); }  // answered BUSY without running
  void refused_queued() {  // the same, for having queued past the budget (RpcLimits)
    bump(busy_refused_);
    bump(queued_refused_);
  }
  void connection_opened() { bump(connections_open_, 1); }
  void connection_closed() { bump(connections_open_, -1); }
  void journal_synced(uint64_t elapsed_ns);
  void hold_expired(int64_t late_ms);

  // Reader side.
  uint64_t count(Method method, ErrorCode code) const {
    return counts_[index(method)][static_cast<size_t>(code)].load(std::memory_order_relaxed);
  }
  uint64_t bucket(Method method, size_t bucket) const {  // not cumulative
    return buckets_[index(method)][bucket].load(std::memory_order_relaxed);
  }
  uint64_t latency_sum_ns(Method method) const {
    return sum_ns_[index(method)].load(std::memory_order_relaxed);
  }
  uint64_t busy_refused() const { return busy_refused_.load(std::memory_order_relaxed); }
  uint64_t queued_refused() const { return queued_refused_.load(std::memory_order_relaxed); }
  int64_t connections_open() const { return connections_open_.load(std::memory_order_relaxed); }
  uint64_t journal_syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t journal_sync_sum_ns() const { return sync_sum_ns_.load(std::memory_order_relaxed); }
  uint64_t requests() const;  // every method and code
  uint64_t expiry_bucket(size_t bucket) const {  // not cumulative
    return expiry_buckets_[bucket].load(std::memory_order_relaxed);
  }
  uint64_t expiry_late_sum_ms() const { return expiry_late_sum_ms_.load(std::memory_order_relaxed); }

  static size_t bucket_of(uint64_t elapsed_ns);

 private:
  static size_t index(Method method) { return static_cast<size_t>(method); }
  template <typename T, typename D = int>
  static void bump(std::atomic<T>& cell, D delta = 1) {
    cell.store(cell.load(std::memory_order_relaxed) + static_cast<T>(delta),
               std::memory_order_relaxed);
  }

  std::array<std::array<std::atomic<uint64_t>, kCodes>, kMethods> counts_{};
  std::array<std::array<std::atomic<uint64_t>, kBuckets>, kMethods> buckets_{};
  std::array<std::atomic<uint64_t>, kMethods> sum_ns_{};
  std::atomic<uint64_t> busy_refused_{0};
  std::atomic<uint64_t> queued_refused_{0};  // counted in busy_refused_ too
  std::atomic<int64_t> connections_open_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> sync_sum_ns_{0};
  std::array<std::atomic<uint64_t>, kExpiryBuckets> expiry_buckets_{};
  std::atomic<uint64_t> expiry_late_sum_ms_{0};
};

// A monotonic clock in nanoseconds, for measuring.
uint64_t monotonic_ns();

}  // namespace boxoffice::net
