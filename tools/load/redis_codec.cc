#include "tools/load/redis_codec.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "shm/check.h"
#include "tools/load/control_client.h"

namespace boxoffice::load {

const char kHoldManyScript[] =
    "for i = 1, #KEYS do if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end end "
    "for i = 1, #KEYS do "
    "if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) "
    "else redis.call('SET', KEYS[i], ARGV[1]) end end "
    "return 1";

const char kConfirmScript[] =
    "for i = 1, #KEYS do if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end end "
    "for i = 1, #KEYS do redis.call('PERSIST', KEYS[i]) end "
    "return 1";

const char kReleaseScript[] =
    "for i = 1, #KEYS do if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end end "
    "for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end "
    "return 1";

std::string redis_seat_key(std::string_view event, uint32_t seat) {
  return "seat:{" + std::string(event) + "}:" + std::to_string(seat);
}

redisContext* redis_connect(const std::string& addr, std::string* error) {
  const int fd = connect_tcp(addr, false, error);
  if (fd < 0) return nullptr;
  redisContext* c = redisConnectFd(fd);
  if (c == nullptr || c->err) {
    *error = "redis " + addr + ": " + (c != nullptr ? c->errstr : "out of memory");
    if (c != nullptr) {
      redisFree(c);  // closes fd
    } else {
      ::close(fd);
    }
    return nullptr;
  }
  return c;
}

namespace {

std::atomic<uint64_t> next_connection_id{1};

class RespWriter {
 public:
  explicit RespWriter(OutputBuffer* out) : out_(out) {}
  void array(size_t count) { header('*', count); }
  void bulk(std::string_view arg) {
    header('$', arg.size());
    out_->append(arg);
    out_->append("\r\n");
  }
  void bulk(uint64_t value) {
    char digits[24];
    const int n =
        std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(value));
    bulk(std::string_view(digits, static_cast<size_t>(n)));
  }

 private:
  void header(char kind, size_t count) {
    char line[32];
    const int n = std::snprintf(line, sizeof line, "%c%zu\r\n", kind, count);
    out_->write(line, static_cast<size_t>(n));
  }
  OutputBuffer* out_;
};

}  // namespace

RedisCodec::RedisCodec(const TargetOptions& options)
    : options_(options),
      reader_(redisReaderCreate()),
      scratch_(64 << 10),
      sent_(options.pipeline_depth + 1),
      connection_id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)) {
  BOXOFFICE_ASSERT(reader_ != nullptr);
}

RedisCodec::~RedisCodec() { redisReaderFree(reader_); }

void RedisCodec::encode(const Operation& op, uint32_t tag, OutputBuffer* out) {
  BOXOFFICE_ASSERT(supports(op.kind));
  BOXOFFICE_ASSERT(op.seat_count >= 1 && op.seat_count <= kOperationSeatsMax);
  BOXOFFICE_ASSERT(out->free_bytes() >= request_bytes_max());
  Sent& sent = sent_.push();
  sent.tag = tag;
  sent.kind = op.kind;
  sent.seat_count = op.seat_count;
  sent.seats = op.seats;
  const bool takes_token = op.kind == OperationKind::kConfirm || op.kind == OperationKind::kRelease;
  if (takes_token) {
    sent.token = op.hold_token;
  } else {
    char text[kHoldTokenChars + 1];
    std::snprintf(text, sizeof text, "%010llu-%021llu",
                  static_cast<unsigned long long>(connection_id_ % 10'000'000'000ull),
                  static_cast<unsigned long long>(++request_serial_));
    std::memcpy(sent.token.data(), text, kHoldTokenChars);
  }
  const std::string_view token(sent.token.data(), sent.token.size());
  char key[160];
  auto seat_key = [&](uint32_t seat) {
    const int n = std::snprintf(key, sizeof key, "seat:{%s}:%u", options_.event.c_str(), seat);
    return std::string_view(key, static_cast<size_t>(n));
  };
  RespWriter w(out);
  if (takes_token) {
    w.array(3 + op.seat_count + 1);
    w.bulk("EVALSHA");
    w.bulk(op.kind == OperationKind::kConfirm ? options_.redis_confirm_sha
                                              : options_.redis_release_sha);
    w.bulk(uint64_t{op.seat_count});
    for (int i = 0; i < op.seat_count; ++i) w.bulk(seat_key(op.seats[i]));
    w.bulk(token);
    return;
  }
  const bool hold = op.kind == OperationKind::kHold;
  if (op.seat_count == 1) {
    w.array(hold ? 6 : 4);
    w.bulk("SET");
    w.bulk(seat_key(op.seats[0]));
    w.bulk(token);
    w.bulk("NX");
    if (hold) {
      w.bulk("PX");
      w.bulk(uint64_t{options_.hold_ttl_ms});
    }
  } else {
    w.array(3 + op.seat_count + 2);
    w.bulk("EVALSHA");
    w.bulk(options_.redis_script_sha);
    w.bulk(uint64_t{op.seat_count});
    for (int i = 0; i < op.seat_count; ++i) w.bulk(seat_key(op.seats[i]));
    w.bulk(token);
    w.bulk(hold ? uint64_t{options_.hold_ttl_ms} : uint64_t{0});
  }
}

void RedisCodec::input_added(size_t bytes) {
  if (redisReaderFeed(reader_, scratch_.data(), bytes) != REDIS_OK) broken_ = true;
}

ParseStatus RedisCodec::next(Reply* reply) {
  if (broken_) return ParseStatus::kBroken;
  void* object = nullptr;
  if (redisReaderGetReply(reader_, &object) != REDIS_OK) return ParseStatus::kBroken;
  if (object == nullptr) return ParseStatus::kNeedMore;
  if (sent_.empty()) {
    freeReplyObject(object);
    return ParseStatus::kBroken;
  }
  const Sent sent = sent_.front();
  sent_.pop();
  const redisReply* r = static_cast<const redisReply*>(object);
  *reply = Reply{};
  reply->tag = sent.tag;
  // +OK from SET, 1 from a script: done; nil from SET NX, 0 from a script: a seat was taken
  // (hold, buy) or the hold is no longer ours (confirm, release).
  const bool done =
      r->type == REDIS_REPLY_STATUS || (r->type == REDIS_REPLY_INTEGER && r->integer == 1);
  const bool refused =
      r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_INTEGER && r->integer == 0);
  const bool takes_token =
      sent.kind == OperationKind::kConfirm || sent.kind == OperationKind::kRelease;
  if (done) {
    reply->status = ReplyStatus::kOk;
    reply->error_code = 0;
    if (sent.kind == OperationKind::kHold) {
      reply->has_hold_token = true;
      reply->hold_token = sent.token;
      reply->seat_count = sent.seat_count;
      reply->seats = sent.seats;
    } else if (sent.kind == OperationKind::kBuy || sent.kind == OperationKind::kConfirm) {
      reply->ticket_count = sent.seat_count;
      for (uint32_t i = 0; i < sent.seat_count; ++i) {
        reply->tickets[i].seat_index = sent.seats[i];
        std::memcpy(reply->tickets[i].id.data(), sent.token.data(), kHoldTokenChars);
      }
    }
  } else if (refused) {
    reply->status = takes_token ? ReplyStatus::kError : ReplyStatus::kConflict;
    reply->error_code = takes_token ? kErrorHoldExpired : kErrorSeatTaken;
  } else {
    reply->status = ReplyStatus::kError;
    reply->error_code = kErrorOther;
  }
  freeReplyObject(object);
  return ParseStatus::kReply;
}

}  // namespace boxoffice::load
