// RandomSource: unguessable 64-bit values for hold secrets and ticket nonces, from the kernel's
// CSPRNG (getrandom) read 4 KiB at a time, so a value costs a copy, not a system call.
// Thread safety: none; each worker owns one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace boxoffice {

class RandomSource {
 public:
  uint64_t next();             // never 0
 private:
  void refill();
  static constexpr size_t kBufferWords = 512;
  uint64_t buffer_[kBufferWords];
  size_t used_ = kBufferWords;
};

}  // namespace boxoffice
