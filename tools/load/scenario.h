// Scenario: which operation a boxoffice-load connection sends next and on which seats.
//   hold    hold seats_per_op adjacent seats       hold4   hold 4 adjacent seats, all or nothing
//   best    hold.best best_count seats in zone     buy     buy seats_per_op adjacent seats
//   flow    a two-step session: hold, then hold.confirm it, or (release_percent of the time)
//           hold.release it; the second step goes before any new hold
//   onsale  a flash sale: buy seats_per_op seats, the first drawn Zipf-skewed towards seat 0
//           (the front row) and moved to the next seat no client has seen taken yet; ends by
//           itself once every seat has been seen sold or taken (SharedSeats::all_taken()).
// The first seat's rank comes from a Zipf (--zipf-exponent) or uniform distribution over
// [0, seats_total); rank k is seat index k.
//
// Thread safety: a Scenario belongs to one worker thread. SharedSeats is shared by all of them:
// its bits and counter are atomics, set with relaxed order (a hint for seat choice and for the
// end of the sale, never a correctness claim; --verify checks the server).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "tools/load/operation.h"
#include "tools/load/zipf.h"

namespace boxoffice::load {

enum class ScenarioKind : uint8_t { kHold, kHold4, kBest, kBuy, kFlow, kOnsale };

struct ScenarioConfig {
  ScenarioKind kind = ScenarioKind::kHold;
  uint32_t seats_total = 0;
  uint32_t seats_per_op = 1;  // hold, buy, flow, onsale
  bool zipf = false;
  double zipf_exponent = 1.0;
  uint32_t best_zone = 1;
  uint16_t best_count = 4;
  uint32_t release_percent = 20;  // flow
};

// The seats some client has seen sold or taken.
class SharedSeats {
 public:
  explicit SharedSeats(uint32_t seats_total);
  void mark_taken(uint32_t seat_index);
  // The first seat at or after `from` (wrapping) not known taken; seats_total when none is left.
  uint32_t next_not_taken(uint32_t from) const;
  bool all_taken() const { return taken_count() >= seats_total_; }
  uint32_t taken_count() const { return taken_count_.load(std::memory_order_relaxed); }

 private:
  uint32_t seats_total_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  std::atomic<uint32_t> taken_count_{0};
};

class Scenario {
 public:
  // pending_max: the most sessions that may wait for their second step (flow): the thread's
  // requests in flight.
  Scenario(const ScenarioConfig& config, SharedSeats* shared, uint64_t seed, uint32_t pending_max);

  // The next operation, intended_ns left to the caller. False: nothing more to send (sold out).
  bool next(Operation* op);
  // Learns from an answer: flow queues the second step, onsale marks seats taken.
  void on_reply(const Operation& op, const Reply& reply);

  // The seats held by this thread's holds that are still open (held, not confirmed/released).
  int64_t open_hold_seats() const { return open_hold_seats_; }

 private:
  uint32_t draw_rank();
  void fill_adjacent(Operation* op, uint32_t first, uint32_t count) const;

  ScenarioConfig config_;
  SharedSeats* shared_;
  Xoshiro256 random_;
  UniformDistribution uniform_;
  std::unique_ptr<ZipfDistribution> zipf_;
  struct PendingHold {
    std::array<char, kHoldTokenChars> token;
    uint8_t seat_count;
    std::array<uint32_t, kOperationSeatsMax> seats;  // Redis names the keys again to confirm
  };
  std::vector<PendingHold> pending_;  // a ring of pending_max entries
  size_t pending_head_ = 0;
  size_t pending_size_ = 0;
  int64_t open_hold_seats_ = 0;
};

}  // namespace boxoffice::load
