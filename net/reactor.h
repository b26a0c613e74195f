// Reactor: the event loop of one worker thread (DESIGN.md section 5). It owns a listening
// socket bound with SO_REUSEPORT (so every worker accepts on the same address and the kernel
// spreads connections), the worker's connections, and their buffers; it feeds received bytes
// to a ConnectionHandler and sends what the handler wrote. A connection lives on the reactor
// that accepted it until it closes.
//
// One loop shape for every backend: wait for completions/events, handle them all, call
// ConnectionHandler::on_loop_turn (deferred work such as hold expiry), then flush every
// connection's pending output in one batch.
//
// Backends: io_uring (net/uring_reactor.h: multishot accept and recv with a provided buffer
// ring, batched submit) and libevent/epoll (net/event_reactor.h). make_reactor() picks one.
//
// Thread safety: a Reactor and its handler are used by the one thread that calls run();
// request_stop() may be called from any thread (and from a signal handler's flag check).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace boxoffice::net {

enum class IoBackend { kAuto, kUring, kEpoll };

// Every limit a reactor enforces, fixed when it starts.
struct ReactorOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7700;                  // 0: pick a free port (see Reactor::port())
  uint32_t connections_max = 10'000;     // per reactor; further accepts are closed at once
  uint32_t input_bytes_max = 1u << 20;   // unconsumed input per connection (a frame)
  uint32_t output_bytes_max = 4u << 20;  // unsent output per connection, then it is closed
  // No whole request received and no byte sent for this long: closed. Bytes of a partial
  // request do not count, so a client trickling a frame a byte at a time is closed too.
  int64_t idle_timeout_ms = 60'000;
  int cpu = -1;                          // pin the thread to this CPU; -1: no pinning
  // The kernel stamps each segment it receives (SO_TIMESTAMPNS) and on_data is told when the
  // newest of its bytes arrived, so the handler can tell how long requests queued in the
  // socket before the server read them. Costs a recvmsg instead of a recv.
  bool receive_timestamps = false;
};

using ConnectionId = uint64_t;  // unique for the reactor's life (slot index | generation)

// Bytes a handler queues for one connection; bounded by ReactorOptions::output_bytes_max.
class Output {
 public:
  virtual ~Output() = default;
  // Appends `bytes`; false (nothing appended) when the limit would be exceeded.
  virtual bool append(std::span<const uint8_t> bytes) = 0;
  virtual size_t pending_bytes() const = 0;
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(ConnectionId id) = 0;
  // `input` is every byte received and not yet consumed (leftover + new); `received_at_ns`
  // is when the kernel received the newest of them (CLOCK_REALTIME, ns), or 0 when unknown
  // (ReactorOptions::receive_timestamps off). Returns how many bytes were consumed (whole
  // frames); sets *close to close the connection after flushing.
  // `output` belongs to the connection and stays valid until its on_close: the handler may
  // keep it and append later (e.g. notifications from on_loop_turn, flushed the same turn).
  virtual size_t on_data(ConnectionId id, std::span<const uint8_t> input, int64_t received_at_ns,
                         Output& output, bool* close) = 0;
  virtual void on_close(ConnectionId id) = 0;
  // Once per loop turn, after all received data was handled and before output is flushed.
  virtual void on_loop_turn(int64_t now_ms) = 0;
  // The result of Reactor::datasync(cookie): 0 or -errno. On the loop thread, before the
  // output of that turn is flushed.
  virtual void on_datasync(uint64_t cookie, int result) {
    (void)cookie;
    (void)result;
  }
  // The reactor stops: the last moment to queue output (replies held for a journal sync)
  // before every connection is flushed and closed.
  virtual void on_stop() {}
  // Whether the handler still holds output for `id` that it will append later (replies
  // waiting for a journal sync): a closing connection is kept open, flushing, until it is
  // appended (or the idle timeout passes).
  virtual bool holds_output(ConnectionId id) const {
    (void)id;
    return false;
  }
};

class Reactor {
 public:
  virtual ~Reactor() = default;
  // Binds and listens; an error message on failure (address in use, permission...).
  virtual std::string start() = 0;
  // Runs the loop until request_stop(); then stops accepting, flushes and closes connections.
  virtual void run() = 0;
  virtual void request_stop() = 0;
  // Starts an fdatasync of `fd` whose result reaches ConnectionHandler::on_datasync(cookie).
  // io_uring runs it asynchronously (IORING_OP_FSYNC, DATASYNC), so the loop keeps serving
  // meanwhile; epoll runs it inline. One at a time; from the loop thread only.
  virtual void datasync(int fd, uint64_t cookie) = 0;
  virtual uint16_t port() const = 0;             // the bound port, after start()
  virtual const char* backend_name() const = 0;  // "io_uring" or "epoll"
};

// kAuto tries io_uring once and falls back to epoll, writing the reason to *why_fallback.
std::unique_ptr<Reactor> make_reactor(IoBackend backend, const ReactorOptions& options,
                                      ConnectionHandler* handler, std::string* why_fallback);

}  // namespace boxoffice::net
