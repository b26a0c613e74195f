#include "net/reactor_support.h"

#include <netdb.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace boxoffice::net {
namespace {

int64_t clock_ms(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1'000'000;
}

}  // namespace

int64_t wall_clock_ms() { return clock_ms(CLOCK_REALTIME_COARSE); }
int64_t monotonic_ms() { return clock_ms(CLOCK_MONOTONIC_COARSE); }

std::string open_listener(const std::string& host, uint16_t port, bool nonblocking, int* fd_out,
                          uint16_t* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (int result =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &addresses);
      result != 0) {
    return "resolving " + host + ": " + gai_strerror(result);
  }
  std::string error = "no address for " + host;
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    const int fd = socket(address->ai_family,
                          address->ai_socktype | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0),
                          address->ai_protocol);
    if (fd < 0) {
      error = errno_text("socket", errno);
      continue;
    }
    const int one = 1;
    sockaddr_storage bound{};
    socklen_t bound_bytes = sizeof(bound);
    // SO_REUSEPORT: every worker listens on the same address and the kernel spreads connections.
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      error = errno_text("setsockopt SO_REUSEADDR/SO_REUSEPORT", errno);
    } else if (bind(fd, address->ai_addr, address->ai_addrlen) != 0) {
      error = errno_text(("bind " + host + ":" + service).c_str(), errno);
    } else if (listen(fd, SOMAXCONN) != 0) {
      error = errno_text("listen", errno);
    } else if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_bytes) != 0) {
      error = errno_text("getsockname", errno);
    } else {
      *bound_port = ntohs(bound.ss_family == AF_INET6
                              ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                              : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
      *fd_out = fd;
      error.clear();
      break;
    }
    close(fd);
  }
  freeaddrinfo(addresses);
  return error;
}

void pin_current_thread(int cpu, const char* who) {
  if (cpu < 0) return;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(cpu, &cpus);
  if (int result = pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus); result != 0) {
    std::fprintf(stderr, "%s: cannot pin to cpu %d: %s\n", who, cpu, std::strerror(result));
  }
}

void reset_on_close(int fd) {
  const linger reset{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
}

size_t unsent_bytes(int fd) {
  int bytes = 0;
  return ioctl(fd, SIOCOUTQ, &bytes) == 0 && bytes > 0 ? static_cast<size_t>(bytes) : 0;
}

void enable_receive_timestamps(int fd) {
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

int64_t receive_timestamp_ns(const cmsghdr& message) {
  static_assert(CMSG_SPACE(sizeof(timespec)) == kReceiveTimestampControlBytes);
  if (message.cmsg_level != SOL_SOCKET || message.cmsg_type != SCM_TIMESTAMPNS ||
      message.cmsg_len < CMSG_LEN(sizeof(timespec))) {
    return 0;
  }
  timespec stamp{};
  std::memcpy(&stamp, CMSG_DATA(&message), sizeof stamp);
  return int64_t{stamp.tv_sec} * 1'000'000'000 + stamp.tv_nsec;
}

int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

size_t round_up_to_page(size_t bytes) {
  const size_t page_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page_bytes - 1) / page_bytes * page_bytes;
}

std::string errno_text(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

}  // namespace boxoffice::net
