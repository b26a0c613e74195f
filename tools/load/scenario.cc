#include "tools/load/scenario.h"

#include <algorithm>
#include <bit>

#include "shm/check.h"

namespace boxoffice::load {

SharedSeats::SharedSeats(uint32_t seats_total)
    : seats_total_(seats_total), words_(new std::atomic<uint64_t>[(seats_total + 63) / 64]) {
  for (uint32_t i = 0; i < (seats_total + 63) / 64; ++i) words_[i].store(0);
}

void SharedSeats::mark_taken(uint32_t seat_index) {
  if (seat_index >= seats_total_) return;  // the server's answer, not ours to trust blindly
  const uint64_t bit = uint64_t{1} << (seat_index % 64);
  const uint64_t before = words_[seat_index / 64].fetch_or(bit, std::memory_order_relaxed);
  if ((before & bit) == 0) taken_count_.fetch_add(1, std::memory_order_relaxed);
}

uint32_t SharedSeats::next_not_taken(uint32_t from) const {
  BOXOFFICE_ASSERT(from < seats_total_);
  const uint32_t words = (seats_total_ + 63) / 64;
  for (uint32_t step = 0; step <= words; ++step) {
    const uint32_t w = (from / 64 + step) % words;
    uint64_t free_bits = ~words_[w].load(std::memory_order_relaxed);
    if (step == 0) free_bits &= ~uint64_t{0} << (from % 64);  // at or after `from`
    if (w == words - 1 && seats_total_ % 64 != 0) {
      free_bits &= (uint64_t{1} << (seats_total_ % 64)) - 1;  // no seats past the end
    }
    if (free_bits != 0) return w * 64 + static_cast<uint32_t>(std::countr_zero(free_bits));
  }
  // Wrapped: the bits of the first word before `from`.
  uint64_t free_bits = ~words_[from / 64].load(std::memory_order_relaxed);
  free_bits &= (uint64_t{1} << (from % 64)) - 1;
  if (free_bits != 0) return (from / 64) * 64 + static_cast<uint32_t>(std::countr_zero(free_bits));
  return seats_total_;
}

Scenario::Scenario(const ScenarioConfig& config, SharedSeats* shared, uint64_t seed,
                   uint32_t pending_max)
    : config_(config),
      shared_(shared),
      random_(seed),
      uniform_(config.seats_total),
      pending_(std::max<uint32_t>(1, pending_max)) {
  BOXOFFICE_ASSERT(config.seats_total > 0);
  BOXOFFICE_ASSERT(config.seats_per_op >= 1 && config.seats_per_op <= kOperationSeatsMax);
  if (config.zipf)
    zipf_ = std::make_unique<ZipfDistribution>(config.seats_total, config.zipf_exponent);
}

uint32_t Scenario::draw_rank() { return zipf_ ? zipf_->sample(random_) : uniform_.sample(random_); }

void Scenario::fill_adjacent(Operation* op, uint32_t first, uint32_t count) const {
  count = std::min(count, config_.seats_total);
  first = std::min(first, config_.seats_total - count);  // keep the group inside the event
  op->seat_count = static_cast<uint8_t>(count);
  for (uint32_t i = 0; i < count; ++i) op->seats[i] = first + i;
}

bool Scenario::next(Operation* op) {
  *op = Operation{};
  switch (config_.kind) {
    case ScenarioKind::kHold:
      op->kind = OperationKind::kHold;
      fill_adjacent(op, draw_rank(), config_.seats_per_op);
      return true;
    case ScenarioKind::kHold4:
      op->kind = OperationKind::kHold;
      fill_adjacent(op, draw_rank(), 4);
      return true;
    case ScenarioKind::kBest:
      op->kind = OperationKind::kHoldBest;
      op->zone = config_.best_zone;
      op->best_count = config_.best_count;
      return true;
    case ScenarioKind::kBuy:
      op->kind = OperationKind::kBuy;
      fill_adjacent(op, draw_rank(), config_.seats_per_op);
      return true;
    case ScenarioKind::kFlow:
      if (pending_size_ > 0) {
        const PendingHold& hold = pending_[pending_head_];
        pending_head_ = (pending_head_ + 1) % pending_.size();
        --pending_size_;
        op->kind = random_.below(100) < config_.release_percent ? OperationKind::kRelease
                                                                : OperationKind::kConfirm;
        op->hold_token = hold.token;
        op->held_seat_count = hold.seat_count;
        op->seat_count = hold.seat_count;
        op->seats = hold.seats;
        return true;
      }
      op->kind = OperationKind::kHold;
      fill_adjacent(op, draw_rank(), config_.seats_per_op);
      return true;
    case ScenarioKind::kOnsale: {
      if (shared_->all_taken()) return false;
      const uint32_t first = shared_->next_not_taken(draw_rank());
      if (first >= config_.seats_total) return false;
      op->kind = OperationKind::kBuy;
      fill_adjacent(op, first, config_.seats_per_op);
      return true;
    }
  }
  return false;
}

void Scenario::on_reply(const Operation& op, const Reply& reply) {
  const bool ok = reply.status == ReplyStatus::kOk;
  switch (op.kind) {
    case OperationKind::kHold:
    case OperationKind::kHoldBest:
      if (!ok) break;
      open_hold_seats_ += reply.seat_count > 0 ? reply.seat_count : op.seat_count;
      if (config_.kind == ScenarioKind::kFlow && reply.has_hold_token) {
        BOXOFFICE_ASSERT(pending_size_ < pending_.size());  // one per request in flight at most
        PendingHold& hold = pending_[(pending_head_ + pending_size_) % pending_.size()];
        hold.token = reply.hold_token;
        if (reply.seat_count > 0) {
          hold.seat_count = static_cast<uint8_t>(reply.seat_count);
          hold.seats = reply.seats;
        } else {
          hold.seat_count = op.seat_count;
          hold.seats = op.seats;
        }
        ++pending_size_;
      }
      break;
    case OperationKind::kConfirm:
    case OperationKind::kRelease:
      if (ok) open_hold_seats_ -= op.held_seat_count;
      break;
    case OperationKind::kBuy:
      if (ok) {
        for (int i = 0; i < op.seat_count; ++i) shared_->mark_taken(op.seats[i]);
      } else if (reply.status == ReplyStatus::kConflict && op.seat_count == 1) {
        shared_->mark_taken(op.seats[0]);
      }
      break;
  }
}

}  // namespace boxoffice::load
