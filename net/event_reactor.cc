// EventReactor: the epoll backend of Reactor (net/reactor.h) on libevent's event_base.
//
// What it owns: the listening socket (SO_REUSEADDR + SO_REUSEPORT, non-blocking), an eventfd
// that request_stop() writes to, a timer that sweeps idle connections, and a table of
// connections_max connection slots fixed at construction. A slot holds the socket, its two
// libevent events (read, write) and, while the connection is open, one private anonymous
// mapping holding its input buffer (input_bytes_max) and output buffer (output_bytes_max).
// Pages are committed as they are touched and the mapping is returned on close, so an idle
// connection costs a few pages and nothing on the request path allocates.
//
// One loop turn, in the order of Redis' aeProcessEvents + beforeSleep:
//   1. event_base_loop(EVLOOP_ONCE): callbacks only record what happened (readable,
//      writable, sweep due), except accept, which opens connections and calls on_open.
//   2. read once from every readable connection and call on_data with every unconsumed byte.
//   3. on_loop_turn(now_ms): deferred work (hold expiry, notifications) before any reply
//      leaves: the place where a journal's group commit will sit.
//   4. flush every connection with pending output; write readiness is armed only for a
//      connection whose socket would block, and disarmed as soon as its output drains.
//   5. close idle connections when the sweep is due.
//
// Closing: a handler sets *close for an orderly close (pending output is flushed, then the
// socket is closed). End of stream from the peer is an orderly close too. A read or write
// error, an idle timeout, or an input buffer full of one unconsumed frame close at once and
// discard pending output; so does a close requested while the output is overflowed (an append
// was refused since it last drained: the peer is not reading, as with Redis' output buffer
// hard limit), since waiting to flush it would hold the connection for idle_timeout_ms.
// A refused append alone closes nothing: the handler may answer with a shorter error instead.
// on_close runs exactly once per on_open.
//
// ConnectionId = slot index | (generation << 32); the generation is bumped on every close, so
// a stale id never names a later connection in the same slot.
//
// Thread safety: start(), run() and everything the handler sees happen on the thread that
// calls run() (start() may run on another thread before run() begins). request_stop() may be
// called from any thread, any number of times: it stores a flag and writes to an eventfd,
// both async-signal-safe. The Output& passed to on_data stays valid until on_close for that
// connection, so a handler may keep it and append later from on_loop_turn on the loop thread.
#include "net/event_reactor.h"

#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "net/reactor_support.h"
#include "shm/check.h"

namespace boxoffice::net {
namespace {

// How long run() keeps flushing pending output after request_stop() before it closes the
// remaining connections regardless. A candidate for ReactorOptions (reactor.h is shared with
// the io_uring backend, so it stays here for now).
constexpr int64_t kShutdownFlushMs = 1'000;
// The idle sweep runs this often at most, and at least four times per idle_timeout_ms, so a
// connection closes between idle_timeout_ms and 1.25 * idle_timeout_ms (+ one sweep) after its
// last byte.
constexpr int64_t kSweepIntervalMsMax = 1'000;
// After accept() fails for lack of descriptors or memory, accepting pauses this long instead
// of spinning on a listening socket that stays readable.
constexpr int64_t kAcceptPauseMs = 100;
// The loop wakes at least this often, so on_loop_turn (hold expiry) runs on time even when no
// connection is active; the io_uring backend waits at most as long.
constexpr int64_t kLoopTickMs = 10;
// Accepts per listening-socket wakeup, so a connection storm cannot starve established ones.
constexpr int kAcceptsPerTurnMax = 1'000;

timeval to_timeval(int64_t ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

class EventReactor;

enum class SlotState : uint8_t {
  kFree,     // on the free list; fd == -1, no mapping
  kOpen,     // reading and writing
  kClosing,  // no more reads; closes once its output is flushed
};

// The bytes a handler queued for one connection: [begin, begin + length) of `bytes`, at most
// `capacity` (= output_bytes_max). Compacted to the front when an append would not fit behind.
class ConnectionOutput final : public Output {
 public:
  bool append(std::span<const uint8_t> bytes) override;
  size_t pending_bytes() const override { return length; }

  EventReactor* reactor = nullptr;
  uint32_t slot_index = 0;
  uint8_t* bytes = nullptr;  // null while the slot is free
  uint32_t begin = 0;
  uint32_t length = 0;
  uint32_t capacity = 0;
  bool overflowed = false;  // an append was refused since the output last drained
};

struct Slot {
  EventReactor* reactor = nullptr;
  uint32_t index = 0;
  uint32_t generation = 0;
  SlotState state = SlotState::kFree;
  int fd = -1;
  bool readable = false;       // in EventReactor::readable_ this turn
  bool flush_queued = false;   // in EventReactor::flush_queue_
  bool write_armed = false;    // write_event is pending: the socket would block
  int64_t last_active_ms = 0;  // monotonic; last whole request read or byte written
  event* read_event = nullptr;
  event* write_event = nullptr;
  uint8_t* mapping = nullptr;  // input buffer, then output buffer
  size_t mapping_bytes = 0;
  uint32_t input_length = 0;  // unconsumed bytes at the start of the input buffer
  ConnectionOutput output;

  ConnectionId id() const { return ConnectionId{index} | (ConnectionId{generation} << 32); }
};

class EventReactor final : public Reactor {
 public:
  EventReactor(const ReactorOptions& options, ConnectionHandler* handler);
  ~EventReactor() override;

  std::string start() override;
  void run() override;
  void request_stop() override;
  void datasync(int fd, uint64_t cookie) override;
  uint16_t port() const override { return port_; }
  const char* backend_name() const override { return "epoll"; }

  void queue_flush(uint32_t slot_index) { queue_flush(slots_[slot_index]); }

 private:
  void queue_flush(Slot& slot);
  static void on_accept_ready(evutil_socket_t fd, short what, void* arg);
  static void on_accept_resume(evutil_socket_t fd, short what, void* arg);
  static void on_readable(evutil_socket_t fd, short what, void* arg);
  static void on_writable(evutil_socket_t fd, short what, void* arg);
  static void on_stop(evutil_socket_t fd, short what, void* arg);
  static void on_sweep(evutil_socket_t fd, short what, void* arg);
  static void on_tick(evutil_socket_t, short, void*) {}  // only wakes the loop
  static void on_deadline(evutil_socket_t fd, short what, void* arg);

  std::string listen_socket();
  void accept_connections();
  void open_connection(int fd);
  void read_connections();
  void read_connection(Slot& slot);
  void flush_connections();
  void flush_connection(Slot& slot);
  void begin_close(Slot& slot);
  // `reset`: a peer closed for misbehaving; drop what it did not read (reset_on_close).
  void close_connection(Slot& slot, bool reset = false);
  void sweep_idle();
  void drain();
  void deliver_datasync();

  const ReactorOptions options_;
  ConnectionHandler* const handler_;
  std::atomic<bool> stop_requested_{false};
  int stop_fd_ = -1;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  size_t input_bytes_reserved_ = 0;  // input_bytes_max rounded up to a page
  int64_t now_ms_ = 0;               // monotonic, read once per loop turn
  int64_t sweep_interval_ms_ = 0;
  bool sweep_due_ = false;
  bool draining_ = false;
  bool datasync_done_ = false;  // a datasync() ran this turn; its result not yet delivered
  uint64_t datasync_cookie_ = 0;
  int datasync_result_ = 0;
  event_base* base_ = nullptr;
  event* accept_event_ = nullptr;
  event* accept_resume_event_ = nullptr;
  event* stop_event_ = nullptr;
  event* sweep_event_ = nullptr;
  event* tick_event_ = nullptr;
  std::vector<Slot> slots_;                // connections_max, fixed
  std::vector<uint32_t> free_slots_;       // a stack of free slot indices
  std::vector<ConnectionId> readable_;     // this turn's readable connections
  std::vector<ConnectionId> flush_queue_;  // connections with output to write (or to close)
  uint32_t open_count_ = 0;
  uint32_t slots_touched_ = 0;  // slots [0, slots_touched_) were ever used; the sweep stops there
  bool started_ = false;
};

bool ConnectionOutput::append(std::span<const uint8_t> input) {
  if (bytes == nullptr) return false;  // the connection closed; a handler kept a stale Output&
  if (input.empty()) return true;
  if (input.size() > capacity - length) {
    overflowed = true;
    return false;
  }
  if (input.size() > capacity - begin - length) {
    std::memmove(bytes, bytes + begin, length);
    begin = 0;
  }
  std::memcpy(bytes + begin + length, input.data(), input.size());
  length += static_cast<uint32_t>(input.size());
  BOXOFFICE_ASSERT(begin + length <= capacity);
  reactor->queue_flush(slot_index);
  return true;
}

EventReactor::EventReactor(const ReactorOptions& options, ConnectionHandler* handler)
    : options_(options), handler_(handler) {
  BOXOFFICE_ASSERT(handler_ != nullptr);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);  // checked in start()
}

// run() closes every connection before it returns; anything still open here (run() never
// returned) is released without calling the handler, which may already be gone.
EventReactor::~EventReactor() {
  for (Slot& slot : slots_) {
    if (slot.fd >= 0) close(slot.fd);
    if (slot.mapping != nullptr) munmap(slot.mapping, slot.mapping_bytes);
    if (slot.read_event != nullptr) event_free(slot.read_event);
    if (slot.write_event != nullptr) event_free(slot.write_event);
  }
  for (event* e : {accept_event_, accept_resume_event_, stop_event_, sweep_event_, tick_event_}) {
    if (e != nullptr) event_free(e);
  }
  if (base_ != nullptr) event_base_free(base_);
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

std::string EventReactor::start() {
  BOXOFFICE_ASSERT(base_ == nullptr);  // start() once
  if (stop_fd_ < 0) return errno_text("eventfd", errno);
  if (options_.connections_max == 0) return "connections_max must be at least 1";
  if (options_.input_bytes_max == 0) return "input_bytes_max must be at least 1";
  if (options_.output_bytes_max == 0) return "output_bytes_max must be at least 1";
  if (options_.idle_timeout_ms <= 0) return "idle_timeout_ms must be positive";

  event_config* config = event_config_new();
  if (config == nullptr) return "event_config_new failed";
  // One thread owns the base; request_stop() goes through the eventfd, never through libevent.
  event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
  event_config_require_features(config, EV_FEATURE_O1);  // epoll, not poll or select
  base_ = event_base_new_with_config(config);
  event_config_free(config);
  if (base_ == nullptr) return "event_base_new_with_config failed (no epoll?)";

  std::string error = listen_socket();
  if (!error.empty()) return error;

  input_bytes_reserved_ = round_up_to_page(options_.input_bytes_max);
  sweep_interval_ms_ = std::clamp<int64_t>(options_.idle_timeout_ms / 4, 1, kSweepIntervalMsMax);
  accept_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, on_accept_ready, this);
  accept_resume_event_ = event_new(base_, -1, 0, on_accept_resume, this);
  stop_event_ = event_new(base_, stop_fd_, EV_READ | EV_PERSIST, on_stop, this);
  sweep_event_ = event_new(base_, -1, EV_PERSIST, on_sweep, this);
  tick_event_ = event_new(base_, -1, EV_PERSIST, on_tick, this);
  if (accept_event_ == nullptr || accept_resume_event_ == nullptr || stop_event_ == nullptr ||
      sweep_event_ == nullptr || tick_event_ == nullptr) {
    return "event_new failed";
  }

  slots_ = std::vector<Slot>(options_.connections_max);
  free_slots_.reserve(options_.connections_max);
  for (uint32_t i = options_.connections_max; i-- > 0;) {
    Slot& slot = slots_[i];
    slot.reactor = this;
    slot.index = i;
    slot.output.reactor = this;
    slot.output.slot_index = i;
    // Assigned a socket on open (event_assign); allocated here so opening allocates nothing.
    slot.read_event = event_new(base_, -1, 0, on_readable, &slot);
    slot.write_event = event_new(base_, -1, 0, on_writable, &slot);
    if (slot.read_event == nullptr || slot.write_event == nullptr) return "event_new failed";
    free_slots_.push_back(i);
  }
  // A connection leaves at most one live entry per turn; closed-and-reopened slots can leave a
  // stale one beside it, hence twice.
  readable_.reserve(2 * size_t{options_.connections_max});
  flush_queue_.reserve(2 * size_t{options_.connections_max});

  const timeval sweep_interval = to_timeval(sweep_interval_ms_);
  const timeval tick_interval = to_timeval(kLoopTickMs);
  if (event_add(accept_event_, nullptr) != 0 || event_add(stop_event_, nullptr) != 0 ||
      event_add(sweep_event_, &sweep_interval) != 0 ||
      event_add(tick_event_, &tick_interval) != 0) {
    return "event_add failed";
  }
  started_ = true;
  return "";
}

std::string EventReactor::listen_socket() {
  std::string error =
      open_listener(options_.host, options_.port, /*nonblocking=*/true, &listen_fd_, &port_);
  // Accepted sockets inherit it, and so do the bytes that arrive before their accept.
  if (error.empty() && options_.receive_timestamps) enable_receive_timestamps(listen_fd_);
  return error;
}

void EventReactor::request_stop() {
  stop_requested_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] ssize_t written = write(stop_fd_, &one, sizeof(one));
}

// No asynchronous fdatasync without io_uring: it runs here, and its result is handed over
// after on_loop_turn, before the turn's output is flushed.
void EventReactor::datasync(int fd, uint64_t cookie) {
  BOXOFFICE_ASSERT(!datasync_done_);
  datasync_done_ = true;
  datasync_cookie_ = cookie;
  datasync_result_ = fdatasync(fd) == 0 ? 0 : -errno;
}

void EventReactor::deliver_datasync() {
  if (!datasync_done_) return;
  datasync_done_ = false;
  handler_->on_datasync(datasync_cookie_, datasync_result_);
}

void EventReactor::run() {
  BOXOFFICE_ASSERT(started_);  // start() succeeded
  pin_current_thread(options_.cpu, "epoll reactor");
  while (!stop_requested_.load(std::memory_order_acquire)) {
    event_base_loop(base_, EVLOOP_ONCE);
    now_ms_ = monotonic_ms();
    read_connections();
    handler_->on_loop_turn(wall_clock_ms());
    deliver_datasync();
    flush_connections();
    if (sweep_due_) sweep_idle();
  }
  drain();
}

// Stop accepting, stop reading, give pending output kShutdownFlushMs to leave, close the rest.
void EventReactor::drain() {
  draining_ = true;
  handler_->on_stop();
  event_del(accept_event_);
  event_del(accept_resume_event_);
  event_del(sweep_event_);
  event_del(tick_event_);
  event_del(stop_event_);
  close(listen_fd_);
  listen_fd_ = -1;
  for (Slot& slot : slots_) {
    if (slot.state == SlotState::kOpen) begin_close(slot);
  }
  event* deadline = evtimer_new(base_, on_deadline, this);
  BOXOFFICE_ASSERT(deadline != nullptr);
  const timeval flush_time = to_timeval(kShutdownFlushMs);
  evtimer_add(deadline, &flush_time);
  flush_connections();
  while (open_count_ > 0 && evtimer_pending(deadline, nullptr)) {
    event_base_loop(base_, EVLOOP_ONCE);
    now_ms_ = monotonic_ms();
    flush_connections();
  }
  event_free(deadline);
  for (Slot& slot : slots_) {
    if (slot.state != SlotState::kFree) close_connection(slot);
  }
  BOXOFFICE_ASSERT(open_count_ == 0);
  draining_ = false;
}

void EventReactor::on_accept_ready(evutil_socket_t, short, void* arg) {
  static_cast<EventReactor*>(arg)->accept_connections();
}

void EventReactor::on_accept_resume(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<EventReactor*>(arg);
  if (!self->draining_) event_add(self->accept_event_, nullptr);
}

void EventReactor::accept_connections() {
  for (int accepted = 0; accepted < kAcceptsPerTurnMax; accepted++) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      open_connection(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      std::fprintf(stderr, "epoll reactor: accept: %s; pausing accepts for %lld ms\n",
                   std::strerror(errno), static_cast<long long>(kAcceptPauseMs));
      event_del(accept_event_);
      const timeval pause = to_timeval(kAcceptPauseMs);
      evtimer_add(accept_resume_event_, &pause);
    }
    return;  // EAGAIN: the queue is empty
  }
}

void EventReactor::open_connection(int fd) {
  if (free_slots_.empty()) {  // connections_max reached
    close(fd);
    return;
  }
  const size_t mapping_bytes = input_bytes_reserved_ + round_up_to_page(options_.output_bytes_max);
  void* mapping = mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) {
    close(fd);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // replies are small and urgent

  Slot& slot = slots_[free_slots_.back()];
  free_slots_.pop_back();
  slots_touched_ = std::max(slots_touched_, slot.index + 1);
  BOXOFFICE_ASSERT(slot.state == SlotState::kFree && slot.fd < 0);
  slot.state = SlotState::kOpen;
  slot.fd = fd;
  slot.readable = false;
  slot.flush_queued = false;
  slot.write_armed = false;
  slot.last_active_ms = monotonic_ms();
  slot.mapping = static_cast<uint8_t*>(mapping);
  slot.mapping_bytes = mapping_bytes;
  slot.input_length = 0;
  slot.output.bytes = slot.mapping + input_bytes_reserved_;
  slot.output.begin = 0;
  slot.output.length = 0;
  slot.output.capacity = options_.output_bytes_max;
  slot.output.overflowed = false;
  event_assign(slot.read_event, base_, fd, EV_READ | EV_PERSIST, on_readable, &slot);
  event_assign(slot.write_event, base_, fd, EV_WRITE | EV_PERSIST, on_writable, &slot);
  event_add(slot.read_event, nullptr);
  open_count_++;
  handler_->on_open(slot.id());
}

void EventReactor::on_readable(evutil_socket_t, short, void* arg) {
  Slot& slot = *static_cast<Slot*>(arg);
  if (slot.readable || slot.state != SlotState::kOpen) return;
  slot.readable = true;
  slot.reactor->readable_.push_back(slot.id());
}

void EventReactor::on_writable(evutil_socket_t, short, void* arg) {
  Slot& slot = *static_cast<Slot*>(arg);
  slot.reactor->queue_flush(slot.index);
}

void EventReactor::on_stop(evutil_socket_t fd, short, void*) {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(fd, &count, sizeof(count));  // run() checks the flag
}

void EventReactor::on_sweep(evutil_socket_t, short, void* arg) {
  static_cast<EventReactor*>(arg)->sweep_due_ = true;
}

void EventReactor::on_deadline(evutil_socket_t, short, void*) {}  // wakes drain()'s loop

void EventReactor::read_connections() {
  for (size_t i = 0; i < readable_.size(); i++) {
    const ConnectionId id = readable_[i];
    Slot& slot = slots_[static_cast<uint32_t>(id)];
    if (slot.id() != id || !slot.readable) continue;  // closed (and maybe reopened) since
    slot.readable = false;
    if (slot.state == SlotState::kOpen) read_connection(slot);
  }
  readable_.clear();
}

void EventReactor::read_connection(Slot& slot) {
  const uint32_t space = options_.input_bytes_max - slot.input_length;
  BOXOFFICE_ASSERT(space > 0);  // a full buffer was consumed from or closed last turn
  iovec into{slot.mapping + slot.input_length, space};
  alignas(cmsghdr) uint8_t control[kReceiveTimestampControlBytes];
  msghdr header{};
  header.msg_iov = &into;
  header.msg_iovlen = 1;
  if (options_.receive_timestamps) {
    header.msg_control = control;
    header.msg_controllen = sizeof control;
  }
  const ssize_t n = recvmsg(slot.fd, &header, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_connection(slot);
    return;
  }
  if (n == 0) {  // the peer finished sending; it may still read our replies
    begin_close(slot);
    return;
  }
  slot.input_length += static_cast<uint32_t>(n);
  int64_t received_at_ns = 0;
  for (const cmsghdr* message = CMSG_FIRSTHDR(&header); message != nullptr;
       message = CMSG_NXTHDR(&header, const_cast<cmsghdr*>(message))) {
    received_at_ns = std::max(received_at_ns, receive_timestamp_ns(*message));
  }

  bool close_requested = false;
  const size_t consumed =
      handler_->on_data(slot.id(), std::span<const uint8_t>(slot.mapping, slot.input_length),
                        received_at_ns, slot.output, &close_requested);
  BOXOFFICE_ASSERT(consumed <= slot.input_length);
  if (consumed > 0) {
    slot.last_active_ms = now_ms_;  // a whole request: bytes of a partial one do not count
    slot.input_length -= static_cast<uint32_t>(consumed);
    std::memmove(slot.mapping, slot.mapping + consumed, slot.input_length);
  }
  if (close_requested) {
    if (slot.output.overflowed) {
      close_connection(slot, true);  // its output would not drain; do not wait for it
    } else {
      begin_close(slot);
    }
  } else if (slot.input_length == options_.input_bytes_max) {
    close_connection(slot, true);  // one frame larger than input_bytes_max
  }
}

void EventReactor::queue_flush(Slot& slot) {
  if (slot.flush_queued || slot.state == SlotState::kFree) return;
  slot.flush_queued = true;
  flush_queue_.push_back(slot.id());
}

void EventReactor::flush_connections() {
  // By index: on_close (from a close here) may append to other connections, queueing them.
  for (size_t i = 0; i < flush_queue_.size(); i++) {
    const ConnectionId id = flush_queue_[i];
    Slot& slot = slots_[static_cast<uint32_t>(id)];
    if (slot.id() != id || !slot.flush_queued) continue;
    slot.flush_queued = false;
    if (slot.state != SlotState::kFree) flush_connection(slot);
  }
  flush_queue_.clear();
}

void EventReactor::flush_connection(Slot& slot) {
  ConnectionOutput& output = slot.output;
  if (slot.state == SlotState::kClosing && output.overflowed) {
    close_connection(slot, true);
    return;
  }
  while (output.length > 0) {
    const ssize_t n = send(slot.fd, output.bytes + output.begin, output.length, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!slot.write_armed) {
          event_add(slot.write_event, nullptr);
          slot.write_armed = true;
        }
        return;
      }
      close_connection(slot);  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    slot.last_active_ms = now_ms_;
    output.begin += static_cast<uint32_t>(n);
    output.length -= static_cast<uint32_t>(n);
  }
  output.begin = 0;
  output.overflowed = false;
  if (slot.write_armed) {
    event_del(slot.write_event);
    slot.write_armed = false;
  }
  // Held replies, once appended, queue the connection again.
  if (slot.state == SlotState::kClosing && !handler_->holds_output(slot.id())) {
    close_connection(slot);
  }
}

// Orderly close: no more reads; the flush step closes the socket once the output is out.
void EventReactor::begin_close(Slot& slot) {
  BOXOFFICE_ASSERT(slot.state == SlotState::kOpen);
  slot.state = SlotState::kClosing;
  slot.readable = false;
  event_del(slot.read_event);
  queue_flush(slot);
}

void EventReactor::close_connection(Slot& slot, bool reset) {
  BOXOFFICE_ASSERT(slot.state != SlotState::kFree);
  const ConnectionId id = slot.id();
  event_del(slot.read_event);
  event_del(slot.write_event);
  if (reset) reset_on_close(slot.fd);
  close(slot.fd);
  munmap(slot.mapping, slot.mapping_bytes);
  slot.fd = -1;
  slot.mapping = nullptr;
  slot.mapping_bytes = 0;
  slot.output.bytes = nullptr;
  slot.output.length = 0;
  slot.state = SlotState::kFree;
  slot.readable = false;
  slot.flush_queued = false;
  slot.write_armed = false;
  slot.generation++;  // stale ids of this connection stop matching from here on
  free_slots_.push_back(slot.index);
  BOXOFFICE_ASSERT(open_count_ > 0);
  open_count_--;
  handler_->on_close(id);
}

void EventReactor::sweep_idle() {
  sweep_due_ = false;
  const int64_t idle_before_ms = now_ms_ - options_.idle_timeout_ms;
  uint32_t closed = 0;
  for (uint32_t i = 0; i < slots_touched_; i++) {
    Slot& slot = slots_[i];
    if (slot.state != SlotState::kFree && slot.last_active_ms <= idle_before_ms) {
      if (closed == kIdleClosesPerTurnMax) {
        sweep_due_ = true;  // the rest next turn
        return;
      }
      // Idle with replies it never read: reset; otherwise an orderly close.
      close_connection(slot, slot.output.length > 0 || unsent_bytes(slot.fd) > 0);
      closed++;
    }
  }
}

}  // namespace

std::unique_ptr<Reactor> make_event_reactor(const ReactorOptions& options,
                                            ConnectionHandler* handler) {
  return std::make_unique<EventReactor>(options, handler);
}

}  // namespace boxoffice::net
