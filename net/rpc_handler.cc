#include "net/rpc_handler.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "net/reactor_support.h"
#include "persist/worker_log.h"
#include "shm/check.h"

namespace boxoffice::net {

namespace {
constexpr int64_t kSyncRetryMs = 100;           // after a failed journal write or fdatasync
constexpr int64_t kSyncErrorLogEveryMs = 5000;  // one log line per this while it keeps failing
constexpr int64_t kQueueRetryMaxMs = 5000;      // retry_after_ms of a request refused for queueing
}  // namespace

RpcHandler::RpcHandler(Engine* engine, WorkerContext* worker, DispatchOptions options,
                       const RpcLimits& limits, SeatFeed* feed)
    : engine_(engine),
      worker_(worker),
      dispatcher_(engine, worker, std::move(options)),
      limits_(limits.frame),
      requests_per_read_max_(limits.requests_per_read_max),
      notification_backlog_bytes_(limits.notification_backlog_bytes),
      queue_budget_ns_(int64_t{limits.queue_budget_ms} * 1'000'000),
      queue_refusal_("queued longer than the server's queue budget (" +
                     std::to_string(limits.queue_budget_ms) +
                     " ms) before it was read: the server is overloaded; retry"),
      sessions_(limits.connections_max),
      feed_(feed),
      reader_(feed, engine->table().geometry().events_max),
      gate_(limits.connections_max, limits.held_reply_bytes_max) {
  dispatcher_.set_stats(&stats_);
  subscriptions_.reserve(size_t{limits.connections_max} * kSubscriptionsPerConnectionMax);
}

Session& RpcHandler::session(ConnectionId id) {
  const auto slot = static_cast<uint32_t>(id);
  BOXOFFICE_ASSERT(slot < sessions_.size());  // reactors hand out slots below connections_max
  return sessions_[slot];
}

void RpcHandler::on_open(ConnectionId id) {
  session(id) = Session{};
  stats_.connection_opened();
}

void RpcHandler::set_journal(persist::WorkerLog* log, Durability durability, Reactor* reactor) {
  log_ = log;
  durability_ = log == nullptr ? Durability::kMemory : durability;
  reactor_ = reactor;
}

void RpcHandler::on_close(ConnectionId id) {
  session(id) = Session{};
  stats_.connection_closed();
  gate_.forget(id);
  std::erase_if(subscriptions_, [id](const Subscription& s) { return s.connection == id; });
}

void RpcHandler::subscribe(const Request& request, ConnectionId id, Output* output) {
  uint32_t event_index = 0;
  Status status;
  uint32_t mine = 0;
  for (const Subscription& s : subscriptions_) mine += s.connection == id;
  if (Status admitted = dispatcher_.admit(request, session(id)); !admitted.is_ok()) {
    status = std::move(admitted);
  } else if (feed_ == nullptr) {
    status = Status(ErrorCode::kBadRequest, "subscriptions are off on this server");
  } else if (request.event.empty()) {
    status = Status(ErrorCode::kBadRequest, "missing \"event\"");
  } else if (!engine_->find_event(request.event, &event_index)) {
    status = Status(ErrorCode::kNotFound, "no such event");
  } else if (mine >= kSubscriptionsPerConnectionMax) {
    status = Status(ErrorCode::kLimitExceeded, "too many subscriptions on one connection");
  }
  stats_.record(Method::kSubscribe, status.code(), 0);
  if (!status.is_ok()) {
    Dispatcher::pack_error(request.msgid, status, &scratch_);
    return;
  }
  bool already = false;
  for (const Subscription& s : subscriptions_) {
    already = already || (s.connection == id && s.event_index == event_index);
  }
  if (!already) {
    subscriptions_.push_back({id, output, event_index, 0});
    reader_.watch(event_index);
  }
  Dispatcher::pack_subscribed(request.msgid, &scratch_);
}

// Sends this worker's subscribers the changes recorded since the last turn: one notification
// per change, packed once and appended to every subscribed connection. A connection with more
// than notification_backlog_bytes unsent gets no more notifications until it catches up; it
// is then told how many it missed (`lost`), as it is for changes the feed itself dropped.
// Notifications never make a connection overflow (which would close it).
void RpcHandler::publish_changes() {
  auto deliver = [&](Subscription& sub, const ReplyBuffer& bytes) {
    if (sub.output->pending_bytes() + bytes.size() + 64 > notification_backlog_bytes_) {
      ++sub.missed;
      return;
    }
    if (sub.missed > 0) {
      notice_.clear();
      dispatcher_.pack_seats_lost(sub.event_index, sub.missed, &notice_);
      (void)sub.output->append({reinterpret_cast<const uint8_t*>(notice_.data()), notice_.size()});
      sub.missed = 0;
    }
    (void)sub.output->append({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  };
  reader_.read(subscriptions_, [&](uint32_t event_index, const SeatFeed::Change& change) {
    scratch_.clear();
    dispatcher_.pack_seat_changed(event_index, {change.seats, change.count}, change.state,
                                  &scratch_);
    for (Subscription& sub : subscriptions_) {
      if (sub.event_index == event_index) deliver(sub, scratch_);
    }
  });
}

size_t RpcHandler::on_data(ConnectionId id, std::span<const uint8_t> input, int64_t received_at_ns,
                           Output& output, bool* close) {
  const int64_t now_ms = wall_clock_ms();
  // The newest of these bytes waited this long: every request among them waited at least as
  // long (older bytes, leftovers of earlier reads, waited longer).
  const int64_t queued_ns =
      queue_budget_ns_ > 0 && received_at_ns > 0 ? realtime_ns() - received_at_ns : 0;
  const bool over_budget = queued_ns > queue_budget_ns_ && queue_budget_ns_ > 0;
  Session& s = session(id);
  if (gate_.take_overflowed(id)) {
    *close = true;  // replies released from the gate did not fit: the client does not read
    return 0;
  }
  size_t consumed = 0;
  uint32_t run = 0;
  // Each request's latency counts from the end of the one before it (from here for the first):
  // its decoding included, one clock reading per request.
  uint64_t clock_ns = monotonic_ns();
  // Requests are decoded one ahead: while one runs, the seat-table lines the next will touch
  // are already on their way (a random seat's lines are cache misses; one at a time, they
  // stalled each hold of a pipelined batch).
  Request* next = &requests_[0];
  size_t next_bytes = 0;
  FrameResult next_result = decode_request(input, limits_, next, &next_bytes);
  for (;;) {
    if (next_result == FrameResult::kNeedMore) break;
    if (next_result == FrameResult::kUnframeable) {
      *close = true;  // nothing after these bytes can be trusted to be a frame boundary
      break;
    }
    const Request& request = *next;
    const size_t frame_bytes = next_bytes;
    next = next == &requests_[0] ? &requests_[1] : &requests_[0];
    next_result = decode_request(input.subspan(consumed + frame_bytes), limits_, next, &next_bytes);
    if (next_result == FrameResult::kFrame) dispatcher_.prefetch(*next);
    scratch_.clear();
    // Whether the reply may show a change whose record is not durable yet: only a request that
    // runs (a ping shows nothing).
    bool shows_state = false;
    if (durability_ != Durability::kMemory && log_ != nullptr && log_->failed() &&
        request.method != Method::kPing) {
      // Replies would wait for the journal to recover: refuse at once instead, showing nothing,
      // so the client hears BUSY (after what its connection already has waiting, in order).
      // HTTP answers 503 the same way.
      if (busy_why_.empty()) {  // once per failure, not per refused request
        busy_why_ = "the sales journal cannot be written (" + log_->last_error() + "); retry";
      }
      Dispatcher::pack_busy(request.msgid, busy_why_.c_str(), &scratch_);
      stats_.refused_busy();
    } else if (over_budget && request.method != Method::kPing) {
      // Come back after about as long as this queued (at least the budget; at most
      // kQueueRetryMaxMs unless the budget is longer): a client that resent sooner would find
      // the queue no shorter, and one that waits this long keeps its requests out of it until
      // it has drained.
      const int64_t budget_ms = queue_budget_ns_ / 1'000'000;
      const auto retry_ms = static_cast<uint32_t>(std::clamp<int64_t>(
          queued_ns / 1'000'000, budget_ms, std::max(budget_ms, kQueueRetryMaxMs)));
      Dispatcher::pack_busy(request.msgid, queue_refusal_.c_str(), &scratch_, retry_ms);
      stats_.refused_queued();
    } else if (run < requests_per_read_max_ && request.method == Method::kSubscribe &&
               request.error == nullptr) {
      ++run;
      subscribe(request, id, &output);
      shows_state = true;
    } else if (run < requests_per_read_max_) {
      dispatcher_.handle(request, &s, now_ms, &scratch_, &clock_ns);
      shows_state = request.method != Method::kPing;
      ++run;
    } else {
      Dispatcher::pack_busy(request.msgid, "too many requests in one read; retry", &scratch_);
      stats_.refused_busy();
    }
    consumed += frame_bytes;
    const uint64_t needed =
        shows_state && durability_ != Durability::kMemory ? log_->appended_sequence() : 0;
    if (!gate_.send(id, output,
                    {reinterpret_cast<const uint8_t*>(scratch_.data()), scratch_.size()}, needed,
                    reply_bound())) {
      *close = true;  // the client does not read its responses
      break;
    }
  }
  return consumed;
}

void RpcHandler::on_loop_turn(int64_t now_ms) {
  engine_->expire_due(*worker_, now_ms, [this](int64_t late_ms) { stats_.hold_expired(late_ms); });
  if (feed_ != nullptr) publish_changes();
  if (log_ != nullptr) pump_journal(now_ms);
}

uint64_t RpcHandler::reply_bound() const {
  if (durability_ == Durability::kMemory) return UINT64_MAX;
  const uint64_t durable = log_->durable_sequence();
  return durability_ == Durability::kDb ? std::min(durable, log_->persisted_sequence()) : durable;
}

// Group commit: everything staged since the last turn is written with one write(), and one
// fdatasync covers it; only one is in flight, so records staged meanwhile form the next batch.
void RpcHandler::pump_journal(int64_t now_ms) {
  if (durability_ == Durability::kDb) gate_.release(reply_bound());
  if (sync_in_flight_ || now_ms < sync_retry_at_ms_) return;
  std::string error;
  const uint64_t target = log_->write_staged(&error);
  // A retry after a failed fdatasync writes the lost batch again and makes it durable at once.
  if (gate_.holding()) gate_.release(reply_bound());
  if (target != 0) {
    sync_in_flight_ = true;
    sync_started_ns_ = monotonic_ns();
    reactor_->datasync(log_->fd(), target);
    return;
  }
  if (log_->failed()) {
    sync_retry_at_ms_ = now_ms + kSyncRetryMs;
    if (now_ms - sync_error_logged_at_ms_ >= kSyncErrorLogEveryMs) {
      sync_error_logged_at_ms_ = now_ms;
      std::fprintf(stderr, "journal %s: %s; sales refused (BUSY) until it recovers\n",
                   log_->directory().c_str(), log_->last_error().c_str());
    }
  }
}

void RpcHandler::on_datasync(uint64_t cookie, int result) {
  sync_in_flight_ = false;
  if (result == 0) {
    stats_.journal_synced(monotonic_ns() - sync_started_ns_);
    log_->synced(cookie);
    busy_why_.clear();
    gate_.release(reply_bound());
    return;
  }
  log_->sync_failed(std::string("journal fdatasync: ") + std::strerror(-result));
  sync_retry_at_ms_ = wall_clock_ms() + kSyncRetryMs;
}

// Stopping: one last inline sync so the replies of the last turns can still go out.
void RpcHandler::on_stop() {
  if (log_ == nullptr) return;
  std::string error;
  if (!log_->sync_now(&error)) {
    std::fprintf(stderr, "journal %s: final sync failed: %s; held replies are dropped\n",
                 log_->directory().c_str(), error.c_str());
  }
  gate_.release(reply_bound());
}

}  // namespace boxoffice::net
