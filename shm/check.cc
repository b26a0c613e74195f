#include "shm/check.h"

#include <cstdio>
#include <cstdlib>

namespace boxoffice {

void assertion_failed(const char* expression, const char* file, int line) {
  std::fprintf(stderr, "boxoffice: assertion failed: %s (%s:%d)\n", expression, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace boxoffice
