#include "persist/redis_outbox.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "shm/check.h"

namespace boxoffice::persist {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

constexpr char kAddressForms[] = "expected host:port, [v6 address]:port or unix:/path";

bool parse_port(std::string_view text, uint16_t* port) {
  uint32_t value = 0;
  const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || status != std::errc() || end != text.data() + text.size()) return false;
  if (value == 0 || value > UINT16_MAX) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

bool parse_sequence(std::string_view text, uint64_t* sequence) {
  const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), *sequence);
  return !text.empty() && status == std::errc() && end == text.data() + text.size();
}

std::string reply_text(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_ERROR || reply.type == REDIS_REPLY_STATUS ||
      reply.type == REDIS_REPLY_STRING) {
    return std::string(reply.str, reply.len);
  }
  return "reply of type " + std::to_string(reply.type);
}

// hiredis writes with write(2), so a peer that closed the socket raises SIGPIPE, which kills a
// process that does not ignore it. Block it on this thread while we talk to Redis and swallow
// one raised meanwhile: losing Redis must cost a false return, never the process.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_mask_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec no_wait{};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t saved_mask_;
  bool was_pending_ = false;
};

// The arguments of one command; numbers are formatted into digits_ and the pointers resolved
// when appending (digits_ may move while it grows). hiredis copies everything on append.
class Command {
 public:
  void start(std::string_view name) {
    args_.clear();
    digits_.clear();
    text(name);
  }
  void text(std::string_view value) { args_.push_back({value.data(), 0, value.size()}); }
  template <typename Int>
  void number(Int value) {
    static_assert(std::is_integral_v<Int>);
    char buffer[24];
    const auto [end, status] = std::to_chars(buffer, buffer + sizeof buffer, value);
    BOXOFFICE_ASSERT(status == std::errc());
    args_.push_back({nullptr, digits_.size(), static_cast<size_t>(end - buffer)});
    digits_.append(buffer, end);
  }
  // False when hiredis could not buffer it (out of memory: context->err says so).
  bool append_to(redisContext* context) {
    argv_.clear();
    lengths_.clear();
    for (const Arg& arg : args_) {
      argv_.push_back(arg.text != nullptr ? arg.text : digits_.data() + arg.digits_offset);
      lengths_.push_back(arg.bytes);
    }
    return redisAppendCommandArgv(context, static_cast<int>(argv_.size()), argv_.data(),
                                  lengths_.data()) == REDIS_OK;
  }

 private:
  struct Arg {
    const char* text;  // null: the number at digits_offset
    size_t digits_offset;
    size_t bytes;
  };
  std::vector<Arg> args_;
  std::string digits_;
  std::vector<const char*> argv_;
  std::vector<size_t> lengths_;
};

void start_xadd(const std::string& stream, const std::string& length_max_text, Command* command) {
  command->start("XADD");
  command->text(stream);
  command->text("MAXLEN");
  command->text("~");
  command->text(length_max_text);
  command->text("*");
}

void add_sale(const TicketRow& ticket, Command* command) {
  command->text("type");
  command->text("sale");
  command->text("ticket_id");
  command->text(ticket.ticket_id);
  command->text("event_id");
  command->text(ticket.event_id);
  command->text("event_index");
  command->number(ticket.event_index);
  command->text("seat_index");
  command->number(ticket.seat_index);
  command->text("seat_label");
  command->text(ticket.seat_label);
  command->text("generation");
  command->number(ticket.generation);
  command->text("price_cents");
  command->number(ticket.price_cents);
  command->text("sold_at_ms");
  command->number(ticket.sold_at_ms);
  command->text("buyer_ref");
  command->text(ticket.buyer_ref);
}

void add_void(const VoidRow& voided, Command* command) {
  command->text("type");
  command->text("void");
  command->text("ticket_id");
  command->text(voided.ticket_id);
  command->text("event_id");
  command->text(voided.event_id);
  command->text("event_index");
  command->number(voided.event_index);
  command->text("seat_index");
  command->number(voided.seat_index);
  command->text("generation");
  command->number(voided.generation);
  command->text("voided_at_ms");
  command->number(voided.voided_at_ms);
}

// Why the connection failed. Call right after the failing hiredis call: errno still holds
// EAGAIN when a read or write ran into SO_RCVTIMEO / SO_SNDTIMEO.
std::string io_error_text(const redisContext& context, uint32_t timeout_ms) {
  std::string text = context.errstr;
  if (context.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    text += " (no progress within timeout_ms=" + std::to_string(timeout_ms) + ")";
  }
  return text;
}

timeval to_timeval(uint32_t ms) {
  return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

}  // namespace

bool parse_redis_address(std::string_view text, RedisConfig* config, std::string* error) {
  const auto fail = [&](const char* why) {
    *error = "redis address '" + std::string(text) + "': " + why + " (" + kAddressForms + ")";
    return false;
  };
  constexpr std::string_view kUnix = "unix:";
  if (text.starts_with(kUnix)) {
    const std::string_view path = text.substr(kUnix.size());
    if (path.empty()) return fail("empty socket path");
    if (path.size() >= sizeof(sockaddr_un::sun_path)) return fail("socket path too long");
    config->unix_socket = path;
    return true;
  }
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("no ']' after the v6 address");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("no ':port' after ']'");
    port_text = text.substr(close + 2);
    in6_addr v6;
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return fail("not a v6 address inside [ ]");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("no port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty()) return fail("empty host");
    if (host.find(':') != std::string_view::npos) return fail("a v6 address needs [ ]");
    if (host.find_first_of(" \t[]/") != std::string_view::npos) return fail("bad host");
  }
  uint16_t port = 0;
  if (!parse_port(port_text, &port)) return fail("port must be 1..65535");
  config->host = host;
  config->port = port;
  config->unix_socket.clear();
  return true;
}

RedisOutbox::RedisOutbox(const RedisConfig& config, redisContext* context)
    : config_(config), context_(context) {
  if (!config_.unix_socket.empty()) {
    address_ = "unix:" + config_.unix_socket;
  } else if (config_.host.find(':') != std::string::npos) {
    address_ = "[" + config_.host + "]:" + std::to_string(config_.port);
  } else {
    address_ = config_.host + ":" + std::to_string(config_.port);
  }
  progress_key_ = config_.stream + ":progress";
  length_max_text_ = std::to_string(config_.stream_length_max);
}

RedisOutbox::~RedisOutbox() {
  if (context_ != nullptr) redisFree(context_);
}

std::unique_ptr<RedisOutbox> RedisOutbox::connect(const RedisConfig& config, std::string* error) {
  // A zero timeout would mean "wait forever", which Redis must never make the persister do.
  if (config.timeout_ms == 0 || config.stream.empty() || config.stream_length_max == 0) {
    *error = "redis: timeout_ms, stream and stream_length_max must be set";
    return nullptr;
  }
  const timeval timeout = to_timeval(config.timeout_ms);
  redisContext* context = config.unix_socket.empty()
                              ? redisConnectWithTimeout(config.host.c_str(), config.port, timeout)
                              : redisConnectUnixWithTimeout(config.unix_socket.c_str(), timeout);
  if (context == nullptr) {
    *error = "redis: out of memory allocating a connection";
    return nullptr;
  }
  std::unique_ptr<RedisOutbox> outbox(new RedisOutbox(config, context));
  if (context->err != 0) {
    *error = "redis " + outbox->address_ + ": connect: " + context->errstr;
    return nullptr;
  }
  if (redisSetTimeout(context, timeout) != REDIS_OK) {
    *error = "redis " + outbox->address_ + ": setting the timeout: " + context->errstr;
    return nullptr;
  }
  SigpipeBlock sigpipe_block;
  const char* argv[] = {"PING"};
  const size_t lengths[] = {4};
  const Reply pong(static_cast<redisReply*>(redisCommandArgv(context, 1, argv, lengths)));
  if (pong == nullptr) {
    *error = "redis " + outbox->address_ + ": PING: " + io_error_text(*context, config.timeout_ms);
    return nullptr;
  }
  if (pong->type != REDIS_REPLY_STATUS || reply_text(*pong) != "PONG") {
    *error = "redis " + outbox->address_ + ": PING answered " + reply_text(*pong);
    return nullptr;
  }
  return outbox;
}

bool RedisOutbox::connection_usable(std::string* error) const {
  if (context_->err == 0) return true;
  *error =
      "redis " + address_ + ": connection broken earlier (" + context_->errstr + "); connect again";
  return false;
}

bool RedisOutbox::load_progress(std::vector<StreamProgress>* out, std::string* error) {
  if (!connection_usable(error)) return false;
  SigpipeBlock sigpipe_block;
  const char* argv[] = {"HGETALL", progress_key_.c_str()};
  const size_t lengths[] = {7, progress_key_.size()};
  const Reply reply(static_cast<redisReply*>(redisCommandArgv(context_, 2, argv, lengths)));
  const std::string what = "redis " + address_ + ": HGETALL " + progress_key_ + ": ";
  if (reply == nullptr) {
    *error = what + io_error_text(*context_, config_.timeout_ms);
    return false;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
    *error = what + reply_text(*reply);
    return false;
  }
  std::vector<StreamProgress> progress;
  for (size_t i = 0; i < reply->elements; i += 2) {
    const redisReply& name = *reply->element[i];
    const redisReply& value = *reply->element[i + 1];
    StreamProgress stream;
    if (name.type != REDIS_REPLY_STRING || value.type != REDIS_REPLY_STRING ||
        !parse_sequence(std::string_view(value.str, value.len), &stream.sequence)) {
      *error = what + "field '" + reply_text(name) + "' is not a sequence: " + reply_text(value);
      return false;
    }
    stream.name.assign(name.str, name.len);
    progress.push_back(std::move(stream));
  }
  std::sort(progress.begin(), progress.end(),
            [](const StreamProgress& a, const StreamProgress& b) { return a.name < b.name; });
  *out = std::move(progress);
  return true;
}

bool RedisOutbox::publish(const PersistBatch& batch, std::string* error) {
  if (!connection_usable(error)) return false;
  const size_t entries = batch.tickets.size() + batch.voids.size();
  if (entries == 0 && batch.streams.empty()) return true;
  SigpipeBlock sigpipe_block;
  // Entry i is tickets[i] below tickets.size(), then voids: sales first, in journal order.
  size_t next_entry = 0;
  do {
    const size_t chunk = std::min(entries - next_entry, kTransactionEntriesMax);
    const bool last = next_entry + chunk == entries;
    if (!send_transaction(batch, next_entry, chunk, last && !batch.streams.empty(), error)) {
      return false;
    }
    next_entry += chunk;
  } while (next_entry < entries);
  return true;
}

bool RedisOutbox::send_transaction(const PersistBatch& batch, size_t first_entry, size_t entries,
                                   bool with_progress, std::string* error) {
  const auto fail = [&](const std::string& why) {
    *error = "redis " + address_ + ": transaction of entries [" + std::to_string(first_entry) +
             ", " + std::to_string(first_entry + entries) + "): " + why;
    return false;
  };
  Command command;
  bool appended = true;
  command.start("MULTI");
  appended &= command.append_to(context_);
  for (size_t i = first_entry; i < first_entry + entries; ++i) {
    start_xadd(config_.stream, length_max_text_, &command);
    if (i < batch.tickets.size()) {
      add_sale(batch.tickets[i], &command);
    } else {
      add_void(batch.voids[i - batch.tickets.size()], &command);
    }
    appended &= command.append_to(context_);
  }
  if (with_progress) {
    command.start("HSET");
    command.text(progress_key_);
    for (const StreamProgress& stream : batch.streams) {
      command.text(stream.name);
      command.number(stream.sequence);
    }
    appended &= command.append_to(context_);
  }
  command.start("EXEC");
  appended &= command.append_to(context_);
  if (!appended) return fail(io_error_text(*context_, config_.timeout_ms));

  // Replies, all read even after an error reply so the connection stays in step: +OK for MULTI,
  // +QUEUED per command (or the error that will abort the transaction), then EXEC's array of
  // results, -EXECABORT, or nil.
  const size_t queued = entries + (with_progress ? 1 : 0);
  std::string first_error;
  const auto note = [&](const redisReply& reply) {
    if (first_error.empty()) first_error = reply_text(reply);
  };
  for (size_t i = 0; i < 1 + queued; ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK)
      return fail(io_error_text(*context_, config_.timeout_ms));
    const Reply reply(static_cast<redisReply*>(raw));
    if (reply->type != REDIS_REPLY_STATUS) note(*reply);
  }
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK)
    return fail(io_error_text(*context_, config_.timeout_ms));
  const Reply exec(static_cast<redisReply*>(raw));
  if (exec->type == REDIS_REPLY_NIL) return fail("EXEC returned nil (transaction discarded)");
  if (exec->type != REDIS_REPLY_ARRAY) {
    return fail("EXEC: " + reply_text(*exec) +
                (first_error.empty() ? "" : " (first queued error: " + first_error + ")"));
  }
  if (exec->elements != queued) {
    return fail("EXEC returned " + std::to_string(exec->elements) + " results for " +
                std::to_string(queued) + " commands");
  }
  for (size_t i = 0; i < exec->elements; ++i) {
    if (exec->element[i]->type == REDIS_REPLY_ERROR) note(*exec->element[i]);
  }
  if (!first_error.empty()) return fail(first_error);
  return true;
}

}  // namespace boxoffice::persist
