#include "tools/load/epoll_transport.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "shm/check.h"

namespace boxoffice::load {
namespace {
constexpr int kEventsPerWait = 256;
constexpr int64_t kSecondNs = 1'000'000'000;
}  // namespace

EpollTransport::EpollTransport(uint32_t connections_max) : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
  BOXOFFICE_ASSERT(epoll_fd_ >= 0);
  channels_.reserve(connections_max);
}

EpollTransport::~EpollTransport() { ::close(epoll_fd_); }

void EpollTransport::add(uint32_t connection, int fd) {
  if (connection >= channels_.size()) channels_.resize(connection + 1);
  Channel& ch = channels_[connection];
  BOXOFFICE_ASSERT(ch.fd < 0);
  ch.fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = connection;
  BOXOFFICE_ASSERT(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0);
}

void EpollTransport::receive(uint32_t connection, std::span<char> space) {
  Channel& ch = channels_[connection];
  BOXOFFICE_ASSERT(ch.fd >= 0 && ch.receive_space.empty() && !space.empty());
  ch.receive_space = space;
}

void EpollTransport::send(uint32_t connection, std::span<const char> bytes) {
  Channel& ch = channels_[connection];
  BOXOFFICE_ASSERT(ch.fd >= 0 && ch.send_pending.empty() && !bytes.empty());
  ch.send_pending = bytes;
  if (!try_send(connection)) set_want_write(connection, true);
}

bool EpollTransport::try_send(uint32_t connection) {
  Channel& ch = channels_[connection];
  ssize_t put;
  do {
    put = ::send(ch.fd, ch.send_pending.data(), ch.send_pending.size(), MSG_NOSIGNAL);
  } while (put < 0 && errno == EINTR);
  if (put < 0 && errno == EAGAIN) return false;
  ready_.push_back({connection, Completion::kSend, put < 0 ? -errno : static_cast<int32_t>(put)});
  ch.send_pending = {};
  return true;
}

void EpollTransport::set_want_write(uint32_t connection, bool want_write) {
  Channel& ch = channels_[connection];
  if (ch.want_write == want_write) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
  ev.data.u32 = connection;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, ch.fd, &ev);
  ch.want_write = want_write;
}

void EpollTransport::shut(uint32_t connection) {
  Channel& ch = channels_[connection];
  if (ch.fd < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, ch.fd, nullptr);
  ch = Channel{};
}

int EpollTransport::wait(int64_t timeout_ns, std::span<Completion> out) {
  BOXOFFICE_ASSERT(!out.empty());
  if (!ready_.empty()) timeout_ns = 0;
  epoll_event events[kEventsPerWait];
  const int max_events = static_cast<int>(std::min<size_t>(kEventsPerWait, out.size()));
  const timespec timeout{static_cast<time_t>(timeout_ns / kSecondNs),
                         static_cast<long>(timeout_ns % kSecondNs)};
  const int n = epoll_pwait2(epoll_fd_, events, max_events, &timeout, nullptr);
  if (n < 0 && errno != EINTR) return -errno;
  for (int e = 0; e < n; ++e) {
    const uint32_t connection = events[e].data.u32;
    Channel& ch = channels_[connection];
    if (ch.fd < 0) continue;
    if ((events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !ch.receive_space.empty()) {
      ssize_t got;
      do {
        got = ::read(ch.fd, ch.receive_space.data(), ch.receive_space.size());
      } while (got < 0 && errno == EINTR);
      if (got >= 0 || errno != EAGAIN) {
        ready_.push_back(
            {connection, Completion::kReceive, got < 0 ? -errno : static_cast<int32_t>(got)});
        ch.receive_space = {};
      }
    }
    if ((events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && !ch.send_pending.empty() &&
        try_send(connection)) {
      set_want_write(connection, false);
    }
  }
  // Hand out what fits; the rest waits for the next call (which then does not block).
  const size_t count = std::min(out.size(), ready_.size());
  std::copy_n(ready_.begin(), count, out.begin());
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<ptrdiff_t>(count));
  return static_cast<int>(count);
}

}  // namespace boxoffice::load
