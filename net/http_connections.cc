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
  Connection& connection = connections_[socket];  // stays where it is until erased
  connection.since_ms = now_ms;
  connection.over_cap = connections_.size() > connections_max_;
  // Freed with the bufferevent, which outlives the entry: the scan drops the last reference
  // before it erases the entry.
  if (evbuffer_add_cb(bufferevent_get_input(socket), on_input, &connection) == nullptr) {
    bufferevent_decref(socket);
    connections_.erase(socket);
    bufferevent_free(socket);
    return nullptr;
  }
  return socket;
}

void HttpConnections::on_input(evbuffer*, const evbuffer_cb_info* info, void* connection) {
  if (info->n_added > 0) static_cast<Connection*>(connection)->bytes_arrived = true;
}

bool HttpConnections::request_read(bufferevent* socket) {
  auto it = connections_.find(socket);
  if (it == connections_.end()) return false;
  Connection& connection = it->second;
  if (connection.state == State::kWaiting) connection.state = State::kInRequest;
  // Whole, so read (evhttp turns reading on itself when it writes the reply).
  connection.request_seen_ms = kNever;
  connection.paused_until_ms = kNever;
  connection.bytes_arrived = false;
  return connection.over_cap;
}

void HttpConnections::reply_given(bufferevent* socket, int64_t now_ms) {
  auto it = connections_.find(socket);
  if (it == connections_.end() || it->second.state != State::kInRequest) return;
  Connection& connection = it->second;
  connection.since_ms = now_ms;
  connection.state = State::kWaiting;
  // A pipelined request may already be here: its bytes count from now.
  connection.bytes_arrived = evbuffer_get_length(bufferevent_get_input(socket)) > 0;
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
  if (connection.paused_until_ms != kNever) resume_reading(socket, connection);
  const evutil_socket_t fd = bufferevent_getfd(socket);
  if (fd < 0) return;
  if (evbuffer_get_length(bufferevent_get_output(socket)) > 0 || unsent_bytes(fd) > 0) {
    reset_on_close(fd);
  }
  ::shutdown(fd, SHUT_RDWR);
}

void HttpConnections::resume_reading(bufferevent* socket, Connection& connection) {
  connection.paused_until_ms = kNever;
  bufferevent_enable(socket, EV_READ);
}

void HttpConnections::pace(bufferevent* socket, Connection& connection, int64_t now_ms) {
  BOXOFFICE_ASSERT(connection.state == State::kWaiting);
  if (connection.paused_until_ms != kNever) {
    if (now_ms >= connection.paused_until_ms) resume_due_.push_back(socket);
    return;
  }
  if (!connection.bytes_arrived) return;  // idle: nothing to read, nothing to pace
  if (connection.request_seen_ms == kNever) {
    connection.request_seen_ms = now_ms;
    return;
  }
  if (now_ms - connection.request_seen_ms < kTrickleGraceMs) return;
  bufferevent_disable(socket, EV_READ);
  connection.paused_until_ms = now_ms + kTrickleReadIntervalMs;
  paced_++;
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
  resume_due_.clear();
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
    } else if (connection.state == State::kWaiting && !connection.over_cap) {
      pace(socket, connection, now_ms);
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
  for (size_t resumed = 0; resumed < kReadsResumedPerSweepMax && !resume_due_.empty();) {
    bufferevent* socket = resume_due_.back();
    resume_due_.pop_back();
    auto it = connections_.find(socket);
    BOXOFFICE_ASSERT(it != connections_.end());  // as for due_
    // Its request may have been read since (a reply turned reading on), or it was shut down.
    if (freed_by_evhttp(socket) || it->second.paused_until_ms == kNever) continue;
    resume_reading(socket, it->second);
    resumed++;
  }
  return freed;
}

}  // namespace boxoffice::net
