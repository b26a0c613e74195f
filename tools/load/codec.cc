#include "tools/load/codec.h"

#include <cstring>

#include "shm/check.h"
#include "tools/load/http_codec.h"
#include "tools/load/redis_codec.h"
#include "tools/load/rpc_codec.h"

namespace boxoffice::load {

const char* operation_name(OperationKind kind) {
  switch (kind) {
    case OperationKind::kHold:
      return "hold";
    case OperationKind::kHoldBest:
      return "hold.best";
    case OperationKind::kBuy:
      return "buy";
    case OperationKind::kConfirm:
      return "hold.confirm";
    case OperationKind::kRelease:
      return "hold.release";
  }
  return "?";
}

void OutputBuffer::consume(size_t size_bytes) {
  BOXOFFICE_ASSERT(size_bytes <= pending_bytes());
  begin_ += size_bytes;
  if (begin_ == end_) begin_ = end_ = 0;
}

void OutputBuffer::compact() {
  if (begin_ == 0) return;
  std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

std::unique_ptr<Codec> make_codec(TargetKind kind, const TargetOptions& options) {
  switch (kind) {
    case TargetKind::kBoxoffice:
      return std::make_unique<RpcCodec>(options);
    case TargetKind::kHttp:
      return std::make_unique<HttpCodec>(options);
    case TargetKind::kRedis:
      return std::make_unique<RedisCodec>(options);
  }
  return nullptr;
}

}  // namespace boxoffice::load
