// Tests for tools/load/zipf.h: ZipfDistribution's rank frequencies match the Zipf pmf
// (k + 1)^-s / H(n, s) by a chi-square test over binned ranks and a per-rank bound on the first
// ranks, for n from 2 to 2^20 and s from 0 to 5, with fixed seeds and 1,000,000 draws (a correct
// generator fails with probability < 1e-6 per case for any seed); every draw is in range, also
// at n = 2^32 - 1; s near 0 is uniform; n = 1 always gives 0; the same seed gives the same ranks.
// UniformDistribution covers its range evenly and Xoshiro256::below() is unbiased where a plain
// multiply-shift is not. Xoshiro256 matches the reference outputs of xoshiro256** and splitmix64.
#include "tools/load/zipf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace boxoffice::load {
namespace {

constexpr uint64_t kDraws = 1'000'000;
constexpr double kBinExpectedMin = 20;  // draws a chi-square bin must expect
// Chi-square critical values at z = 5 (upper tail ~3e-7), and 6 standard deviations per rank.
constexpr double kChiSquareZ = 5;
constexpr double kRankSigmas = 6;

// P(rank = k) = (k + 1)^-s / sum_{j=1..n} j^-s, summed smallest terms first.
std::vector<double> zipf_pmf(uint32_t rank_count, double exponent) {
  std::vector<double> pmf(rank_count);
  long double total = 0;
  for (uint32_t rank = rank_count; rank-- > 0;) {
    pmf[rank] = std::pow(static_cast<double>(rank) + 1, -exponent);
    total += pmf[rank];
  }
  for (double& probability : pmf) probability = static_cast<double>(probability / total);
  return pmf;
}

// Pearson's chi-square of observed rank counts against a pmf. Ranks 0..63 are bins of their own,
// then [64, 128), [128, 256), ...; a bin that expects fewer than kBinExpectedMin draws is merged
// with the next (the last one with the previous).
testing::AssertionResult fits_pmf(const std::vector<uint64_t>& counts,
                                  const std::vector<double>& pmf, uint64_t draws) {
  std::vector<double> expected_bins;
  std::vector<double> observed_bins;
  double expected = 0;
  double observed = 0;
  for (size_t rank = 0; rank < pmf.size(); ++rank) {
    expected += pmf[rank] * static_cast<double>(draws);
    observed += static_cast<double>(counts[rank]);
    const bool bin_ends = rank + 1 < 64 || std::has_single_bit(rank + 1);
    if ((bin_ends && expected >= kBinExpectedMin) || rank + 1 == pmf.size()) {
      if (expected < kBinExpectedMin && !expected_bins.empty()) {
        expected_bins.back() += expected;
        observed_bins.back() += observed;
      } else {
        expected_bins.push_back(expected);
        observed_bins.push_back(observed);
      }
      expected = observed = 0;
    }
  }
  double statistic = 0;
  for (size_t bin = 0; bin < expected_bins.size(); ++bin) {
    const double difference = observed_bins[bin] - expected_bins[bin];
    statistic += difference * difference / expected_bins[bin];
  }
  const double freedom = static_cast<double>(expected_bins.size()) - 1;
  if (freedom < 1) return testing::AssertionFailure() << "only one bin";
  // Wilson-Hilferty: chi-square(df) / df is about normal after a cube root.
  const double spread = 2 / (9 * freedom);
  const double critical = freedom * std::pow(1 - spread + kChiSquareZ * std::sqrt(spread), 3);
  if (statistic <= critical) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "chi-square " << statistic << " > " << critical << " with "
                                     << freedom << " degrees of freedom";
}

// The first ranks one by one: |frequency - p| within kRankSigmas binomial standard deviations.
testing::AssertionResult first_ranks_fit_pmf(const std::vector<uint64_t>& counts,
                                             const std::vector<double>& pmf, uint64_t draws) {
  const auto n = static_cast<double>(draws);
  for (size_t rank = 0; rank < std::min<size_t>(pmf.size(), 16); ++rank) {
    const double frequency = static_cast<double>(counts[rank]) / n;
    const double sigma = std::sqrt(pmf[rank] * (1 - pmf[rank]) / n);
    if (std::abs(frequency - pmf[rank]) > kRankSigmas * sigma + 1e-12) {
      return testing::AssertionFailure()
             << "rank " << rank << ": frequency " << frequency << ", pmf " << pmf[rank]
             << " (relative error " << (frequency - pmf[rank]) / pmf[rank] << ")";
    }
  }
  return testing::AssertionSuccess();
}

template <typename Distribution>
std::vector<uint64_t> draw_counts(const Distribution& distribution, uint64_t seed, uint64_t draws) {
  std::vector<uint64_t> counts(distribution.rank_count());
  Xoshiro256 random(seed);
  for (uint64_t i = 0; i < draws; ++i) {
    const uint32_t rank = distribution.sample(random);
    if (rank >= distribution.rank_count()) {
      ADD_FAILURE() << "rank " << rank << " out of range " << distribution.rank_count();
      break;
    }
    ++counts[rank];
  }
  return counts;
}

void expect_zipf_fits(uint32_t rank_count, const std::vector<double>& exponents) {
  for (double exponent : exponents) {
    SCOPED_TRACE("n " + std::to_string(rank_count) + ", s " + std::to_string(exponent));
    const ZipfDistribution zipf(rank_count, exponent);
    const std::vector<uint64_t> counts =
        draw_counts(zipf, rank_count * 1000 + static_cast<uint64_t>(exponent * 100), kDraws);
    const std::vector<double> pmf = zipf_pmf(rank_count, exponent);
    EXPECT_TRUE(fits_pmf(counts, pmf, kDraws));
    EXPECT_TRUE(first_ranks_fit_pmf(counts, pmf, kDraws));
  }
}

const std::vector<double> kExponents = {0, 1e-6, 0.25, 0.5, 0.99, 1, 1.01, 1.5, 2, 3, 5};

TEST(Zipf, FrequenciesMatchThePmf) {
  for (uint32_t rank_count : {2u, 3u, 10u, 1000u}) expect_zipf_fits(rank_count, kExponents);
}

TEST(Zipf, FrequenciesMatchThePmfOverAMillionRanks) { expect_zipf_fits(1u << 20, kExponents); }

TEST(Zipf, ExponentNearZeroIsUniform) {
  constexpr uint32_t kRanks = 1000;
  const std::vector<double> uniform(kRanks, 1.0 / kRanks);
  for (double exponent : {0.0, 1e-9, 1e-4}) {
    SCOPED_TRACE("s " + std::to_string(exponent));
    const std::vector<uint64_t> counts = draw_counts(ZipfDistribution(kRanks, exponent), 9, kDraws);
    EXPECT_TRUE(fits_pmf(counts, uniform, kDraws));
  }
  // While s = 0.05 is already visibly skewed: the test above can tell.
  const std::vector<uint64_t> counts = draw_counts(ZipfDistribution(kRanks, 0.05), 9, kDraws);
  EXPECT_FALSE(fits_pmf(counts, uniform, kDraws));
}

TEST(Zipf, SingleRankIsAlwaysZero) {
  for (double exponent : {0.0, 0.5, 1.0, 3.0, ZipfDistribution::kExponentMax}) {
    const ZipfDistribution zipf(1, exponent);
    Xoshiro256 random(1);
    for (int i = 0; i < 10'000; ++i) ASSERT_EQ(zipf.sample(random), 0u) << "s " << exponent;
  }
}

TEST(Zipf, DrawsStayInRangeAtTheExtremes) {
  for (uint32_t rank_count : {2u, 1u << 20, UINT32_MAX}) {
    for (double exponent : {0.0, 1e-12, 1.0, 1 + 1e-12, 3.0, ZipfDistribution::kExponentMax}) {
      SCOPED_TRACE("n " + std::to_string(rank_count) + ", s " + std::to_string(exponent));
      const ZipfDistribution zipf(rank_count, exponent);
      Xoshiro256 random(rank_count ^ static_cast<uint64_t>(exponent * 1e6));
      uint32_t rank_max = 0;
      for (int i = 0; i < 200'000; ++i) {
        const uint32_t rank = zipf.sample(random);
        ASSERT_LT(rank, rank_count);
        rank_max = std::max(rank_max, rank);
      }
      // Uniform over 2^32 - 1 ranks reaches the top percent of them.
      if (exponent == 0) {
        EXPECT_GT(rank_max, rank_count / 100 * 99);
      }
    }
  }
}

TEST(Zipf, SameSeedGivesTheSameRanks) {
  const ZipfDistribution zipf(100'000, 1.1);
  Xoshiro256 first(42);
  Xoshiro256 second(42);
  Xoshiro256 other(43);
  int differences = 0;
  for (int i = 0; i < 100'000; ++i) {
    const uint32_t rank = zipf.sample(first);
    ASSERT_EQ(rank, zipf.sample(second)) << "draw " << i;
    differences += rank != zipf.sample(other);
  }
  EXPECT_GT(differences, 50'000);  // another seed gives another sequence
}

TEST(Zipf, InvalidParametersAbort) {
  EXPECT_DEATH(ZipfDistribution(0, 1.0), "rank_count >= 1");
  EXPECT_DEATH(ZipfDistribution(10, -0.5), "exponent");
  EXPECT_DEATH(ZipfDistribution(10, ZipfDistribution::kExponentMax * 1.01), "exponent");
  EXPECT_DEATH(ZipfDistribution(10, std::nan("")), "exponent");
  EXPECT_DEATH(UniformDistribution(0), "rank_count >= 1");
}

TEST(ZipfUniform, CoversTheRangeEvenly) {
  for (uint32_t rank_count : {2u, 7u, 100u, 1000u}) {
    SCOPED_TRACE("n " + std::to_string(rank_count));
    const std::vector<uint64_t> counts =
        draw_counts(UniformDistribution(rank_count), rank_count, kDraws);
    EXPECT_TRUE(fits_pmf(counts, std::vector<double>(rank_count, 1.0 / rank_count), kDraws));
    EXPECT_GT(counts.front(), 0u);
    EXPECT_GT(counts.back(), 0u);
  }
  const std::vector<uint64_t> one = draw_counts(UniformDistribution(1), 1, 1000);
  EXPECT_EQ(one[0], 1000u);
}

TEST(ZipfUniform, CoversAMillionRanksEvenly) {
  constexpr uint32_t kRanks = 1u << 20;
  constexpr uint32_t kGroups = 1024;  // of 1024 consecutive ranks each
  const std::vector<uint64_t> counts = draw_counts(UniformDistribution(kRanks), 5, 4 * kDraws);
  std::vector<uint64_t> group_counts(kGroups);
  for (uint32_t rank = 0; rank < kRanks; ++rank)
    group_counts[rank / (kRanks / kGroups)] += counts[rank];
  EXPECT_TRUE(fits_pmf(group_counts, std::vector<double>(kGroups, 1.0 / kGroups), 4 * kDraws));
}

// With bound = 3 * 2^30, the high half of x * bound (x a 32-bit value) hits every rank that is a
// multiple of 3 twice and the others once: without the rejection step, rank % 3 == 0 would come
// up half the time instead of a third.
TEST(ZipfUniform, BelowIsUnbiasedForLargeBounds) {
  constexpr uint32_t kBound = 3u << 30;
  Xoshiro256 random(17);
  std::vector<uint64_t> residues(3);
  for (uint64_t i = 0; i < kDraws; ++i) {
    const uint32_t value = random.below(kBound);
    ASSERT_LT(value, kBound);
    ++residues[value % 3];
  }
  EXPECT_TRUE(fits_pmf(residues, {1.0 / 3, 1.0 / 3, 1.0 / 3}, kDraws));
}

TEST(ZipfRandom, Xoshiro256MatchesTheReferenceOutput) {
  // xoshiro256** from state {1, 2, 3, 4}, as the reference C implementation gives it.
  Xoshiro256 random = Xoshiro256::from_state(1, 2, 3, 4);
  for (uint64_t expected : {11520ull, 0ull, 1509978240ull, 1215971899390074240ull}) {
    EXPECT_EQ(random.next_u64(), expected);
  }
  // Seed 0 fills the state with splitmix64's first four outputs from 0.
  Xoshiro256 seeded(0);
  Xoshiro256 from_splitmix = Xoshiro256::from_state(0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
                                                    0x06c45d188009454full, 0xf88bb8a8724c81ecull);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(seeded.next_u64(), from_splitmix.next_u64());
  EXPECT_EQ(Xoshiro256(0).next_u64(), 0x99ec5f36cb75f2b4ull);
}

TEST(ZipfRandom, NextUnitIsInZeroOne) {
  Xoshiro256 random(3);
  double sum = 0;
  for (uint64_t i = 0; i < kDraws; ++i) {
    const double unit = random.next_unit();
    ASSERT_GE(unit, 0.0);
    ASSERT_LT(unit, 1.0);
    sum += unit;
  }
  // Mean 1/2, standard deviation of the mean sqrt(1/12 / n) = 0.00029.
  EXPECT_NEAR(sum / kDraws, 0.5, 6 * 0.00029);
}

}  // namespace
}  // namespace boxoffice::load
