// http_fuzz: the HTTP route layer (net/api_routes.h: the /v1 API, the CQRS routes of
// net/cqrs_routes.h, the ops probes) over a real engine, called with requests exactly as the
// HTTP server hands them over (net/http_server.h HttpRequest: method, raw path and query,
// body, two headers). evhttp's own parsing of the bytes on the wire is libevent's and is not
// fuzzed here; everything after it is: path splitting and percent-decoding, query parsing,
// JSON bodies to method params, the method run, and the reply rendered back to JSON or text.
//
// Input: requests separated by a line "%%" (at most kRequestsMax), each
//   METHOD TARGET            TARGET = path[?query], sent undecoded
//   AUTHORIZATION            empty: a server without API keys; otherwise a server with keys
//                            ("sell-key", "admin-key") and this Authorization header, "-" for
//                            none
//   IDEMPOTENCY-KEY          the header's value, empty for none
//   BODY...                  the rest, newlines included
// "$hold" and "$ticket" anywhere in the target or body stand for the last hold token and
// ticket id a reply gave, so sequences reach confirm, release, extend and void.
//
// Checked on every reply: a status between 200 and 599 but never 500 (INTERNAL: a bug), and a
// JSON reply that parses.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "net/api_routes.h"
#include "net/ops_routes.h"
#include "net/reactor_support.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/fuzz/input_deadline.h"

namespace boxoffice::fuzz {
namespace {

using namespace ::boxoffice::net;
using nlohmann::json;

constexpr uint32_t kRequestsMax = 16;
constexpr std::string_view kSeparator = "\n%%\n";

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "http_fuzz: %s\n", what.c_str());
  std::abort();
}

// The next line of *rest (without its '\n'); *rest keeps what follows.
std::string_view next_line(std::string_view* rest) {
  const size_t end = rest->find('\n');
  const std::string_view line = rest->substr(0, end);
  *rest = end == std::string_view::npos ? std::string_view() : rest->substr(end + 1);
  return line;
}

void replace_all(std::string* text, std::string_view from, const std::string& to) {
  for (size_t at = text->find(from); at != std::string::npos;
       at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
  }
}

class Server {
 public:
  Server()
      : open_routes_(&engine_.engine(), &engine_.worker(), DispatchOptions{}, &ops_),
        keyed_routes_(&engine_.engine(), &engine_.worker(), keyed(), &ops_) {
    ops_state_.engine = &engine_.engine();
    ops_state_.http_stats = {&open_routes_.stats(), &keyed_routes_.stats()};
    ops_state_.io_backend = "epoll";
    ops_state_.durability = "memory";
    ops_state_.ready = true;
  }

  void serve(std::string_view text) {
    const std::string_view request_line = next_line(&text);
    const size_t space = request_line.find(' ');
    HttpRequest request;
    request.method = request_line.substr(0, space);
    std::string target(space == std::string_view::npos ? std::string_view()
                                                       : request_line.substr(space + 1));
    const std::string_view authorization = next_line(&text);
    request.idempotency_key = next_line(&text);
    request.body = text;
    substitute(&target);
    substitute(&request.body);
    const size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    ApiRoutes* routes = &open_routes_;
    if (!authorization.empty()) {
      routes = &keyed_routes_;
      if (authorization != "-") request.authorization = authorization;
    }
    const HttpResponse response = routes->handle(request);
    routes->on_turn(wall_clock_ms());
    check(response);
  }

 private:
  static DispatchOptions keyed() {
    DispatchOptions options;
    options.api_keys = {{"sell-key", ClientRole::kSell}, {"admin-key", ClientRole::kAdmin}};
    return options;
  }

  void substitute(std::string* text) const {
    replace_all(text, "$hold", last_hold_);
    replace_all(text, "$ticket", last_ticket_);
  }

  void check(const HttpResponse& response) {
    if (response.status < 200 || response.status > 599 || response.status == 500) {
      broken("status " + std::to_string(response.status) + ": " + response.body.substr(0, 200));
    }
    if (response.content_type != "application/json") return;
    const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) broken("a JSON reply does not parse: " + response.body.substr(0, 200));
    if (!body.is_object()) return;
    if (auto hold = body.find("hold"); hold != body.end() && hold->is_string()) {
      last_hold_ = hold->get<std::string>();
    }
    if (auto id = body.find("ticketId"); id != body.end() && id->is_string()) {
      last_ticket_ = id->get<std::string>();
    }
    if (auto tickets = body.find("tickets"); tickets != body.end() && tickets->is_array() &&
                                             !tickets->empty() && (*tickets)[0].is_object()) {
      if (auto id = (*tickets)[0].find("id"); id != (*tickets)[0].end() && id->is_string()) {
        last_ticket_ = id->get<std::string>();
      }
    }
  }

  FuzzEngine engine_;
  OpsState ops_state_;
  OpsRoutes ops_{&ops_state_};
  ApiRoutes open_routes_;
  ApiRoutes keyed_routes_;
  std::string last_hold_;
  std::string last_ticket_;
};

}  // namespace
}  // namespace boxoffice::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace boxoffice::fuzz;
  run_within_deadline("http_fuzz", [&] {
    Server server;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    for (uint32_t n = 0; n < kRequestsMax && !input.empty(); ++n) {
      const size_t end = input.find(kSeparator);
      server.serve(input.substr(0, end));
      input = end == std::string_view::npos ? std::string_view()
                                            : input.substr(end + kSeparator.size());
    }
  });
  return 0;
}
