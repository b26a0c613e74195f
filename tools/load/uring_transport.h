// UringTransport: the Transport over one io_uring per worker (tools/load/transport.h). receive()
// and send() each queue one SQE (recv / send with MSG_NOSIGNAL) tagged with the connection and
// the kind; wait() submits the turn's queue and waits for completions in one io_uring_enter.
// Ring flags: SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them (completion work runs when
// we wait, not by interrupting the worker), else COOP_TASKRUN, else none. The ring is sized for
// two operations per connection (up to 32,768 entries: boxoffice-load allows 16,384 connections
// a thread), so neither queue overflows; a full SQ is submitted early rather than refused.
//
// Thread safety: none; create it on the worker thread that uses it (SINGLE_ISSUER).
#pragma once

#include <liburing.h>

#include <memory>
#include <string>
#include <vector>

#include "tools/load/transport.h"

namespace boxoffice::load {

class UringTransport final : public Transport {
 public:
  // Null (and *why) when the kernel refuses a ring: ENOSYS, or EPERM under a seccomp filter.
  static std::unique_ptr<UringTransport> create(uint32_t connections_max, std::string* why);
  ~UringTransport() override;
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  const char* name() const override { return "io_uring"; }
  void add(uint32_t connection, int fd) override;
  void receive(uint32_t connection, std::span<char> space) override;
  void send(uint32_t connection, std::span<const char> bytes) override;
  void shut(uint32_t connection) override;
  int wait(int64_t timeout_ns, std::span<Completion> out) override;

 private:
  UringTransport() = default;
  io_uring_sqe* next_sqe();

  io_uring ring_{};
  std::vector<int> fds_;
};

}  // namespace boxoffice::load
