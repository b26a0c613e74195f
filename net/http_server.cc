#include "net/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/http_connections.h"
#include "net/http_json.h"
#include "net/reactor_support.h"
#include "shm/check.h"

namespace boxoffice::net {

struct HttpServer::Worker {
  struct Held {
    evhttp_request* request;
    HttpResponse response;
  };
  const HttpOptions* options = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evconnlistener* listener = nullptr;
  HttpRoutes* routes = nullptr;
  std::unique_ptr<HttpConnections> connections;  // the cap and the whole-request deadline
  // Activated by each request: it runs after the callbacks already queued in this pass of the
  // loop (one priority for everything, so nothing can starve it).
  event* turn = nullptr;
  event* tick = nullptr;  // every tick_ms
  // Re-enables the listener after an accept error, or on the next pass of the loop after a
  // slice of accepts.
  event* accept_retry = nullptr;
  int stop_fd = -1;  // eventfd: HttpServer::stop() writes, the loop runs stop()
  event* stop_event = nullptr;
  bool turn_pending = false;
  bool stopping = false;
  int64_t accept_error_logged_at_ms = 0;
  uint32_t accepted_in_slice = 0;
  uint64_t refused_reported = 0;  // connections->refused() already told to the routes
  // The Date header of this second's replies, made once a second rather than by evhttp for
  // each reply (gmtime_r and a printf, ~3% of a hold's server CPU).
  char date[40] = {};
  int64_t date_s = -1;
  std::deque<Held> held;  // in arrival order
  // Connections given a reply since the last flush_replies() (a reference held on each).
  std::vector<bufferevent*> unflushed;
  // Open streams (HttpResponse::stream_id): their request, and the other way round from the
  // connection (evhttp's close callback names the connection).
  std::unordered_map<uint64_t, evhttp_request*> streams;
  std::unordered_map<evhttp_connection*, uint64_t> stream_of;
  evbuffer* chunk = nullptr;  // one stream write at a time (evhttp_send_reply_chunk drains it)

  ~Worker() {
    if (turn != nullptr) event_free(turn);
    if (tick != nullptr) event_free(tick);
    if (accept_retry != nullptr) event_free(accept_retry);
    if (stop_event != nullptr) event_free(stop_event);
    if (stop_fd >= 0) ::close(stop_fd);
    if (chunk != nullptr) evbuffer_free(chunk);
    for (bufferevent* connection : unflushed) bufferevent_decref(connection);
    if (http != nullptr) evhttp_free(http);  // frees the bound listener too
    connections.reset();                     // the last references to evhttp's bufferevents
    if (base != nullptr) event_base_free(base);
  }
  void schedule_turn() {
    if (turn_pending) return;
    turn_pending = true;
    event_active(turn, EV_TIMEOUT, 0);
  }
  void reply(evhttp_request* raw, bufferevent* socket, const HttpResponse& response);
  void start_stream(evhttp_request* raw, const HttpResponse& response);
  bool write_stream(uint64_t stream_id, std::string_view bytes);
  void forget_stream(evhttp_connection* connection);
  const char* date_header();
  void flush_replies();
  void sweep_connections(int64_t now_ms);
  void run_turn();
  void release();
  void stop();
};

namespace {

const char* method_name(evhttp_cmd_type type) {
  switch (type) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_TRACE:
      return "TRACE";
    case EVHTTP_REQ_CONNECT:
      return "CONNECT";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
  }
  return "?";
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Content";
    case 500:
      return "Internal Server Error";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

int64_t now_ms() {
  timeval now{};
  evutil_gettimeofday(&now, nullptr);
  return int64_t{now.tv_sec} * 1000 + now.tv_usec / 1000;
}

// What a browser needs to read replies across origins (HttpOptions::cors_origin).
void add_cors_headers(evkeyvalq* headers, const std::string& origin) {
  if (origin.empty()) return;
  evhttp_add_header(headers, "Access-Control-Allow-Origin", origin.c_str());
  evhttp_add_header(headers, "Access-Control-Expose-Headers",
                    "Location, Retry-After, X-Total-Count, Link");
}

// The answer to a CORS preflight: every method and request header the routes use, cached by
// the browser for 10 minutes.
HttpResponse cors_preflight() {
  HttpResponse response;
  response.status = 204;
  response.content_type.clear();
  response.headers = {
      {"Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE"},
      {"Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key"},
      {"Access-Control-Max-Age", "600"}};
  return response;
}

void send(evhttp_request* raw, const HttpResponse& response, const char* date,
          const std::string& cors_origin) {
  evkeyvalq* headers = evhttp_request_get_output_headers(raw);
  evhttp_add_header(headers, "Date", date);  // evhttp adds its own only when there is none
  if (!response.content_type.empty()) {
    evhttp_add_header(headers, "Content-Type", response.content_type.c_str());
  }
  add_cors_headers(headers, cors_origin);
  if (response.retry_after_s > 0) {
    evhttp_add_header(headers, "Retry-After", std::to_string(response.retry_after_s).c_str());
  }
  for (const auto& [name, value] : response.headers) {
    evhttp_add_header(headers, name.c_str(), value.c_str());
  }
  if (evhttp_request_get_command(raw) == EVHTTP_REQ_HEAD) {
    // The headers of the GET, no body (evhttp would send one).
    evhttp_add_header(headers, "Content-Length", std::to_string(response.body.size()).c_str());
  } else {
    // Into the request's own output buffer (no buffer to allocate or lend).
    evbuffer_add(evhttp_request_get_output_buffer(raw), response.body.data(), response.body.size());
  }
  evhttp_send_reply(raw, response.status, reason(response.status), nullptr);
}

HttpResponse unavailable(const std::string& message) {
  nlohmann::json error = error_map(ErrorCode::kBusy, message);
  error["retry_after_ms"] = 1000;
  HttpResponse response = json_response(503, {{"error", error}});
  response.retry_after_s = 1;
  return response;
}

// The headers the routes read, in one pass over the request's headers (evhttp_find_header
// compares every name, character by character, for each lookup). The first of repeated
// headers counts, as with evhttp_find_header.
void take_headers(const evkeyvalq& headers, HttpRequest* request) {
  constexpr std::string_view kAuthorization = "Authorization";
  constexpr std::string_view kIdempotencyKey = "Idempotency-Key";
  bool authorization_seen = false;
  bool idempotency_key_seen = false;
  for (const evkeyval* header = headers.tqh_first; header != nullptr;
       header = header->next.tqe_next) {
    const size_t name_bytes = std::strlen(header->key);
    if (!authorization_seen && name_bytes == kAuthorization.size() &&
        evutil_ascii_strcasecmp(header->key, kAuthorization.data()) == 0) {
      authorization_seen = true;
      request->authorization = header->value;
    } else if (!idempotency_key_seen && name_bytes == kIdempotencyKey.size() &&
               evutil_ascii_strcasecmp(header->key, kIdempotencyKey.data()) == 0) {
      idempotency_key_seen = true;
      request->idempotency_key = header->value;
    }
  }
}

bufferevent* socket_of(evhttp_request* raw) {
  evhttp_connection* connection = evhttp_request_get_connection(raw);
  return connection != nullptr ? evhttp_connection_get_bufferevent(connection) : nullptr;
}

void on_request(evhttp_request* raw, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  bufferevent* socket = socket_of(raw);
  if (worker->connections->request_read(socket)) {  // over the connection cap
    HttpResponse response = unavailable("too many HTTP connections; retry");
    response.headers.emplace_back("Connection", "close");
    worker->reply(raw, socket, response);
    worker->schedule_turn();
    return;
  }
  if (worker->stopping) {
    HttpResponse response = unavailable("the server is stopping");
    response.headers.emplace_back("Connection", "close");
    worker->reply(raw, socket, response);
    worker->schedule_turn();
    return;
  }
  if (evhttp_request_get_command(raw) == EVHTTP_REQ_OPTIONS &&
      !worker->options->cors_origin.empty()) {
    worker->reply(raw, socket, cors_preflight());
    worker->schedule_turn();
    return;
  }
  if (worker->held.size() >= worker->options->held_replies_max) {
    // Replies wait for the journal (or MariaDB in db mode): refuse before running anything,
    // as a request that ran could not be taken back.
    worker->routes->refused_busy();
    worker->reply(raw, socket, unavailable("too many replies waiting for the journal; retry"));
    worker->schedule_turn();
    return;
  }
  HttpRequest request;
  request.method = method_name(evhttp_request_get_command(raw));
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(raw);
  if (const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr) request.path = path;
  if (const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr) {
    request.query = query;
  }
  take_headers(*evhttp_request_get_input_headers(raw), &request);
  evbuffer* input = evhttp_request_get_input_buffer(raw);
  request.body.resize(evbuffer_get_length(input));
  if (!request.body.empty()) evbuffer_remove(input, request.body.data(), request.body.size());

  HttpResponse response = worker->routes->handle(request);
  if (response.stream_id != 0) {
    worker->start_stream(raw, response);  // shows no state: it does not wait for the journal
  } else if (response.wait_sequence > worker->routes->released_sequence()) {
    worker->held.push_back({raw, std::move(response)});
  } else {
    worker->reply(raw, socket, response);
  }
  worker->schedule_turn();
}

void on_turn(evutil_socket_t, short, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  worker->turn_pending = false;
  if (worker->stopping) {
    worker->flush_replies();  // the 503s of stopping; the routes have stopped
  } else {
    worker->run_turn();
  }
}

void on_tick(evutil_socket_t, short, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  worker->run_turn();
  worker->sweep_connections(monotonic_ms());  // a few per tick (HttpConnections)
}

// evconnlistener accepts until the backlog is empty, unless its callback disables it: a storm
// of a thousand connections (idle clients reconnecting together) would be a stretch of accept
// work that every open connection's request waits behind. Accepting rests for a pass of the loop
// after each kAcceptsPerSliceMax, so requests already read are served between the slices.
constexpr uint32_t kAcceptsPerSliceMax = 16;

bufferevent* on_new_connection(event_base*, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  if (++worker->accepted_in_slice == kAcceptsPerSliceMax) {
    worker->accepted_in_slice = 0;
    evconnlistener_disable(worker->listener);  // after this connection
    const timeval next_pass{0, 0};
    event_add(worker->accept_retry, &next_pass);
  }
  bufferevent* socket = worker->connections->open(monotonic_ms());
  if (socket != nullptr) worker->routes->connection_opened();
  return socket;
}

// accept() failed, most likely out of file descriptors: stop accepting for a moment instead of
// spinning on the error (and say so once in a while).
void on_accept_error(evconnlistener* listener, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  const int error = EVUTIL_SOCKET_ERROR();
  evconnlistener_disable(listener);
  const timeval pause{0, 100 * 1000};
  event_add(worker->accept_retry, &pause);
  if (now_ms() - worker->accept_error_logged_at_ms >= 10'000) {
    worker->accept_error_logged_at_ms = now_ms();
    std::fprintf(stderr, "HTTP accept: %s; not accepting for 100 ms at a time while it lasts\n",
                 evutil_socket_error_to_string(error));
  }
}

void on_accept_retry(evutil_socket_t, short, void* arg) {
  auto* worker = static_cast<HttpServer::Worker*>(arg);
  if (!worker->stopping) evconnlistener_enable(worker->listener);
}

void on_stop(evutil_socket_t, short, void* arg) { static_cast<HttpServer::Worker*>(arg)->stop(); }

// evhttp frees a streaming connection (its client went, or a write failed or timed out).
void on_stream_connection_closed(evhttp_connection* connection, void* arg) {
  static_cast<HttpServer::Worker*>(arg)->forget_stream(connection);
}

}  // namespace

const char* HttpServer::Worker::date_header() {
  timeval now{};
  evutil_gettimeofday(&now, nullptr);
  if (now.tv_sec != date_s) {
    date_s = now.tv_sec;
    tm utc{};
    const time_t seconds = now.tv_sec;
    gmtime_r(&seconds, &utc);
    // The IMF-fixdate of RFC 9110, as evhttp writes it (English names whatever the locale).
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::snprintf(date, sizeof date, "%s, %02d %s %d %02d:%02d:%02d GMT", kDays[utc.tm_wday],
                  utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                  utc.tm_sec);
  }
  return date;
}

// `socket` is the request's connection, found before the send (a request whose client has gone
// is freed by it), or null when the client has gone.
void HttpServer::Worker::reply(evhttp_request* raw, bufferevent* socket,
                               const HttpResponse& response) {
  send(raw, response, date_header(), options->cors_origin);
  if (socket != nullptr) {
    connections->reply_given(socket, monotonic_ms());
    bufferevent_incref(socket);  // flush_replies() may find the connection closed, not freed
    unflushed.push_back(socket);
  }
}

// evhttp writes a reply only once epoll reports the socket writable: an epoll_ctl to add write
// interest, a pass of the loop, the writev, an epoll_ctl to drop the interest. Instead the
// replies of this pass are written here, at its end, as nginx and Redis do: a reply that fits
// in the socket buffer (all of them, but for a slow reader) is written at once, and evhttp's
// write-done callback (finish the request, read the next one) runs as if its own write had
// done it. The write interest added and dropped within the pass cancel out in libevent's
// changelist: no epoll_ctl for it. (The read interest evhttp drops when a request is complete
// and restores here still costs one epoll_ctl MOD with unchanged events: the changelist does
// not cancel a drop followed by a restore.) A reply that does not fit, or an error, is left to
// evhttp's own write.
void HttpServer::Worker::flush_replies() {
  for (bufferevent* socket : unflushed) {
    evbuffer* output = bufferevent_get_output(socket);
    const evutil_socket_t fd = bufferevent_getfd(socket);
    // Still waiting to write (not closed or failed since the reply was given to it).
    if (fd >= 0 && (bufferevent_get_enabled(socket) & EV_WRITE) != 0 &&
        evbuffer_get_length(output) > 0) {
      if (evbuffer_write(output, fd) > 0 && evbuffer_get_length(output) == 0) {
        bufferevent_trigger(socket, EV_WRITE, 0);  // evhttp: the reply is written
      }
    }
    bufferevent_decref(socket);  // may free a connection that evhttp closed meanwhile
  }
  unflushed.clear();
}

void HttpServer::Worker::start_stream(evhttp_request* raw, const HttpResponse& response) {
  evhttp_connection* connection = evhttp_request_get_connection(raw);
  BOXOFFICE_ASSERT(connection != nullptr);  // the request was just read from it
  evkeyvalq* headers = evhttp_request_get_output_headers(raw);
  evhttp_add_header(headers, "Date", date_header());
  evhttp_add_header(headers, "Content-Type", response.content_type.c_str());
  add_cors_headers(headers, options->cors_origin);
  for (const auto& [name, value] : response.headers) {
    evhttp_add_header(headers, name.c_str(), value.c_str());
  }
  evhttp_send_reply_start(raw, response.status, reason(response.status));
  // While it replies evhttp keeps reading, to see the client close; its read timeout would cut
  // a stream that has nothing to say for timeout_s. Only the write timeout stays: a client
  // that stops reading is cut once writes make no progress for that long.
  const timeval write_timeout{options->timeout_s + 1, 0};
  bufferevent* socket = evhttp_connection_get_bufferevent(connection);
  bufferevent_set_timeouts(socket, nullptr, &write_timeout);
  // What the client sends meanwhile piles up unread (evhttp reads the next request only after
  // this reply): past header_bytes_max the socket is no longer read.
  bufferevent_setwatermark(socket, EV_READ, 0, options->header_bytes_max);
  streams.emplace(response.stream_id, raw);
  stream_of[connection] = response.stream_id;
  evhttp_connection_set_closecb(connection, on_stream_connection_closed, this);
  write_stream(response.stream_id, response.body);
}

bool HttpServer::Worker::write_stream(uint64_t stream_id, std::string_view bytes) {
  auto it = streams.find(stream_id);
  if (it == streams.end()) return false;
  evhttp_connection* connection = evhttp_request_get_connection(it->second);
  bufferevent* socket =
      connection != nullptr ? evhttp_connection_get_bufferevent(connection) : nullptr;
  if (socket == nullptr || evbuffer_get_length(bufferevent_get_output(socket)) + bytes.size() >
                               options->stream_backlog_bytes_max) {
    return false;
  }
  evbuffer_add(chunk, bytes.data(), bytes.size());
  evhttp_send_reply_chunk(it->second, chunk);  // framed as one chunk; evhttp writes it
  return true;
}

void HttpServer::Worker::forget_stream(evhttp_connection* connection) {
  auto it = stream_of.find(connection);
  if (it == stream_of.end()) return;  // ended by stop(), or never a stream
  routes->stream_closed(it->second);
  streams.erase(it->second);
  stream_of.erase(it);
}

void HttpServer::Worker::sweep_connections(int64_t now_ms) {
  for (size_t freed = connections->sweep(now_ms); freed > 0; freed--) routes->connection_closed();
  for (; refused_reported < connections->refused(); refused_reported++) routes->refused_busy();
}

void HttpServer::Worker::release() {
  const uint64_t released = routes->released_sequence();
  while (!held.empty() && held.front().response.wait_sequence <= released) {
    // Looked up now: the client may have gone while the reply was held.
    reply(held.front().request, socket_of(held.front().request), held.front().response);
    held.pop_front();
  }
  // Held replies wait for non-decreasing sequences (one journal per thread): the rest wait on.
}

void HttpServer::Worker::run_turn() {
  routes->on_turn(now_ms());
  if (!streams.empty()) {
    routes->poll_streams(monotonic_ms(), [this](uint64_t stream_id, std::string_view bytes) {
      return write_stream(stream_id, bytes);
    });
  }
  release();
  flush_replies();
  if (!held.empty()) {
    // Still waiting (a failed fdatasync, or MariaDB in db mode): look again shortly.
    const timeval soon{0, 1000};
    event_add(turn, &soon);
    turn_pending = true;
  }
}

void HttpServer::Worker::stop() {
  stopping = true;  // requests from here on are answered 503 without running
  evconnlistener_disable(listener);
  event_del(tick);
  event_del(turn);
  turn_pending = false;  // from here on the turn only flushes replies (on_turn)
  event_del(accept_retry);
  routes->on_stop();
  release();
  for (Held& h : held) {
    reply(h.request, socket_of(h.request),
          unavailable("stopping before this request's journal record was durable; "
                      "its outcome is unknown: retry with the same idempotency key"));
  }
  held.clear();
  flush_replies();
  for (const auto& [stream_id, request] : streams) {
    routes->stream_closed(stream_id);
    evhttp_send_reply_end(request);  // the last chunk: the client sees the stream end
  }
  streams.clear();
  stream_of.clear();
  // Let the replies just sent be written out, then leave the loop.
  const timeval flush{0, 200 * 1000};
  event_base_loopexit(base, &flush);
}

HttpServer::HttpServer(const HttpOptions& options, std::vector<HttpRoutes*> routes)
    : options_(options), routes_(std::move(routes)) {
  BOXOFFICE_ASSERT(!routes_.empty());
}

HttpServer::~HttpServer() { stop(); }

std::string HttpServer::start() {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.host.c_str(), &address.sin_addr) != 1) {
    return "HTTP host must be an IPv4 address, not \"" + options_.host + "\"";
  }
  port_ = options_.port;
  for (HttpRoutes* routes : routes_) {
    auto worker = std::make_unique<Worker>();
    worker->options = &options_;
    worker->routes = routes;
    // Changes to a descriptor's interest within one pass of the loop are merged into one
    // epoll_ctl: a request costs 2 instead of 4 (bench/README.md, "HTTP adapter vs nginx").
    event_config* config = event_config_new();
    event_config_set_flag(config, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    // Only this thread touches the base (stop() wakes it through an eventfd): no locks.
    event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
    worker->base = event_base_new_with_config(config);
    event_config_free(config);
    if (worker->base == nullptr) return "cannot create an event base";
    worker->http = evhttp_new(worker->base);
    worker->connections = std::make_unique<HttpConnections>(worker->base, options_.connections_max,
                                                            int64_t{options_.timeout_s} * 1000);
    worker->unflushed.reserve(256);  // grows only past 256 replies in one loop pass
    worker->chunk = evbuffer_new();
    worker->turn = event_new(worker->base, -1, 0, on_turn, worker.get());
    worker->tick = event_new(worker->base, -1, EV_PERSIST, on_tick, worker.get());
    worker->accept_retry = event_new(worker->base, -1, 0, on_accept_retry, worker.get());
    worker->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    worker->stop_event = worker->stop_fd >= 0 ? event_new(worker->base, worker->stop_fd, EV_READ,
                                                          on_stop, worker.get())
                                              : nullptr;
    if (worker->http == nullptr || worker->turn == nullptr || worker->chunk == nullptr ||
        worker->tick == nullptr || worker->accept_retry == nullptr ||
        worker->stop_event == nullptr) {
      return "cannot create an HTTP server";
    }
    event_add(worker->stop_event, nullptr);
    address.sin_port = htons(port_);
    worker->listener = evconnlistener_new_bind(
        worker->base, nullptr, nullptr,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
        1024, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (worker->listener == nullptr) {
      return "cannot listen on " + options_.host + ":" + std::to_string(port_) + ": " +
             std::strerror(errno);
    }
    if (port_ == 0) {  // the first listener picked it; the others share it
      sockaddr_in bound{};
      socklen_t length = sizeof bound;
      getsockname(evconnlistener_get_fd(worker->listener), reinterpret_cast<sockaddr*>(&bound),
                  &length);
      port_ = ntohs(bound.sin_port);
    }
    evconnlistener_set_error_cb(worker->listener, on_accept_error);
    evhttp_bind_listener(worker->http, worker->listener);
    evhttp_set_max_headers_size(worker->http, options_.header_bytes_max);
    evhttp_set_max_body_size(worker->http, options_.body_bytes_max);
    // One second more than the whole-request deadline (HttpConnections), which thus comes
    // first: it resets a connection whose replies are stuck unread, where evhttp's own timeout
    // would close it in order and leave the unread replies queued in the kernel for minutes.
    evhttp_set_timeout(worker->http, options_.timeout_s + 1);
    evhttp_set_allowed_methods(worker->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT |
                                                 EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(worker->http, on_request, worker.get());
    evhttp_set_bevcb(worker->http, on_new_connection, worker.get());
    const timeval tick{options_.tick_ms / 1000, static_cast<int>(options_.tick_ms % 1000) * 1000};
    event_add(worker->tick, &tick);
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([base = worker->base] {
      // Runs until stop() ends the loop (EVLOOP_NO_EXIT_ON_EMPTY: an idle server waits).
      event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    });
  }
  return "";
}

void HttpServer::stop() {
  if (!threads_.empty()) {
    for (auto& worker : workers_) {
      const uint64_t one = 1;
      BOXOFFICE_ASSERT(::write(worker->stop_fd, &one, sizeof one) == sizeof one);
    }
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  workers_.clear();
}

}  // namespace boxoffice::net
