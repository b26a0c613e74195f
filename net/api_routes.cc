#include "net/api_routes.h"

#include <event2/http.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/json_document.h"
#include "net/cqrs_routes.h"
#include "net/http_json.h"
#include "net/http_query.h"
#include "net/msgpack_json.h"
#include "net/reactor_support.h"
#include "net/rpc_request.h"
#include "persist/worker_log.h"
#include "shm/check.h"

namespace boxoffice::net {
namespace {

using nlohmann::json;

constexpr uint32_t kBodyDepthMax = 12;          // an event document with its layout fits
constexpr int64_t kSyncRetryMs = 100;           // after a failed journal write or fdatasync
constexpr int64_t kSyncErrorLogEveryMs = 5000;  // one log line per this while it keeps failing
constexpr int64_t kMemorySyncIntervalMs = 10;   // --durability memory: nothing waits for it
// A change stream sent nothing this long gets a comment line (proxies, clients that went).
constexpr int64_t kStreamKeepAliveMs = 15'000;

// Path segments, percent-decoded; empty ones (a doubled or trailing '/') dropped.
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  parts.reserve(6);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) {
      const std::string_view raw(path.data() + start, end - start);
      if (raw.find('%') == std::string_view::npos) {
        parts.emplace_back(raw);  // nothing to decode (evhttp_uridecode would copy it as is)
      } else {
        const std::string segment(raw);
        size_t length = 0;
        char* decoded = evhttp_uridecode(segment.c_str(), 0, &length);
        parts.emplace_back(decoded != nullptr ? std::string(decoded, length) : segment);
        std::free(decoded);
      }
    }
    start = end + 1;
  }
  return parts;
}

bool parse_bool(std::string_view text, bool* value) {
  if (text != "true" && text != "1" && text != "false" && text != "0") return false;
  *value = text == "true" || text == "1";
  return true;
}

// Copies query parameters into `params`: integers and booleans by name. False with *error.
bool take_query(const Query& query, std::initializer_list<const char*> ints,
                std::initializer_list<const char*> bools,
                std::initializer_list<const char*> strings, json* params, std::string* error) {
  for (const char* name : ints) {
    if (const char* text = query.get(name)) {
      int64_t value = 0;
      if (!parse_int(text, &value)) {
        *error = std::string("query parameter \"") + name + "\" must be an integer";
        return false;
      }
      (*params)[name] = value;
    }
  }
  for (const char* name : bools) {
    if (const char* text = query.get(name)) {
      bool value = false;
      if (!parse_bool(text, &value)) {
        *error = std::string("query parameter \"") + name + "\" must be true or false";
        return false;
      }
      (*params)[name] = value;
    }
  }
  for (const char* name : strings) {
    if (const char* text = query.get(name)) (*params)[name] = text;
  }
  return true;
}

// The CQRS platform's health routes: public, and they show no seat state.
bool is_health_route(const std::vector<std::string>& parts) {
  if (parts.size() == 4) {
    return parts[0] == "query" && parts[1] == "api" && parts[2] == "v1" && parts[3] == "health";
  }
  return parts.size() == 2 && parts[1] == "health" &&
         (parts[0] == "purchase" || parts[0] == "query" || parts[0] == "events");
}

std::string bearer_key(const std::string& authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return "";
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return "";
  }
  return authorization.substr(kScheme.size());
}

// Binary values (availability's free_bitmap) have no JSON form: base64 text.
std::string base64(const std::vector<uint8_t>& bytes) {
  std::string out;
  append_base64(bytes, &out);
  return out;
}

void binary_to_base64(json* value) {
  if (value->is_binary()) {
    *value = base64(value->get_binary());
  } else if (value->is_structured()) {
    for (json& child : *value) binary_to_base64(&child);
  }
}

}  // namespace

int http_status(const MethodCall& call, int ok_status, bool authenticated) {
  return http_status(call.code, ok_status, authenticated);
}

int http_status(ErrorCode code, int ok_status, bool authenticated) {
  switch (code) {
    case ErrorCode::kOk:
      return ok_status;
    case ErrorCode::kBadRequest:
      return 400;
    case ErrorCode::kUnauthorized:
      return authenticated ? 403 : 401;
    case ErrorCode::kNotFound:
    case ErrorCode::kHoldNotFound:
      return 404;
    case ErrorCode::kSeatTaken:
    case ErrorCode::kEventClosed:
      return 409;
    case ErrorCode::kHoldExpired:
      return 410;
    case ErrorCode::kLimitExceeded:
      return 422;
    case ErrorCode::kBusy:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

class ApiRoutes::Caller : public MethodCaller {
 public:
  Caller(ApiRoutes* routes, Session* session) : routes_(routes), session_(session) {}
  MethodCall call(Method method, json params) override {
    return routes_->call(method, params, session_);
  }

 private:
  ApiRoutes* routes_;
  Session* session_;
};

ApiRoutes::ApiRoutes(Engine* engine, WorkerContext* worker, DispatchOptions options, OpsRoutes* ops)
    : engine_(engine),
      worker_(worker),
      dispatcher_(engine, worker, options),
      ops_(ops),
      auth_required_(!options.api_keys.empty()) {
  dispatcher_.set_stats(&stats_);
}

void ApiRoutes::set_journal(persist::WorkerLog* log, Durability durability) {
  log_ = log;
  durability_ = log == nullptr ? Durability::kMemory : durability;
}

uint64_t ApiRoutes::released_sequence() const {
  if (durability_ == Durability::kMemory) return UINT64_MAX;
  const uint64_t durable = log_->durable_sequence();
  return durability_ == Durability::kDb ? std::min(durable, log_->persisted_sequence()) : durable;
}

void ApiRoutes::on_turn(int64_t now_ms) {
  engine_->expire_due(*worker_, now_ms, [this](int64_t late_ms) { stats_.hold_expired(late_ms); });
  sync_journal(now_ms);
}

void ApiRoutes::set_feed(SeatFeed* feed) {
  streams_ = std::make_unique<SeatStreams>(
      feed, &dispatcher_, engine_->table().geometry().events_max, kStreamKeepAliveMs);
}

// The HTTP form of `subscribe`: its checks, then a stream instead of notifications.
HttpResponse ApiRoutes::open_stream(const std::string& event) {
  uint32_t event_index = 0;
  HttpResponse response;
  if (streams_ == nullptr) {
    response = error_response(400, ErrorCode::kBadRequest, "subscriptions are off on this server");
  } else if (!engine_->find_event(event, &event_index)) {
    response = error_response(404, ErrorCode::kNotFound, "no such event");
  } else if (const uint64_t id = streams_->open(event_index, monotonic_ms()); id == 0) {
    response = error_response(503, ErrorCode::kBusy, "too many change streams on this thread");
    response.retry_after_s = 1;
  } else {
    response.stream_id = id;
    response.content_type = "text/event-stream";
    response.headers.emplace_back("Cache-Control", "no-cache");
    response.body = SeatStreams::kGreeting;
  }
  stats_.record(Method::kSubscribe,
                response.stream_id != 0  ? ErrorCode::kOk
                : response.status == 404 ? ErrorCode::kNotFound
                : response.status == 503 ? ErrorCode::kBusy
                                         : ErrorCode::kBadRequest,
                0);
  return response;
}

void ApiRoutes::poll_streams(int64_t now_ms, const StreamWriter& write) {
  if (streams_ != nullptr) streams_->poll(now_ms, write);
}

void ApiRoutes::stream_closed(uint64_t stream_id) {
  if (streams_ != nullptr) streams_->close(stream_id);
}

void ApiRoutes::on_stop() {
  if (log_ == nullptr) return;
  std::string error;
  if (!log_->sync_now(&error)) {
    std::fprintf(stderr, "journal %s: final sync failed: %s\n", log_->directory().c_str(),
                 error.c_str());
  }
}

// Group commit: the records staged by this pass's requests, one write() and one fdatasync,
// inline (an HTTP thread has no io_uring). In memory mode nothing waits for it, so it runs at
// most every kMemorySyncIntervalMs; after a failure, not before kSyncRetryMs.
void ApiRoutes::sync_journal(int64_t now_ms) {
  if (log_ == nullptr || now_ms < next_sync_ms_) return;
  if (log_->appended_sequence() == log_->durable_sequence() && !log_->failed()) return;
  const uint64_t started_ns = monotonic_ns();
  std::string error;
  if (log_->sync_now(&error)) {
    stats_.journal_synced(monotonic_ns() - started_ns);
    next_sync_ms_ = durability_ == Durability::kMemory ? now_ms + kMemorySyncIntervalMs : 0;
    return;
  }
  next_sync_ms_ = now_ms + kSyncRetryMs;
  if (now_ms - sync_error_logged_at_ms_ >= kSyncErrorLogEveryMs) {
    sync_error_logged_at_ms_ = now_ms;
    std::fprintf(stderr, "journal %s: %s; HTTP requests refused (503) until it recovers\n",
                 log_->directory().c_str(), error.c_str());
  }
}

HttpResponse ApiRoutes::handle(const HttpRequest& request) {
  const std::vector<std::string> parts = split_path(request.path);
  // Probes answer at once, even while the journal is failing (that is what /ready reports).
  if (parts.size() == 1 && (parts[0] == "health" || parts[0] == "ready" || parts[0] == "metrics")) {
    HttpRequest probe = request;
    probe.path = "/" + parts[0];
    return ops_->handle(probe);
  }
  if (log_ != nullptr && durability_ != Durability::kMemory && log_->failed() &&
      !is_health_route(parts)) {
    // Every reply would wait for the journal to recover: say so at once instead.
    stats_.refused_busy();
    HttpResponse response = error_response(
        503, ErrorCode::kBusy, "the sales journal cannot be written (" + log_->last_error() + ")");
    response.retry_after_s = 1;
    return response;
  }
  Session session;
  HttpResponse response = route(request, parts, &session);
  // Like a binary reply: nothing that may show a change still undurable leaves before it is.
  if (durability_ != Durability::kMemory && !is_health_route(parts)) {
    response.wait_sequence = log_->appended_sequence();
  }
  return response;
}

HttpResponse ApiRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                              Session* session) {
  if (auth_required_ && !is_health_route(parts)) {
    session->role = dispatcher_.role_of(bearer_key(request.authorization));
    if (session->role == ClientRole::kNone) {
      HttpResponse response = error_response(
          401, ErrorCode::kUnauthorized,
          request.authorization.empty() ? "send Authorization: Bearer <api key>" : "unknown key");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
  }
  if (!parts.empty() && parts[0] == "v1") return v1(request, parts, session);
  Caller caller(this, session);
  HttpResponse response;
  if (handle_cqrs(request, parts, *engine_, caller, &response)) return response;
  return error_response(404, ErrorCode::kNotFound, "no such route: " + request.path);
}

HttpResponse ApiRoutes::v1(const HttpRequest& request, const std::vector<std::string>& parts,
                           Session* session) {
  const std::string method = request.method == "HEAD" ? "GET" : request.method;
  const size_t n = parts.size();
  auto is = [&](size_t i, const char* word) { return n > i && parts[i] == word; };

  // Which method the route runs, with which status on success; "" when no route matches.
  struct Target {
    Method method = Method::kUnknown;
    int ok_status = 200;
    const char* allow = "";  // the route's methods, for 405
    bool allowed = false;
  } t;
  auto route = [&](const char* verb, Method m, int ok_status = 200) {
    if (t.method == Method::kUnknown && method == verb) {
      t.method = m;
      t.ok_status = ok_status;
      t.allowed = true;
    }
  };
  if (n == 4 && is(1, "events") && is(3, "changes")) {
    if (request.method == "GET") return open_stream(parts[2]);
    HttpResponse response = error_response(405, ErrorCode::kBadRequest,
                                           request.method + " is not allowed here; use GET");
    response.headers.emplace_back("Allow", "GET");
    return response;
  }
  if (n == 2 && is(1, "ping")) {
    t.allow = "GET";
    route("GET", Method::kPing);
  } else if (n == 2 && is(1, "events")) {
    t.allow = "GET, POST";
    route("GET", Method::kEventList);
    route("POST", Method::kEventCreate, 201);
  } else if (n == 3 && is(1, "events")) {
    t.allow = "GET";
    route("GET", Method::kEventGet);
  } else if (n == 4 && is(1, "events") && is(3, "stats")) {
    t.allow = "GET";
    route("GET", Method::kEventStats);
  } else if (n == 4 && is(1, "events") && is(3, "availability")) {
    t.allow = "GET";
    route("GET", Method::kAvailability);
  } else if ((n == 4 || n == 5) && is(1, "events") && is(3, "seats")) {
    t.allow = "GET";
    route("GET", Method::kSeatGet);
  } else if (n == 4 && is(1, "events") && is(3, "holds")) {
    t.allow = "POST";
    route("POST", Method::kHold, 201);
  } else if (n == 5 && is(1, "events") && is(3, "holds") && is(4, "best")) {
    t.allow = "POST";
    route("POST", Method::kHoldBest, 201);
  } else if (n == 4 && is(1, "events") && is(3, "tickets")) {
    t.allow = "POST";
    route("POST", Method::kBuy, 201);
  } else if (n == 3 && is(1, "holds")) {
    t.allow = "DELETE";
    route("DELETE", Method::kHoldRelease);
  } else if (n == 4 && is(1, "holds") && is(3, "extend")) {
    t.allow = "POST";
    route("POST", Method::kHoldExtend);
  } else if (n == 4 && is(1, "holds") && is(3, "confirm")) {
    t.allow = "POST";
    route("POST", Method::kHoldConfirm, 201);
  } else if (n == 3 && is(1, "tickets")) {
    t.allow = "GET";
    route("GET", Method::kTicketGet);
  } else if (n == 4 && is(1, "tickets") && is(3, "void")) {
    t.allow = "POST";
    route("POST", Method::kTicketVoid);
  }
  if (*t.allow == '\0') {
    return error_response(404, ErrorCode::kNotFound, "no such route: " + request.path);
  }
  if (!t.allowed) {
    HttpResponse response = error_response(405, ErrorCode::kBadRequest,
                                           request.method + " is not allowed here; use " + t.allow);
    response.headers.emplace_back("Allow", t.allow);
    return response;
  }

  // Params: the JSON body (POST), then what the path and query say (they win), packed as
  // the binary request with no JSON tree (net/params_packer.h).
  packer_.begin(method_name(t.method));
  if (!request.idempotency_key.empty() &&
      (t.method == Method::kBuy || t.method == Method::kHoldConfirm)) {
    packer_.add_string("idempotency_key", request.idempotency_key);  // the body's wins
  }
  if (method == "POST" && !request.body.empty()) {
    if (std::optional<HttpResponse> refused = pack_body(request.body)) return *refused;
  }
  if (is(1, "events") && n >= 3) packer_.add_string("event", parts[2]);
  if (is(1, "holds")) packer_.add_string("hold", parts[2]);
  if (is(1, "tickets")) packer_.add_string("ticket", parts[2]);
  const Query query(request.query);
  if (!query.valid()) return error_response(400, ErrorCode::kBadRequest, "malformed query string");
  json from_query;  // built only for the routes that take query parameters
  std::string error;
  bool query_ok = true;
  switch (t.method) {
    case Method::kEventGet:
      from_query = json::object();
      query_ok = take_query(query, {}, {"layout"}, {}, &from_query, &error);
      break;
    case Method::kAvailability:
      from_query = json::object();
      query_ok = take_query(query, {"zone"}, {"bitmap"}, {}, &from_query, &error);
      break;
    case Method::kSeatGet:
      from_query = json::object();
      if (n == 5) {
        int64_t index = 0;
        if (!parse_int(parts[4], &index) || index < 0) {
          return error_response(400, ErrorCode::kBadRequest,
                                "a seat in the path is its index (an integer >= 0)");
        }
        from_query["seat"] = index;
      } else {
        json seat = json::object();
        query_ok = take_query(query, {"zone"}, {}, {"row", "seat"}, &seat, &error);
        if (query_ok && (!seat.contains("zone") || !seat.contains("seat"))) {
          return error_response(400, ErrorCode::kBadRequest,
                                "give the seat as ?zone=1&row=A&seat=12 (no row in general "
                                "admission), or its index in the path");
        }
        from_query["seat"] = seat;
      }
      break;
    default:
      break;
  }
  if (!query_ok) return error_response(400, ErrorCode::kBadRequest, error);
  if (from_query.is_object()) {
    for (const auto& [name, value] : from_query.items()) packer_.add_json(name, value);
  }
  return run_packed(t.method, session, t.ok_status);
}

// The body's entries into the packer; a response when the body is refused. Bodies the packer
// refuses are parsed again as before, for the exact error (or, at the very depth limit, to
// pack the tree the parse gives: the rare body the packer is too cautious for).
std::optional<HttpResponse> ApiRoutes::pack_body(const std::string& body) {
  if (packer_.add_body(body, kBodyDepthMax)) return std::nullopt;
  json params;
  Status parsed = parse_json_document(body, static_cast<uint32_t>(body.size()), kBodyDepthMax,
                                      "request body", &params);
  if (!parsed.is_ok()) {
    return error_response(http_status(parsed.code(), 200, false), parsed.code(),
                          std::string(parsed.message()));
  }
  if (!params.is_object()) {
    return error_response(400, ErrorCode::kBadRequest, "request body must be a JSON object");
  }
  for (const auto& [name, value] : params.items()) packer_.add_json(name, value);
  return std::nullopt;
}

// Runs the packed request through the Dispatcher and writes its response as JSON straight
// from the msgpack reply (net/msgpack_json.h): the result (ok_status) or {"error": ...}.
HttpResponse ApiRoutes::run_packed(Method method, Session* session, int ok_status) {
  const std::optional<ErrorCode> dispatched = dispatch(method, packer_.finish(), session);
  if (!dispatched) {
    return error_response(400, ErrorCode::kBadRequest, "request nested too deeply or too large");
  }
  const ErrorCode code = *dispatched;
  // [1, msgid, error, result]; strings stay in reply_, which outlives the object.
  reply_zone_.clear();
  size_t offset = 0;
  const msgpack::object reply =
      msgpack::unpack(reply_zone_, reply_.data(), reply_.size(), offset,
                      [](msgpack::type::object_type, size_t, void*) { return true; });
  BOXOFFICE_ASSERT(reply.type == msgpack::type::ARRAY && reply.via.array.size == 4);
  const msgpack::object& value = reply.via.array.ptr[code == ErrorCode::kOk ? 3 : 2];
  if (code == ErrorCode::kOk) {
    const msgpack::object* replayed = map_value(value, "replayed");
    if (replayed != nullptr && replayed->type == msgpack::type::BOOLEAN && replayed->via.boolean) {
      ok_status = 200;  // a confirm or buy retried with its idempotency key: nothing new
    }
  }
  HttpResponse response;
  response.status = http_status(code, ok_status, session->role != ClientRole::kNone);
  if (code == ErrorCode::kOk) {
    append_json(value, &response.body);
  } else {
    response.body = "{\"error\":";
    append_json(value, &response.body);
    response.body += '}';
  }
  if (code == ErrorCode::kBusy) {
    int64_t retry_ms = 1000;
    if (const msgpack::object* retry = map_value(value, "retry_after_ms")) {
      if (retry->type == msgpack::type::POSITIVE_INTEGER) {
        retry_ms = static_cast<int64_t>(retry->via.u64);
      } else if (retry->type == msgpack::type::NEGATIVE_INTEGER) {
        retry_ms = retry->via.i64;
      }
    }
    response.retry_after_s = static_cast<int>(std::max<int64_t>(1, (retry_ms + 999) / 1000));
  }
  return response;
}

std::optional<ErrorCode> ApiRoutes::dispatch(Method method, std::span<const uint8_t> packed,
                                             Session* session) {
  Request request;
  size_t frame_bytes = 0;
  FrameLimits limits;
  limits.frame_bytes_max = static_cast<uint32_t>(packed.size());
  if (decode_request(packed, limits, &request, &frame_bytes) != FrameResult::kFrame) {
    return std::nullopt;
  }
  BOXOFFICE_ASSERT(request.method == method);
  reply_.clear();
  return dispatcher_.handle(request, session, wall_clock_ms(), &reply_);
}

MethodCall ApiRoutes::call(Method method, const json& params, Session* session) {
  packed_.clear();
  json::to_msgpack(json::array({0, 0, std::string(method_name(method)), params}), packed_);
  const std::optional<ErrorCode> dispatched = dispatch(method, packed_, session);
  if (!dispatched) {
    return {ErrorCode::kBadRequest,
            error_map(ErrorCode::kBadRequest, "request nested too deeply or too large")};
  }
  const ErrorCode code = *dispatched;
  // [1, msgid, error, result]
  json response = json::from_msgpack(std::string_view(reply_.data(), reply_.size()),
                                     /*strict=*/true, /*allow_exceptions=*/false);
  BOXOFFICE_ASSERT(response.is_array() && response.size() == 4);
  MethodCall result{code, code == ErrorCode::kOk ? std::move(response[3]) : std::move(response[2])};
  binary_to_base64(&result.value);
  return result;
}

}  // namespace boxoffice::net
