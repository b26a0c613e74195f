#include "core/random.h"

#include <sys/random.h>

#include <cerrno>

#include "shm/check.h"

namespace boxoffice {

uint64_t RandomSource::next() {
  for (;;) {
    if (used_ == kBufferWords) refill();
    const uint64_t value = buffer_[used_++];
    if (value != 0) return value;
  }
}

void RandomSource::refill() {
  auto* bytes = reinterpret_cast<char*>(buffer_);
  size_t filled = 0;
  while (filled < sizeof buffer_) {
    const ssize_t n = ::getrandom(bytes + filled, sizeof buffer_ - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    BOXOFFICE_ASSERT(n > 0);  // getrandom cannot fail once the pool is initialised
    filled += static_cast<size_t>(n);
  }
  used_ = 0;
}

}  // namespace boxoffice
