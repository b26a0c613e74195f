#include "net/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <mutex>

#include "shm/check.h"

namespace boxoffice::net {

struct HttpServer::Worker {
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evconnlistener* listener = nullptr;
  HttpRoutes* routes = nullptr;
  ~Worker() {
    if (http != nullptr) evhttp_free(http);  // frees the bound listener too
    if (base != nullptr) event_base_free(base);
  }
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
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
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
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

void on_request(evhttp_request* raw, void* arg) {
  auto* routes = static_cast<HttpRoutes*>(arg);
  HttpRequest request;
  request.method = method_name(evhttp_request_get_command(raw));
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(raw);
  if (const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr) request.path = path;
  if (const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr) {
    request.query = query;
  }
  if (const char* auth =
          evhttp_find_header(evhttp_request_get_input_headers(raw), "Authorization")) {
    request.authorization = auth;
  }
  evbuffer* input = evhttp_request_get_input_buffer(raw);
  request.body.resize(evbuffer_get_length(input));
  if (!request.body.empty()) evbuffer_remove(input, request.body.data(), request.body.size());

  const HttpResponse response = routes->handle(request);
  evkeyvalq* headers = evhttp_request_get_output_headers(raw);
  evhttp_add_header(headers, "Content-Type", response.content_type.c_str());
  if (response.retry_after_s > 0) {
    evhttp_add_header(headers, "Retry-After", std::to_string(response.retry_after_s).c_str());
  }
  evbuffer* output = evbuffer_new();
  evbuffer_add(output, response.body.data(), response.body.size());
  evhttp_send_reply(raw, response.status, reason(response.status), output);
  evbuffer_free(output);
}

}  // namespace

HttpServer::HttpServer(const HttpOptions& options, HttpRoutes* routes)
    : options_(options), routes_(routes) {}

HttpServer::~HttpServer() { stop(); }

std::string HttpServer::start() {
  static std::once_flag threads_on;
  std::call_once(threads_on, [] { evthread_use_pthreads(); });
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.host.c_str(), &address.sin_addr) != 1) {
    return "HTTP host must be an IPv4 address, not \"" + options_.host + "\"";
  }
  port_ = options_.port;
  for (uint32_t i = 0; i < std::max(options_.threads, 1u); ++i) {
    auto worker = std::make_unique<Worker>();
    worker->routes = routes_;
    worker->base = event_base_new();
    worker->http = worker->base != nullptr ? evhttp_new(worker->base) : nullptr;
    if (worker->http == nullptr) return "cannot create an HTTP server";
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
    evhttp_bind_listener(worker->http, worker->listener);
    evhttp_set_max_headers_size(worker->http, options_.header_bytes_max);
    evhttp_set_max_body_size(worker->http, options_.body_bytes_max);
    evhttp_set_timeout(worker->http, options_.timeout_s);
    evhttp_set_allowed_methods(
        worker->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(worker->http, on_request, routes_);
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([base = worker->base] {
      // Runs until stop() breaks the loop (EVLOOP_NO_EXIT_ON_EMPTY: an idle server waits).
      event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    });
  }
  return "";
}

void HttpServer::stop() {
  for (auto& worker : workers_) event_base_loopbreak(worker->base);
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  workers_.clear();
}

}  // namespace boxoffice::net
