// SaleLog and EventLog: what the engine tells the durability layer (persist/) about every change
// that must survive: sales, voids, event creations and state changes (DESIGN.md section 7).
// The engine stays free of I/O: it calls these interfaces at fixed points of each operation and
// the implementation decides where the bytes go.
//
// When they are called (see engine.cc "Crash consistency"):
//  - sale:  after the tickets are written and the commit intent is set, before the sold bits,
//           so a sale that recover() rolls forward is logged by recover() (again, if need be:
//           readers treat records as idempotent, keyed by event, seat and generation);
//  - void:  after the ticket is marked voided, before the seat is put back on sale;
//  - event: under the engine's event mutex, before the event is visible; a failure refuses
//           the creation or state change.
//
// Thread safety: a SaleLog belongs to one worker (WorkerContext::sale_log) and is called only
// on its thread, and must not fail (capacity is checked before the operation starts:
// SaleLog::has_room). An EventLog is called under the engine's event mutex.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "shm/table_format.h"

namespace boxoffice {

struct SoldSeat {
  uint32_t seat = 0;
  uint32_t generation = 0;  // 1 for the seat's first sale
  uint64_t nonce = 0;       // with event and seat, the ticket id
  int64_t price_cents = 0;
};

struct SaleEntry {
  uint32_t event_index = 0;
  int64_t sold_at_ms = 0;
  uint64_t idempotency_hash = 0;     // 0: no key
  std::string_view idempotency_key;  // empty: no key
  std::string_view buyer_ref;        // <= shm::kBuyerRefBytesMax
  std::span<const SoldSeat> seats;   // 1..shm::kSeatsPerHoldMax
};

struct VoidEntry {
  uint32_t event_index = 0;
  uint32_t seat = 0;
  uint32_t generation = 0;  // of the ticket voided
  uint64_t nonce = 0;
  int64_t voided_at_ms = 0;
};

struct EventEntry {
  uint32_t event_index = 0;
  int64_t created_at_ms = 0;
  shm::EventState state = shm::EventState::kOpen;
  std::string_view document;  // {"id", "name"?, "layout"} as stored in the table
};

struct EventStateEntry {
  uint32_t event_index = 0;
  shm::EventState state = shm::EventState::kOpen;
  int64_t at_ms = 0;
};

class SaleLog {
 public:
  virtual ~SaleLog() = default;
  // Whether one more sale of shm::kSeatsPerHoldMax seats (or a void) fits; the caller answers
  // BUSY instead of starting a sale when it does not.
  virtual bool has_room() const = 0;
  virtual void sale(const SaleEntry& entry) = 0;
  virtual void voided(const VoidEntry& entry) = 0;
};

class EventLog {
 public:
  virtual ~EventLog() = default;
  // Durable when they return OK.
  virtual Status event_created(const EventEntry& entry) = 0;
  virtual Status event_state(const EventStateEntry& entry) = 0;
};

}  // namespace boxoffice
