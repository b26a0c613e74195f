// WorkerContext: what one thread brings to every engine call: its index (which selects its
// counter line and its commit intent in the seat table), its random source, its timer wheel
// of hold expiries and the log its sales and voids are recorded in (none: memory only).
//
// Thread safety: owned by one thread. Two threads must never use the same worker index at once.
#pragma once

#include <cstdint>

#include "core/random.h"
#include "core/sale_log.h"
#include "core/timer_wheel.h"

namespace boxoffice {

class WorkerContext {
 public:
  // `holds_max` must be the seat table's (one timer per hold slot).
  WorkerContext(uint32_t worker_index, uint32_t holds_max, int64_t now_ms,
                int64_t timer_tick_ms = 1)
      : index_(worker_index),
        wheel_(holds_max, timer_tick_ms, now_ms),
        hold_hint_(worker_index * 4096) {}

  uint32_t index() const { return index_; }
  RandomSource& random() { return random_; }
  TimerWheel& wheel() { return wheel_; }
  uint32_t& hold_hint() { return hold_hint_; }
  SaleLog* sale_log() const { return sale_log_; }
  void set_sale_log(SaleLog* log) { sale_log_ = log; }

 private:
  uint32_t index_;
  RandomSource random_;
  TimerWheel wheel_;
  uint32_t hold_hint_;  // where the next hold-slot search starts, spreading workers apart
  SaleLog* sale_log_ = nullptr;
};

}  // namespace boxoffice
