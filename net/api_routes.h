// ApiRoutes: everything one HTTP thread serves (net/HTTP_API.md): the /v1 JSON API, the CQRS
// ticketing platform's routes (net/cqrs_routes.h) and, through OpsRoutes, /health, /ready and
// /metrics.
//
// A /v1 request becomes the binary method of the same name: its path parameters and JSON body
// are packed as the method's params map (net/params_packer.h: SAX events straight into
// msgpack), run through this thread's own Dispatcher (the very code the msgpack-rpc workers
// run), and the msgpack response is written as JSON (net/msgpack_json.h) with an HTTP status
// for its error code. So both interfaces share one implementation of every method, its
// validation and its limits, and no JSON tree is built on the way.
//
// An HTTP thread is a worker of the engine like the msgpack-rpc ones: its own WorkerContext
// (worker index, timer wheel for the holds it makes), its own journal stream. on_turn()
// expires its holds and makes its staged journal records durable with one write and one
// fdatasync per loop turn (inline: an HTTP thread has no io_uring); replies wait for that
// exactly as binary replies do (HttpResponse::wait_sequence).
//
// Thread safety: one ApiRoutes per HTTP thread, called only by it; stats() may be read by any
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/engine.h"
#include "net/dispatcher.h"
#include "net/durability.h"
#include "net/http_server.h"
#include "net/ops_routes.h"
#include "net/params_packer.h"
#include "net/request_stats.h"
#include "net/seat_streams.h"

namespace boxoffice::persist {
class WorkerLog;
}

namespace boxoffice::net {

// The outcome of one method run for an HTTP route.
struct MethodCall {
  ErrorCode code = ErrorCode::kOk;
  nlohmann::json value;  // the result, or the error map ({code, name, message, ...})
};

// Runs binary methods for route handlers that are not a plain /v1 mapping (the CQRS routes).
class MethodCaller {
 public:
  virtual ~MethodCaller() = default;
  virtual MethodCall call(Method method, nlohmann::json params) = 0;
};

// The status code an outcome is answered with (`ok_status` when it is OK).
int http_status(ErrorCode code, int ok_status, bool authenticated);
int http_status(const MethodCall& call, int ok_status, bool authenticated);

class ApiRoutes : public HttpRoutes {
 public:
  // `ops` (shared by every thread, thread-safe) serves /health, /ready and /metrics.
  ApiRoutes(Engine* engine, WorkerContext* worker, DispatchOptions options, OpsRoutes* ops);

  // The thread's journal and how replies wait for it; none: memory only. Before serving.
  void set_journal(persist::WorkerLog* log, Durability durability);
  // Seat changes for GET /v1/events/{event}/changes (server-sent events); none: that route
  // answers 400, as `subscribe` does on a server without a feed. Before serving.
  void set_feed(SeatFeed* feed);

  HttpResponse handle(const HttpRequest& request) override;
  uint64_t released_sequence() const override;
  void on_turn(int64_t now_ms) override;
  void on_stop() override;
  void refused_busy() override { stats_.refused_busy(); }
  void connection_opened() override { stats_.connection_opened(); }
  void connection_closed() override { stats_.connection_closed(); }
  void poll_streams(int64_t now_ms, const StreamWriter& write) override;
  void stream_closed(uint64_t stream_id) override;

  const RequestStats& stats() const { return stats_; }

 private:
  class Caller;
  HttpResponse route(const HttpRequest& request, const std::vector<std::string>& parts,
                     Session* session);
  HttpResponse v1(const HttpRequest& request, const std::vector<std::string>& parts,
                  Session* session);
  std::optional<HttpResponse> pack_body(const std::string& body);
  // Runs the request in packer_ and answers with its result (ok_status) or error.
  HttpResponse run_packed(Method method, Session* session, int ok_status);
  // Decodes one packed msgpack-rpc request of `method` and runs it: its code, its response in
  // reply_; nullopt when the frame is refused (too deep or too large).
  std::optional<ErrorCode> dispatch(Method method, std::span<const uint8_t> packed,
                                    Session* session);
  MethodCall call(Method method, const nlohmann::json& params, Session* session);
  HttpResponse open_stream(const std::string& event);
  void sync_journal(int64_t now_ms);

  Engine* engine_;
  WorkerContext* worker_;
  Dispatcher dispatcher_;
  OpsRoutes* ops_;
  bool auth_required_;
  RequestStats stats_;
  ParamsPacker packer_;          // a /v1 request as msgpack
  std::vector<uint8_t> packed_;  // a CQRS route's request as msgpack
  ReplyBuffer reply_;            // the dispatcher's response
  msgpack::zone reply_zone_;     // the response as an object (its strings point into reply_)
  std::unique_ptr<SeatStreams> streams_;  // null: no feed
  persist::WorkerLog* log_ = nullptr;
  Durability durability_ = Durability::kMemory;
  int64_t next_sync_ms_ = 0;  // no journal sync before this (memory-mode pacing, retry backoff)
  int64_t sync_error_logged_at_ms_ = 0;
};

}  // namespace boxoffice::net
