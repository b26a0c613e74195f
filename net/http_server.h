// HttpServer: libevent's evhttp on a few threads of its own (DESIGN.md section 5), each with
// its event base and a listener bound with SO_REUSEPORT to the same address, so the kernel
// spreads connections. Requests are parsed by evhttp (bounded headers and body, timeouts) and
// handed to the thread's HttpRoutes as plain values.
//
// Deferred replies (group commit): a response may name the journal sequence it depends on
// (wait_sequence); it is held until the routes say that sequence is released (durable). After
// the requests of each pass of the loop (an event activated by each request runs after the
// callbacks already queued) and every tick the routes' on_turn() runs: that is where they
// write and fdatasync their journal once for all the pass's sales. A client that closes while
// its reply is held is harmless: evhttp detaches the request and frees it when replied to.
//
// Replies are written at the end of the pass that produced them (or released them), straight
// into the socket, instead of waiting for epoll to report it writable: two epoll_ctl and a
// pass of the loop fewer per request (bench/README.md, "HTTP adapter vs nginx").
//
// Streams: a response with a stream_id starts a chunked reply that stays open; each turn the
// routes write to their streams (poll_streams), each write one chunk, dropped when the client
// has more than stream_backlog_bytes_max unread. evhttp's close callback on the connection
// tells the routes when a client went; stop() ends every stream.
//
// CORS (HttpOptions::cors_origin): the Access-Control-* headers go on every reply, streams
// included, and preflights are answered by the server itself.
//
// Overload and errors: more than held_replies_max held replies, and every request once stop()
// has begun, are answered 503 without running; an accept() error (out of descriptors) pauses
// accepting for 100 ms instead of spinning. Connections (net/http_connections.h): at most
// connections_max per thread (more are answered 503 and closed), and each whole request must
// arrive within timeout_s, so trickling or idle clients cannot hold connections for ever.
//
// Thread safety: start() and stop() from one owner thread. Each HttpRoutes is called only by
// its own server thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace boxoffice::net {

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (see HttpServer::port())
  uint32_t header_bytes_max = 16 * 1024;
  uint32_t body_bytes_max = 1u << 20;  // larger bodies: 413
  // Each whole request must arrive within this of the connection's accept or its last reply
  // (keep-alive idling counts), and each read or write progress within it: else closed.
  int timeout_s = 30;
  uint32_t connections_max = 10'000;  // per thread; more are answered 503 and closed
  int64_t tick_ms = 10;               // HttpRoutes::on_turn at least this often
  uint32_t held_replies_max = 8192;   // per thread; further requests: 503 before they run
  // A stream's client may leave this much unread; further writes to it are dropped.
  uint32_t stream_backlog_bytes_max = 1u << 20;
  // Cross-origin requests from browsers (CORS): "" allows none (no CORS headers, OPTIONS is
  // the routes' business); else "*" or one origin, sent as Access-Control-Allow-Origin on
  // every reply, and OPTIONS preflights are answered 204 here without reaching the routes.
  std::string cors_origin;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query, undecoded
  std::string query;   // after '?', undecoded
  std::string body;
  std::string authorization;    // the Authorization header, "" when absent
  std::string idempotency_key;  // the Idempotency-Key header, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int retry_after_s = 0;                                     // > 0: a Retry-After header
  std::vector<std::pair<std::string, std::string>> headers;  // more headers (Allow, ...)
  uint64_t wait_sequence = 0;  // sent once HttpRoutes::released_sequence() reaches it
  // Nonzero: the reply is a stream the routes named so (server-sent events). The status,
  // headers and `body` are sent at once and the connection stays open; what follows comes from
  // HttpRoutes::poll_streams() until the client goes or the server stops (stream_closed()).
  uint64_t stream_id = 0;
};

class HttpRoutes {
 public:
  virtual ~HttpRoutes() = default;
  virtual HttpResponse handle(const HttpRequest& request) = 0;
  // Replies with wait_sequence up to this may be sent.
  virtual uint64_t released_sequence() const { return UINT64_MAX; }
  // After each pass of the loop that ran requests, while replies are held, and every tick.
  virtual void on_turn(int64_t now_ms) { (void)now_ms; }
  // The server stops: after this nothing runs (no more on_turn); replies still held afterwards
  // are answered 503.
  virtual void on_stop() {}
  // A request or connection was answered 503 without running (too many held replies, too
  // many connections).
  virtual void refused_busy() {}
  // A connection was accepted / closed (for the open-connection gauge).
  virtual void connection_opened() {}
  virtual void connection_closed() {}
  // Streams (HttpResponse::stream_id), once per turn: the routes write what each open stream
  // has new. write() returns false, dropping the bytes, when that client has more than
  // HttpOptions::stream_backlog_bytes_max unread (or is gone).
  using StreamWriter = std::function<bool(uint64_t stream_id, std::string_view bytes)>;
  virtual void poll_streams(int64_t now_ms, const StreamWriter& write) {
    (void)now_ms;
    (void)write;
  }
  // A stream's client went, or the server stops: nothing more is written to it.
  virtual void stream_closed(uint64_t stream_id) { (void)stream_id; }
};

class HttpServer {
 public:
  // One thread per element of `routes` (each used only by its thread; not owned).
  HttpServer(const HttpOptions& options, std::vector<HttpRoutes*> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every thread's listener and starts the threads; an error message on failure.
  std::string start();
  // Stops accepting, answers the held replies (after a last on_turn/on_stop), lets replies
  // in flight be written for a moment, joins.
  void stop();
  uint16_t port() const { return port_; }

  struct Worker;  // one thread's loop (internal)

 private:
  HttpOptions options_;
  std::vector<HttpRoutes*> routes_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

}  // namespace boxoffice::net
