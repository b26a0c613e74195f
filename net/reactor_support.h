// reactor_support: what both Reactor backends (net/event_reactor.cc, net/uring_reactor.cc)
// share: the clocks, the SO_REUSEPORT listening socket, thread pinning and small helpers.
// Thread safety: plain functions, callable from any thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace boxoffice::net {

// Connections an idle sweep closes in one loop turn at most; the rest wait for the next turns
// (at least one every 10 ms: 800 a second per worker when nothing else happens). A cohort of
// thousands timing out together (idle clients opened in one burst, and opened again as soon as
// they are cut) would otherwise hold the loop for long stretches of close work, and the live
// connections with it: beside 4,000 such idle connections a legitimate client's p99 was
// 1.3-1.8 ms with 64 per turn, 1.2-1.3 ms with 8 (bench/README.md, "Hostile clients").
inline constexpr uint32_t kIdleClosesPerTurnMax = 8;

// Wall-clock milliseconds, the engine's clock (hold deadlines): CLOCK_REALTIME_COARSE, a few
// ms of resolution and no system call. Every request and loop turn of a worker reads this one.
int64_t wall_clock_ms();
// Monotonic milliseconds (CLOCK_MONOTONIC_COARSE), for the reactors' own timeouts.
int64_t monotonic_ms();

// Binds and listens on host:port (port 0: any free port) with SO_REUSEADDR and SO_REUSEPORT,
// trying each address the host resolves to. On success *fd and *bound_port are set and the
// result is empty; otherwise it is the error.
std::string open_listener(const std::string& host, uint16_t port, bool nonblocking, int* fd,
                          uint16_t* bound_port);

// Pins the calling thread to `cpu` (nothing when cpu < 0); a failure is reported on stderr
// with `who` and is not fatal.
void pin_current_thread(int cpu, const char* who);

// Makes the next close() of `fd` reset the connection (SO_LINGER 0) instead of leaving unsent
// bytes to the kernel: for a peer closed for misbehaving (idle, not reading its replies, an
// oversized request), whose unread output would otherwise stay queued, and its socket alive,
// until the peer reads or the kernel gives up minutes later.
void reset_on_close(int fd);
// Bytes written to `fd` that the peer has not acknowledged yet (the kernel's send queue).
size_t unsent_bytes(int fd);

// Receive timestamps (ReactorOptions::receive_timestamps): the kernel stamps each segment
// received on `fd` and recvmsg() reports the newest stamp of the bytes it returned. On a
// listening socket it covers every socket accepted from it, from their first byte.
void enable_receive_timestamps(int fd);
// Room for that report in a recvmsg() control buffer.
inline constexpr size_t kReceiveTimestampControlBytes = 32;  // CMSG_SPACE(sizeof(timespec))
// The stamp a control message of recvmsg() carries (CLOCK_REALTIME ns), or 0 when it is not
// one (each backend walks its own control messages: recvmsg's, or io_uring's in its buffers).
int64_t receive_timestamp_ns(const cmsghdr& message);
// Now on the clock of those stamps.
int64_t realtime_ns();

size_t round_up_to_page(size_t bytes);
std::string errno_text(const char* what, int error);

}  // namespace boxoffice::net
