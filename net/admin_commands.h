// Admin commands: the line protocol of the admin Unix socket (DESIGN.md section 5, README
// "Admin socket and boxoffice-ctl"), in the style of HAProxy's runtime API and Redis INFO.
//
// parse_admin_command() turns one line into a verb and its arguments, or a BAD_REQUEST /
// LIMIT_EXCEEDED status for anything else (unknown verb, wrong arity, a control byte, a line
// over kAdminLineBytesMax). It is a pure function of its bytes: any input gives a command or
// an error, never a crash. AdminService runs a parsed command against the server (AdminState)
// and answers human-readable lines, or one line of JSON when the line began with `json `.
// Errors are one line `ERR <CODE>: <message>` in both forms. A reply never holds an empty
// line: the server ends each reply with one.
//
// Thread safety: parse_admin_command() is pure. An AdminService is used by one thread at a
// time (the admin server's); what it reads of the engine, journals and persisters is atomic
// or guarded there, and the AdminState hooks must be callable from that thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine.h"
#include "core/status.h"
#include "net/ops_routes.h"

namespace boxoffice::net {

// A longer line is refused (LIMIT_EXCEEDED): `event create <json>` is the only long command;
// larger documents go through `event load <file>`.
inline constexpr size_t kAdminLineBytesMax = 1u << 20;
// `holds <event>` lists at most this many holds (and counts them all).
inline constexpr size_t kAdminHoldsListedMax = 1000;

enum class AdminVerb : uint8_t {
  kHelp,
  kInfo,         // [section]
  kEvents,       //
  kEvent,        // <id>
  kEventCreate,  // <json>
  kEventLoad,    // <file>
  kEventPause,   // <id>
  kEventOpen,    // <id>
  kEventClose,   // <id>
  kSeat,         // <event> <seat>
  kHolds,        // <event>
  kPersister,    //
  kWorkers,      //
  kLogLevel,     // <level>
  kDrain,        //
  kResume,       //
  kShutdown,     //
};

struct AdminCommand {
  Status status;  // not OK: the line was refused, and the fields below mean nothing
  AdminVerb verb = AdminVerb::kHelp;
  bool json = false;              // the line began with `json `
  std::vector<std::string> args;  // as listed beside AdminVerb
};

// `line` is one line without its '\n' (a trailing '\r' is ignored). Words are separated by
// spaces or tabs; verbs are case-insensitive; `event create` and `event load` take the rest
// of the line as one argument.
AdminCommand parse_admin_command(std::string_view line);

// What the admin socket may see and do.
struct AdminState {
  Engine* engine = nullptr;  // the one ops->engine reads (the admin socket may change it)
  // What /metrics and /ready read: journals, persisters, request stats, io backend,
  // durability, and the readiness flag that `drain` clears so load balancers move traffic
  // away (`resume` sets it again).
  OpsState* ops = nullptr;
  std::string version;
  std::string listen;      // msgpack-rpc HOST:PORT
  std::string http;        // HOST:PORT or "off"
  std::string admin_path;  // this socket
  std::string log_level;   // at start; `loglevel` keeps it current
  int64_t started_at_ms = 0;
  // Hooks into the process (boxofficed). Unset ones make their command answer ERR.
  std::function<bool(const std::string& level)> set_log_level;  // false: unknown level
  std::function<void()> shutdown;                               // as SIGTERM would
  std::function<void(const std::string& line)> log;             // commands that change something
};

struct AdminReply {
  bool ok = true;
  std::string body;       // non-empty lines joined by '\n', no final '\n'; or one JSON line
  bool shutdown = false;  // call AdminService::shutdown() once the reply has been sent
};

class AdminService {
 public:
  explicit AdminService(AdminState* state) : state_(state) {}

  // Parses and runs one line.
  AdminReply handle_line(std::string_view line, int64_t now_ms);
  AdminReply run(const AdminCommand& command, int64_t now_ms);
  // Runs the shutdown hook (after the reply to `shutdown` went out).
  void shutdown();
  uint64_t commands_run() const { return commands_run_; }

 private:
  struct Result;
  Result run_command(const AdminCommand& command, int64_t now_ms);
  Result info(const std::string& section, int64_t now_ms) const;
  Result events() const;
  Result event(const std::string& id) const;
  Result create_event(std::string_view document, int64_t now_ms);
  Result load_event(const std::string& path, int64_t now_ms);
  Result set_state(const std::string& id, AdminVerb verb, int64_t now_ms);
  Result seat(const std::string& event_id, const std::string& seat) const;
  Result holds(const std::string& event_id, int64_t now_ms) const;
  Result persisters() const;
  Result workers() const;
  Result log_level(const std::string& level);
  Result set_ready(bool ready);
  void audit(const std::string& line) const;

  AdminState* state_;
  uint64_t commands_run_ = 0;
};

}  // namespace boxoffice::net
