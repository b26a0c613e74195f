#include "tools/load/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "shm/check.h"
#include "tools/load/schedule.h"

namespace boxoffice::load {
namespace {

constexpr uint32_t kPipelineMax = 1u << 16;  // the tag's low 16 bits name the slot
constexpr int kCompletionsPerWait = 256;
constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kWaitMaxNs = 100'000'000;
constexpr int64_t kOpenLoopWakeMinNs = 50'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Worker::Worker(const WorkerConfig& config, SharedRun* shared_run, SharedSeats* shared_seats,
               std::vector<int> fds)
    : config_(config),
      shared_(shared_run),
      scenario_(config.scenario, shared_seats, config.seed,
                static_cast<uint32_t>(fds.size()) * config.pipeline) {
  BOXOFFICE_ASSERT(config.pipeline >= 1 && config.pipeline < kPipelineMax);
  connections_.resize(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) {
    Connection& c = connections_[i];
    c.fd = fds[i];
    c.codec = make_codec(config.target, config.target_options);
    c.output = std::make_unique<OutputBuffer>(c.codec->request_bytes_max() * config.pipeline * 2);
    c.slots.resize(config.pipeline);
    for (uint32_t s = config.pipeline; s-- > 0;) c.free_slots.push_back(static_cast<uint16_t>(s));
  }
  // Ready slots are taken from the front: the first requests go round the connections.
  for (uint32_t s = 0; s < config.pipeline; ++s) {
    for (size_t i = 0; i < fds.size(); ++i) ready_.push_back(static_cast<uint32_t>(i));
  }
  open_connections_ = connections_.size();
}

Worker::~Worker() {
  // The transport first: io_uring receives still in flight point into the connections' buffers;
  // shut() ends them before the ring goes.
  if (transport_) {
    for (uint32_t i = 0; i < connections_.size(); ++i) {
      if (connections_[i].open) transport_->shut(i);
    }
  }
  transport_.reset();
  for (Connection& c : connections_) {
    if (c.fd >= 0) ::close(c.fd);
  }
}

void Worker::run() {
  const RunWindow& window = shared_->window;
  const auto connection_count = static_cast<uint32_t>(connections_.size());
  transport_ = make_transport(config_.io, connection_count, &result_.io_fallback);
  if (!transport_) {
    result_.io_failed = true;
    return;
  }
  for (uint32_t i = 0; i < connection_count; ++i) {
    transport_->add(i, connections_[i].fd);
    arm_receive(i);
  }
  std::optional<OpenLoopSchedule> schedule;
  if (config_.rate_ops_per_s > 0) schedule.emplace(window.start_ns, config_.rate_ops_per_s);
  int64_t drain_deadline_ns = 0;
  for (;;) {
    int64_t now = now_ns();
    publish_progress(now);
    while (!resting_.empty() && resting_.top().until_ns <= now) {
      ready_.push_back(resting_.top().connection);
      resting_.pop();
    }
    if (!stopping_ && (now >= window.end_ns || shared_->stop.load(std::memory_order_relaxed) ||
                       scenario_done_ || open_connections_ == 0)) {
      stopping_ = true;
      drain_deadline_ns = now + config_.drain_timeout_ns;
      if (scenario_done_) shared_->stop.store(true, std::memory_order_relaxed);
    }
    if (stopping_ && (in_flight_ == 0 || open_connections_ == 0)) break;
    if (stopping_ && now >= drain_deadline_ns) {
      result_.unanswered += in_flight_;
      break;
    }
    if (!stopping_) {
      if (schedule) {
        while (!ready_.empty() && schedule->due(now)) {
          Operation op;
          if (!scenario_.next(&op)) {
            scenario_done_ = true;
            break;
          }
          op.intended_ns = schedule->next_ns();
          schedule->advance();
          const uint32_t index = ready_.front();
          ready_.pop_front();
          if (connections_[index].open) send(index, &op);
        }
      } else {
        send_due(now);
      }
    }
    for (uint32_t index : dirty_) {
      connections_[index].dirty = false;
      if (connections_[index].open) flush(index);
    }
    dirty_.clear();
    // Sleep until the next intended send, the next progress second, or the window's end.
    int64_t wake_ns = now + kWaitMaxNs;
    if (!stopping_) wake_ns = std::min(wake_ns, window.end_ns);
    wake_ns = std::min(wake_ns, window.start_ns + (progress_second_ + 1) * kSecondNs);
    // Open loop: the next intended send, but no sooner than kOpenLoopWakeMinNs from now, so a
    // high rate costs a wake-up per few requests rather than per request (each still counts its
    // latency from its intended time).
    if (schedule && !stopping_ && !ready_.empty()) {
      wake_ns = std::min(wake_ns, std::max(schedule->next_ns(), now + kOpenLoopWakeMinNs));
    }
    if (!stopping_ && !resting_.empty()) wake_ns = std::min(wake_ns, resting_.top().until_ns);
    const int64_t wait_ns = std::max<int64_t>(0, wake_ns - now);
    Completion completions[kCompletionsPerWait];
    const int n = transport_->wait(wait_ns, completions);
    if (n < 0) {  // the transport itself failed: what is in flight is lost
      std::fprintf(stderr, "boxoffice-load: %s wait: %s\n", transport_->name(), std::strerror(-n));
      result_.unanswered += in_flight_;
      result_.io_failed = true;
      break;
    }
    for (int i = 0; i < n; ++i) {
      const Completion& done = completions[i];
      if (!connections_[done.connection].open) continue;  // cut short by shut()
      if (done.kind == Completion::kReceive) {
        on_received(done.connection, done.result);
      } else {
        on_sent(done.connection, done.result);
      }
    }
  }
  publish_progress(now_ns() + kSecondNs);  // the last partial second
  result_.open_hold_seats = scenario_.open_hold_seats();
}

void Worker::send_due(int64_t now_ns) {
  while (!ready_.empty()) {
    Operation op;
    if (!scenario_.next(&op)) {
      scenario_done_ = true;
      return;
    }
    op.intended_ns = now_ns;
    const uint32_t index = ready_.front();
    ready_.pop_front();
    if (connections_[index].open) send(index, &op);
  }
}

void Worker::send(uint32_t index, Operation* op) {
  Connection& c = connections_[index];
  BOXOFFICE_ASSERT(!c.free_slots.empty());
  const uint16_t slot_index = c.free_slots.back();
  c.free_slots.pop_back();
  Slot& slot = c.slots[slot_index];
  BOXOFFICE_ASSERT(!slot.in_flight);
  slot.generation = static_cast<uint16_t>(slot.generation + 1);
  if (slot.generation == 0) slot.generation = 1;  // msgid 0 is what unreadable requests get
  slot.in_flight = true;
  slot.operation = *op;
  c.codec->encode(*op, (uint32_t{slot.generation} << 16) | slot_index, c.output.get());
  ++in_flight_;
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(index);
  }
}

void Worker::arm_receive(uint32_t index) {
  Connection& c = connections_[index];
  const std::span<char> space = c.codec->input_space();
  if (space.empty()) {
    ++result_.protocol_errors;
    lose(c, "a reply larger than the input buffer");
    return;
  }
  transport_->receive(index, space);
}

void Worker::on_received(uint32_t index, int32_t result) {
  Connection& c = connections_[index];
  if (result == -EINTR || result == -EAGAIN) {
    arm_receive(index);
    return;
  }
  if (result <= 0) {
    lose(c, result == 0 ? "closed by the server" : std::strerror(-result));
    return;
  }
  c.codec->input_added(static_cast<size_t>(result));
  const int64_t now = now_ns();
  Reply reply;
  for (;;) {
    const ParseStatus status = c.codec->next(&reply);
    if (status == ParseStatus::kNeedMore) break;
    if (status == ParseStatus::kBroken || !on_reply(c, reply, now)) {
      ++result_.protocol_errors;
      lose(c, "a reply that cannot be parsed or matches no request");
      return;
    }
  }
  arm_receive(index);
}

bool Worker::on_reply(Connection& c, const Reply& reply, int64_t now) {
  const uint32_t slot_index = reply.tag & 0xffff;
  if (slot_index >= c.slots.size()) return false;
  Slot& slot = c.slots[slot_index];
  if (!slot.in_flight || slot.generation != (reply.tag >> 16)) return false;
  slot.in_flight = false;
  --in_flight_;
  c.free_slots.push_back(static_cast<uint16_t>(slot_index));
  const auto connection_index = static_cast<uint32_t>(&c - connections_.data());
  if (config_.honor_retry_after && reply.status == ReplyStatus::kError &&
      reply.error_code == kErrorBusy && reply.retry_after_ms > 0) {
    resting_.push({now + reply.retry_after_ms * 1'000'000, connection_index});
  } else {
    ready_.push_back(connection_index);
  }

  const Operation& op = slot.operation;
  scenario_.on_reply(op, reply);
  if (reply.status == ReplyStatus::kOk) {
    result_.tickets_ok_total += reply.ticket_count;
    if (config_.record_tickets) {
      for (uint32_t i = 0; i < reply.ticket_count; ++i) result_.tickets.push_back(reply.tickets[i]);
    }
  }
  const int code =
      reply.error_code >= 0 && reply.error_code < kErrorCodesMax ? reply.error_code : kErrorOther;
  switch (reply.status) {
    case ReplyStatus::kOk:
      ThreadCounters::bump(counters_.ok);
      break;
    case ReplyStatus::kConflict:
      ThreadCounters::bump(counters_.conflicts);
      break;
    case ReplyStatus::kError:
      ThreadCounters::bump(counters_.errors);
      ThreadCounters::bump(counters_.errors_by_code[code]);
      break;
  }
  const int64_t latency_ns = std::max<int64_t>(0, now - op.intended_ns);
  second_latency_.record(latency_ns);
  const RunWindow& window = shared_->window;
  // Answers to requests sent before a stop (sold out, a signal) still count if they come within
  // the window: the last sales of an on-sale are part of it.
  if (now < window.begin_ns || now >= window.end_ns) return true;
  result_.last_reply_ns = now;
  result_.latency.record(latency_ns);
  switch (reply.status) {
    case ReplyStatus::kOk:
      ++result_.ok;
      break;
    case ReplyStatus::kConflict:
      ++result_.conflicts;
      break;
    case ReplyStatus::kError:
      ++result_.errors;
      ++result_.errors_by_code[code];
      break;
  }
  return true;
}

// Sends everything queued on the connection, unless a send is already in flight: on_sent()
// then sends what was queued meanwhile. The output buffer is compacted only with no send in
// flight, so the bytes a send points at never move.
void Worker::flush(uint32_t index) {
  Connection& c = connections_[index];
  OutputBuffer& out = *c.output;
  if (c.send_in_flight || out.pending_bytes() == 0) return;
  c.send_in_flight = true;
  transport_->send(index, std::span<const char>(out.pending(), out.pending_bytes()));
}

void Worker::on_sent(uint32_t index, int32_t result) {
  Connection& c = connections_[index];
  BOXOFFICE_ASSERT(c.send_in_flight);
  c.send_in_flight = false;
  if (result < 0 && result != -EINTR && result != -EAGAIN) {
    lose(c, std::strerror(-result));
    return;
  }
  if (result > 0) c.output->consume(static_cast<size_t>(result));
  c.output->compact();
  flush(index);
}

void Worker::lose(Connection& c, const char* why) {
  if (!c.open) return;
  if (result_.connections_lost < 3) {
    std::fprintf(stderr, "boxoffice-load: connection lost: %s\n", why);
  }
  ++result_.connections_lost;
  c.open = false;
  for (const Slot& slot : c.slots) {
    if (!slot.in_flight) continue;
    --in_flight_;
    ++result_.unanswered;  // its outcome on the server is unknown
  }
  transport_->shut(static_cast<uint32_t>(&c - connections_.data()));
  ::close(c.fd);
  c.fd = -1;
  --open_connections_;
}

void Worker::publish_progress(int64_t now) {
  const int64_t second = (now - shared_->window.start_ns) / kSecondNs;
  if (second <= progress_second_) return;
  shared_->progress.publish(progress_second_, &second_latency_);
  progress_second_ = second;
}

}  // namespace boxoffice::load
