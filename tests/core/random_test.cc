// RandomSource: the AES-128 block function matches FIPS-197, the stream is not constant or
// repeating, two sources (and a forked child) never produce the same stream.
#include "core/random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <set>

namespace boxoffice {
namespace {

TEST(RandomSource, Aes128KnownAnswer) {
  if (!RandomSource::hardware_aes()) GTEST_SKIP() << "no AES-NI: getrandom() is used instead";
  // FIPS-197 appendix C.1.
  const uint8_t key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                           0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
  const uint8_t plain[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                             0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  const uint8_t expected[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
  uint8_t out[16];
  RandomSource::aes128_encrypt_block(key, plain, out);
  EXPECT_EQ(0, std::memcmp(out, expected, 16));
}

TEST(RandomSource, ValuesAreDistinctNonZeroAndBalanced) {
  RandomSource random;
  std::set<uint64_t> seen;
  uint64_t ones = 0;
  constexpr int kValues = 200'000;  // crosses many refills
  for (int i = 0; i < kValues; ++i) {
    const uint64_t v = random.next();
    ASSERT_NE(v, 0u);
    ASSERT_TRUE(seen.insert(v).second) << "a 64-bit value repeated after " << i;
    ones += std::popcount(v);
  }
  // Each bit is a fair coin: 12.8M bits, mean 6.4M, sigma ~1789; allow 6 sigma.
  const double mean = kValues * 32.0;
  EXPECT_NEAR(static_cast<double>(ones), mean, 6 * 1789.0);
}

TEST(RandomSource, IndependentSourcesDiffer) {
  RandomSource a, b;
  std::set<uint64_t> from_a;
  for (int i = 0; i < 1000; ++i) from_a.insert(a.next());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(from_a.count(b.next()), 0u);
}

TEST(RandomSource, ForkedChildGetsItsOwnStream) {
  RandomSource random;
  (void)random.next();  // keyed in the parent
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    uint64_t values[128];
    for (auto& v : values) v = random.next();
    const bool ok = ::write(fds[1], values, sizeof values) == static_cast<ssize_t>(sizeof values);
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  uint64_t child_values[128];
  ASSERT_EQ(::read(fds[0], child_values, sizeof child_values),
            static_cast<ssize_t>(sizeof child_values));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::set<uint64_t> parent;
  for (int i = 0; i < 128; ++i) parent.insert(random.next());
  for (uint64_t v : child_values)
    EXPECT_EQ(parent.count(v), 0u) << "child replayed the parent's stream";
}

}  // namespace
}  // namespace boxoffice
