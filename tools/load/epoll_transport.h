// EpollTransport: the Transport over one level-triggered epoll set (tools/load/transport.h).
// Every connection stays registered for input; a receive reads when epoll says readable. A send
// writes at once and completes without waiting; only when the socket is full (EAGAIN) does it
// wait for EPOLLOUT. Completions made outside epoll_wait are queued and returned by the next
// wait() without blocking.
//
// Thread safety: none (one worker thread).
#pragma once

#include <vector>

#include "tools/load/transport.h"

namespace boxoffice::load {

class EpollTransport final : public Transport {
 public:
  explicit EpollTransport(uint32_t connections_max);
  ~EpollTransport() override;
  EpollTransport(const EpollTransport&) = delete;
  EpollTransport& operator=(const EpollTransport&) = delete;

  const char* name() const override { return "epoll"; }
  void add(uint32_t connection, int fd) override;
  void receive(uint32_t connection, std::span<char> space) override;
  void send(uint32_t connection, std::span<const char> bytes) override;
  void shut(uint32_t connection) override;
  int wait(int64_t timeout_ns, std::span<Completion> out) override;

 private:
  struct Channel {
    int fd = -1;
    bool want_write = false;
    std::span<char> receive_space;       // empty: no receive asked for
    std::span<const char> send_pending;  // empty: no send waiting for EPOLLOUT
  };
  void set_want_write(uint32_t connection, bool want_write);
  // One write of the pending send; false: the socket is full, keep waiting.
  bool try_send(uint32_t connection);

  int epoll_fd_ = -1;
  std::vector<Channel> channels_;
  std::vector<Completion> ready_;  // completions made outside epoll_wait
};

}  // namespace boxoffice::load
