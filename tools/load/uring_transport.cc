#include "tools/load/uring_transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "shm/check.h"

namespace boxoffice::load {
namespace {

constexpr uint32_t kEntriesMax = 32'768;
constexpr int64_t kSecondNs = 1'000'000'000;

uint64_t user_data(uint32_t connection, Completion::Kind kind) {
  return (uint64_t{connection} << 1) | kind;
}

// Newest flags first; -EINVAL means "unknown to this kernel", so try the next set.
int init_ring(io_uring* ring, uint32_t entries) {
  constexpr unsigned kFlagChoices[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_COOP_TASKRUN,
      0,
  };
  int result = -EINVAL;
  for (const unsigned flags : kFlagChoices) {
    io_uring_params params{};
    params.flags = flags;
    result = io_uring_queue_init_params(entries, ring, &params);
    if (result != -EINVAL) return result;
  }
  return result;
}

}  // namespace

std::unique_ptr<UringTransport> UringTransport::create(uint32_t connections_max,
                                                       std::string* why) {
  // One receive and one send per connection may be queued in a turn.
  const uint32_t entries =
      std::min(kEntriesMax, std::bit_ceil(std::max<uint32_t>(8, 2 * connections_max)));
  std::unique_ptr<UringTransport> transport(new UringTransport());
  const int result = init_ring(&transport->ring_, entries);
  if (result < 0) {
    if (why != nullptr) *why = std::string("io_uring_queue_init: ") + std::strerror(-result);
    return nullptr;
  }
  transport->fds_.reserve(connections_max);
  return transport;
}

UringTransport::~UringTransport() { io_uring_queue_exit(&ring_); }

void UringTransport::add(uint32_t connection, int fd) {
  if (connection >= fds_.size()) fds_.resize(connection + 1, -1);
  BOXOFFICE_ASSERT(fds_[connection] < 0);
  fds_[connection] = fd;
}

io_uring_sqe* UringTransport::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // more than two operations per connection: submit what is queued
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  BOXOFFICE_ASSERT(sqe != nullptr);
  return sqe;
}

void UringTransport::receive(uint32_t connection, std::span<char> space) {
  BOXOFFICE_ASSERT(fds_[connection] >= 0 && !space.empty());
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv(sqe, fds_[connection], space.data(), space.size(), 0);
  io_uring_sqe_set_data64(sqe, user_data(connection, Completion::kReceive));
}

void UringTransport::send(uint32_t connection, std::span<const char> bytes) {
  BOXOFFICE_ASSERT(fds_[connection] >= 0 && !bytes.empty());
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, fds_[connection], bytes.data(), bytes.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, user_data(connection, Completion::kSend));
}

void UringTransport::shut(uint32_t connection) {
  // A recv in flight holds the socket open past close(); shutdown() ends it now.
  if (fds_[connection] >= 0) ::shutdown(fds_[connection], SHUT_RDWR);
  fds_[connection] = -1;
}

int UringTransport::wait(int64_t timeout_ns, std::span<Completion> out) {
  BOXOFFICE_ASSERT(!out.empty());
  __kernel_timespec timeout{timeout_ns / kSecondNs, timeout_ns % kSecondNs};
  io_uring_cqe* cqe = nullptr;
  const int result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
  if (result < 0 && result != -ETIME && result != -EINTR) return result;
  size_t count = 0;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (count == out.size()) break;
    ++seen;
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    if (data == LIBURING_UDATA_TIMEOUT) continue;  // the wait's own timeout (kernels < 5.11)
    out[count++] = {static_cast<uint32_t>(data >> 1), static_cast<Completion::Kind>(data & 1),
                    cqe->res};
  }
  io_uring_cq_advance(&ring_, seen);
  return static_cast<int>(count);
}

}  // namespace boxoffice::load
