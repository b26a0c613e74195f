#include "tools/load/latency_histogram.h"

#include <cmath>

namespace boxoffice::load {

namespace {

// Percentiles are read in millionths of a percent, so the rank is computed in integers.
constexpr int64_t kPercentileScale = 1'000'000;
constexpr unsigned __int128 kPercentileScaleFull = 100 * kPercentileScale;

}  // namespace

LatencyHistogram::LatencyHistogram(int64_t highest_trackable_ns, int significant_bits)
    : highest_trackable_ns_(highest_trackable_ns), significant_bits_(significant_bits) {
  BOXOFFICE_ASSERT(highest_trackable_ns >= 1);
  BOXOFFICE_ASSERT(significant_bits >= 1 && significant_bits <= kSignificantBitsMax);
  counts_.assign(bucket_index(static_cast<uint64_t>(highest_trackable_ns)) + 1, 0);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  BOXOFFICE_ASSERT(other.highest_trackable_ns_ == highest_trackable_ns_);
  BOXOFFICE_ASSERT(other.significant_bits_ == significant_bits_);
  BOXOFFICE_ASSERT(other.counts_.size() == counts_.size());
  for (size_t index = 0; index < counts_.size(); ++index) counts_[index] += other.counts_[index];
  count_ += other.count_;
  clamped_count_ += other.clamped_count_;
  sum_ns_ += other.sum_ns_;
  min_ns_ = std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  clamped_count_ = 0;
  sum_ns_ = 0;
  min_ns_ = INT64_MAX;
  max_ns_ = 0;
}

double LatencyHistogram::mean_ns() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_ns_) / static_cast<double>(count_);
}

int64_t LatencyHistogram::value_at_percentile_ns(double percentile) const {
  BOXOFFICE_ASSERT(percentile >= 0 && percentile <= 100);
  if (count_ == 0) return 0;
  const auto percentile_scaled = static_cast<unsigned __int128>(
      std::llround(percentile * static_cast<double>(kPercentileScale)));
  if (percentile_scaled == 0) return min_ns_;
  if (percentile_scaled == kPercentileScaleFull) return max_ns_;
  // rank = ceil(percentile / 100 * count), >= 1 since percentile_scaled > 0.
  const auto rank = static_cast<uint64_t>((percentile_scaled * count_ + kPercentileScaleFull - 1) /
                                          kPercentileScaleFull);
  BOXOFFICE_ASSERT(rank >= 1 && rank <= count_);
  uint64_t seen = 0;
  for (size_t index = 0; index < counts_.size(); ++index) {
    seen += counts_[index];
    if (seen >= rank) return std::min(bucket_highest_ns(index), max_ns_);
  }
  BOXOFFICE_ASSERT(false && "bucket counts add up to count_");
  return max_ns_;
}

int64_t LatencyHistogram::lowest_equivalent_ns(int64_t value_ns) const {
  BOXOFFICE_ASSERT(value_ns >= 0 && value_ns <= highest_trackable_ns_);
  return bucket_lowest_ns(bucket_index(static_cast<uint64_t>(value_ns)));
}

int64_t LatencyHistogram::highest_equivalent_ns(int64_t value_ns) const {
  BOXOFFICE_ASSERT(value_ns >= 0 && value_ns <= highest_trackable_ns_);
  return bucket_last_ns(bucket_index(static_cast<uint64_t>(value_ns)));
}

// Inverts bucket_index(): index = (shift << B) + (value >> shift), where value >> shift has its top
// bit at position B (or shift is 0 and the index is the value itself).
int64_t LatencyHistogram::bucket_lowest_ns(size_t index) const {
  BOXOFFICE_ASSERT(index < counts_.size());
  const int shift = std::max(0, static_cast<int>(index >> significant_bits_) - 1);
  const uint64_t sub_bucket = index - (static_cast<size_t>(shift) << significant_bits_);
  return static_cast<int64_t>(sub_bucket << shift);
}

int64_t LatencyHistogram::bucket_last_ns(size_t index) const {
  const int shift = std::max(0, static_cast<int>(index >> significant_bits_) - 1);
  return bucket_lowest_ns(index) + ((int64_t{1} << shift) - 1);
}

int64_t LatencyHistogram::bucket_highest_ns(size_t index) const {
  if (index == counts_.size() - 1 && clamped_count_ > 0) return max_ns_;
  return bucket_last_ns(index);
}

}  // namespace boxoffice::load
