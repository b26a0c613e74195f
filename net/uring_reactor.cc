// The io_uring backend of Reactor. One ring per worker thread; everything below runs on the
// thread that calls run(), except request_stop() (an atomic flag) and start() (before run()).
//
// Operations and their completion objects: the caller owns the completion state (TigerBeetle's
// rule); here that state is the Connection slot, and user_data carries
//   op kind (8 bits) | slot index (24 bits) | slot generation (32 bits)
// so a completion finds its connection without a lookup table, and a completion for a slot that
// has since been reused (older generation) is recognised and dropped. A slot is not reused while
// completions for it can still arrive: it is freed only once its multishot recv has ended (a CQE
// without IORING_CQE_F_MORE), its send has completed and its cancel has completed.
//
// Receiving: one multishot recv per connection (a multishot recvmsg with receive_timestamps, for
// the kernel's stamp of the newest bytes), selecting buffers from one provided buffer ring
// shared by the reactor's connections. Each completion's bytes are copied into the connection's
// fixed input buffer and the provided buffer is handed back to the ring in the same loop turn.
// That copy is the simplest correct design: the handler always sees one contiguous span of
// unconsumed bytes, and provided buffers are held only between the kernel filling them and our
// reaping them, so the ring can be small. (Zero-copy parsing straight from provided buffers would
// need frame reassembly across buffers; not worth it at these frame sizes.)
//
// Memory: every limit is fixed at start(). Input and output buffers for all connection slots are
// one MAP_NORESERVE mapping (virtual space only; pages are touched on use and given back with
// MADV_DONTNEED when a connection that used more than kResidentBytesKept closes), so nothing is
// allocated on the hot path.
#include "net/uring_reactor.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "net/reactor_support.h"
#include "shm/check.h"

namespace boxoffice::net {
namespace {

// Provided receive buffers, shared by all connections of one reactor. A buffer is held only from
// the kernel's completion to our reap in the same turn, so the count bounds the recv completions
// one turn can absorb; beyond it a connection's multishot recv ends with -ENOBUFS and is re-armed
// at the end of the turn, after the buffers are back. 1024 x 16 KiB = 16 MiB per worker.
constexpr uint32_t kRecvBufferCount = 1024;  // a power of two: the buffer ring requires it
constexpr uint32_t kRecvBufferBytes = 16 * 1024;
constexpr uint16_t kRecvBufferGroup = 0;

// Submission queue: one turn submits at most one send and one recv re-arm per connection; when
// the SQ fills mid-turn we submit early (get_sqe), so this only sets the batch size.
constexpr unsigned kSubmissionEntries = 2048;
// Completion queue: larger than the SQ because one multishot recv or accept posts many CQEs.
// (The kernel also keeps overflowed CQEs, IORING_FEAT_NODROP, so this is about speed, not loss.)
constexpr unsigned kCompletionEntries = 8 * kSubmissionEntries;

constexpr int64_t kTurnWaitMs = 10;                // on_loop_turn runs at least this often
constexpr int64_t kIdleSweepIntervalMsMax = 1000;  // idle timeouts are checked this coarsely
constexpr int64_t kAcceptRetryDelayMs = 100;       // after accept failed (EMFILE...): no busy loop
constexpr int64_t kStopFlushTimeoutMs = 1000;      // on stop: time to flush output, then abort
constexpr int64_t kStopDrainTimeoutMs = 3000;      // on stop: time for the last CQEs, then give up
constexpr size_t kResidentBytesKept = 64 * 1024;   // per buffer, not returned to the OS on close
constexpr uint32_t kSlotsMax = (1u << 24) - 1;     // slot index is 24 bits in user_data
constexpr uint32_t kNoSlot = kSlotsMax;            // user_data of ops owned by no connection

enum class OpKind : uint8_t { kAccept = 1, kRecv = 2, kSend = 3, kCancel = 4, kDatasync = 5 };

uint64_t encode_user_data(OpKind kind, uint32_t slot, uint32_t generation) {
  return (uint64_t{static_cast<uint8_t>(kind)} << 56) | (uint64_t{slot & kSlotsMax} << 32) |
         generation;
}
OpKind user_data_kind(uint64_t data) { return static_cast<OpKind>(data >> 56); }
uint32_t user_data_slot(uint64_t data) { return static_cast<uint32_t>(data >> 32) & kSlotsMax; }
uint32_t user_data_generation(uint64_t data) { return static_cast<uint32_t>(data); }

// Sets up a ring with the best flags this kernel accepts, newest first; -EINVAL means "flag
// unknown here", so we fall back. Every flag, and why:
//  - IORING_SETUP_CQSIZE: a CQ larger than the SQ, since multishot ops post many CQEs per SQE.
//  - IORING_SETUP_SUBMIT_ALL: one bad SQE must not stop the rest of the turn's batch (5.18).
//  - IORING_SETUP_SINGLE_ISSUER: only the worker thread touches the ring, so the kernel can skip
//    its submission locking (6.0).
//  - IORING_SETUP_DEFER_TASKRUN: completion work runs only when we call io_uring_enter to wait,
//    i.e. in our loop's one wait per turn, not by interrupting us mid-turn (6.1; needs
//    SINGLE_ISSUER).
//  - IORING_SETUP_COOP_TASKRUN: without DEFER_TASKRUN, at least do not IPI the worker to run
//    completion work; it runs at our next io_uring_enter anyway (5.19).
//  - IORING_SETUP_R_DISABLED: with SINGLE_ISSUER the issuer is the thread that enables the ring;
//    start() (which may run on another thread) creates it disabled, run() enables it.
int init_ring(io_uring* ring, io_uring_params* params) {
  constexpr unsigned kBaseFlags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  constexpr unsigned kFlagChoices[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
      IORING_SETUP_COOP_TASKRUN,
  };
  int result = -EINVAL;
  for (const unsigned flags : kFlagChoices) {
    std::memset(params, 0, sizeof(*params));
    params->flags = kBaseFlags | flags;
    params->cq_entries = kCompletionEntries;
    result = io_uring_queue_init_params(kSubmissionEntries, ring, params);
    if (result != -EINVAL) return result;
  }
  return result;
}

// liburing 2.3 declares io_uring_enable_rings but does not export it; call the kernel directly.
int enable_ring(io_uring* ring, const io_uring_params& params) {
  if ((params.flags & IORING_SETUP_R_DISABLED) == 0) return 0;
  const long result =
      syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  return result < 0 ? -errno : 0;
}

// The provided buffer ring and its buffers, registered with one io_uring. liburing 2.3 has no
// io_uring_setup_buf_ring, so the ring memory is mapped here and registered.
class RecvBufferRing {
 public:
  RecvBufferRing() = default;
  RecvBufferRing(const RecvBufferRing&) = delete;
  RecvBufferRing& operator=(const RecvBufferRing&) = delete;
  ~RecvBufferRing() {
    // The io_uring is closed before us (or never had us registered), so unmapping is safe.
    if (ring_ != nullptr) munmap(ring_, ring_bytes());
    if (buffers_ != nullptr) munmap(buffers_, buffers_bytes());
  }

  // Returns 0 or -errno.
  int setup(io_uring* uring) {
    void* ring_memory =
        mmap(nullptr, ring_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring_memory == MAP_FAILED) return -errno;
    ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    void* buffer_memory =
        mmap(nullptr, buffers_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer_memory == MAP_FAILED) return -errno;
    buffers_ = static_cast<uint8_t*>(buffer_memory);
    io_uring_buf_ring_init(ring_);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<uint64_t>(ring_);
    registration.ring_entries = kRecvBufferCount;
    registration.bgid = kRecvBufferGroup;
    const int result = io_uring_register_buf_ring(uring, &registration, 0);
    if (result < 0) return result;
    for (uint32_t buffer_id = 0; buffer_id < kRecvBufferCount; buffer_id++) give_back(buffer_id);
    publish();
    return 0;
  }

  const uint8_t* buffer(uint32_t buffer_id) const {
    BOXOFFICE_ASSERT(buffer_id < kRecvBufferCount);
    return buffers_ + size_t{buffer_id} * kRecvBufferBytes;
  }

  // Queues a buffer for the kernel; it sees the batch at publish().
  void give_back(uint32_t buffer_id) {
    BOXOFFICE_ASSERT(buffer_id < kRecvBufferCount);
    BOXOFFICE_ASSERT(given_back_ < kRecvBufferCount);
    io_uring_buf_ring_add(ring_, buffers_ + size_t{buffer_id} * kRecvBufferBytes, kRecvBufferBytes,
                          static_cast<uint16_t>(buffer_id),
                          io_uring_buf_ring_mask(kRecvBufferCount), static_cast<int>(given_back_));
    given_back_++;
  }

  void publish() {
    if (given_back_ == 0) return;
    io_uring_buf_ring_advance(ring_, static_cast<int>(given_back_));
    given_back_ = 0;
  }

 private:
  static size_t ring_bytes() { return round_up_to_page(kRecvBufferCount * sizeof(io_uring_buf)); }
  static size_t buffers_bytes() { return size_t{kRecvBufferCount} * kRecvBufferBytes; }

  io_uring_buf_ring* ring_ = nullptr;
  uint8_t* buffers_ = nullptr;
  uint32_t given_back_ = 0;  // added since the last publish()
};

// The probe: a ring with our flags, a registered buffer ring, and one multishot recv with buffer
// selection on a socket pair (the newest feature we use, Linux 6.0; multishot accept is 5.19).
std::string probe_uring() {
  io_uring ring{};
  io_uring_params params{};
  const int init_result = init_ring(&ring, &params);
  if (init_result < 0) {
    std::string why = errno_text("io_uring_queue_init", -init_result);
    if (init_result == -EPERM) why += " (seccomp filter or kernel.io_uring_disabled)";
    if (init_result == -ENOSYS) why += " (kernel without io_uring)";
    return why;
  }
  std::string why;
  int sockets[2] = {-1, -1};
  RecvBufferRing buffers;
  do {
    if ((params.features & IORING_FEAT_EXT_ARG) == 0) {
      why = "kernel lacks IORING_FEAT_EXT_ARG (wait with timeout), needs Linux 5.11+";
      break;
    }
    if (int result = enable_ring(&ring, params); result < 0) {
      why = errno_text("IORING_REGISTER_ENABLE_RINGS", -result);
      break;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr) {
      why = "io_uring_get_probe_ring failed (kernel too old)";
      break;
    }
    const bool opcodes_ok = io_uring_opcode_supported(probe, IORING_OP_ACCEPT) &&
                            io_uring_opcode_supported(probe, IORING_OP_RECV) &&
                            io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                            io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
    io_uring_free_probe(probe);
    if (!opcodes_ok) {
      why = "kernel lacks IORING_OP_ACCEPT/RECV/SEND/ASYNC_CANCEL";
      break;
    }
    if (int result = buffers.setup(&ring); result < 0) {
      why = errno_text("io_uring_register_buf_ring (provided buffer rings need Linux 5.19+)",
                       -result);
      break;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
      why = errno_text("socketpair", errno);
      break;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, sockets[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kRecvBufferGroup;
    const uint8_t byte = 1;
    if (write(sockets[1], &byte, 1) != 1) {
      why = errno_text("write", errno);
      break;
    }
    io_uring_cqe* cqe = nullptr;
    const int wait_result = io_uring_submit_and_wait(&ring, 1);
    if (wait_result < 0 || io_uring_peek_cqe(&ring, &cqe) != 0) {
      why = errno_text("io_uring_submit_and_wait", wait_result < 0 ? -wait_result : EIO);
      break;
    }
    if (cqe->res != 1 || (cqe->flags & IORING_CQE_F_BUFFER) == 0 ||
        (cqe->flags & IORING_CQE_F_MORE) == 0) {
      why = cqe->res < 0 ? errno_text("multishot recv (needs Linux 6.0+)", -cqe->res)
                         : "multishot recv with provided buffers did not behave as expected";
    }
    io_uring_cqe_seen(&ring, cqe);
  } while (false);
  // Closing the ring cancels the multishot recv; the buffer ring is unmapped after that.
  io_uring_queue_exit(&ring);
  if (sockets[0] >= 0) close(sockets[0]);
  if (sockets[1] >= 0) close(sockets[1]);
  return why;
}

class UringReactor;

// A connection's unsent output: a circular buffer of output_bytes_max inside the slot pool. The
// bytes of the send in flight stay counted as pending until it completes, so append() never
// overwrites them.
class ConnectionOutput final : public Output {
 public:
  bool append(std::span<const uint8_t> bytes) override;
  size_t pending_bytes() const override { return pending_bytes_; }

  void reset(UringReactor* reactor, uint32_t slot, uint8_t* memory, uint32_t capacity_bytes) {
    reactor_ = reactor;
    slot_ = slot;
    memory_ = memory;
    capacity_bytes_ = capacity_bytes;
    head_ = 0;
    pending_bytes_ = 0;
    touched_bytes_ = 0;
    overflowed_ = false;
  }
  // The contiguous run of pending bytes starting at the head (what one send can take).
  std::span<const uint8_t> next_run() const {
    const uint32_t run_bytes = std::min(pending_bytes_, capacity_bytes_ - head_);
    return {memory_ + head_, run_bytes};
  }
  void consume(uint32_t bytes) {
    BOXOFFICE_ASSERT(bytes <= pending_bytes_);
    pending_bytes_ -= bytes;
    // Restart at the front when empty, so request/response traffic keeps using the same few
    // pages instead of walking the whole buffer.
    head_ = pending_bytes_ == 0 ? 0 : (head_ + bytes) % capacity_bytes_;
  }
  bool overflowed() const { return overflowed_; }
  size_t touched_bytes() const { return touched_bytes_; }

 private:
  UringReactor* reactor_ = nullptr;
  uint32_t slot_ = 0;
  uint8_t* memory_ = nullptr;
  uint32_t capacity_bytes_ = 0;
  uint32_t head_ = 0;
  uint32_t pending_bytes_ = 0;
  uint32_t touched_bytes_ = 0;  // high-water offset, for giving pages back on close
  bool overflowed_ = false;     // an append was refused: the connection is closed
};

enum class ConnectionState : uint8_t {
  kFree,      // on the free list
  kOpen,      // receiving and sending
  kFlushing,  // closing in order: input ignored, output being flushed
  kDraining,  // on_close called; waiting for the slot's last CQEs before freeing it
};

struct Connection {
  int fd = -1;
  uint32_t generation = 0;
  ConnectionState state = ConnectionState::kFree;
  bool recv_armed = false;      // a multishot recv may still post CQEs
  bool send_in_flight = false;  // at most one send per connection
  uint8_t cancels_in_flight = 0;  // begin_draining's: one for the recv, one for a send
  bool queued = false;  // on the reactor's work list for this turn's submit
  uint8_t* input = nullptr;
  uint32_t input_bytes = 0;          // unconsumed bytes at input[0, input_bytes)
  uint32_t input_touched_bytes = 0;  // high-water mark
  int64_t active_at_ms = 0;          // last whole request read or byte sent (monotonic clock)
  ConnectionOutput output;
};

class UringReactor final : public Reactor {
 public:
  UringReactor(const ReactorOptions& options, ConnectionHandler* handler)
      : options_(options), handler_(handler) {
    recvmsg_header_.msg_controllen = kReceiveTimestampControlBytes;  // no name: TCP
  }
  UringReactor(const UringReactor&) = delete;
  UringReactor& operator=(const UringReactor&) = delete;
  ~UringReactor() override;

  std::string start() override;
  void run() override;
  void request_stop() override { stop_requested_.store(true, std::memory_order_release); }
  void datasync(int fd, uint64_t cookie) override;
  uint16_t port() const override { return port_; }
  const char* backend_name() const override { return "io_uring"; }

  // From ConnectionOutput::append: may the slot take output, and remember it has some.
  bool accepts_output(uint32_t slot) const {
    const ConnectionState state = connections_[slot].state;
    return state == ConnectionState::kOpen || state == ConnectionState::kFlushing;
  }
  void queue(uint32_t slot) {
    Connection& connection = connections_[slot];
    if (connection.queued) return;
    connection.queued = true;
    work_list_.push_back(slot);
  }

 private:
  std::string bind_listener();
  std::string map_pool();

  // The loop's steps, in order.
  void wait_for_completions();
  void handle_completions();
  void submit_work();
  void sweep_idle();

  void on_accept(int result, uint32_t flags);
  void on_recv(uint32_t slot, uint32_t generation, int result, uint32_t flags);
  void on_send(uint32_t slot, uint32_t generation, int result);
  void on_cancel(uint32_t slot, uint32_t generation);
  Connection* live_connection(uint32_t slot, uint32_t generation);

  void open_connection(int fd);
  void deliver_input(uint32_t slot, const uint8_t* bytes, size_t byte_count,
                     int64_t received_at_ns);
  void begin_flushing(uint32_t slot);
  // `reset`: a peer closed for misbehaving; drop what it did not read (reset_on_close).
  void begin_draining(uint32_t slot, bool reset = false);
  void release_if_drained(uint32_t slot);
  void begin_stop();

  void arm_accept();
  void arm_recv(uint32_t slot);
  void arm_send(uint32_t slot);
  io_uring_sqe* get_sqe();

  static ConnectionId connection_id(uint32_t slot, uint32_t generation) {
    return ConnectionId{slot} | (ConnectionId{generation} << 32);
  }

  const ReactorOptions options_;
  ConnectionHandler* const handler_;
  std::atomic<bool> stop_requested_{false};

  io_uring ring_{};
  io_uring_params ring_params_{};
  bool ring_ready_ = false;
  RecvBufferRing recv_buffers_;  // unmapped after ~UringReactor's body closed the ring
  // With receive_timestamps, every recv is a multishot recvmsg: each buffer it fills starts
  // with an io_uring_recvmsg_out, then room for this header's control bytes (the timestamp),
  // then the payload. The kernel reads the header when each recvmsg is armed.
  msghdr recvmsg_header_{};
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool started_ = false;

  uint8_t* pool_ = nullptr;  // per slot: input buffer, then output buffer, page-aligned
  size_t pool_bytes_ = 0;
  size_t input_stride_bytes_ = 0;
  size_t slot_stride_bytes_ = 0;
  std::vector<Connection> connections_;  // connections_max, never resized after start()
  std::vector<uint32_t> free_slots_;     // a stack; capacity connections_max
  std::vector<uint32_t> work_list_;      // slots to look at in submit_work()
  uint32_t slots_in_use_ = 0;            // not kFree (draining slots count)
  uint32_t slots_touched_ = 0;           // slots [0, slots_touched_) have ever been used

  bool accept_armed_ = false;
  bool datasync_in_flight_ = false;
  uint64_t datasync_cookie_ = 0;
  int64_t accept_retry_at_ms_ = 0;
  bool stopping_ = false;
  int64_t stop_started_at_ms_ = 0;
  int64_t now_ms_ = 0;  // monotonic, read once per turn
  int64_t swept_at_ms_ = 0;
  int64_t idle_sweep_interval_ms_ = kIdleSweepIntervalMsMax;  // finer for short idle timeouts
  uint64_t stale_completions_ = 0;  // dropped: generation no longer current (should stay 0)
};

bool ConnectionOutput::append(std::span<const uint8_t> bytes) {
  if (!reactor_->accepts_output(slot_)) return false;
  if (bytes.size() > size_t{capacity_bytes_} - pending_bytes_) {
    overflowed_ = true;
    reactor_->queue(slot_);  // submit_work() closes it, whoever appended (on_loop_turn too)
    return false;
  }
  if (bytes.empty()) return true;
  const uint32_t byte_count = static_cast<uint32_t>(bytes.size());
  const uint32_t tail = static_cast<uint32_t>((size_t{head_} + pending_bytes_) % capacity_bytes_);
  const uint32_t first_bytes = std::min(byte_count, capacity_bytes_ - tail);
  std::memcpy(memory_ + tail, bytes.data(), first_bytes);
  std::memcpy(memory_, bytes.data() + first_bytes, byte_count - first_bytes);
  touched_bytes_ =
      byte_count - first_bytes > 0 ? capacity_bytes_ : std::max(touched_bytes_, tail + first_bytes);
  pending_bytes_ += byte_count;
  BOXOFFICE_ASSERT(pending_bytes_ <= capacity_bytes_);
  reactor_->queue(slot_);
  return true;
}

UringReactor::~UringReactor() {
  for (Connection& connection : connections_) {
    if (connection.fd >= 0) close(connection.fd);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  // Closing the ring cancels whatever is still in flight, before the memory it targets goes.
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (pool_ != nullptr) munmap(pool_, pool_bytes_);
}

std::string UringReactor::start() {
  if (started_ || ring_ready_) return "reactor already started";
  if (handler_ == nullptr) return "no connection handler";
  if (options_.connections_max == 0 || options_.connections_max >= kSlotsMax) {
    return "connections_max must be in [1, " + std::to_string(kSlotsMax - 1) + "]";
  }
  if (options_.input_bytes_max == 0 || options_.output_bytes_max == 0) {
    return "input_bytes_max and output_bytes_max must be positive";
  }
  if (options_.idle_timeout_ms > 0) {
    idle_sweep_interval_ms_ =
        std::clamp<int64_t>(options_.idle_timeout_ms / 4, kTurnWaitMs, kIdleSweepIntervalMsMax);
  }
  const int init_result = init_ring(&ring_, &ring_params_);
  if (init_result < 0) return errno_text("io_uring_queue_init", -init_result);
  ring_ready_ = true;
  if (int result = recv_buffers_.setup(&ring_); result < 0) {
    return errno_text("io_uring_register_buf_ring", -result);
  }
  if (std::string error = map_pool(); !error.empty()) return error;
  if (std::string error = bind_listener(); !error.empty()) return error;
  started_ = true;
  return {};
}

std::string UringReactor::map_pool() {
  input_stride_bytes_ = round_up_to_page(options_.input_bytes_max);
  slot_stride_bytes_ = input_stride_bytes_ + round_up_to_page(options_.output_bytes_max);
  pool_bytes_ = slot_stride_bytes_ * options_.connections_max;
  void* memory = mmap(nullptr, pool_bytes_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    pool_bytes_ = 0;
    return errno_text("mmap of connection buffers", errno);
  }
  pool_ = static_cast<uint8_t*>(memory);
  connections_ = std::vector<Connection>(options_.connections_max);
  free_slots_.reserve(options_.connections_max);
  // Lowest slots on top of the stack, so a small load keeps touching the same few slots.
  for (uint32_t slot = options_.connections_max; slot-- > 0;) free_slots_.push_back(slot);
  // Twice: a slot re-queued after it was looked at in the same submit_work() pass.
  work_list_.reserve(2 * size_t{options_.connections_max});
  return {};
}

std::string UringReactor::bind_listener() {
  std::string error =
      open_listener(options_.host, options_.port, /*nonblocking=*/false, &listen_fd_, &port_);
  // Accepted sockets inherit it, and so do the bytes that arrive before their accept.
  if (error.empty() && options_.receive_timestamps) enable_receive_timestamps(listen_fd_);
  return error;
}

void UringReactor::run() {
  if (!started_) return;
  pin_current_thread(options_.cpu, "io_uring reactor");
  // The issuer of a SINGLE_ISSUER ring is the thread that enables it: this one.
  if (int result = enable_ring(&ring_, ring_params_); result < 0) {
    std::fprintf(stderr, "io_uring reactor: enabling the ring: %s\n", std::strerror(-result));
    return;
  }
  now_ms_ = monotonic_ms();
  swept_at_ms_ = now_ms_;
  arm_accept();
  // One loop shape: submit this turn's batch and wait, handle every completion, deferred work,
  // then queue the sends (and re-arms) that the next submit carries.
  while (true) {
    if (!stopping_ && stop_requested_.load(std::memory_order_acquire)) begin_stop();
    if (stopping_) {
      if (!accept_armed_ && slots_in_use_ == 0 && !datasync_in_flight_) break;
      if (now_ms_ - stop_started_at_ms_ >= kStopDrainTimeoutMs) {
        std::fprintf(stderr, "io_uring reactor: %u connections did not drain; closing anyway\n",
                     slots_in_use_);
        break;
      }
    }
    wait_for_completions();
    now_ms_ = monotonic_ms();
    handle_completions();
    handler_->on_loop_turn(wall_clock_ms());
    if (now_ms_ - swept_at_ms_ >= idle_sweep_interval_ms_ || stopping_) sweep_idle();
    submit_work();
  }
  // Normally nothing is left; after the drain timeout the fds go now and the ring (in the
  // destructor) cancels what is left.
  for (uint32_t slot = 0; slot < slots_touched_; slot++) {
    Connection& connection = connections_[slot];
    if (connection.state != ConnectionState::kFree) {
      if (connection.state != ConnectionState::kDraining) {
        handler_->on_close(connection_id(slot, connection.generation));
      }
      close(connection.fd);
      connection.fd = -1;
      connection.state = ConnectionState::kDraining;  // never reused: the ring is done
    }
  }
  close(listen_fd_);
  listen_fd_ = -1;
  started_ = false;  // run() once per start()
  if (stale_completions_ > 0) {
    std::fprintf(stderr, "io_uring reactor: %llu completions for reused slots were dropped\n",
                 static_cast<unsigned long long>(stale_completions_));
  }
}

void UringReactor::wait_for_completions() {
  __kernel_timespec wait_time{};
  wait_time.tv_nsec = kTurnWaitMs * 1'000'000;
  io_uring_cqe* cqe = nullptr;
  const int result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait_time, nullptr);
  // -ETIME: the turn's timeout; -EINTR: a signal; -EBUSY: CQ overflow backlog, which the
  // completions we are about to reap clear. Anything else would be a bug in how we use the ring.
  if (result < 0 && result != -ETIME && result != -EINTR && result != -EBUSY && result != -EAGAIN) {
    std::fprintf(stderr, "io_uring reactor: io_uring_submit_and_wait_timeout: %s\n",
                 std::strerror(-result));
  }
}

void UringReactor::handle_completions() {
  unsigned head = 0;
  unsigned reaped = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    reaped++;
    const uint64_t data = cqe->user_data;
    const uint32_t slot = user_data_slot(data);
    const uint32_t generation = user_data_generation(data);
    switch (user_data_kind(data)) {
      case OpKind::kAccept:
        on_accept(cqe->res, cqe->flags);
        break;
      case OpKind::kRecv:
        on_recv(slot, generation, cqe->res, cqe->flags);
        break;
      case OpKind::kSend:
        on_send(slot, generation, cqe->res);
        break;
      case OpKind::kCancel:
        on_cancel(slot, generation);
        break;
      case OpKind::kDatasync:
        BOXOFFICE_ASSERT(datasync_in_flight_);
        datasync_in_flight_ = false;
        handler_->on_datasync(datasync_cookie_, cqe->res);
        break;
      default:
        BOXOFFICE_ASSERT(!"completion with an unknown op kind");
    }
  }
  io_uring_cq_advance(&ring_, reaped);
  recv_buffers_.publish();
}

Connection* UringReactor::live_connection(uint32_t slot, uint32_t generation) {
  if (slot >= connections_.size()) {
    stale_completions_++;
    return nullptr;
  }
  Connection& connection = connections_[slot];
  if (connection.state == ConnectionState::kFree || connection.generation != generation) {
    stale_completions_++;
    return nullptr;
  }
  return &connection;
}

void UringReactor::on_accept(int result, uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) {
    accept_armed_ = false;  // submit_work() re-arms it
    if (result < 0 && result != -ECANCELED) {
      std::fprintf(stderr, "io_uring reactor: accept: %s\n", std::strerror(-result));
      accept_retry_at_ms_ = now_ms_ + kAcceptRetryDelayMs;
    }
  }
  if (result >= 0) open_connection(result);
}

void UringReactor::open_connection(int fd) {
  if (stopping_ || free_slots_.empty()) {
    close(fd);  // over connections_max, or shutting down
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // replies are whole; send now
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  slots_in_use_++;
  slots_touched_ = std::max(slots_touched_, slot + 1);
  Connection& connection = connections_[slot];
  BOXOFFICE_ASSERT(connection.state == ConnectionState::kFree);
  BOXOFFICE_ASSERT(!connection.recv_armed && !connection.send_in_flight);
  connection.fd = fd;
  connection.state = ConnectionState::kOpen;
  connection.cancels_in_flight = 0;
  connection.input = pool_ + slot * slot_stride_bytes_;
  connection.input_bytes = 0;
  connection.input_touched_bytes = 0;
  connection.active_at_ms = now_ms_;
  connection.output.reset(this, slot, connection.input + input_stride_bytes_,
                          options_.output_bytes_max);
  handler_->on_open(connection_id(slot, connection.generation));
  queue(slot);  // submit_work() arms its recv
}

void UringReactor::on_recv(uint32_t slot, uint32_t generation, int result, uint32_t flags) {
  const uint8_t* bytes = nullptr;
  size_t byte_count = result > 0 ? static_cast<size_t>(result) : 0;
  int64_t received_at_ns = 0;
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    const uint32_t buffer_id = flags >> IORING_CQE_BUFFER_SHIFT;
    bytes = recv_buffers_.buffer(buffer_id);
    recv_buffers_.give_back(buffer_id);  // the kernel sees it at publish(), after this turn
    if (options_.receive_timestamps && result > 0) {
      // recvmsg's layout (see recvmsg_header_); its end of stream is a buffer without payload.
      auto* out = io_uring_recvmsg_validate(const_cast<uint8_t*>(bytes), result, &recvmsg_header_);
      BOXOFFICE_ASSERT(out != nullptr);  // the kernel wrote at least the header it promised
      for (const cmsghdr* message = io_uring_recvmsg_cmsg_firsthdr(out, &recvmsg_header_);
           message != nullptr; message = io_uring_recvmsg_cmsg_nexthdr(
                                   out, &recvmsg_header_, const_cast<cmsghdr*>(message))) {
        received_at_ns = std::max(received_at_ns, receive_timestamp_ns(*message));
      }
      bytes = static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &recvmsg_header_));
      byte_count = io_uring_recvmsg_payload_length(out, result, &recvmsg_header_);
      if (byte_count == 0) result = 0;  // the peer is done sending
    }
  }
  Connection* connection = live_connection(slot, generation);
  if (connection == nullptr) return;
  if ((flags & IORING_CQE_F_MORE) == 0) connection->recv_armed = false;
  if (result > 0 && bytes != nullptr) {
    if (connection->state == ConnectionState::kOpen) {
      deliver_input(slot, bytes, byte_count, received_at_ns);
    }
  } else if (result == 0) {
    // The peer is done sending; it may still read, so answer what it sent, then close.
    begin_flushing(slot);
  } else if (result == -ENOBUFS) {
    // The buffer ring ran dry this turn; the buffers are back by submit_work().
  } else if (result < 0 && result != -ECANCELED) {
    begin_draining(slot);  // ECONNRESET and friends
  }
  if (connection->state == ConnectionState::kOpen && !connection->recv_armed) queue(slot);
  release_if_drained(slot);
}

void UringReactor::deliver_input(uint32_t slot, const uint8_t* bytes, size_t byte_count,
                                 int64_t received_at_ns) {
  Connection& connection = connections_[slot];
  const uint32_t input_bytes_max = options_.input_bytes_max;
  while (byte_count > 0 && connection.state == ConnectionState::kOpen) {
    BOXOFFICE_ASSERT(connection.input_bytes < input_bytes_max);
    const size_t copy_bytes =
        std::min<size_t>(byte_count, input_bytes_max - connection.input_bytes);
    std::memcpy(connection.input + connection.input_bytes, bytes, copy_bytes);
    connection.input_bytes += static_cast<uint32_t>(copy_bytes);
    connection.input_touched_bytes =
        std::max(connection.input_touched_bytes, connection.input_bytes);
    bytes += copy_bytes;
    byte_count -= copy_bytes;

    bool close_requested = false;
    size_t consumed = handler_->on_data(connection_id(slot, connection.generation),
                                        {connection.input, connection.input_bytes},
                                        received_at_ns, connection.output, &close_requested);
    if (consumed > connection.input_bytes) {
      // A handler bug; do not read outside the buffer, and do not trust this stream any more.
      std::fprintf(stderr, "io_uring reactor: handler consumed %zu of %u bytes\n", consumed,
                   connection.input_bytes);
      begin_draining(slot);
      return;
    }
    if (consumed > 0) {
      connection.active_at_ms = now_ms_;  // a whole request: bytes of a partial one do not count
      const size_t left_bytes = connection.input_bytes - consumed;
      std::memmove(connection.input, connection.input + consumed, left_bytes);
      connection.input_bytes = static_cast<uint32_t>(left_bytes);
    }
    if (connection.output.overflowed()) {
      begin_draining(slot, true);  // output_bytes_max exceeded: the peer does not keep up
      return;
    }
    if (close_requested) {
      begin_flushing(slot);
      return;
    }
    if (connection.input_bytes == input_bytes_max) {
      begin_draining(slot, true);  // a full buffer and no whole frame in it: over the limit
      return;
    }
  }
}

void UringReactor::on_send(uint32_t slot, uint32_t generation, int result) {
  Connection* connection = live_connection(slot, generation);
  if (connection == nullptr) return;
  BOXOFFICE_ASSERT(connection->send_in_flight);
  connection->send_in_flight = false;
  if (result > 0) {
    connection->output.consume(static_cast<uint32_t>(result));  // a short send leaves the rest
    connection->active_at_ms = now_ms_;
    queue(slot);  // more to send, or a flushing connection to close
  } else if (result == 0 || result == -EAGAIN || result == -EINTR) {
    queue(slot);  // nothing went out; try again next turn
  } else if (result != -ECANCELED) {
    begin_draining(slot);  // EPIPE, ECONNRESET...
  }
  release_if_drained(slot);
}

void UringReactor::on_cancel(uint32_t slot, uint32_t generation) {
  if (slot == kNoSlot) return;  // the accept's cancel on stop
  Connection* connection = live_connection(slot, generation);
  if (connection == nullptr) return;
  BOXOFFICE_ASSERT(connection->cancels_in_flight > 0);
  connection->cancels_in_flight--;
  release_if_drained(slot);
}

void UringReactor::begin_flushing(uint32_t slot) {
  Connection& connection = connections_[slot];
  if (connection.state != ConnectionState::kOpen) return;
  connection.state = ConnectionState::kFlushing;
  queue(slot);  // submit_work() sends what is left, then drains
}

void UringReactor::begin_draining(uint32_t slot, bool reset) {
  Connection& connection = connections_[slot];
  if (connection.state != ConnectionState::kOpen &&
      connection.state != ConnectionState::kFlushing) {
    return;
  }
  connection.state = ConnectionState::kDraining;
  if (reset) reset_on_close(connection.fd);
  handler_->on_close(connection_id(slot, connection.generation));
  // The multishot recv and a send stuck on a full socket are cancelled by their user_data,
  // which the kernel finds by hash: a cancel by fd scans every armed request of the ring, and
  // thousands of connections closed in one turn (a cohort of idle ones timing out together)
  // made that quadratic, two cores busy for 100 ms. The shutdown makes sure an op that was
  // mid-flight (cancel -EALREADY) completes too.
  const auto cancel = [&](OpKind kind) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_user_data(kind, slot, connection.generation), 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kCancel, slot, connection.generation));
    connection.cancels_in_flight++;
  };
  if (connection.recv_armed) cancel(OpKind::kRecv);
  if (connection.send_in_flight) cancel(OpKind::kSend);
  if (connection.recv_armed || connection.send_in_flight) shutdown(connection.fd, SHUT_RDWR);
  release_if_drained(slot);
}

void UringReactor::release_if_drained(uint32_t slot) {
  Connection& connection = connections_[slot];
  if (connection.state != ConnectionState::kDraining || connection.recv_armed ||
      connection.send_in_flight || connection.cancels_in_flight > 0) {
    return;
  }
  close(connection.fd);
  connection.fd = -1;
  // Give back the pages of buffers that grew large; keep the first few resident.
  const auto give_back_pages = [](uint8_t* memory, size_t touched_bytes) {
    if (touched_bytes <= kResidentBytesKept) return;
    madvise(memory + kResidentBytesKept, round_up_to_page(touched_bytes) - kResidentBytesKept,
            MADV_DONTNEED);
  };
  give_back_pages(connection.input, connection.input_touched_bytes);
  give_back_pages(connection.input + input_stride_bytes_, connection.output.touched_bytes());
  connection.state = ConnectionState::kFree;
  connection.generation++;  // any CQE still naming the old generation is dropped
  slots_in_use_--;
  free_slots_.push_back(slot);
}

void UringReactor::datasync(int fd, uint64_t cookie) {
  BOXOFFICE_ASSERT(!datasync_in_flight_);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kDatasync, kNoSlot, 0));
  datasync_in_flight_ = true;
  datasync_cookie_ = cookie;
}

void UringReactor::begin_stop() {
  stopping_ = true;
  handler_->on_stop();
  stop_started_at_ms_ = now_ms_;
  if (accept_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_user_data(OpKind::kAccept, kNoSlot, 0), 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kCancel, kNoSlot, 0));
  }
  for (uint32_t slot = 0; slot < slots_touched_; slot++) begin_flushing(slot);
}

void UringReactor::sweep_idle() {
  const bool flush_overdue = stopping_ && now_ms_ - stop_started_at_ms_ >= kStopFlushTimeoutMs;
  uint32_t closed = 0;
  for (uint32_t slot = 0; slot < slots_touched_; slot++) {
    const Connection& connection = connections_[slot];
    if (connection.state != ConnectionState::kOpen &&
        connection.state != ConnectionState::kFlushing) {
      continue;
    }
    const bool idle = options_.idle_timeout_ms > 0 &&
                      now_ms_ - connection.active_at_ms >= options_.idle_timeout_ms;
    // Idle with replies it never read: reset; otherwise an orderly close.
    if (idle || flush_overdue) {
      // The rest next turn: swept_at_ms_ is left behind, so the sweep runs again.
      if (!flush_overdue && closed == kIdleClosesPerTurnMax) return;
      begin_draining(slot, flush_overdue || connection.output.pending_bytes() > 0 ||
                               unsent_bytes(connection.fd) > 0);
      closed++;
    }
  }
  swept_at_ms_ = now_ms_;
}

void UringReactor::submit_work() {
  // Indexing, not iterators: a handler's on_close (from begin_draining) may queue more slots.
  for (size_t index = 0; index < work_list_.size(); index++) {
    const uint32_t slot = work_list_[index];
    Connection& connection = connections_[slot];
    connection.queued = false;
    if (connection.output.overflowed()) begin_draining(slot, true);  // output_bytes_max exceeded
    switch (connection.state) {
      case ConnectionState::kOpen:
        if (!connection.recv_armed) arm_recv(slot);
        if (!connection.send_in_flight && connection.output.pending_bytes() > 0) arm_send(slot);
        break;
      case ConnectionState::kFlushing:
        if (connection.send_in_flight) break;
        if (connection.output.pending_bytes() > 0) {
          arm_send(slot);
        } else if (!handler_->holds_output(connection_id(slot, connection.generation))) {
          begin_draining(slot);  // (held replies, once appended, queue the slot again)
        }
        break;
      case ConnectionState::kDraining:
      case ConnectionState::kFree:
        break;
    }
  }
  work_list_.clear();
  if (!accept_armed_ && !stopping_ && now_ms_ >= accept_retry_at_ms_) arm_accept();
}

io_uring_sqe* UringReactor::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) return sqe;
  io_uring_submit(&ring_);  // the SQ is full: send this batch early
  sqe = io_uring_get_sqe(&ring_);
  BOXOFFICE_ASSERT(sqe != nullptr);
  return sqe;
}

void UringReactor::arm_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kAccept, kNoSlot, 0));
  accept_armed_ = true;
}

void UringReactor::arm_recv(uint32_t slot) {
  Connection& connection = connections_[slot];
  io_uring_sqe* sqe = get_sqe();
  if (options_.receive_timestamps) {
    io_uring_prep_recvmsg_multishot(sqe, connection.fd, &recvmsg_header_, 0);
  } else {
    io_uring_prep_recv_multishot(sqe, connection.fd, nullptr, 0, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kRecvBufferGroup;
  io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kRecv, slot, connection.generation));
  connection.recv_armed = true;
}

void UringReactor::arm_send(uint32_t slot) {
  Connection& connection = connections_[slot];
  const std::span<const uint8_t> run = connection.output.next_run();
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, connection.fd, run.data(), run.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, encode_user_data(OpKind::kSend, slot, connection.generation));
  connection.send_in_flight = true;
}

}  // namespace

bool uring_supported(std::string* why) {
  static std::once_flag probed;
  static std::string reason;  // empty: supported
  std::call_once(probed, [] { reason = probe_uring(); });
  if (why != nullptr) *why = reason;
  return reason.empty();
}

std::unique_ptr<Reactor> make_uring_reactor(const ReactorOptions& options,
                                            ConnectionHandler* handler, std::string* error) {
  std::string why;
  if (!uring_supported(&why)) {
    if (error != nullptr) *error = why;
    return nullptr;
  }
  return std::make_unique<UringReactor>(options, handler);
}

}  // namespace boxoffice::net
