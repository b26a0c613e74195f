// OpsRoutes: the operator's HTTP routes (DESIGN.md section 5): `GET /health` (liveness: 200
// while the HTTP thread answers) and `GET /ready` (503 while starting or draining, or while the
// journal cannot be written), both with the state of the journal, MariaDB and Redis; and
// `GET /metrics` (Prometheus text format: requests by method and outcome with latency
// histograms, connections, BUSY rejections, seats per event, journal and persister state).
// Anything else is 404; net/api_routes.h sends only these three paths here.
//
// Thread safety: handle() runs on every HTTP thread at once; everything it reads is atomic or
// guarded (engine counts, journal sequences, request stats, persister stats).
#pragma once

#include <atomic>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/engine.h"
#include "net/http_server.h"
#include "net/request_stats.h"

namespace boxoffice::persist {
class Persister;
class WorkerLog;
}  // namespace boxoffice::persist

namespace boxoffice::net {

struct OpsState {
  const Engine* engine = nullptr;
  std::vector<const persist::WorkerLog*> journals;  // by worker index (rpc workers, then HTTP)
  std::vector<const RequestStats*> rpc_stats;       // one per msgpack-rpc worker
  std::vector<const RequestStats*> http_stats;      // one per HTTP thread
  std::vector<const persist::Persister*> persisters;
  std::string io_backend;          // "io_uring" | "epoll"
  std::string durability;          // "journal" | "memory" | "db"
  std::atomic<bool> ready{false};  // serving (false while starting and once draining)
};

class OpsRoutes : public HttpRoutes {
 public:
  explicit OpsRoutes(const OpsState* state) : state_(state) {}
  HttpResponse handle(const HttpRequest& request) override;  // thread-safe

 private:
  bool checks(nlohmann::json* checks) const;
  HttpResponse health() const;
  HttpResponse ready() const;
  HttpResponse metrics() const;
  void requests(std::string* out) const;
  const OpsState* state_;
};

}  // namespace boxoffice::net
