// fail_fsync: an LD_PRELOAD shim that injects fdatasync/fsync errors, for tests of what a
// process does when its disk reports an I/O error (tests/reliability/fsync_error_test.py).
//
// While the file named by BOXOFFICE_FAIL_FSYNC_FILE exists, fdatasync() and fsync() fail with
// EIO without calling the real ones (the data stays in the page cache, unsynced); otherwise,
// and when the variable is unset, they are the real ones (looked up with dlsym(RTLD_NEXT)).
// Creating and deleting that file switches the fault on and off in a running process. Each
// failure is counted; a line on stderr reports the total at the first failure after a call that
// went through (so each time the fault is switched on), then at most once per second.
//
// Only calls through libc are affected: an io_uring IORING_OP_FSYNC (boxofficed's default
// reactor) goes straight to the kernel, so the test runs boxofficed with --io epoll, where the
// journal's fdatasync is a libc call. (glibc has no fdatasync64/fsync64: nothing else to wrap.)
// Built without sanitizers: it is loaded before an ASan runtime, which then needs
// ASAN_OPTIONS=verify_asan_link_order=0.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

using SyncFn = int (*)(int);

std::atomic<uint64_t> failures{0};
std::atomic<bool> failing{false};  // the last call failed
std::atomic<int64_t> reported_at_s{0};

int64_t monotonic_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

// True (errno = EIO) when the control file exists: the caller must not sync.
bool inject(const char* name) {
  static const char* const control = std::getenv("BOXOFFICE_FAIL_FSYNC_FILE");
  if (control == nullptr || access(control, F_OK) != 0) {
    failing.store(false, std::memory_order_relaxed);
    return false;
  }
  const uint64_t count = failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const bool first = !failing.exchange(true, std::memory_order_relaxed);
  const int64_t now_s = monotonic_s();
  int64_t last_s = reported_at_s.load(std::memory_order_relaxed);
  if ((first || now_s != last_s) && reported_at_s.compare_exchange_strong(last_s, now_s)) {
    char line[128];
    const int n = std::snprintf(line, sizeof line, "fail_fsync: %s -> EIO (%llu injected so far)\n",
                                name, static_cast<unsigned long long>(count));
    if (n > 0) {
      [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, line, static_cast<size_t>(n));
    }
  }
  errno = EIO;
  return true;
}

SyncFn real(const char* name) {
  // dlsym is safe to call concurrently; every thread resolves the same address.
  return reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fdatasync(int fd) {
  static const SyncFn next = real("fdatasync");
  if (inject("fdatasync")) return -1;
  return next(fd);
}

extern "C" int fsync(int fd) {
  static const SyncFn next = real("fsync");
  if (inject("fsync")) return -1;
  return next(fd);
}
