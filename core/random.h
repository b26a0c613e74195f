// RandomSource: unguessable 64-bit values for hold secrets and ticket nonces.
//
// A CSPRNG in user space, so the booking path makes no system call: AES-128 in counter mode
// (the construction of NIST SP 800-90A's CTR_DRBG, without its derivation function) keyed with
// 16 bytes from the kernel's getrandom(), re-keyed every kReseedBlocks blocks and after fork()
// (a pthread_atfork handler marks the child, so no buffered value is handed out twice). On CPUs
// without AES-NI it reads getrandom() 4 KiB at a time instead.
//
// Thread safety: none; each worker owns one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace boxoffice {

class RandomSource {
 public:
  RandomSource();
  uint64_t next();  // never 0

  // The AES-128 block function, exposed for its known-answer test (FIPS-197 appendix C.1).
  static bool hardware_aes();
  static void aes128_encrypt_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);

 private:
  void refill();
  void rekey();
  static constexpr size_t kBufferWords = 64;           // 32 AES blocks per refill
  static constexpr uint64_t kReseedBlocks = 1u << 20;  // 16 MiB of output per key
  alignas(16) uint8_t round_keys_[11 * 16];
  uint64_t counter_ = 0;
  uint64_t blocks_since_key_ = 0;
  uint64_t generation_;  // fork generation the key and buffer belong to
  uint64_t buffer_[kBufferWords];
  size_t used_ = kBufferWords;
};

}  // namespace boxoffice
