// Transport: how a boxoffice-load worker moves bytes on its connections, completion style, so
// one worker loop drives both backends:
//   receive(c, space)  read once into `space`; a Completion{c, kReceive, bytes} follows (0: the
//                      peer closed; < 0: -errno). At most one receive per connection at a time.
//   send(c, bytes)     write `bytes` (kept unchanged by the caller until its completion); a
//                      Completion{c, kSend, bytes written} follows, possibly fewer than asked.
//                      At most one send per connection at a time.
//   wait(timeout, out) submits what was asked and returns the completions ready within timeout.
//   shut(c)            the connection is being dropped: pending operations end (their
//                      completions may still come and must be ignored); the caller closes the fd.
// Backends: io_uring (tools/load/uring_transport.h: one ring per worker, one recv and at most one
// send in flight per connection, every request of a loop turn submitted by one io_uring_enter)
// and epoll (tools/load/epoll_transport.h: level-triggered; a send writes at once, so a reply can
// leave in the same turn it was asked for). make_transport() picks one.
//
// Thread safety: none; a transport belongs to the one worker thread that created it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace boxoffice::load {

enum class IoChoice : uint8_t { kAuto, kUring, kEpoll };

struct Completion {
  enum Kind : uint8_t { kReceive, kSend };
  uint32_t connection = 0;
  Kind kind = kReceive;
  int32_t result = 0;  // bytes moved; receive 0: closed by the peer; < 0: -errno
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;  // "io_uring" or "epoll"
  virtual void add(uint32_t connection, int fd) = 0;
  virtual void receive(uint32_t connection, std::span<char> space) = 0;
  virtual void send(uint32_t connection, std::span<const char> bytes) = 0;
  virtual void shut(uint32_t connection) = 0;
  // Fills `out` with up to out.size() completions, waiting at most timeout_ns for the first;
  // returns how many (0 on timeout), or -errno on a failure of the backend itself.
  virtual int wait(int64_t timeout_ns, std::span<Completion> out) = 0;
};

// kUring: io_uring or nothing (null, *why says why); kAuto: io_uring when the kernel lets us
// set up a ring, epoll otherwise (*why then says why io_uring was not used); kEpoll: epoll.
// connections_max sizes the backend's queues.
std::unique_ptr<Transport> make_transport(IoChoice choice, uint32_t connections_max,
                                          std::string* why);

}  // namespace boxoffice::load
