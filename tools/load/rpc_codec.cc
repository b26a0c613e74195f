#include "tools/load/rpc_codec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <msgpack.hpp>
#include <string_view>

namespace boxoffice::load {
namespace {

constexpr int kDepthMax = 8;  // deeper values are walked but never kept
// A reply carries up to 32 tickets with their seats: well under this.
constexpr size_t kReplyBytesMax = 32 << 10;

enum class Key : uint8_t {
  kOther,
  kCode,
  kHold,
  kSeats,
  kTickets,
  kId,
  kSeat,
  kIndex,
  kRetryAfterMs,
};

Key classify(std::string_view key) {
  if (key == "code") return Key::kCode;
  if (key == "hold") return Key::kHold;
  if (key == "seats") return Key::kSeats;
  if (key == "tickets") return Key::kTickets;
  if (key == "id") return Key::kId;
  if (key == "seat") return Key::kSeat;
  if (key == "index") return Key::kIndex;
  if (key == "retry_after_ms") return Key::kRetryAfterMs;
  return Key::kOther;
}

struct Fields {
  uint32_t array_size = 0;
  uint64_t type = ~0ull;
  uint64_t msgid = ~0ull;
  bool error_nil = false;
  bool error_map = false;
  int64_t error_code = -1;
};

// Walks one reply; keeps the fields named in rpc_codec.h. frames_[d] describes the container at
// depth d (1: the top array): the index of its current element, or the key of its current value.
class ReplyVisitor : public msgpack::null_visitor {
 public:
  ReplyVisitor(Fields* fields, Reply* reply) : f_(fields), r_(reply) {}

  bool start_array(uint32_t size) {
    if (depth_ == 0) f_->array_size = size;
    push();
    return true;
  }
  bool start_array_item() {
    if (depth_ <= kDepthMax) ++frames_[depth_].index;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t) {
    if (depth_ == 1 && top_index() == 2) f_->error_map = true;
    // A map in the result's "seats" array (a held seat) or "tickets" array (a ticket).
    if (depth_ == 3 && top_index() == 3 && frames_[2].key == Key::kSeats &&
        r_->seat_count < kOperationSeatsMax) {
      ++r_->seat_count;
    }
    if (depth_ == 3 && top_index() == 3 && frames_[2].key == Key::kTickets &&
        r_->ticket_count < kOperationSeatsMax) {
      ++r_->ticket_count;
    }
    push();
    return true;
  }
  bool start_map_key() {
    in_key_ = true;
    if (depth_ <= kDepthMax) frames_[depth_].key = Key::kOther;
    return true;
  }
  bool end_map_key() {
    in_key_ = false;
    return true;
  }
  bool end_map() {
    --depth_;
    return true;
  }
  bool visit_str(const char* v, uint32_t size) {
    if (in_key_) {
      if (depth_ <= kDepthMax) frames_[depth_].key = classify({v, size});
      return true;
    }
    if (depth_ == 2 && top_index() == 3 && frames_[2].key == Key::kHold &&
        size == kHoldTokenChars) {
      std::memcpy(r_->hold_token.data(), v, size);
      r_->has_hold_token = true;
    }
    if (depth_ == 4 && in_ticket() && frames_[4].key == Key::kId && size == kTicketIdChars) {
      std::memcpy(r_->tickets[r_->ticket_count - 1].id.data(), v, size);
    }
    return true;
  }
  bool visit_nil() {
    if (depth_ == 1 && top_index() == 2) f_->error_nil = true;
    return true;
  }
  bool visit_positive_integer(uint64_t v) {
    if (in_key_) return true;
    if (depth_ == 1 && top_index() == 0) f_->type = v;
    if (depth_ == 1 && top_index() == 1) f_->msgid = v;
    if (depth_ == 2 && top_index() == 2 && frames_[2].key == Key::kCode) {
      f_->error_code = static_cast<int64_t>(v);
    }
    if (depth_ == 2 && top_index() == 2 && frames_[2].key == Key::kRetryAfterMs) {
      r_->retry_after_ms = static_cast<int64_t>(std::min<uint64_t>(v, kRetryAfterMsMax));
    }
    if (depth_ == 4 && top_index() == 3 && frames_[2].key == Key::kSeats &&
        frames_[4].key == Key::kIndex && r_->seat_count > 0) {
      r_->seats[r_->seat_count - 1] = static_cast<uint32_t>(v);
    }
    if (depth_ == 5 && in_ticket() && frames_[4].key == Key::kSeat &&
        frames_[5].key == Key::kIndex) {
      r_->tickets[r_->ticket_count - 1].seat_index = static_cast<uint32_t>(v);
    }
    return true;
  }
  void parse_error(size_t, size_t) { failed_ = true; }
  void insufficient_bytes(size_t, size_t) {}
  bool failed() const { return failed_; }

 private:
  struct Frame {
    int index = -1;
    Key key = Key::kOther;
  };
  void push() {
    ++depth_;
    if (depth_ <= kDepthMax) frames_[depth_] = Frame{};
  }
  int top_index() const { return frames_[1].index; }
  bool in_ticket() const {
    return top_index() == 3 && frames_[2].key == Key::kTickets && r_->ticket_count > 0;
  }

  Fields* f_;
  Reply* r_;
  Frame frames_[kDepthMax + 1];
  int depth_ = 0;
  bool in_key_ = false;
  bool failed_ = false;
};

void pack_seats(msgpack::packer<OutputBuffer>& pk, const Operation& op) {
  pk.pack("seats");
  pk.pack_array(op.seat_count);
  for (int i = 0; i < op.seat_count; ++i) pk.pack_uint32(op.seats[i]);
}

}  // namespace

RpcCodec::RpcCodec(const TargetOptions& options)
    : options_(options), input_(kReplyBytesMax + options.pipeline_depth * 1024) {}

void RpcCodec::encode(const Operation& op, uint32_t tag, OutputBuffer* out) {
  BOXOFFICE_ASSERT(op.seat_count <= kOperationSeatsMax);
  BOXOFFICE_ASSERT(out->free_bytes() >= request_bytes_max());
  msgpack::packer<OutputBuffer> pk(*out);
  pk.pack_array(4);
  pk.pack_uint8(0);
  pk.pack_uint32(tag);
  pk.pack(operation_name(op.kind));
  const std::string_view token(op.hold_token.data(), op.hold_token.size());
  switch (op.kind) {
    case OperationKind::kHold:
      pk.pack_map(3);
      pk.pack("event");
      pk.pack(options_.event);
      pack_seats(pk, op);
      pk.pack("ttl_ms");
      pk.pack_uint32(options_.hold_ttl_ms);
      break;
    case OperationKind::kHoldBest:
      pk.pack_map(4);
      pk.pack("event");
      pk.pack(options_.event);
      pk.pack("zone");
      pk.pack_uint32(op.zone);
      pk.pack("count");
      pk.pack_uint32(op.best_count);
      pk.pack("ttl_ms");
      pk.pack_uint32(options_.hold_ttl_ms);
      break;
    case OperationKind::kBuy:
      pk.pack_map(3);
      pk.pack("event");
      pk.pack(options_.event);
      pack_seats(pk, op);
      pk.pack("buyer");
      pk.pack("boxoffice-load");
      break;
    case OperationKind::kConfirm:
      pk.pack_map(2);
      pk.pack("hold");
      pk.pack(token);
      pk.pack("buyer");
      pk.pack("boxoffice-load");
      break;
    case OperationKind::kRelease:
      pk.pack_map(1);
      pk.pack("hold");
      pk.pack(token);
      break;
  }
}

ParseStatus RpcCodec::parse_reply(const char* bytes, size_t size_bytes, Reply* reply,
                                  size_t* consumed_bytes) {
  *reply = Reply{};
  Fields fields;
  ReplyVisitor visitor(&fields, reply);
  size_t offset = 0;
  if (size_bytes == 0) return ParseStatus::kNeedMore;
  if (!msgpack::parse(bytes, size_bytes, offset, visitor)) {
    return visitor.failed() ? ParseStatus::kBroken : ParseStatus::kNeedMore;
  }
  const bool shaped = fields.array_size == 4 && fields.type == 1 && fields.msgid <= 0xffffffff &&
                      (fields.error_nil || fields.error_map);
  if (!shaped) return ParseStatus::kBroken;
  *consumed_bytes = offset;
  reply->tag = static_cast<uint32_t>(fields.msgid);
  if (fields.error_nil) {
    reply->status = ReplyStatus::kOk;
    reply->error_code = 0;
  } else {
    const int64_t code = fields.error_code;
    reply->error_code = code > 0 && code < kErrorCodesMax ? static_cast<int>(code) : kErrorOther;
    reply->status =
        reply->error_code == kErrorSeatTaken ? ReplyStatus::kConflict : ReplyStatus::kError;
  }
  return ParseStatus::kReply;
}

ParseStatus RpcCodec::next(Reply* reply) {
  size_t consumed = 0;
  const ParseStatus status = parse_reply(input_.data(), input_.size(), reply, &consumed);
  if (status == ParseStatus::kReply) input_.consume(consumed);
  if (status == ParseStatus::kNeedMore && input_space().empty()) return ParseStatus::kBroken;
  return status;
}

}  // namespace boxoffice::load
