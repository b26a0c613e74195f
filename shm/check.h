// check: always-on assertions for invariants (programmer errors), in release builds too.
// A broken invariant logs file, line and the expression to stderr and aborts: continuing could
// sell a seat twice. Operating errors (bad input, seat taken) are values, never assertions.
#pragma once

namespace boxoffice {
[[noreturn]] void assertion_failed(const char* expression, const char* file, int line);
}  // namespace boxoffice

#define BOXOFFICE_ASSERT(expression)                                  \
  do {                                                                \
    if (__builtin_expect(!(expression), 0)) {                         \
      ::boxoffice::assertion_failed(#expression, __FILE__, __LINE__); \
    }                                                                 \
  } while (0)
