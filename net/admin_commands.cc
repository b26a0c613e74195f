#include "net/admin_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>

#include "persist/persister.h"
#include "persist/worker_log.h"
#include "shm/check.h"

namespace boxoffice::net {

using ojson = nlohmann::ordered_json;

struct AdminService::Result {
  Status status;
  ojson value = ojson::object();   // the JSON answer
  std::vector<std::string> lines;  // the human answer
  bool shutdown = false;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Parsing

struct CommandSpec {
  const char* word;
  AdminVerb verb;
  uint32_t args_min;
  uint32_t args_max;
  const char* usage;
  const char* help;
};

// Every command, in the order `help` lists them. The `event ...` forms are parsed apart
// (their first argument may be a sub-command) but listed here for help and usage.
constexpr CommandSpec kCommands[] = {
    {"help", AdminVerb::kHelp, 0, 0, "help", "this list"},
    {"info", AdminVerb::kInfo, 0, 1, "info [SECTION]",
     "server, workers, memory, persistence, stats (all without SECTION)"},
    {"events", AdminVerb::kEvents, 0, 0, "events", "every event: state, seats, revenue"},
    {"event", AdminVerb::kEvent, 1, 1, "event ID", "one event and its zones"},
    {"event", AdminVerb::kEventCreate, 1, 1, "event create JSON",
     "create an event from a document {\"id\", \"layout\", ...} on one line"},
    {"event", AdminVerb::kEventLoad, 1, 1, "event load FILE",
     "create an event from the document in FILE (read by the server)"},
    {"event", AdminVerb::kEventPause, 1, 1, "event pause ID", "stop sales of an event"},
    {"event", AdminVerb::kEventOpen, 1, 1, "event open ID", "open (or reopen) sales"},
    {"event", AdminVerb::kEventClose, 1, 1, "event close ID", "end sales for good"},
    {"seat", AdminVerb::kSeat, 2, 2, "seat EVENT SEAT",
     "one seat, by index or ZONE/ROW/SEAT label (ZONE/GA/N standing)"},
    {"holds", AdminVerb::kHolds, 1, 1, "holds EVENT",
     "live holds of an event (token prefixes only)"},
    {"persister", AdminVerb::kPersister, 0, 0, "persister", "each persister and each journal"},
    {"workers", AdminVerb::kWorkers, 0, 0, "workers", "per-worker statistics"},
    {"loglevel", AdminVerb::kLogLevel, 1, 1, "loglevel LEVEL", "debug, info, warn or error"},
    {"drain", AdminVerb::kDrain, 0, 0, "drain",
     "GET /ready answers 503 so traffic moves away; requests are still served"},
    {"resume", AdminVerb::kResume, 0, 0, "resume", "undo drain"},
    {"shutdown", AdminVerb::kShutdown, 0, 0, "shutdown", "stop the server as SIGTERM does"},
};

constexpr const char* kInfoSections[] = {"server", "workers", "memory", "persistence", "stats"};
constexpr const char* kLogLevels[] = {"debug", "info", "warn", "error"};
constexpr size_t kWordBytesMax = 16;  // longer than any verb, section or level
constexpr size_t kEchoBytesMax = 40;  // of a refused word, in an error message

const CommandSpec& spec_of(AdminVerb verb) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.verb == verb) return spec;
  }
  BOXOFFICE_ASSERT(false);
  return kCommands[0];
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// The next word of *rest ("" at the end); *rest keeps what follows it.
std::string_view next_word(std::string_view* rest) {
  std::string_view text = *rest;
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  size_t end = 0;
  while (end < text.size() && !is_space(text[end])) ++end;
  *rest = text.substr(end);
  return text.substr(0, end);
}

// Lower-cased when short enough to be a keyword; "" otherwise (matches none).
std::string keyword(std::string_view word) {
  if (word.size() > kWordBytesMax) return "";
  std::string out(word);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// `text` in quotes for an error message: cut short, every byte outside printable ASCII as
// \xNN (messages must stay one valid line in both reply forms).
std::string echo(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kEchoBytesMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  if (text.size() > kEchoBytesMax) out += "...";
  return out + "\"";
}

AdminCommand refused(ErrorCode code, std::string message) {
  AdminCommand command;
  command.status = Status(code, std::move(message));
  return command;
}

AdminCommand usage(AdminVerb verb) {
  return refused(ErrorCode::kBadRequest, std::string("usage: ") + spec_of(verb).usage);
}

AdminCommand parse_event(std::string_view rest, bool json) {
  AdminCommand command;
  command.json = json;
  const std::string_view first = next_word(&rest);
  if (first.empty()) {
    return refused(ErrorCode::kBadRequest,
                   "usage: event ID | event create JSON | event load FILE | "
                   "event pause|open|close ID");
  }
  const std::string sub = keyword(first);
  if (sub == "create" || sub == "load") {
    command.verb = sub == "create" ? AdminVerb::kEventCreate : AdminVerb::kEventLoad;
    const std::string_view argument = trim(rest);
    if (argument.empty()) return usage(command.verb);
    command.args.emplace_back(argument);
    return command;
  }
  if (sub == "pause" || sub == "open" || sub == "close") {
    command.verb = sub == "pause"  ? AdminVerb::kEventPause
                   : sub == "open" ? AdminVerb::kEventOpen
                                   : AdminVerb::kEventClose;
    const std::string_view id = next_word(&rest);
    if (id.empty() || !trim(rest).empty()) return usage(command.verb);
    command.args.emplace_back(id);
    return command;
  }
  command.verb = AdminVerb::kEvent;
  if (!trim(rest).empty()) return usage(command.verb);
  command.args.emplace_back(first);
  return command;
}

}  // namespace

AdminCommand parse_admin_command(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kAdminLineBytesMax) {
    return refused(ErrorCode::kLimitExceeded, "line longer than " +
                                                  std::to_string(kAdminLineBytesMax) +
                                                  " bytes (larger documents: event load FILE)");
  }
  for (const char byte : line) {
    const auto c = static_cast<unsigned char>(byte);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char message[64];
      std::snprintf(message, sizeof message, "control byte 0x%02x in the line", c);
      return refused(ErrorCode::kBadRequest, message);
    }
  }
  std::string_view rest = trim(line);
  if (rest.empty()) return refused(ErrorCode::kBadRequest, "empty line; try help");
  std::string_view word = next_word(&rest);
  std::string verb = keyword(word);
  bool json = false;
  if (verb == "json") {
    json = true;
    word = next_word(&rest);
    verb = keyword(word);
    if (word.empty()) return refused(ErrorCode::kBadRequest, "usage: json COMMAND");
  }
  if (verb == "event") return parse_event(rest, json);
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& candidate : kCommands) {
    if (verb == candidate.word) spec = &candidate;
  }
  if (spec == nullptr) {
    return refused(ErrorCode::kBadRequest, "unknown command " + echo(word) + "; try help");
  }
  AdminCommand command;
  command.json = json;
  command.verb = spec->verb;
  for (std::string_view arg = next_word(&rest); !arg.empty(); arg = next_word(&rest)) {
    if (command.args.size() == spec->args_max) return usage(spec->verb);
    command.args.emplace_back(arg);
  }
  if (command.args.size() < spec->args_min) return usage(spec->verb);
  if (command.verb == AdminVerb::kInfo && !command.args.empty()) {
    const std::string section = keyword(command.args[0]);
    if (std::find(std::begin(kInfoSections), std::end(kInfoSections), section) ==
        std::end(kInfoSections)) {
      return refused(ErrorCode::kBadRequest, "unknown info section " + echo(command.args[0]) +
                                                 "; one of server, workers, memory, "
                                                 "persistence, stats");
    }
    command.args[0] = section;
  }
  if (command.verb == AdminVerb::kLogLevel) {
    const std::string level = keyword(command.args[0]);
    if (std::find(std::begin(kLogLevels), std::end(kLogLevels), level) == std::end(kLogLevels)) {
      return refused(ErrorCode::kBadRequest, "unknown log level " + echo(command.args[0]) +
                                                 "; one of debug, info, warn, error");
    }
    command.args[0] = level;
  }
  return command;
}

// ---------------------------------------------------------------------------------------------
// Rendering

namespace {

std::string dump(const ojson& value) {
  // Invalid UTF-8 (a byte an operator typed) becomes U+FFFD instead of an exception.
  return value.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

// One line of a human reply: bytes that would break the framing (control bytes, '\n') as \xNN.
std::string printable_line(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (const char byte : line) {
    const auto c = static_cast<unsigned char>(byte);
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += byte;
    }
  }
  return out;
}

// A scalar as a human reads it.
std::string text_of(const ojson& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_null()) return "-";
  return dump(value);
}

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f%s" : "%.2f%s", value, kUnits[unit]);
  return text;
}

bool numeric(const std::string& cell) {
  return !cell.empty() && cell.find_first_not_of("0123456789.-") == std::string::npos;
}

// Columns padded to their widest cell; a column of numbers is right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void row(std::vector<std::string> cells) {
    BOXOFFICE_ASSERT(cells.size() == headers_.size());
    rows_.push_back(std::move(cells));
  }
  void render(std::vector<std::string>* lines) const {
    std::vector<size_t> widths(headers_.size());
    // Right-aligned: a column of numbers, "-" standing for a missing one.
    std::vector<bool> right(headers_.size(), true);
    std::vector<bool> any_number(headers_.size(), false);
    for (size_t c = 0; c < headers_.size(); ++c) widths[c] = headers_[c].size();
    for (const auto& cells : rows_) {
      for (size_t c = 0; c < cells.size(); ++c) {
        widths[c] = std::max(widths[c], cells[c].size());
        right[c] = right[c] && (numeric(cells[c]) || cells[c] == "-");
        any_number[c] = any_number[c] || numeric(cells[c]);
      }
    }
    for (size_t c = 0; c < headers_.size(); ++c) right[c] = right[c] && any_number[c];
    auto format = [&](const std::vector<std::string>& cells) {
      std::string line;
      for (size_t c = 0; c < cells.size(); ++c) {
        const size_t pad = widths[c] - cells[c].size();
        const bool last = c + 1 == cells.size();
        if (right[c]) line.append(pad, ' ');
        line += cells[c];
        if (!right[c] && !last) line.append(pad, ' ');
        if (!last) line += "  ";
      }
      return line;
    };
    lines->push_back(format(headers_));
    for (const auto& cells : rows_) lines->push_back(format(cells));
  }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "key: value" for each scalar member of `object`.
void key_values(const ojson& object, std::vector<std::string>* lines) {
  for (const auto& [key, value] : object.items()) {
    if (!value.is_structured()) lines->push_back(key + ": " + text_of(value));
  }
}

// Redis INFO style: `key:value`, an object as `key:k=v,k=v`, booleans as 1/0.
std::string info_text(const ojson& value) {
  if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
  if (!value.is_object()) return text_of(value);
  std::string out;
  for (const auto& [key, member] : value.items()) {
    if (!out.empty()) out += ",";
    out += key + "=" + info_text(member);
  }
  return out;
}

// "zone/row/seat", or "zone/GA/place" in a general-admission zone (as MariaDB stores it).
std::string seat_label(const Layout& layout, uint32_t seat_index) {
  if (seat_index >= layout.seat_count()) {
    std::string unknown = "#";  // (not "#" + ...: GCC 12 -O3 warns falsely on that form)
    return unknown + std::to_string(seat_index);
  }
  const SeatLocation where = layout.locate(seat_index);
  return std::to_string(where.zone->id) + "/" + (where.row != nullptr ? where.row->label : "GA") +
         "/" + where.label();
}

// The part of a hold token that is not secret: slot and version (11 of its 32 hex digits).
std::string hold_prefix(uint32_t hold_index, uint32_t version) {
  return HoldToken::make(hold_index, version, 0, 0).to_string().substr(0, 11);
}

// The event, ticket's event index, seat index and 12 of the nonce's 64 bits: enough to match a
// ticket in MariaDB or a client's log, not enough to act on it.
std::string ticket_prefix(const TicketId& ticket) { return ticket.to_string().substr(0, 18); }

Status no_event(const std::string& id) {
  return Status(ErrorCode::kNotFound, "no such event " + echo(id));
}

uint64_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long long size_pages = 0, resident_pages = 0;
  const int read = std::fscanf(statm, "%llu %llu", &size_pages, &resident_pages);
  std::fclose(statm);
  return read == 2 ? resident_pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Reads a whole regular file of at most `bytes_max` bytes.
Status read_document(const std::string& path, uint64_t bytes_max, std::string* out) {
  // O_NONBLOCK: a FIFO must not hang the admin thread (it is refused below anyway).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return Status(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kBadRequest,
                  "cannot open " + echo(path) + ": " + std::strerror(errno));
  }
  struct stat info {};
  Status status;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    status = Status(ErrorCode::kBadRequest, echo(path) + " is not a regular file");
  } else if (static_cast<uint64_t>(info.st_size) > bytes_max) {
    status = Status(ErrorCode::kLimitExceeded,
                    echo(path) + " is larger than " + std::to_string(bytes_max) + " bytes");
  } else {
    out->resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < out->size()) {
      const ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (done != out->size()) {
      status = Status(ErrorCode::kBadRequest, "cannot read " + echo(path));
    }
  }
  ::close(fd);
  return status;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// AdminService

AdminReply AdminService::handle_line(std::string_view line, int64_t now_ms) {
  return run(parse_admin_command(line), now_ms);
}

AdminReply AdminService::run(const AdminCommand& command, int64_t now_ms) {
  ++commands_run_;
  AdminReply reply;
  Result result;
  if (!command.status.is_ok()) {
    result.status = command.status;
  } else {
    // Nothing here is meant to throw (documents are parsed without exceptions), but a hook
    // might: the admin thread answers ERR rather than dying in a libevent callback.
    try {
      result = run_command(command, now_ms);
    } catch (const std::exception& error) {
      result = Result();
      result.status = Status(ErrorCode::kInternal, std::string("command failed: ") + error.what());
    }
  }
  if (!result.status.is_ok()) {
    reply.ok = false;
    reply.body = printable_line("ERR " + result.status.to_string());
    return reply;
  }
  reply.shutdown = result.shutdown;
  if (command.json) {
    reply.body = dump(result.value);
  } else {
    for (const std::string& line : result.lines) {
      BOXOFFICE_ASSERT(!line.empty());  // an empty line ends the reply
      if (!reply.body.empty()) reply.body += '\n';
      reply.body += printable_line(line);
    }
  }
  BOXOFFICE_ASSERT(!reply.body.empty() && reply.body.rfind("ERR ", 0) != 0);
  return reply;
}

void AdminService::shutdown() {
  if (state_->shutdown) state_->shutdown();
}

void AdminService::audit(const std::string& line) const {
  if (state_->log) state_->log("admin: " + line);
}

AdminService::Result AdminService::run_command(const AdminCommand& command, int64_t now_ms) {
  const std::vector<std::string>& args = command.args;
  switch (command.verb) {
    case AdminVerb::kHelp: {
      Result result;
      Table table({"COMMAND", "WHAT IT DOES"});
      ojson list = ojson::array();
      for (const CommandSpec& spec : kCommands) {
        table.row({spec.usage, spec.help});
        list.push_back({{"usage", spec.usage}, {"help", spec.help}});
      }
      table.row({"json COMMAND", "the same answer as one line of JSON"});
      list.push_back({{"usage", "json COMMAND"}, {"help", "the same answer as one line of JSON"}});
      table.render(&result.lines);
      result.value["commands"] = std::move(list);
      return result;
    }
    case AdminVerb::kInfo:
      return info(args.empty() ? "" : args[0], now_ms);
    case AdminVerb::kEvents:
      return events();
    case AdminVerb::kEvent:
      return event(args[0]);
    case AdminVerb::kEventCreate:
      return create_event(args[0], now_ms);
    case AdminVerb::kEventLoad:
      return load_event(args[0], now_ms);
    case AdminVerb::kEventPause:
    case AdminVerb::kEventOpen:
    case AdminVerb::kEventClose:
      return set_state(args[0], command.verb, now_ms);
    case AdminVerb::kSeat:
      return seat(args[0], args[1]);
    case AdminVerb::kHolds:
      return holds(args[0], now_ms);
    case AdminVerb::kPersister:
      return persisters();
    case AdminVerb::kWorkers:
      return workers();
    case AdminVerb::kLogLevel:
      return log_level(args[0]);
    case AdminVerb::kDrain:
      return set_ready(false);
    case AdminVerb::kResume:
      return set_ready(true);
    case AdminVerb::kShutdown: {
      Result result;
      if (!state_->shutdown) {
        result.status = Status(ErrorCode::kInternal, "shutdown is not available here");
        return result;
      }
      audit("shutdown");
      result.shutdown = true;
      result.value["ok"] = true;
      result.lines.push_back("OK shutting down");
      return result;
    }
  }
  Result result;
  result.status = Status(ErrorCode::kInternal, "unhandled command");
  return result;
}

AdminService::Result AdminService::info(const std::string& section, int64_t now_ms) const {
  Engine& engine = *state_->engine;
  const shm::SeatTable& table = engine.table();
  auto wanted = [&](const char* name) { return section.empty() || section == name; };
  Result result;
  if (wanted("server")) {
    ojson& s = result.value["server"];
    s["version"] = state_->version;
    s["pid"] = static_cast<int64_t>(::getpid());
    s["started_at_ms"] = state_->started_at_ms;
    s["uptime_s"] = std::max<int64_t>(0, (now_ms - state_->started_at_ms) / 1000);
    s["io_backend"] = state_->ops->io_backend;
    s["durability"] = state_->ops->durability;
    s["listen"] = state_->listen;
    s["http"] = state_->http;
    s["admin"] = state_->admin_path;
    s["log_level"] = state_->log_level;
    s["serving"] = state_->ops->ready.load(std::memory_order_acquire);
    s["seat_table"] = table.path();
  }
  if (wanted("workers")) {
    ojson& s = result.value["workers"];
    const ojson list = workers().value["workers"];
    s["workers"] = list.size();
    for (size_t i = 0; i < list.size(); ++i) s["worker" + std::to_string(i)] = list[i];
  }
  if (wanted("memory")) {
    ojson& s = result.value["memory"];
    const uint64_t rss = resident_bytes();
    s["rss_bytes"] = rss;
    s["rss_human"] = human_bytes(rss);
    struct stat file {};
    const uint64_t allocated =
        ::stat(table.path().c_str(), &file) == 0 ? static_cast<uint64_t>(file.st_blocks) * 512 : 0;
    s["seat_table_file_bytes"] = table.file_bytes();
    s["seat_table_allocated_bytes"] = allocated;  // the file is sparse
    s["seat_table_allocated_human"] = human_bytes(allocated);
    s["arena_bytes"] = table.geometry().arena_bytes;
    s["arena_used_bytes"] =
        engine.table().header().arena_used_bytes.load(std::memory_order_relaxed);
    s["events_used"] = table.events_used();
    s["events_max"] = table.geometry().events_max;
    s["holds_max"] = table.geometry().holds_max;
    s["idempotency_keys_max"] = table.geometry().idempotency_entries_max;
  }
  if (wanted("persistence")) {
    ojson& s = result.value["persistence"];
    uint64_t appended = 0, durable = 0, persisted = 0, failed = 0;
    for (const persist::WorkerLog* log : state_->ops->journals) {
      appended += log->appended_sequence();
      durable += log->durable_sequence();
      persisted += log->persisted_sequence();
      failed += log->failed();
    }
    s["durability"] = state_->ops->durability;
    s["journal_records_appended"] = appended;
    s["journal_records_durable"] = durable;
    s["journals_failed"] = failed;
    s["persisters"] = state_->ops->persisters.size();
    if (!state_->ops->persisters.empty()) s["journal_records_persisted"] = persisted;
    for (const persist::Persister* persister : state_->ops->persisters) {
      const persist::PersisterStats stats = persister->stats();
      s["persister_" + persister->name()] = {{"connected", stats.connected},
                                             {"lag_records", stats.lag_records},
                                             {"lag_ms", stats.lag_ms},
                                             {"rows_per_s", static_cast<int64_t>(stats.rows_per_s)},
                                             {"records", stats.records_persisted},
                                             {"batches", stats.batches},
                                             {"errors", stats.errors}};
    }
  }
  if (wanted("stats")) {
    ojson& s = result.value["stats"];
    EventCounts total;
    uint32_t events = 0, open = 0, paused = 0, closed = 0;
    for (uint32_t e = 0; e < engine.event_count(); ++e) {
      if (!engine.event_exists(e)) continue;
      ++events;
      const shm::EventState state = engine.event_state(e);
      open += state == shm::EventState::kOpen;
      paused += state == shm::EventState::kPaused;
      closed += state == shm::EventState::kClosed;
      const EventCounts c = engine.counts(e);
      total.seats_total += c.seats_total;
      total.seats_held += c.seats_held;
      total.seats_sold += c.seats_sold;
      total.revenue_cents += c.revenue_cents;
      total.holds_created += c.holds_created;
      total.holds_expired += c.holds_expired;
      total.holds_released += c.holds_released;
      total.tickets_voided += c.tickets_voided;
    }
    s["events"] = events;
    s["events_open"] = open;
    s["events_paused"] = paused;
    s["events_closed"] = closed;
    s["seats_total"] = total.seats_total;
    s["seats_held"] = total.seats_held;
    s["seats_sold"] = total.seats_sold;
    s["revenue_cents"] = total.revenue_cents;
    s["holds_created"] = total.holds_created;
    s["holds_expired"] = total.holds_expired;
    s["holds_released"] = total.holds_released;
    s["tickets_voided"] = total.tickets_voided;
    s["admin_commands"] = commands_run_;
  }
  for (const auto& [name, members] : result.value.items()) {
    std::string title = "# " + name;
    title[2] = static_cast<char>(title[2] - 'a' + 'A');
    result.lines.push_back(title);
    for (const auto& [key, value] : members.items()) {
      result.lines.push_back(key + ":" + info_text(value));
    }
  }
  return result;
}

AdminService::Result AdminService::events() const {
  const Engine& engine = *state_->engine;
  Result result;
  Table table(
      {"EVENT", "STATE", "SEATS", "FREE", "HELD", "SOLD", "REVENUE_CENTS", "VENUE", "NAME"});
  ojson list = ojson::array();
  for (uint32_t e = 0; e < engine.event_count(); ++e) {
    if (!engine.event_exists(e)) continue;
    const EventCounts c = engine.counts(e);
    const int64_t free = std::max<int64_t>(0, c.seats_total - c.seats_held - c.seats_sold);
    const std::string state(event_state_name(engine.event_state(e)));
    list.push_back({{"event", engine.event_id(e)},
                    {"index", e},
                    {"state", state},
                    {"seats_total", c.seats_total},
                    {"seats_free", free},
                    {"seats_held", c.seats_held},
                    {"seats_sold", c.seats_sold},
                    {"revenue_cents", c.revenue_cents},
                    {"venue", engine.event_venue(e)},
                    {"name", engine.event_name(e)}});
    const std::string name(engine.event_name(e));
    table.row({std::string(engine.event_id(e)), state, std::to_string(c.seats_total),
               std::to_string(free), std::to_string(c.seats_held), std::to_string(c.seats_sold),
               std::to_string(c.revenue_cents), std::string(engine.event_venue(e)),
               name.empty() ? "-" : name});
  }
  if (list.empty()) {
    result.lines.push_back("no events");
  } else {
    table.render(&result.lines);
  }
  result.value["events"] = std::move(list);
  return result;
}

AdminService::Result AdminService::event(const std::string& id) const {
  const Engine& engine = *state_->engine;
  Result result;
  uint32_t e = 0;
  if (!engine.find_event(id, &e)) {
    result.status = no_event(id);
    return result;
  }
  const EventCounts c = engine.counts(e);
  const Layout& layout = engine.layout(e);
  ojson& v = result.value;
  v["event"] = engine.event_id(e);
  v["index"] = e;
  v["name"] = engine.event_name(e);
  v["venue"] = engine.event_venue(e);
  v["state"] = event_state_name(engine.event_state(e));
  v["created_at_ms"] = engine.event_created_at_ms(e);
  v["seats_total"] = c.seats_total;
  v["seats_free"] = std::max<int64_t>(0, c.seats_total - c.seats_held - c.seats_sold);
  v["seats_held"] = c.seats_held;
  v["seats_sold"] = c.seats_sold;
  v["revenue_cents"] = c.revenue_cents;
  v["holds_created"] = c.holds_created;
  v["holds_expired"] = c.holds_expired;
  v["holds_released"] = c.holds_released;
  v["tickets_voided"] = c.tickets_voided;
  key_values(v, &result.lines);
  Table table({"ZONE", "NAME", "KIND", "PRICE_CENTS", "SEATS", "FREE", "HELD", "SOLD"});
  ojson zones = ojson::array();
  for (const Zone& zone : layout.zones()) {
    const ZoneAvailability a = engine.availability(e, zone.id);
    zones.push_back({{"zone", zone.id},
                     {"name", zone.name},
                     {"general_admission", zone.general_admission},
                     {"price_cents", zone.price_cents},
                     {"seats_total", a.seats_total},
                     {"seats_free", a.seats_free},
                     {"seats_held", a.seats_held},
                     {"seats_sold", a.seats_sold}});
    table.row({std::to_string(zone.id), zone.name.empty() ? "-" : zone.name,
               zone.general_admission ? "standing" : "seated", std::to_string(zone.price_cents),
               std::to_string(a.seats_total), std::to_string(a.seats_free),
               std::to_string(a.seats_held), std::to_string(a.seats_sold)});
  }
  v["zones"] = std::move(zones);
  table.render(&result.lines);
  return result;
}

AdminService::Result AdminService::create_event(std::string_view document, int64_t now_ms) {
  Engine& engine = *state_->engine;
  Result result;
  uint32_t e = 0;
  result.status = engine.create_event(document, now_ms, &e);
  if (!result.status.is_ok()) return result;
  const std::string id(engine.event_id(e));
  const std::string state(event_state_name(engine.event_state(e)));
  const uint32_t seats = engine.layout(e).seat_count();
  result.value = {
      {"ok", true}, {"event", id}, {"index", e}, {"state", state}, {"seats_total", seats}};
  result.lines.push_back("OK event " + id + " created: index " + std::to_string(e) + ", " +
                         std::to_string(seats) + " seats, " + state);
  audit("event " + id + " created (index " + std::to_string(e) + ", " + std::to_string(seats) +
        " seats, " + state + ")");
  return result;
}

AdminService::Result AdminService::load_event(const std::string& path, int64_t now_ms) {
  // The engine's bound on an event document: the layout's limit plus room for the envelope.
  const uint64_t bytes_max = state_->engine->options().layout.document_bytes_max + 4096u;
  std::string document;
  Result result;
  result.status = read_document(path, bytes_max, &document);
  if (!result.status.is_ok()) return result;
  result = create_event(document, now_ms);
  if (!result.status.is_ok()) {
    result.status =
        Status(result.status.code(), path + ": " + std::string(result.status.message()));
  }
  return result;
}

AdminService::Result AdminService::set_state(const std::string& id, AdminVerb verb,
                                             int64_t now_ms) {
  Engine& engine = *state_->engine;
  Result result;
  uint32_t e = 0;
  if (!engine.find_event(id, &e)) {
    result.status = no_event(id);
    return result;
  }
  const shm::EventState state = verb == AdminVerb::kEventPause  ? shm::EventState::kPaused
                                : verb == AdminVerb::kEventOpen ? shm::EventState::kOpen
                                                                : shm::EventState::kClosed;
  const shm::EventState before = engine.event_state(e);
  result.status = engine.set_event_state(e, state, now_ms);
  if (!result.status.is_ok()) return result;
  const std::string name(event_state_name(state));
  result.value = {{"ok", true}, {"event", id}, {"state", name}};
  result.lines.push_back("OK event " + id + " " + name);
  if (before != state) {
    audit("event " + id + " " + std::string(event_state_name(before)) + " -> " + name);
  }
  return result;
}

AdminService::Result AdminService::seat(const std::string& event_id,
                                        const std::string& seat_text) const {
  const Engine& engine = *state_->engine;
  Result result;
  uint32_t e = 0;
  if (!engine.find_event(event_id, &e)) {
    result.status = no_event(event_id);
    return result;
  }
  const Layout& layout = engine.layout(e);
  const Status no_seat(ErrorCode::kNotFound,
                       "no seat " + echo(seat_text) + " in event " + echo(event_id));
  std::optional<uint32_t> index;
  const char* begin = seat_text.data();
  const char* end = begin + seat_text.size();
  if (seat_text.find('/') == std::string::npos) {
    uint32_t value = 0;
    const auto [at, error] = std::from_chars(begin, end, value);
    if (error == std::errc() && at == end) index = value;
  } else {
    // ZONE/ROW/SEAT, or ZONE/GA/N (ZONE/N) in a general-admission zone.
    int64_t zone_id = 0;
    const auto [at, error] = std::from_chars(begin, end, zone_id);
    const Zone* zone =
        error == std::errc() && at != end && *at == '/' ? layout.zone_by_id(zone_id) : nullptr;
    if (zone != nullptr) {
      std::string_view rest(at + 1, static_cast<size_t>(end - at - 1));
      const size_t slash = rest.find('/');
      std::string_view row = slash == std::string_view::npos ? "" : rest.substr(0, slash);
      const std::string_view place =
          slash == std::string_view::npos ? rest : rest.substr(slash + 1);
      if (zone->general_admission && row == "GA") row = "";
      index = layout.seat_index(zone_id, row, place);
    }
  }
  if (!index || *index >= layout.seat_count()) {
    result.status = no_seat;
    return result;
  }
  const SeatInfo info = engine.seat(e, *index);
  if (!info.status.is_ok()) {
    result.status = info.status;
    return result;
  }
  const SeatLocation where = layout.locate(*index);
  ojson& v = result.value;
  v["event"] = event_id;
  v["index"] = *index;
  v["label"] = seat_label(layout, *index);
  v["zone"] = where.zone->id;
  v["row"] = where.row != nullptr ? ojson(where.row->label) : ojson(nullptr);
  v["seat"] = where.label();
  v["price_cents"] = where.zone->price_cents;
  v["state"] = info.state == SeatState::kFree   ? "free"
               : info.state == SeatState::kHeld ? "held"
                                                : "sold";
  key_values(v, &result.lines);
  if (info.state == SeatState::kSold) {
    const TicketInfo ticket = engine.ticket(info.ticket);
    ojson t = {{"ticket_prefix", ticket_prefix(info.ticket)}};
    if (ticket.status.is_ok()) {
      t["generation"] = ticket.generation;
      t["price_cents"] = ticket.price_cents;
      t["sold_at_ms"] = ticket.sold_at_ms;
      t["buyer"] = ticket.buyer_ref;
    }
    for (const auto& [key, value] : t.items()) {
      result.lines.push_back("ticket." + key + ": " + text_of(value));
    }
    v["ticket"] = std::move(t);
  }
  return result;
}

AdminService::Result AdminService::holds(const std::string& event_id, int64_t now_ms) const {
  const Engine& engine = *state_->engine;
  Result result;
  uint32_t e = 0;
  if (!engine.find_event(event_id, &e)) {
    result.status = no_event(event_id);
    return result;
  }
  const Layout& layout = engine.layout(e);
  size_t total = 0;
  const std::vector<HoldListing> listed = engine.holds_of(e, now_ms, kAdminHoldsListedMax, &total);
  Table table({"HOLD", "SEATS", "EXPIRES_IN_S", "TOTAL_CENTS", "LABELS"});
  ojson list = ojson::array();
  for (const HoldListing& hold : listed) {
    ojson labels = ojson::array();
    std::string joined;
    for (uint32_t seat : hold.seats.span()) {
      labels.push_back(seat_label(layout, seat));
      if (!joined.empty()) joined += ' ';
      joined += labels.back().get<std::string>();
    }
    const std::string prefix = hold_prefix(hold.hold_index, hold.version);
    list.push_back({{"hold", prefix},
                    {"seats", std::move(labels)},
                    {"total_cents", hold.total_cents},
                    {"created_at_ms", hold.created_at_ms},
                    {"expires_at_ms", hold.expires_at_ms},
                    {"expires_in_ms", hold.expires_at_ms - now_ms}});
    char expires[32];
    std::snprintf(expires, sizeof expires, "%.1f",
                  static_cast<double>(hold.expires_at_ms - now_ms) / 1000);
    table.row({prefix, std::to_string(hold.seats.count), expires, std::to_string(hold.total_cents),
               joined});
  }
  result.value = {{"event", event_id},
                  {"holds_total", total},
                  {"truncated", total > listed.size()},
                  {"holds", std::move(list)}};
  if (total == 0) {
    result.lines.push_back("no live holds on " + event_id);
    return result;
  }
  table.render(&result.lines);
  result.lines.push_back(
      std::to_string(total) + (total == 1 ? " live hold" : " live holds") +
      (total > listed.size() ? " (the first " + std::to_string(listed.size()) + " listed)" : ""));
  return result;
}

AdminService::Result AdminService::persisters() const {
  Result result;
  ojson list = ojson::array();
  Table table({"PERSISTER", "CONNECTED", "LAG_RECORDS", "LAG_MS", "ROWS_PER_S", "RECORDS",
               "BATCHES", "LAST_BATCH_ROWS", "ERRORS", "LAST_ERROR"});
  for (const persist::Persister* persister : state_->ops->persisters) {
    const persist::PersisterStats s = persister->stats();
    list.push_back({{"name", persister->name()},
                    {"connected", s.connected},
                    {"lag_records", s.lag_records},
                    {"lag_ms", s.lag_ms},
                    {"rows_per_s", s.rows_per_s},
                    {"records_persisted", s.records_persisted},
                    {"batches", s.batches},
                    {"last_batch_rows", s.last_batch_rows},
                    {"batch_rows_max_seen", s.batch_rows_max_seen},
                    {"errors", s.errors},
                    {"bad_records", s.bad_records},
                    {"last_error", s.last_error}});
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f", s.rows_per_s);
    table.row({persister->name(), s.connected ? "yes" : "NO", std::to_string(s.lag_records),
               std::to_string(s.lag_ms), rate, std::to_string(s.records_persisted),
               std::to_string(s.batches), std::to_string(s.last_batch_rows),
               std::to_string(s.errors), s.last_error.empty() ? "-" : s.last_error});
  }
  if (list.empty()) {
    result.lines.push_back(
        "no persisters (no --mariadb, no --redis): the journal alone keeps "
        "the sales");
  } else {
    table.render(&result.lines);
  }
  ojson journals = ojson::array();
  Table journal_table({"JOURNAL", "APPENDED", "DURABLE", "PERSISTED", "FAILED"});
  for (size_t w = 0; w < state_->ops->journals.size(); ++w) {
    const persist::WorkerLog& log = *state_->ops->journals[w];
    journals.push_back({{"worker", w},
                        {"appended", log.appended_sequence()},
                        {"durable", log.durable_sequence()},
                        {"persisted", log.persisted_sequence()},
                        {"failed", log.failed()}});
    journal_table.row({"worker-" + std::to_string(w), std::to_string(log.appended_sequence()),
                       std::to_string(log.durable_sequence()),
                       std::to_string(log.persisted_sequence()), log.failed() ? "YES" : "no"});
  }
  if (!journals.empty()) journal_table.render(&result.lines);
  result.value = {{"persisters", std::move(list)}, {"journals", std::move(journals)}};
  return result;
}

AdminService::Result AdminService::workers() const {
  Result result;
  ojson list = ojson::array();
  // Worker indices: the msgpack-rpc workers, then the HTTP threads, then journals left by an
  // earlier, larger configuration (only drained by the persisters).
  const OpsState& ops = *state_->ops;
  const size_t rpc = ops.rpc_stats.size();
  const size_t serving = rpc + ops.http_stats.size();
  for (size_t w = 0; w < std::max(serving, ops.journals.size()); ++w) {
    ojson worker = {{"worker", w}, {"kind", w < rpc ? "msgpack-rpc" : w < serving ? "http" : "-"}};
    const RequestStats* stats = w < rpc       ? ops.rpc_stats[w]
                                : w < serving ? ops.http_stats[w - rpc]
                                              : nullptr;
    worker["requests"] = stats != nullptr ? stats->requests() : 0;
    worker["busy_refused"] = stats != nullptr ? stats->busy_refused() : 0;
    worker["queue_budget_refused"] = stats != nullptr ? stats->queued_refused() : 0;
    worker["connections"] = stats != nullptr ? ojson(stats->connections_open()) : ojson("-");
    const persist::WorkerLog* log = w < ops.journals.size() ? ops.journals[w] : nullptr;
    worker["journal_appended"] = log != nullptr ? log->appended_sequence() : 0;
    worker["journal_durable"] = log != nullptr ? log->durable_sequence() : 0;
    list.push_back(std::move(worker));
  }
  if (list.empty() || !list[0].is_object()) {
    result.lines.push_back("no workers");
  } else {
    std::vector<std::string> headers;
    for (const auto& [key, value] : list[0].items()) {
      std::string header = key;
      for (char& c : header) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      headers.push_back(header);
    }
    Table table(headers);
    for (const ojson& worker : list) {
      std::vector<std::string> cells;
      for (const auto& [key, value] : list[0].items()) {
        cells.push_back(worker.is_object() && worker.contains(key) ? text_of(worker[key]) : "-");
      }
      table.row(std::move(cells));
    }
    table.render(&result.lines);
  }
  result.value["workers"] = std::move(list);
  return result;
}

AdminService::Result AdminService::log_level(const std::string& level) {
  Result result;
  if (!state_->set_log_level) {
    result.status = Status(ErrorCode::kInternal, "the log level cannot be changed here");
    return result;
  }
  if (!state_->set_log_level(level)) {
    result.status = Status(ErrorCode::kBadRequest, "unknown log level " + echo(level));
    return result;
  }
  const std::string before = state_->log_level;
  state_->log_level = level;
  audit("log level " + before + " -> " + level);
  result.value = {{"ok", true}, {"log_level", level}};
  result.lines.push_back("OK log level " + level);
  return result;
}

AdminService::Result AdminService::set_ready(bool ready) {
  Result result;
  const bool before = state_->ops->ready.exchange(ready, std::memory_order_acq_rel);
  if (before != ready) audit(ready ? "resume: serving again" : "drain: /ready answers 503");
  result.value = {{"ok", true}, {"serving", ready}};
  result.lines.push_back(ready ? "OK serving: GET /ready reports ready again"
                               : "OK draining: GET /ready answers 503, requests are still "
                                 "served; resume undoes it");
  return result;
}

}  // namespace boxoffice::net
