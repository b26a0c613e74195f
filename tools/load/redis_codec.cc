#include "tools/load/redis_codec.h"

#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace boxoffice::load {

const char kHoldManyScript[] =
    "for i = 1, #KEYS do if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end end "
    "for i = 1, #KEYS do "
    "if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) "
    "else redis.call('SET', KEYS[i], ARGV[1]) end end "
    "return 1";

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
      tags_(options.pipeline_depth + 1),
      connection_id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)) {
  BOXOFFICE_ASSERT(reader_ != nullptr);
}

RedisCodec::~RedisCodec() { redisReaderFree(reader_); }

void RedisCodec::encode(const Operation& op, uint32_t tag, OutputBuffer* out) {
  BOXOFFICE_ASSERT(supports(op.kind));
  BOXOFFICE_ASSERT(op.seat_count >= 1 && op.seat_count <= kOperationSeatsMax);
  BOXOFFICE_ASSERT(out->free_bytes() >= request_bytes_max());
  char token[48];
  const int token_bytes = std::snprintf(token, sizeof token, "%llu-%u",
                                        static_cast<unsigned long long>(connection_id_), tag);
  const std::string_view token_view(token, static_cast<size_t>(token_bytes));
  char key[160];
  auto seat_key = [&](uint32_t seat) {
    const int n = std::snprintf(key, sizeof key, "seat:{%s}:%u", options_.event.c_str(), seat);
    return std::string_view(key, static_cast<size_t>(n));
  };
  const bool hold = op.kind == OperationKind::kHold;
  RespWriter w(out);
  if (op.seat_count == 1) {
    w.array(hold ? 6 : 4);
    w.bulk("SET");
    w.bulk(seat_key(op.seats[0]));
    w.bulk(token_view);
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
    w.bulk(token_view);
    w.bulk(hold ? uint64_t{options_.hold_ttl_ms} : uint64_t{0});
  }
  tags_.push(tag, op.kind);
}

void RedisCodec::input_added(size_t bytes) {
  if (redisReaderFeed(reader_, scratch_.data(), bytes) != REDIS_OK) broken_ = true;
}

ParseStatus RedisCodec::next(Reply* reply) {
  if (broken_) return ParseStatus::kBroken;
  void* object = nullptr;
  if (redisReaderGetReply(reader_, &object) != REDIS_OK) return ParseStatus::kBroken;
  if (object == nullptr) return ParseStatus::kNeedMore;
  if (tags_.empty()) {
    freeReplyObject(object);
    return ParseStatus::kBroken;
  }
  const redisReply* r = static_cast<const redisReply*>(object);
  *reply = Reply{};
  reply->tag = tags_.front().tag;
  tags_.pop();
  switch (r->type) {
    case REDIS_REPLY_STATUS:  // +OK from SET
      reply->status = ReplyStatus::kOk;
      reply->error_code = 0;
      break;
    case REDIS_REPLY_NIL:  // SET NX found the key
      reply->status = ReplyStatus::kConflict;
      reply->error_code = kErrorSeatTaken;
      break;
    case REDIS_REPLY_INTEGER:  // the script: 1 set, 0 taken
      reply->status = r->integer == 1 ? ReplyStatus::kOk : ReplyStatus::kConflict;
      reply->error_code = r->integer == 1 ? 0 : kErrorSeatTaken;
      break;
    default:
      reply->status = ReplyStatus::kError;
      reply->error_code = kErrorOther;
      break;
  }
  freeReplyObject(object);
  return ParseStatus::kReply;
}

}  // namespace boxoffice::load
