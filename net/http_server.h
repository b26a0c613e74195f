// HttpServer: libevent's evhttp on a few threads of its own (DESIGN.md section 5), each with
// its event base and a listener bound with SO_REUSEPORT to the same address, so the kernel
// spreads connections. Requests are parsed by evhttp (bounded headers and body, timeouts) and
// handed to an HttpRoutes implementation as plain values.
//
// Thread safety: start() and stop() from one owner thread; HttpRoutes::handle runs on any of
// the server's threads at once and must be thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace boxoffice::net {

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (see HttpServer::port())
  uint32_t threads = 1;
  uint32_t header_bytes_max = 16 * 1024;
  uint32_t body_bytes_max = 1u << 20;  // larger bodies: 413
  int timeout_s = 30;                  // a request not read or written within: closed
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::string query;   // after '?', undecoded
  std::string body;
  std::string authorization;  // the Authorization header, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int retry_after_s = 0;  // > 0: a Retry-After header
};

class HttpRoutes {
 public:
  virtual ~HttpRoutes() = default;
  virtual HttpResponse handle(const HttpRequest& request) = 0;
};

class HttpServer {
 public:
  HttpServer(const HttpOptions& options, HttpRoutes* routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every thread's listener and starts the threads; an error message on failure.
  std::string start();
  void stop();  // stops accepting, lets each thread finish its turn, joins
  uint16_t port() const { return port_; }

 private:
  struct Worker;
  HttpOptions options_;
  HttpRoutes* routes_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

}  // namespace boxoffice::net
