// LatencyHistogram: nanosecond latencies counted in log-linear buckets (HdrHistogram's layout),
// recorded by each boxoffice-load thread and merged into one report at the end of a run.
//
// Layout, with B = significant_bits: every value below 2^(B+1) ns has a bucket of its own (exact);
// above that, each power of two [2^e, 2^(e+1)) is cut into 2^B equal buckets 2^(e-B) ns wide. A
// bucket is thus never wider than 2^-B of its lowest value, and a value reported for a bucket (its
// highest value) exceeds every value in it by less than 2^-B relative: < 0.79% at the default
// B = 7, < 0.1% at B = 10. The counters are allocated once, in the constructor, one per bucket up
// to highest_trackable_ns: 4,562 buckets = 36,496 bytes for the default 0 ns .. 1 hour at B = 7;
// 33,421 buckets = 267,368 bytes at B = 10.
//
// Values above highest_trackable_ns are clamped: counted in the top bucket and in clamped_count(),
// while min_ns(), max_ns() and mean_ns() stay exact; a percentile that falls in the top bucket then
// reports max_ns(), so it is still never below the true value. A negative value is a programmer
// error (latencies come from a monotonic clock) and aborts.
//
// count(), min_ns(), max_ns() and mean_ns() are exact (the sum is kept in 128 bits).
// value_at_percentile_ns(p) is the highest value of the bucket that holds the rank-th smallest
// recorded value, rank = max(1, ceil(p / 100 * count())), capped at max_ns(): never below that
// value, above it by less than 2^-B relative, non-decreasing in p. p = 0 gives min_ns() and
// p = 100 gives max_ns(), exactly.
//
// Thread safety: none. One thread records into a histogram; boxoffice-load gives each thread its
// own and merges them with merge() after the threads have been joined. record() is O(1) and never
// allocates; only construction (and copying) allocates.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "shm/check.h"

namespace boxoffice::load {

class LatencyHistogram {
 public:
  static constexpr int64_t kHourNs = 3'600'000'000'000;
  static constexpr int kSignificantBitsDefault = 7;
  static constexpr int kSignificantBitsMax = 16;

  // Buckets for 0 ns .. highest_trackable_ns (>= 1) with 1 <= significant_bits <= 16.
  explicit LatencyHistogram(int64_t highest_trackable_ns = kHourNs,
                            int significant_bits = kSignificantBitsDefault);

  void record(int64_t value_ns);
  // Adds `other`'s values; both must have the same highest_trackable_ns and significant_bits.
  void merge(const LatencyHistogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t clamped_count() const { return clamped_count_; }
  int64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }  // 0 when empty
  int64_t max_ns() const { return max_ns_; }                    // 0 when empty
  double mean_ns() const;                                       // 0 when empty
  // 0 <= percentile <= 100, read to 1e-6 (99.9999 is exact). 0 when empty.
  int64_t value_at_percentile_ns(double percentile) const;

  // The bucket holding value_ns (0 <= value_ns <= highest_trackable_ns) is
  // [lowest_equivalent_ns(value_ns), highest_equivalent_ns(value_ns)].
  int64_t lowest_equivalent_ns(int64_t value_ns) const;
  int64_t highest_equivalent_ns(int64_t value_ns) const;

  // The non-empty buckets in ascending order, e.g. for JSON output. The top bucket's highest_ns
  // is max_ns() when values were clamped into it.
  struct Bucket {
    int64_t lowest_ns;
    int64_t highest_ns;
    uint64_t count;
  };
  template <typename Visit>
  void for_each_bucket(Visit&& visit) const;

  int64_t highest_trackable_ns() const { return highest_trackable_ns_; }
  int significant_bits() const { return significant_bits_; }
  size_t bucket_count() const { return counts_.size(); }
  size_t memory_bytes() const { return sizeof(*this) + counts_.size() * sizeof(uint64_t); }

 private:
  size_t bucket_index(uint64_t value_ns) const {
    // Values below 2^(B+1) have shift 0 (one bucket each); above, the top B+1 bits pick the bucket.
    const int shift =
        std::max(0, static_cast<int>(std::bit_width(value_ns)) - (significant_bits_ + 1));
    return (static_cast<size_t>(shift) << significant_bits_) + (value_ns >> shift);
  }
  int64_t bucket_lowest_ns(size_t index) const;
  int64_t bucket_last_ns(size_t index) const;     // the range's end
  int64_t bucket_highest_ns(size_t index) const;  // the same, or max_ns_ for a clamped top bucket

  int64_t highest_trackable_ns_;
  int significant_bits_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_count_ = 0;
  unsigned __int128 sum_ns_ = 0;
  int64_t min_ns_ = INT64_MAX;  // INT64_MAX and 0 when empty, so merge() needs no special case
  int64_t max_ns_ = 0;
};

inline void LatencyHistogram::record(int64_t value_ns) {
  BOXOFFICE_ASSERT(value_ns >= 0);
  size_t index = counts_.size() - 1;
  if (value_ns <= highest_trackable_ns_) {
    index = bucket_index(static_cast<uint64_t>(value_ns));
  } else {
    ++clamped_count_;
  }
  BOXOFFICE_ASSERT(index < counts_.size());
  ++counts_[index];
  ++count_;
  sum_ns_ += static_cast<uint64_t>(value_ns);
  min_ns_ = std::min(min_ns_, value_ns);
  max_ns_ = std::max(max_ns_, value_ns);
}

template <typename Visit>
void LatencyHistogram::for_each_bucket(Visit&& visit) const {
  for (size_t index = 0; index < counts_.size(); ++index) {
    if (counts_[index] == 0) continue;
    visit(Bucket{bucket_lowest_ns(index), bucket_highest_ns(index), counts_[index]});
  }
}

}  // namespace boxoffice::load
