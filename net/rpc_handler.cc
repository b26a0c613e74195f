#include "net/rpc_handler.h"

#include <time.h>

#include "shm/check.h"

namespace boxoffice::net {

int64_t wall_clock_ms() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1'000'000;
}

RpcHandler::RpcHandler(Engine* engine, WorkerContext* worker, DispatchOptions options,
                       FrameLimits limits, uint32_t connections_max, uint32_t requests_per_read_max)
    : engine_(engine),
      worker_(worker),
      dispatcher_(engine, worker, std::move(options)),
      limits_(limits),
      requests_per_read_max_(requests_per_read_max),
      sessions_(connections_max) {}

Session& RpcHandler::session(ConnectionId id) {
  const auto slot = static_cast<uint32_t>(id);
  BOXOFFICE_ASSERT(slot < sessions_.size());  // reactors hand out slots below connections_max
  return sessions_[slot];
}

void RpcHandler::on_open(ConnectionId id) { session(id) = Session{}; }

void RpcHandler::on_close(ConnectionId id) { session(id) = Session{}; }

size_t RpcHandler::on_data(ConnectionId id, std::span<const uint8_t> input, Output& output,
                           bool* close) {
  const int64_t now_ms = wall_clock_ms();
  Session& s = session(id);
  size_t consumed = 0;
  uint32_t run = 0;
  while (consumed < input.size()) {
    Request request;
    size_t frame_bytes = 0;
    const FrameResult result =
        decode_request(input.subspan(consumed), limits_, &request, &frame_bytes);
    if (result == FrameResult::kNeedMore) break;
    if (result == FrameResult::kUnframeable) {
      *close = true;  // nothing after these bytes can be trusted to be a frame boundary
      break;
    }
    scratch_.clear();
    if (run < requests_per_read_max_) {
      dispatcher_.handle(request, &s, now_ms, &scratch_);
      ++run;
      ++requests_;
    } else {
      Dispatcher::pack_busy(request.msgid, "too many requests in one read; retry", &scratch_);
      ++busy_;
    }
    consumed += frame_bytes;
    if (!output.append({reinterpret_cast<const uint8_t*>(scratch_.data()), scratch_.size()})) {
      *close = true;  // the client does not read its responses
      break;
    }
  }
  return consumed;
}

void RpcHandler::on_loop_turn(int64_t now_ms) { engine_->expire_due(*worker_, now_ms); }

}  // namespace boxoffice::net
