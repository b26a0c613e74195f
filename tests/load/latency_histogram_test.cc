// Tests for tools/load/latency_histogram.h: count, min, max and mean are exact; every percentile
// equals the highest value of the true value's bucket (capped at max), hence is never below the
// true value and above it by less than 2^-B relative, checked against a sorted copy of the values
// for several distributions (one spanning 1 ns to 10 s) and precisions; percentiles never
// decrease with p; merging two histograms equals recording everything into one; 0, 1, the range's
// end and values above it (clamped, counted, max exact); bucket layout and memory figures; and
// record() never allocates.
#include "tools/load/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

// Counts allocations while allocations_counted is set, to check that record() makes none.
namespace {
bool allocations_counted = false;
uint64_t allocation_count = 0;
}  // namespace

// GCC sees free() of what its builtin operator new returned once these are inlined; they are the
// matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  if (allocations_counted) ++allocation_count;
  if (void* pointer = std::malloc(size == 0 ? 1 : size)) return pointer;
  throw std::bad_alloc();
}
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, size_t) noexcept { std::free(pointer); }
#pragma GCC diagnostic pop

namespace boxoffice::load {
namespace {

using Bucket = LatencyHistogram::Bucket;

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kHourNs = LatencyHistogram::kHourNs;

// Percentiles in millionths of a percent, so the expected rank is computed in integers here.
constexpr int64_t kPercentileScale = 1'000'000;
constexpr int64_t kFixedPercentilesScaled[] = {
    0,          100'000,    1'000'000,  10'000'000, 25'000'000, 50'000'000, 75'000'000,
    90'000'000, 99'000'000, 99'900'000, 99'990'000, 99'999'000, 99'999'900, 100'000'000,
};

std::vector<int64_t> test_percentiles_scaled() {
  std::vector<int64_t> scaled(std::begin(kFixedPercentilesScaled),
                              std::end(kFixedPercentilesScaled));
  std::mt19937_64 random(7);
  for (int i = 0; i < 200; ++i) scaled.push_back(static_cast<int64_t>(random() % 100'000'001));
  return scaled;
}

// The value a percentile names: the ceil(p / 100 * n)-th smallest, the smallest for p = 0.
int64_t true_value_at(const std::vector<int64_t>& sorted, int64_t percentile_scaled) {
  const auto n = static_cast<unsigned __int128>(sorted.size());
  const unsigned __int128 full = 100 * kPercentileScale;
  const auto rank = static_cast<size_t>(
      (static_cast<unsigned __int128>(percentile_scaled) * n + full - 1) / full);
  return sorted[std::max<size_t>(rank, 1) - 1];
}

std::vector<Bucket> buckets_of(const LatencyHistogram& histogram) {
  std::vector<Bucket> buckets;
  histogram.for_each_bucket([&](const Bucket& bucket) { buckets.push_back(bucket); });
  return buckets;
}

struct Distribution {
  std::string name;
  std::vector<int64_t> values_ns;
};

// 200,000 values each, from a fixed seed.
std::vector<Distribution> distributions() {
  constexpr int kValues = 200'000;
  std::mt19937_64 random(20240601);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Distribution> all;
  auto add = [&](std::string name, auto draw) {
    Distribution distribution{std::move(name), {}};
    for (int i = 0; i < kValues; ++i) distribution.values_ns.push_back(draw());
    all.push_back(std::move(distribution));
  };
  add("uniform 0..1 ms", [&] { return static_cast<int64_t>(unit(random) * 1e6); });
  add("small integers 0..299 (the exact buckets)",
      [&] { return static_cast<int64_t>(random() % 300); });
  add("exponential, mean 50 us",
      [&] { return static_cast<int64_t>(-std::log1p(-unit(random)) * 5e4); });
  add("log-uniform 1 ns .. 10 s",
      [&] { return static_cast<int64_t>(std::exp(unit(random) * std::log(10.0 * kSecondNs))); });
  add("pareto alpha 1.1 from 10 us, cut at 1 h", [&] {
    const double value = 1e4 / std::pow(1 - unit(random), 1 / 1.1);
    return static_cast<int64_t>(std::min(value, static_cast<double>(kHourNs)));
  });
  add("bimodal: 99% ~100 us, 1% ~500 ms", [&] {
    const double centre = unit(random) < 0.99 ? 1e5 : 5e8;
    return static_cast<int64_t>(centre * std::exp(0.2 * (unit(random) - 0.5)));
  });
  add("one value", [] { return int64_t{123'456'789}; });
  return all;
}

// The contract of value_at_percentile_ns() for one percentile.
testing::AssertionResult percentile_matches(const LatencyHistogram& histogram,
                                            const std::vector<int64_t>& sorted,
                                            int64_t percentile_scaled) {
  const double percentile = static_cast<double>(percentile_scaled) / kPercentileScale;
  const int64_t got = histogram.value_at_percentile_ns(percentile);
  const int64_t truth = true_value_at(sorted, percentile_scaled);
  const int64_t expected = percentile_scaled == 0 ? sorted.front()
                           : percentile_scaled == 100 * kPercentileScale
                               ? sorted.back()
                               : std::min(histogram.highest_equivalent_ns(truth), sorted.back());
  const int bits = histogram.significant_bits();
  // got - truth < truth * 2^-B, in integers; exact below 2^(B+1).
  const bool within_error =
      got >= truth && ((got - truth) << bits) <= std::max<int64_t>(truth - 1, 0);
  if (got == expected && within_error) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "p" << percentile << ": got " << got << ", true value " << truth << ", expected "
         << expected << " (B = " << bits << ")";
}

TEST(LatencyHistogram, EmptyReportsZeros) {
  const LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.clamped_count(), 0u);
  EXPECT_EQ(histogram.min_ns(), 0);
  EXPECT_EQ(histogram.max_ns(), 0);
  EXPECT_EQ(histogram.mean_ns(), 0);
  EXPECT_EQ(histogram.value_at_percentile_ns(0), 0);
  EXPECT_EQ(histogram.value_at_percentile_ns(50), 0);
  EXPECT_EQ(histogram.value_at_percentile_ns(100), 0);
  EXPECT_TRUE(buckets_of(histogram).empty());
}

TEST(LatencyHistogram, CountMinMaxMeanAreExact) {
  for (const Distribution& distribution : distributions()) {
    SCOPED_TRACE(distribution.name);
    LatencyHistogram histogram;
    unsigned __int128 sum_ns = 0;
    for (int64_t value_ns : distribution.values_ns) {
      histogram.record(value_ns);
      sum_ns += static_cast<uint64_t>(value_ns);
    }
    const auto [min_it, max_it] =
        std::minmax_element(distribution.values_ns.begin(), distribution.values_ns.end());
    EXPECT_EQ(histogram.count(), distribution.values_ns.size());
    EXPECT_EQ(histogram.clamped_count(), 0u);
    EXPECT_EQ(histogram.min_ns(), *min_it);
    EXPECT_EQ(histogram.max_ns(), *max_it);
    EXPECT_DOUBLE_EQ(histogram.mean_ns(),
                     static_cast<double>(sum_ns) / distribution.values_ns.size());
  }
}

TEST(LatencyHistogram, PercentilesAreTheTrueValuesBucketWithinRelativeError) {
  const std::vector<int64_t> percentiles_scaled = test_percentiles_scaled();
  for (int bits : {1, 3, 7, 10, 14}) {
    for (const Distribution& distribution : distributions()) {
      SCOPED_TRACE(distribution.name + ", significant_bits " + std::to_string(bits));
      LatencyHistogram histogram(kHourNs, bits);
      for (int64_t value_ns : distribution.values_ns) histogram.record(value_ns);
      std::vector<int64_t> sorted = distribution.values_ns;
      std::sort(sorted.begin(), sorted.end());
      int failures = 0;
      for (int64_t percentile_scaled : percentiles_scaled) {
        const testing::AssertionResult result =
            percentile_matches(histogram, sorted, percentile_scaled);
        if (!result && ++failures <= 5) ADD_FAILURE() << result.message();
      }
      EXPECT_EQ(failures, 0);
    }
  }
}

TEST(LatencyHistogram, DefaultPrecisionIsBetterThanOnePercent) {
  // The documented figure for B = 7: 2^-7 = 0.78%, checked on values spread over 256 ns..100 ms
  // (each step x3 + 1 lands at a different place within its bucket).
  const LatencyHistogram histogram;
  for (int64_t value_ns = 256; value_ns < 100'000'000; value_ns = value_ns * 3 + 1) {
    const int64_t lowest = histogram.lowest_equivalent_ns(value_ns);
    const int64_t highest = histogram.highest_equivalent_ns(value_ns);
    EXPECT_LT(static_cast<double>(highest - lowest) / lowest, 0.0079) << value_ns;
  }
}

TEST(LatencyHistogram, PercentileIsMonotoneInP) {
  for (const Distribution& distribution : distributions()) {
    SCOPED_TRACE(distribution.name);
    LatencyHistogram histogram;
    for (int64_t value_ns : distribution.values_ns) histogram.record(value_ns);
    int64_t previous = histogram.value_at_percentile_ns(0);
    EXPECT_EQ(previous, histogram.min_ns());
    int failures = 0;
    for (int64_t hundredths = 1; hundredths <= 10'000; ++hundredths) {
      const int64_t value = histogram.value_at_percentile_ns(hundredths / 100.0);
      if (value < previous && ++failures <= 5) {
        ADD_FAILURE() << "p" << hundredths / 100.0 << " = " << value << " < " << previous;
      }
      previous = value;
    }
    EXPECT_EQ(previous, histogram.max_ns());
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingAllIntoOne) {
  for (const Distribution& distribution : distributions()) {
    SCOPED_TRACE(distribution.name);
    LatencyHistogram all;
    LatencyHistogram first;
    LatencyHistogram second;
    std::mt19937_64 random(3);
    for (int64_t value_ns : distribution.values_ns) {
      all.record(value_ns);
      (random() % 3 == 0 ? first : second).record(value_ns);
    }
    // One more value above the range, so the clamped count and the top bucket merge too.
    all.record(2 * kHourNs);
    second.record(2 * kHourNs);
    LatencyHistogram merged;  // into an empty one, then the rest
    merged.merge(first);
    merged.merge(second);
    merged.merge(LatencyHistogram());  // an empty one changes nothing
    EXPECT_EQ(merged.count(), all.count());
    EXPECT_EQ(merged.clamped_count(), 1u);
    EXPECT_EQ(merged.min_ns(), all.min_ns());
    EXPECT_EQ(merged.max_ns(), all.max_ns());
    EXPECT_DOUBLE_EQ(merged.mean_ns(), all.mean_ns());
    const std::vector<Bucket> merged_buckets = buckets_of(merged);
    const std::vector<Bucket> all_buckets = buckets_of(all);
    ASSERT_EQ(merged_buckets.size(), all_buckets.size());
    for (size_t i = 0; i < all_buckets.size(); ++i) {
      EXPECT_EQ(merged_buckets[i].lowest_ns, all_buckets[i].lowest_ns);
      EXPECT_EQ(merged_buckets[i].highest_ns, all_buckets[i].highest_ns);
      EXPECT_EQ(merged_buckets[i].count, all_buckets[i].count);
    }
    for (int64_t percentile_scaled : test_percentiles_scaled()) {
      const double percentile = static_cast<double>(percentile_scaled) / kPercentileScale;
      EXPECT_EQ(merged.value_at_percentile_ns(percentile), all.value_at_percentile_ns(percentile));
    }
  }
}

TEST(LatencyHistogram, MergeOfDifferentLayoutsAborts) {
  LatencyHistogram histogram(kHourNs, 7);
  EXPECT_DEATH(histogram.merge(LatencyHistogram(kHourNs, 8)), "significant_bits");
  EXPECT_DEATH(histogram.merge(LatencyHistogram(kSecondNs, 7)), "highest_trackable_ns");
}

TEST(LatencyHistogram, ZeroAndOneAreExact) {
  LatencyHistogram histogram;
  histogram.record(0);
  EXPECT_EQ(histogram.min_ns(), 0);
  EXPECT_EQ(histogram.max_ns(), 0);
  EXPECT_EQ(histogram.value_at_percentile_ns(50), 0);
  histogram.record(1);
  histogram.record(1);
  EXPECT_EQ(histogram.value_at_percentile_ns(33), 0);
  EXPECT_EQ(histogram.value_at_percentile_ns(34), 1);
  EXPECT_EQ(histogram.value_at_percentile_ns(100), 1);
  EXPECT_EQ(histogram.mean_ns(), 2.0 / 3);
  const std::vector<Bucket> buckets = buckets_of(histogram);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].lowest_ns, 0);
  EXPECT_EQ(buckets[0].highest_ns, 0);
  EXPECT_EQ(buckets[0].count, 1u);
  EXPECT_EQ(buckets[1].lowest_ns, 1);
  EXPECT_EQ(buckets[1].highest_ns, 1);
  EXPECT_EQ(buckets[1].count, 2u);
}

TEST(LatencyHistogram, RangeEndIsTrackedAndValuesAboveAreClampedAndCounted) {
  LatencyHistogram histogram;
  histogram.record(kHourNs);
  EXPECT_EQ(histogram.clamped_count(), 0u);
  EXPECT_EQ(histogram.value_at_percentile_ns(50), kHourNs);  // capped at max
  EXPECT_LE(histogram.lowest_equivalent_ns(kHourNs), kHourNs);
  EXPECT_GE(histogram.highest_equivalent_ns(kHourNs), kHourNs);
  EXPECT_EQ(buckets_of(histogram).back().lowest_ns, histogram.lowest_equivalent_ns(kHourNs));

  histogram.record(kHourNs + 1);
  histogram.record(INT64_MAX);
  EXPECT_EQ(histogram.count(), 3u);
  EXPECT_EQ(histogram.clamped_count(), 2u);
  EXPECT_EQ(histogram.min_ns(), kHourNs);
  EXPECT_EQ(histogram.max_ns(), INT64_MAX);
  EXPECT_DOUBLE_EQ(histogram.mean_ns(), (2.0 * kHourNs + 1 + static_cast<double>(INT64_MAX)) / 3);
  // All three share the top bucket, which reports max: never below the true value.
  EXPECT_EQ(histogram.value_at_percentile_ns(10), INT64_MAX);
  EXPECT_EQ(histogram.value_at_percentile_ns(100), INT64_MAX);
  const std::vector<Bucket> buckets = buckets_of(histogram);
  ASSERT_EQ(buckets.size(), 1u);
  EXPECT_EQ(buckets[0].count, 3u);
  EXPECT_EQ(buckets[0].highest_ns, INT64_MAX);

  // Values below the top bucket keep their precision.
  histogram.record(200);
  EXPECT_EQ(histogram.value_at_percentile_ns(25), 200);
}

TEST(LatencyHistogram, NegativeValueAborts) {
  LatencyHistogram histogram;
  EXPECT_DEATH(histogram.record(-1), "value_ns >= 0");
}

TEST(LatencyHistogram, BucketsTileTheRangeWithBoundedWidth) {
  for (int bits : {1, 3, 7, 10}) {
    SCOPED_TRACE("significant_bits " + std::to_string(bits));
    const LatencyHistogram histogram(kHourNs, bits);
    std::vector<int64_t> values;
    for (int64_t value = 0; value < 5000; ++value) values.push_back(value);
    for (int exponent = 2; exponent < 42; ++exponent) {
      for (int64_t delta : {-1, 0, 1}) values.push_back((int64_t{1} << exponent) + delta);
    }
    std::mt19937_64 random(11);
    for (int i = 0; i < 100'000; ++i) values.push_back(static_cast<int64_t>(random() % kHourNs));
    int failures = 0;
    for (int64_t value : values) {
      const int64_t lowest = histogram.lowest_equivalent_ns(value);
      const int64_t highest = histogram.highest_equivalent_ns(value);
      const int64_t width = highest - lowest + 1;
      const bool exact_region = lowest < (int64_t{2} << bits);
      const bool ok = lowest <= value && value <= highest &&
                      (exact_region ? width == 1 : (width << bits) <= lowest) &&
                      (highest >= histogram.highest_trackable_ns() ||
                       histogram.lowest_equivalent_ns(highest + 1) == highest + 1);
      if (!ok && ++failures <= 5) {
        ADD_FAILURE() << value << " in [" << lowest << ", " << highest << "]";
      }
    }
    EXPECT_EQ(failures, 0);
  }
}

TEST(LatencyHistogram, MemoryIsFixedAtConstructionAsDocumented) {
  const LatencyHistogram hour_7_bits;
  EXPECT_EQ(hour_7_bits.bucket_count(), 4562u);
  EXPECT_LT(hour_7_bits.memory_bytes(), 36'496u + 128);
  const LatencyHistogram hour_10_bits(kHourNs, 10);
  EXPECT_EQ(hour_10_bits.bucket_count(), 33'421u);
  // Below 2^(B+1) every value has its own bucket.
  EXPECT_EQ(LatencyHistogram(255, 7).bucket_count(), 256u);
  EXPECT_EQ(LatencyHistogram(1, 7).bucket_count(), 2u);
}

TEST(LatencyHistogram, RecordNeverAllocates) {
  LatencyHistogram histogram;
  std::mt19937_64 random(5);
  std::vector<int64_t> values;
  // Values across the whole range, and a few above it (clamped).
  for (int i = 0; i < 100'000; ++i) values.push_back(static_cast<int64_t>(random() % kHourNs));
  for (int i = 0; i < 100; ++i) values.push_back(kHourNs + static_cast<int64_t>(random() % kHourNs));
  allocation_count = 0;
  allocations_counted = true;
  for (int64_t value_ns : values) histogram.record(value_ns);
  allocations_counted = false;
  EXPECT_EQ(allocation_count, 0u);
  EXPECT_EQ(histogram.count(), values.size());

  // The counting itself works (a direct call, which the compiler may not elide).
  allocations_counted = true;
  ::operator delete(::operator new(16));
  allocations_counted = false;
  EXPECT_GE(allocation_count, 1u);
}

TEST(LatencyHistogram, ResetForgetsEverything) {
  LatencyHistogram histogram;
  for (int64_t value_ns : {5, 500, 5'000'000}) histogram.record(value_ns);
  histogram.record(2 * kHourNs);
  histogram.reset();
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.clamped_count(), 0u);
  EXPECT_EQ(histogram.min_ns(), 0);
  EXPECT_EQ(histogram.max_ns(), 0);
  EXPECT_EQ(histogram.mean_ns(), 0);
  EXPECT_TRUE(buckets_of(histogram).empty());
  histogram.record(700);
  EXPECT_EQ(histogram.min_ns(), 700);
  EXPECT_EQ(histogram.max_ns(), 700);
  EXPECT_EQ(histogram.value_at_percentile_ns(50), 700);
}

}  // namespace
}  // namespace boxoffice::load
