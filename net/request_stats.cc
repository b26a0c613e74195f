#include "net/request_stats.h"

#include <time.h>

#include "shm/check.h"

namespace boxoffice::net {

uint64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
}

size_t RequestStats::bucket_of(uint64_t elapsed_ns) {
  size_t b = 0;
  while (b < kLatencyBucketsUs.size() && elapsed_ns > uint64_t{kLatencyBucketsUs[b]} * 1000) ++b;
  return b;
}

void RequestStats::record(Method method, ErrorCode code, uint64_t elapsed_ns) {
  BOXOFFICE_ASSERT(index(method) < kMethods && static_cast<size_t>(code) < kCodes);
  bump(counts_[index(method)][static_cast<size_t>(code)]);
  bump(buckets_[index(method)][bucket_of(elapsed_ns)]);
  bump(sum_ns_[index(method)], elapsed_ns);
}

void RequestStats::journal_synced(uint64_t elapsed_ns) {
  bump(syncs_);
  bump(sync_sum_ns_, elapsed_ns);
}

void RequestStats::hold_expired(int64_t late_ms) {
  const uint64_t late = late_ms > 0 ? static_cast<uint64_t>(late_ms) : 0;
  size_t b = 0;
  while (b < kExpiryLateBucketsMs.size() && late > kExpiryLateBucketsMs[b]) ++b;
  bump(expiry_buckets_[b]);
  bump(expiry_late_sum_ms_, late);
}

uint64_t RequestStats::requests() const {
  uint64_t total = 0;
  for (const auto& by_code : counts_) {
    for (const auto& cell : by_code) total += cell.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace boxoffice::net
