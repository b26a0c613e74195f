#include "net/http_connections.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

#include <string_view>

#include "net/reactor_support.h"
#include "shm/check.h"

namespace boxoffice::net {

namespace {

// What a connection over the cap is told before it is shut; the same JSON error map as the
// routes' BUSY answers (net/HTTP_API.md).
constexpr std::string_view kRefusal =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 101\r\n"
    "\r\n"
    R"({"error":{"code":9,"message":"too many HTTP connections; retry","name":"BUSY",)"
    R"("retry_after_ms":1000}})";

// A refused connection that still has not closed this long after its 503 is cut.
constexpr int64_t kRefusalGraceMs = 1000;
bool freed_by_evhttp(bufferevent* socket) {
  bufferevent_event_cb event_callback = nullptr;
  bufferevent_getcb(socket, nullptr, nullptr, &event_callback, nullptr);
  return event_callback == nullptr;  // bufferevent_free() clears the callbacks
}

}  // namespace

HttpConnections::HttpConnections(event_base* base, uint32_t connections_max,
                                 int64_t request_timeout_ms)
    : base_(base), connections_max_(connections_max), request_timeout_ms_(request_timeout_ms) {
  BOXOFFICE_ASSERT(connections_max_ > 0 && request_timeout_ms_ > 0);
  static_assert(kRefusal.size() - kRefusal.find("\r\n\r\n") - 4 == 101,
                "Content-Length of the canned 503");
}

HttpConnections::~HttpConnections() {
  for (auto& [socket, connection] : connections_) bufferevent_decref(socket);
}

bufferevent* HttpConnections::open(int64_t now_ms) {
  // As evhttp makes its own: the socket is closed when evhttp frees the connection, even
  // while this table still holds its reference.
  bufferevent* socket = bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE);
  if (socket == nullptr) return nullptr;
  bufferevent_incref(socket);  // the table's own reference; evhttp holds the first
  Connection& connection = connections_[socket];
  connection.since_ms = now_ms;
  connection.over_cap = connections_.size() > connections_max_;
  return socket;
}

bool HttpConnections::request_read(bufferevent* socket) {
  auto it = connections_.find(socket);
  if (it == connections_.end()) return false;
  if (it->second.state == State::kWaiting) it->second.state = State::kInRequest;
  return it->second.over_cap;
}

void HttpConnections::reply_given(bufferevent* socket, int64_t now_ms) {
  auto it = connections_.find(socket);
  if (it == connections_.end() || it->second.state != State::kInRequest) return;
  Connection& connection = it->second;
  connection.since_ms = now_ms;
  connection.state = State::kWaiting;
  if (connection.over_cap) {
    // The reply was a 503 with Connection: close: evhttp closes once it is written.
    connection.state = State::kRefused;
    refused_++;
  }
}

void HttpConnections::shut_down(bufferevent* socket, Connection& connection) {
  // Reads return the end of the stream at once: evhttp fails the connection and frees it,
  // resetting it if replies are stuck unread (no kernel memory is kept for them).
  connection.state = State::kShut;
  const evutil_socket_t fd = bufferevent_getfd(socket);
  if (fd < 0) return;
  if (evbuffer_get_length(bufferevent_get_output(socket)) > 0 || unsent_bytes(fd) > 0) {
    reset_on_close(fd);
  }
  ::shutdown(fd, SHUT_RDWR);
}

bool HttpConnections::past_deadline(const Connection& connection, int64_t now_ms) const {
  const int64_t waited_ms = now_ms - connection.since_ms;
  switch (connection.state) {
    case State::kWaiting:
      return !connection.over_cap && waited_ms >= request_timeout_ms_;
    case State::kRefused:
      return waited_ms >= kRefusalGraceMs;
    case State::kInRequest:
    case State::kShut:
      return false;
  }
  return false;
}

size_t HttpConnections::scan(int64_t now_ms) {
  scanned_at_ms_ = now_ms;
  due_.clear();
  size_t freed = 0;
  for (auto it = connections_.begin(); it != connections_.end();) {
    bufferevent* socket = it->first;
    Connection& connection = it->second;
    if (freed_by_evhttp(socket)) {
      bufferevent_decref(socket);  // the last reference: the bufferevent goes
      it = connections_.erase(it);
      freed++;
      continue;
    }
    if (connection.state == State::kWaiting && connection.over_cap) {
      // Told why, then the end of our stream; the client closes (or is cut after a grace).
      const evutil_socket_t fd = bufferevent_getfd(socket);
      if (fd >= 0) {
        ::send(fd, kRefusal.data(), kRefusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::shutdown(fd, SHUT_WR);
      }
      connection.state = State::kRefused;
      connection.since_ms = now_ms;
      refused_++;
    } else if (past_deadline(connection, now_ms)) {
      due_.push_back(socket);
    }
    ++it;
  }
  return freed;
}

size_t HttpConnections::sweep(int64_t now_ms) {
  const size_t freed = now_ms - scanned_at_ms_ >= kScanIntervalMs ? scan(now_ms) : 0;
  for (size_t shut_downs = 0; shut_downs < kShutDownsPerSweepMax && !due_.empty();) {
    bufferevent* socket = due_.back();
    due_.pop_back();
    auto it = connections_.find(socket);
    BOXOFFICE_ASSERT(it != connections_.end());  // only scan() erases, and it makes due_ anew
    // A request may have arrived since the scan, or evhttp may have freed it (the next scan
    // forgets it).
    if (freed_by_evhttp(socket) || !past_deadline(it->second, now_ms)) continue;
    shut_down(socket, it->second);
    shut_downs++;
  }
  return freed;
}

}  // namespace boxoffice::net
