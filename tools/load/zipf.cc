#include "tools/load/zipf.h"

#include <algorithm>
#include <cmath>

namespace boxoffice::load {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Below this |x|, log1p(x) / x and expm1(x) / x lose digits; their Taylor series do not.
constexpr double kTaylorThreshold = 1e-8;

// log(1 + x) / x, continuous at x = 0.
double log1p_over_x(double x) {
  if (std::abs(x) > kTaylorThreshold) return std::log1p(x) / x;
  return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

// (exp(x) - 1) / x, continuous at x = 0.
double expm1_over_x(double x) {
  if (std::abs(x) > kTaylorThreshold) return std::expm1(x) / x;
  return 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

}  // namespace

Xoshiro256::Xoshiro256(uint64_t seed) {
  for (uint64_t& word : state_) word = splitmix64(seed);
  // splitmix64 is a bijection of its counter, so four successive outputs are never all zero.
  BOXOFFICE_ASSERT((state_[0] | state_[1] | state_[2] | state_[3]) != 0);
}

Xoshiro256 Xoshiro256::from_state(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
  BOXOFFICE_ASSERT((s0 | s1 | s2 | s3) != 0);
  Xoshiro256 random;
  random.state_[0] = s0;
  random.state_[1] = s1;
  random.state_[2] = s2;
  random.state_[3] = s3;
  return random;
}

// D. Lemire, "Fast random integer generation in an interval", ACM TOMS 2019: the high half of
// x * bound is uniform once the low halves below 2^32 mod bound are rejected.
uint32_t Xoshiro256::below(uint32_t bound) {
  BOXOFFICE_ASSERT(bound >= 1);
  uint64_t product = (next_u64() >> 32) * bound;
  if (static_cast<uint32_t>(product) < bound) {
    const uint32_t threshold = (0u - bound) % bound;  // 2^32 mod bound
    while (static_cast<uint32_t>(product) < threshold) product = (next_u64() >> 32) * bound;
  }
  return static_cast<uint32_t>(product >> 32);
}

UniformDistribution::UniformDistribution(uint32_t rank_count) : rank_count_(rank_count) {
  BOXOFFICE_ASSERT(rank_count >= 1);
}

ZipfDistribution::ZipfDistribution(uint32_t rank_count, double exponent)
    : rank_count_(rank_count), exponent_(exponent) {
  BOXOFFICE_ASSERT(rank_count >= 1);
  BOXOFFICE_ASSERT(exponent >= 0 && exponent <= kExponentMax);
  hat_integral_first_ = hat_integral(1.5) - 1;
  hat_integral_last_ = hat_integral(rank_count + 0.5);
  squeeze_ = 2 - hat_integral_inverse(hat_integral(2.5) - hat(2));
}

// Over ranks x = 1..n (returned as x - 1). y is uniform on (H(1.5) - 1, H(n + 0.5)]; x = H^-1(y)
// rounded to the nearest integer k then has P(k) = H(k + 1/2) - H(k - 1/2) (and 1 for k = 1), and
// accepting k when y >= H(k + 1/2) - h(k) leaves P(k) = h(k), as the pmf wants. The squeeze test
// (Theorem 2 of the paper, valid for every s >= 0) accepts most draws without that evaluation.
uint32_t ZipfDistribution::sample(Xoshiro256& random) const {
  while (true) {
    const double y =
        hat_integral_last_ + random.next_unit() * (hat_integral_first_ - hat_integral_last_);
    const double x = hat_integral_inverse(y);
    // Rounding may put x a hair outside [0.5, n + 0.5]; the nearest valid rank is meant then.
    const double k = std::clamp(std::floor(x + 0.5), 1.0, static_cast<double>(rank_count_));
    BOXOFFICE_ASSERT(k >= 1 && k <= rank_count_);  // also catches a NaN
    if (k - x <= squeeze_ || y >= hat_integral(k + 0.5) - hat(k)) {
      return static_cast<uint32_t>(k) - 1;
    }
  }
}

double ZipfDistribution::hat(double x) const { return std::exp(-exponent_ * std::log(x)); }

double ZipfDistribution::hat_integral(double x) const {
  const double log_x = std::log(x);
  return expm1_over_x((1 - exponent_) * log_x) * log_x;
}

double ZipfDistribution::hat_integral_inverse(double y) const {
  // (1 - s) * y >= -1 in exact arithmetic (H(x) > -1 / (1 - s) for s > 1); rounding may cross it.
  const double t = std::max(-1.0, y * (1 - exponent_));
  return std::exp(log1p_over_x(t) * y);
}

}  // namespace boxoffice::load
