// Engine: the booking operations over a seat table (DESIGN.md section 4). Pure logic: no I/O,
// no locks on the booking path, no allocation on the booking path (hold, hold_best, extend,
// release, confirm, buy, void, queries).
//
// Seat state lives in the table: the `taken` bit is the lock (held or sold), the `sold` bit
// marks a ticket, holds and tickets sit in fixed slots. Each operation is a short sequence of
// atomic steps ordered so that a crash at any point leaves a state that recover() turns into a
// consistent one (see engine.cc "Crash consistency").
//
// Thread safety: every operation may run on any number of threads at once, each with its own
// WorkerContext. create_event() and set_event_state() serialize among themselves with a mutex
// (they are rare and off the booking path). recover() runs alone, before any other call.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/idempotency.h"
#include "core/ids.h"
#include "core/layout.h"
#include "core/sale_log.h"
#include "core/status.h"
#include "core/worker_context.h"
#include "shm/seat_table.h"

namespace boxoffice {

struct EngineOptions {
  LayoutLimits layout;
  uint32_t seats_per_request_max = shm::kSeatsPerHoldMax;  // <= shm::kSeatsPerHoldMax
  int64_t hold_ttl_ms_default = 10 * 60 * 1000;
  int64_t hold_ttl_ms_max = 15 * 60 * 1000;       // one hold or extend request
  int64_t hold_lifetime_ms_max = 30 * 60 * 1000;  // creation to final expiry, extensions included
};

// A list of seat indices bounded by the request limit; lives on the stack.
struct SeatList {
  uint32_t count = 0;
  std::array<uint32_t, shm::kSeatsPerHoldMax> seats{};
  std::span<const uint32_t> span() const { return {seats.data(), count}; }
};

struct HoldOutcome {
  Status status;
  HoldToken token;
  uint32_t event_index = 0;
  int64_t expires_at_ms = 0;
  int64_t total_cents = 0;
  SeatList seats;  // the held seats; on SEAT_TAKEN the requested seats found taken
};

struct SaleRequest {
  std::string_view idempotency_key;  // empty: no key
  std::string_view buyer_ref;        // opaque client reference stored on each ticket
};

struct SaleOutcome {
  Status status;
  bool replayed = false;  // idempotent retry: this is the outcome of the first request
  uint32_t event_index = 0;
  int64_t total_cents = 0;
  SeatList seats;  // one per ticket; on SEAT_TAKEN the seats found taken
  std::array<TicketId, shm::kSeatsPerHoldMax> tickets{};
};

enum class SeatState { kFree, kHeld, kSold };

struct SeatInfo {
  Status status;
  SeatState state = SeatState::kFree;
  SeatLocation location;
  // When sold. A ticket id is a bearer credential (it can void the ticket): interfaces show it
  // only to callers allowed to act on the ticket, never in public seat queries.
  TicketId ticket;
};

struct TicketInfo {
  Status status;
  TicketId id;
  uint32_t event_index = 0;
  uint32_t seat_index = 0;
  bool voided = false;
  uint32_t generation = 0;  // how many times this seat has been sold, this sale included
  int64_t price_cents = 0;
  int64_t sold_at_ms = 0;
  int64_t voided_at_ms = 0;
  std::string buyer_ref;
};

// A live hold as listed for operators (admin `holds`). The token's random half is not here:
// a hold token is a bearer credential; `hold_index` and `version` give its first 11 hex digits.
struct HoldListing {
  uint32_t hold_index = 0;
  uint32_t version = 0;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int64_t total_cents = 0;
  SeatList seats;
};

struct VoidOutcome {
  Status status;
  bool already_voided = false;
  int64_t refund_cents = 0;
};

struct EventCounts {
  int64_t seats_total = 0;
  int64_t seats_held = 0;
  int64_t seats_sold = 0;
  int64_t revenue_cents = 0;
  int64_t holds_created = 0;
  int64_t holds_expired = 0;
  int64_t holds_released = 0;
  int64_t tickets_voided = 0;
};

struct ZoneAvailability {
  int64_t zone_id = 0;
  uint32_t seats_total = 0;
  uint32_t seats_free = 0;
  uint32_t seats_held = 0;
  uint32_t seats_sold = 0;
};

// What recover() found and did, for the log.
struct RecoveryReport {
  uint32_t events = 0;
  uint32_t holds_active = 0;            // re-armed on the recovering worker's wheel
  uint32_t holds_expired = 0;           // past their deadline at recovery
  uint32_t holds_restored = 0;          // confirms cut before their intent: active again
  uint32_t holds_released = 0;          // releases/expiries cut half-way, finished
  uint32_t intents_rolled_forward = 0;  // sales cut after their intent, completed
  uint32_t tickets_unlocked = 0;        // ticket seqlocks left held by a dead writer
  uint32_t voids_finished = 0;          // voids cut after the ticket was marked voided
  uint32_t seats_unlocked = 0;          // taken bits with no hold and no ticket
  uint32_t idempotency_abandoned = 0;   // keys whose request died: they may run again
  uint32_t repairs() const;             // everything above except events and holds
  std::string to_string() const;
};

// Told of every seat state change, on the thread that made it, right after the change (for
// seat.changed notifications). Must not call back into the engine; must be thread-safe.
class SeatObserver {
 public:
  virtual ~SeatObserver() = default;
  virtual void seats_changed(uint32_t event_index, std::span<const uint32_t> seats,
                             SeatState state) = 0;
};

class Engine {
 public:
  // Binds to `table` (which must outlive the engine) and rebuilds the in-process event index
  // from it. Call recover() next if the table was re-attached.
  static std::unique_ptr<Engine> open(shm::SeatTable* table, const EngineOptions& options,
                                      std::string* error);
  ~Engine();

  // Makes a re-attached table consistent after a crash: finishes or undoes transitions cut
  // half-way, frees orphan seat locks, recounts counters, expires holds past their deadline and
  // schedules the rest on `worker`'s wheel (which must keep being advanced afterwards).
  RecoveryReport recover(WorkerContext& worker, int64_t now_ms);

  const EngineOptions& options() const { return options_; }
  // Set once, before any booking call (not synchronized with them).
  void set_observer(SeatObserver* observer) { observer_ = observer; }
  // Where event creations and state changes are recorded (none: memory only). Set once,
  // before any call. Sales and voids go to the calling worker's SaleLog (WorkerContext).
  void set_event_log(EventLog* log) { event_log_ = log; }
  shm::SeatTable& table() { return *table_; }

  // Events. `document` is {"id": "...", "name"?: "...", "state"?: "open"|"paused"|"closed",
  // "layout": {...}} as JSON text or an already-parsed document (from msgpack).
  Status create_event(std::string_view document_json, int64_t now_ms, uint32_t* event_index);
  Status create_event_parsed(const nlohmann::json& document, int64_t now_ms, uint32_t* event_index);
  Status set_event_state(uint32_t event_index, shm::EventState state, int64_t now_ms);
  bool find_event(std::string_view event_id, uint32_t* event_index) const;
  // Starts fetching the seat-table lines an operation on `seats` of the event will touch (their
  // bitmap words and ticket lines), so a worker can overlap those cache misses with other work:
  // a hint, with no effect on state. Seats out of range are ignored.
  void prefetch_seats(uint32_t event_index, std::span<const uint32_t> seats) const;
  uint32_t event_count() const;  // indices [0, event_count()) may be valid
  bool event_exists(uint32_t event_index) const;
  // The accessors below take an index for which event_exists() is true (asserted).
  std::string_view event_id(uint32_t event_index) const;
  std::string_view event_venue(uint32_t event_index) const;
  std::string_view event_name(uint32_t event_index) const;  // "" when none was given
  shm::EventState event_state(uint32_t event_index) const;
  int64_t event_created_at_ms(uint32_t event_index) const;
  const Layout& layout(uint32_t event_index) const;
  EventCounts counts(uint32_t event_index) const;
  ZoneAvailability availability(uint32_t event_index, int64_t zone_id) const;
  // The zone's free-seat bitmap: bit i (LSB first within each byte) = seat i of the zone is free.
  Status free_bitmap(uint32_t event_index, int64_t zone_id, std::vector<uint8_t>* out) const;

  // Holds. ttl_ms 0 = the default TTL.
  HoldOutcome hold(WorkerContext& worker, uint32_t event_index, std::span<const uint32_t> seats,
                   int64_t ttl_ms, int64_t now_ms);
  HoldOutcome hold_best(WorkerContext& worker, uint32_t event_index, int64_t zone_id,
                        uint32_t count, int64_t ttl_ms, int64_t now_ms);
  HoldOutcome extend(WorkerContext& worker, HoldToken token, int64_t ttl_ms, int64_t now_ms);
  Status release(WorkerContext& worker, HoldToken token, int64_t now_ms);
  SaleOutcome confirm(WorkerContext& worker, HoldToken token, const SaleRequest& request,
                      int64_t now_ms);
  SaleOutcome buy(WorkerContext& worker, uint32_t event_index, std::span<const uint32_t> seats,
                  const SaleRequest& request, int64_t now_ms);
  VoidOutcome void_ticket(WorkerContext& worker, TicketId ticket, int64_t now_ms);

  // Expires the holds on `worker`'s wheel whose deadline has passed; returns how many. With
  // `on_expired`, calls it for each with how late it ran (late_ms = now_ms - deadline), for
  // monitoring (holds a buyer found overdue and expired on the spot are not timed: they ended
  // earlier than the wheel would have ended them).
  uint32_t expire_due(WorkerContext& worker, int64_t now_ms,
                      const std::function<void(int64_t late_ms)>& on_expired = {});

  // Rebuilding a table from the journal and MariaDB (persist/restore.h), before any booking
  // call and on one thread. Nothing is logged. restore_event() must be given the events in
  // index order (indices are allocated in order, and ticket ids embed them); restore_sale()
  // calls may come in any order (for each seat the highest generation wins), restore_void()
  // after them (a void applies to its own generation only). A sale that carries its
  // idempotency key (journal records do; MariaDB keeps only its hash) re-registers the key.
  Status restore_event(const EventEntry& entry);
  Status restore_sale(const SaleEntry& entry);
  Status restore_void(const VoidEntry& entry);
  // Events whose creation was cut by a crash (allocated, never published), by index.
  std::vector<uint32_t> unfinished_events() const;
  // Publishes such an event in `state`: as recorded when the log has its creation, else
  // closed (never acknowledged, so it must not go on sale); `log` records it first.
  Status finish_event(uint32_t event_index, shm::EventState state, int64_t created_at_ms, bool log);
  // The stored event document ({"id", "name"?, "layout"}) an event was created from.
  std::string_view event_document(uint32_t event_index) const;

  // Queries.
  SeatInfo seat(uint32_t event_index, uint32_t seat_index) const;
  // Up to `max` sold seats of the event, in index order, after skipping the first `skip` sold
  // ones (a page of its tickets); cleared first. One pass over the sold bitmap's words.
  void sold_seats(uint32_t event_index, uint64_t skip, uint32_t max,
                  std::vector<uint32_t>* out) const;
  TicketInfo ticket(TicketId id) const;
  HoldOutcome hold_info(HoldToken token, int64_t now_ms) const;
  // The active holds of an event whose deadline has not passed, in slot order, at most
  // `listed_max` of them, and how many there are in all (*total). Walks every hold slot
  // (holds_max): for operators, off the booking path.
  std::vector<HoldListing> holds_of(uint32_t event_index, int64_t now_ms, size_t listed_max,
                                    size_t* total) const;

 private:
  struct EventRuntime;
  struct PreparedEvent;
  Engine(shm::SeatTable* table, const EngineOptions& options);
  Status prepare_event(const nlohmann::json& document, PreparedEvent* prepared) const;
  Status install_event(const PreparedEvent& prepared, int64_t now_ms, bool log,
                       uint32_t* event_index);
  const EventRuntime* runtime(uint32_t event_index) const;   // null when there is none
  const EventRuntime& existing(uint32_t event_index) const;  // asserts there is one
  Status load_event(uint32_t event_index);
  Status check_seats(const EventRuntime& event, std::span<const uint32_t> seats,
                     SeatList* sorted) const;
  static void prefetch_seat_lines(const EventRuntime& event, uint32_t seat);
  // Starts fetching the cold cache lines a hold of `seats` will touch.
  void prefetch_hold_lines(WorkerContext& worker, const EventRuntime& event,
                           const SeatList& seats) const;
  // Locks `seats`; on a conflict, expires the overdue holds among their owners and tries once
  // more. False with `conflicts` set when they stay taken.
  bool acquire_or_expire(WorkerContext& worker, const EventRuntime& event, const SeatList& seats,
                         int64_t now_ms, SeatList* conflicts);
  bool expire_overdue_owners(WorkerContext& worker, const EventRuntime& event,
                             const SeatList& taken, int64_t now_ms);
  // True when an active (or confirming) hold locks the seat, which is taken and not sold.
  bool held_by_a_hold(const EventRuntime& event, uint32_t seat_index) const;
  HoldOutcome make_hold(WorkerContext& worker, const EventRuntime& event, const SeatList& seats,
                        int64_t ttl_ms, int64_t now_ms);
  // Claims the request's idempotency key (if any). False when `outcome` is already the answer:
  // the replayed first outcome, BUSY (same key running) or LIMIT_EXCEEDED (table full).
  bool claim_key(WorkerContext& worker, const SaleRequest& request, int64_t now_ms, uint32_t* entry,
                 SaleOutcome* outcome);
  // Records the outcome under the key if it is final, else lets the key run again.
  void settle_key(WorkerContext& worker, const SaleRequest& request, uint32_t entry,
                  SaleOutcome* outcome);
  // A hold this worker moved to kConfirming, to be ended by commit_sale.
  struct ConfirmingHold {
    uint32_t index;
    shm::HoldControl control;
  };
  // Writes the tickets of `seats` (locked by the caller), then makes the sale visible through
  // the commit intent: sold bits, idempotency outcome, counters, and the hold (if any) ended.
  void commit_sale(WorkerContext& worker, const EventRuntime& event, const SeatList& seats,
                   const ConfirmingHold* hold, uint32_t idempotency_index_plus_one,
                   const SaleRequest& request, int64_t now_ms, SaleOutcome* outcome);
  enum class HoldEnd { kReleased, kExpired };
  void end_hold(WorkerContext& worker, uint32_t hold_index, shm::HoldControl control, HoldEnd end);
  bool try_expire(WorkerContext& worker, uint32_t hold_index, uint32_t version, int64_t now_ms);
  int64_t rel_ms(int64_t absolute_ms) const;
  int64_t abs_ms(uint64_t relative_ms) const;
  // The 16 ms tick (shm::kOwnerDeadlineTickMs) an absolute time falls in, rounded up, counted
  // from the table's epoch: the unit of TicketSlot::owner_deadline_ticks.
  uint32_t tick_ceiling(int64_t absolute_ms) const;
  uint32_t deadline_mark(int64_t deadline_ms) const;
  bool token_deadline_passed(HoldToken token, int64_t now_ms) const;
  // Checks `token` against its slot's control word. OK: the hold is the token's and active,
  // and `word`/`control` describe it; otherwise the error the client should see.
  Status check_token(const shm::HoldSlot& slot, HoldToken token, int64_t now_ms, uint64_t* word,
                     shm::HoldControl* control) const;
  void register_id(uint32_t event_index);
  void recover_ticket_locks(RecoveryReport* report);
  void recover_intents(WorkerContext& worker, RecoveryReport* report);
  void recover_pending_keys(RecoveryReport* report);
  void recover_holds(RecoveryReport* report);
  void recover_seats(WorkerContext& worker, const EventRuntime& event, RecoveryReport* report);
  void recount(const EventRuntime& event);
  void rearm_holds(WorkerContext& worker, int64_t now_ms, RecoveryReport* report);
  shm::WorkerCounters& counters_of(const EventRuntime& event, WorkerContext& worker) const;

  shm::SeatTable* table_;
  EngineOptions options_;
  IdempotencyTable idempotency_;
  std::unique_ptr<std::atomic<EventRuntime*>[]> events_;  // [events_max], published once
  std::unique_ptr<std::atomic<uint32_t>[]> id_index_;     // open addressing: event index + 1
  uint32_t id_index_size_ = 0;
  std::atomic<uint32_t> event_count_{0};
  std::mutex create_mutex_;
  SeatObserver* observer_ = nullptr;
  EventLog* event_log_ = nullptr;
};

std::string_view event_state_name(shm::EventState state);
bool parse_event_state(std::string_view name, shm::EventState* state);

}  // namespace boxoffice
