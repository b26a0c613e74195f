// admin_fuzz: the admin socket's line protocol (net/admin_commands.h): parse_admin_command()
// on every line, and AdminService running what parses against a real engine, as the admin
// server does for each line a client sends.
//
// Input: lines separated by '\n' (at most kLinesMax), each handed over without its '\n' as the
// admin server does. `event load FILE` is parsed but not run: it reads a file named by the
// input, which would make a run depend on the machine's files. `shutdown` has no hook here and
// answers ERR.
//
// Checked on every line: a refused line says why; a reply is non-empty, holds no empty line
// (an empty line ends a reply on the socket), starts with "ERR " exactly when it failed, and
// in the `json` form is one line of valid JSON; nothing but `shutdown` (no hook here) answers
// INTERNAL, which means a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "net/admin_commands.h"
#include "net/request_stats.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/fuzz/input_deadline.h"

namespace boxoffice::fuzz {
namespace {

using namespace ::boxoffice::net;

constexpr uint32_t kLinesMax = 32;

[[noreturn]] void broken(const std::string& what, std::string_view line) {
  std::fprintf(stderr, "admin_fuzz: %s (line: %.200s)\n", what.c_str(), std::string(line).c_str());
  std::abort();
}

class AdminSocket {
 public:
  AdminSocket() {
    ops_.engine = &engine_.engine();
    ops_.io_backend = "epoll";
    ops_.durability = "memory";
    ops_.ready = true;
    ops_.rpc_stats = {&rpc_stats_};
    ops_.http_stats = {&http_stats_};
    state_.engine = &engine_.engine();
    state_.ops = &ops_;
    state_.version = "0.0.0-fuzz";
    state_.listen = "127.0.0.1:7700";
    state_.http = "off";
    state_.admin_path = "/nonexistent/admin.sock";
    state_.log_level = "info";
    state_.started_at_ms = kStartMs;
    state_.set_log_level = [](const std::string&) { return true; };
    state_.log = [](const std::string&) {};
  }

  void line(std::string_view text) {
    const AdminCommand command = parse_admin_command(text);
    if (!command.status.is_ok() && command.status.message().empty()) {
      broken("a refused line without a reason", text);
    }
    if (command.status.is_ok() && command.verb == AdminVerb::kEventLoad) return;
    now_ms_ += 1000;
    const AdminReply reply = service_.run(command, now_ms_);
    if (reply.body.empty()) broken("an empty reply", text);
    if (reply.body.find("\n\n") != std::string::npos || reply.body.back() == '\n' ||
        reply.body.front() == '\n') {
      broken("a reply with an empty line", text);
    }
    if (reply.ok == (reply.body.rfind("ERR ", 0) == 0)) broken("ERR and the reply disagree", text);
    if (command.verb != AdminVerb::kShutdown && reply.body.rfind("ERR INTERNAL", 0) == 0) {
      broken("INTERNAL (a bug): " + reply.body, text);
    }
    if (reply.ok && command.json) {
      if (reply.body.find('\n') != std::string::npos) broken("a JSON reply of many lines", text);
      if (!nlohmann::json::accept(reply.body)) broken("a JSON reply that does not parse", text);
    }
  }

 private:
  FuzzEngine engine_;
  RequestStats rpc_stats_;
  RequestStats http_stats_;
  OpsState ops_;
  AdminState state_;
  AdminService service_{&state_};
  int64_t now_ms_ = kStartMs;
};

}  // namespace
}  // namespace boxoffice::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace boxoffice::fuzz;
  run_within_deadline("admin_fuzz", [&] {
    AdminSocket socket;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    for (uint32_t n = 0; n < kLinesMax && !input.empty(); ++n) {
      const size_t end = input.find('\n');
      socket.line(input.substr(0, end));
      input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    }
  });
  return 0;
}
