#include "core/random.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <wmmintrin.h>
#endif

#include "shm/check.h"

namespace boxoffice {
namespace {

// Bumped in every child after fork(), so a source notices before it hands out a single value
// its parent may also hand out (its buffer and key were copied into the child).
std::atomic<uint64_t> g_fork_generation{0};

uint64_t fork_generation() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr,
                     [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}

void kernel_random(void* out, size_t bytes) {
  auto* p = static_cast<char*>(out);
  for (size_t filled = 0; filled < bytes;) {
    const ssize_t n = ::getrandom(p + filled, bytes - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    BOXOFFICE_ASSERT(n > 0);  // getrandom cannot fail once the pool is initialised
    filled += static_cast<size_t>(n);
  }
}

#if defined(__x86_64__)
// AES-128 key expansion with AESKEYGENASSIST (Intel's AES-NI white paper, figure 24).
template <int kRcon>
__attribute__((target("aes,sse2"))) __m128i expand_step(__m128i key) {
  __m128i assist = _mm_aeskeygenassist_si128(key, kRcon);
  assist = _mm_shuffle_epi32(assist, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, assist);
}

__attribute__((target("aes,sse2"))) void expand_key(const uint8_t key[16],
                                                    uint8_t round_keys[176]) {
  __m128i k[11];
  k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  k[1] = expand_step<0x01>(k[0]);
  k[2] = expand_step<0x02>(k[1]);
  k[3] = expand_step<0x04>(k[2]);
  k[4] = expand_step<0x08>(k[3]);
  k[5] = expand_step<0x10>(k[4]);
  k[6] = expand_step<0x20>(k[5]);
  k[7] = expand_step<0x40>(k[6]);
  k[8] = expand_step<0x80>(k[7]);
  k[9] = expand_step<0x1b>(k[8]);
  k[10] = expand_step<0x36>(k[9]);
  for (int i = 0; i < 11; ++i)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(round_keys + 16 * i), k[i]);
}

__attribute__((target("aes,sse2"))) __m128i encrypt(const uint8_t round_keys[176], __m128i block) {
  auto key = [&](int i) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(round_keys + 16 * i));
  };
  block = _mm_xor_si128(block, key(0));
  for (int i = 1; i < 10; ++i) block = _mm_aesenc_si128(block, key(i));
  return _mm_aesenclast_si128(block, key(10));
}

// Encrypts counter, counter+1, ... into `out` (blocks of 16 bytes).
__attribute__((target("aes,sse2"))) void ctr_blocks(const uint8_t round_keys[176], uint64_t counter,
                                                    uint64_t* out, size_t blocks) {
  for (size_t b = 0; b < blocks; ++b) {
    const __m128i block = _mm_set_epi64x(0, static_cast<long long>(counter + b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * b), encrypt(round_keys, block));
  }
}
#endif

}  // namespace

bool RandomSource::hardware_aes() {
#if defined(__x86_64__)
  static const bool has_aes = [] {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_AES) && (edx & bit_SSE2);
  }();
  return has_aes;
#else
  return false;
#endif
}

void RandomSource::aes128_encrypt_block(const uint8_t key[16], const uint8_t in[16],
                                        uint8_t out[16]) {
#if defined(__x86_64__)
  BOXOFFICE_ASSERT(hardware_aes());
  alignas(16) uint8_t round_keys[176];
  expand_key(key, round_keys);
  const __m128i result = encrypt(round_keys, _mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), result);
#else
  (void)key, (void)in, (void)out;
  BOXOFFICE_ASSERT(false);
#endif
}

RandomSource::RandomSource() : generation_(fork_generation()) {
  std::memset(round_keys_, 0, sizeof round_keys_);
  if (hardware_aes()) rekey();
}

void RandomSource::rekey() {
#if defined(__x86_64__)
  alignas(16) uint8_t key[16];
  kernel_random(key, sizeof key);
  expand_key(key, round_keys_);
  std::memset(key, 0, sizeof key);
#endif
  counter_ = 0;
  blocks_since_key_ = 0;
}

void RandomSource::refill() {
  if (!hardware_aes()) {
    kernel_random(buffer_, sizeof buffer_);
    used_ = 0;
    return;
  }
#if defined(__x86_64__)
  if (blocks_since_key_ >= kReseedBlocks) rekey();
  constexpr size_t kBlocks = kBufferWords / 2;
  ctr_blocks(round_keys_, counter_, buffer_, kBlocks);
  counter_ += kBlocks;
  blocks_since_key_ += kBlocks;
  used_ = 0;
#endif
}

uint64_t RandomSource::next() {
  if (generation_ != g_fork_generation.load(std::memory_order_relaxed)) {
    // We are a forked child: nothing buffered or derived from the parent's key may be used.
    generation_ = g_fork_generation.load(std::memory_order_relaxed);
    used_ = kBufferWords;
    if (hardware_aes()) rekey();
  }
  for (;;) {
    if (used_ == kBufferWords) refill();
    const uint64_t value = buffer_[used_++];
    if (value != 0) return value;
  }
}

}  // namespace boxoffice
