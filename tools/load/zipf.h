// zipf: which seat rank a boxoffice-load request goes for. ZipfDistribution draws rank k in
// 0..rank_count-1 with probability proportional to 1 / (k + 1)^s (rank 0 most likely: an on-sale
// where everyone fights for the front rows); UniformDistribution draws every rank equally often.
// Both take their randomness from Xoshiro256, a small seeded PRNG, so a run is reproducible from
// its seed. Mapping a rank to a seat index is the caller's job.
//
// ZipfDistribution uses rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-inversion to
// generate variates from monotone discrete distributions", ACM TOMACS 6(3), 1996), in the form
// Apache Commons RNG gives it (RejectionInversionZipfSampler): its integral of the hat function,
// (x^(1-s) - 1) / (1 - s), has a limit at s = 1, so it works for every s >= 0 (s = 0 is uniform).
// Setup is O(1) and the state is four doubles, whatever rank_count (no table). A draw takes one
// uniform double and a log1p/exp pair, plus two log/exp pairs when the cheap squeeze test fails;
// it is retried rarely: acceptance is above 98% for every s in [0, 10] and rank_count (computed
// on an s grid of 0.05 and every rank_count up to 2^20: worst 98.3%). About 12-27 ns a draw at
// rank_count = 2^20 on the development machine; a uniform draw is about 1.5 ns.
//
// Supported: 1 <= rank_count <= 2^32 - 1 and 0 <= s <= 10. Frequencies are tested for rank_count
// up to 2^20 and s up to 5; the range of draws up to 2^32 - 1 and 10.
//
// Thread safety: the distributions are immutable after construction, so threads may share one;
// a Xoshiro256 belongs to one thread (give each thread its own seed). The same seed and the same
// calls give the same ranks with the same libm (a libm whose log or exp differs in the last bit
// may, rarely, move a Zipf draw to the next rank; uniform draws do not depend on libm).
#pragma once

#include <cstdint>

#include "shm/check.h"

namespace boxoffice::load {

// xoshiro256** (D. Blackman, S. Vigna, 2018), its 256-bit state filled from the seed by
// splitmix64, as its authors recommend. Not for secrets.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed);
  // For the known-answer test: the raw state, not all zero.
  static Xoshiro256 from_state(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3);

  uint64_t next_u64() {
    const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate_left(state_[3], 45);
    return result;
  }
  // Uniform in [0, 1), a multiple of 2^-53.
  double next_unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform in [0, bound), exactly (Lemire's multiply-shift with rejection). bound >= 1.
  uint32_t below(uint32_t bound);

 private:
  Xoshiro256() = default;
  static uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

class UniformDistribution {
 public:
  explicit UniformDistribution(uint32_t rank_count);
  uint32_t sample(Xoshiro256& random) const { return random.below(rank_count_); }
  uint32_t rank_count() const { return rank_count_; }

 private:
  uint32_t rank_count_;
};

class ZipfDistribution {
 public:
  static constexpr double kExponentMax = 10;

  ZipfDistribution(uint32_t rank_count, double exponent);
  uint32_t sample(Xoshiro256& random) const;
  uint32_t rank_count() const { return rank_count_; }
  double exponent() const { return exponent_; }

 private:
  // Over x >= 1 (rank + 1): the hat h(x) = x^-s, its integral H(x) = (x^(1-s) - 1) / (1 - s)
  // (log x at s = 1) and H's inverse.
  double hat(double x) const;
  double hat_integral(double x) const;
  double hat_integral_inverse(double y) const;

  uint32_t rank_count_;
  double exponent_;
  double hat_integral_first_;  // H(1.5) - 1: the draw's lower end, so x = 1 gets mass h(1)
  double hat_integral_last_;   // H(rank_count + 0.5): the draw's upper end
  double squeeze_;             // k - x <= squeeze_ accepts without evaluating H and h
};

}  // namespace boxoffice::load
