#include "core/engine.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/best_available.h"
#include "core/json_document.h"
#include "shm/check.h"
#include "shm/ticket_slot.h"

// Crash consistency
// -----------------
// Every mutation is a sequence of atomic steps on the mapped table; a process crash can stop it
// between any two. recover() repairs each cut point:
//  - hold:    taken bits -> owners -> control ACTIVE. Cut before ACTIVE: seats with no active
//             owner are "orphan locks" and get freed.
//  - release / expiry: control RELEASING -> owners cleared -> taken bits cleared -> control
//             RELEASED/EXPIRED -> slot freed. Cut anywhere: the slot is ended and freed, orphan
//             seats freed.
//  - confirm / buy: (control CONFIRMING) -> tickets written -> intent COMMITTING -> sold bits ->
//             owners cleared -> idempotency DONE -> control CONFIRMED -> slot freed -> intent
//             idle. Cut before the intent: the sale never happened (a CONFIRMING hold goes back
//             to ACTIVE, the tickets are unreachable without their sold bit). Cut after: the
//             intent is rolled forward, so a sale is all of its seats or none.
//  - void:    ticket VOIDED (under its seqlock) -> sold bit cleared -> taken bit cleared. Cut
//             inside the seqlock: the ticket stays valid. Cut after: the void is finished.
// The reply to a client is sent after the operation returns, so anything recover() rolls back
// was never acknowledged.
//
// Logging (core/sale_log.h): a sale is handed to the worker's SaleLog right after its intent is
// set, a void right after its ticket is marked voided, an event creation or state change
// before it is published. recover() logs again the sales it rolls forward and the voids it
// finishes (a record may then appear twice; readers key records by event, seat and
// generation, so the repeat changes nothing). A sale cut before its intent is logged by no
// one, and never happened.

namespace boxoffice {

using nlohmann::json;
using shm::EventSlot;
using shm::EventState;
using shm::HoldControl;
using shm::HoldSlot;
using shm::HoldState;
using shm::TicketRecord;
using shm::TicketStatus;
using shm::Word;

namespace {

constexpr uint32_t kHoldVersionMask = (1u << shm::kHoldVersionBits) - 1;
constexpr int kBestAttemptsMax = 16;  // hold_best retries when chosen seats go under us
// seat(): a read caught between another thread's steps on the seat spins, then yields, then
// sleeps 20 us at a time, for a second at most: only a descheduled thread takes longer than
// nanoseconds (it holds no lock and does no I/O between the steps, so it always finishes them).
constexpr int kSeatReadSpinsMax = 64;
constexpr int kSeatReadYieldsMax = 256;
constexpr int kSeatReadAttemptsMax = kSeatReadYieldsMax + 50'000;

// Single-writer counter bump: the line belongs to the calling worker.
void bump(std::atomic<int64_t>& counter, int64_t delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

bool valid_event_id(std::string_view id) {
  if (id.empty() || id.size() > shm::kEventIdBytesMax) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

uint64_t id_hash(std::string_view id) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

const Status kHoldNotFound(ErrorCode::kHoldNotFound, "no such hold");
const Status kHoldGone(ErrorCode::kHoldNotFound, "hold was released");
const Status kHoldConfirmed(ErrorCode::kHoldNotFound, "hold was already confirmed");
const Status kHoldExpired(ErrorCode::kHoldExpired, "hold expired");
const Status kHoldBusy(ErrorCode::kBusy, "hold is being changed by another request");

}  // namespace

struct Engine::EventRuntime {
  uint32_t index = 0;
  EventSlot* slot = nullptr;
  Layout layout;
  std::string name;
  Word* taken = nullptr;
  Word* sold = nullptr;
  shm::TicketSlot* tickets = nullptr;
  shm::WorkerCounters* counters = nullptr;

  EventState state() const {
    return static_cast<EventState>(slot->state.load(std::memory_order_acquire));
  }
  int64_t price_of(uint32_t seat_index) const {
    return layout.locate(seat_index).zone->price_cents;
  }
};

shm::WorkerCounters& Engine::counters_of(const EventRuntime& event, WorkerContext& worker) const {
  // Each thread needs its own index below workers_max: a line has one writer.
  BOXOFFICE_ASSERT(worker.index() < table_->geometry().workers_max);
  return event.counters[worker.index()];
}

std::string_view event_state_name(EventState state) {
  switch (state) {
    case EventState::kOpen:
      return "open";
    case EventState::kPaused:
      return "paused";
    case EventState::kClosed:
      return "closed";
    case EventState::kCreating:
      return "creating";
    case EventState::kAbsent:
      return "absent";
  }
  return "unknown";
}

bool parse_event_state(std::string_view name, EventState* state) {
  for (EventState s : {EventState::kOpen, EventState::kPaused, EventState::kClosed}) {
    if (name == event_state_name(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

std::string RecoveryReport::to_string() const {
  return "events=" + std::to_string(events) + " holds_active=" + std::to_string(holds_active) +
         " holds_expired=" + std::to_string(holds_expired) +
         " holds_restored=" + std::to_string(holds_restored) +
         " holds_released=" + std::to_string(holds_released) +
         " intents_rolled_forward=" + std::to_string(intents_rolled_forward) +
         " tickets_unlocked=" + std::to_string(tickets_unlocked) +
         " voids_finished=" + std::to_string(voids_finished) +
         " seats_unlocked=" + std::to_string(seats_unlocked) +
         " idempotency_abandoned=" + std::to_string(idempotency_abandoned);
}

uint32_t RecoveryReport::repairs() const {
  return holds_restored + holds_released + intents_rolled_forward + tickets_unlocked +
         voids_finished + seats_unlocked + idempotency_abandoned;
}

// ---------------------------------------------------------------------------------------------
// Set-up and events

Engine::Engine(shm::SeatTable* table, const EngineOptions& options)
    : table_(table), options_(options), idempotency_(table) {
  const uint32_t events_max = table->geometry().events_max;
  events_.reset(new std::atomic<EventRuntime*>[events_max]);
  for (uint32_t i = 0; i < events_max; ++i) events_[i].store(nullptr, std::memory_order_relaxed);
  id_index_size_ = 1;
  while (id_index_size_ < 2 * events_max) id_index_size_ <<= 1;
  id_index_.reset(new std::atomic<uint32_t>[id_index_size_]);
  for (uint32_t i = 0; i < id_index_size_; ++i) id_index_[i].store(0, std::memory_order_relaxed);
}

Engine::~Engine() {
  for (uint32_t i = 0; i < table_->geometry().events_max; ++i) delete events_[i].load();
}

std::unique_ptr<Engine> Engine::open(shm::SeatTable* table, const EngineOptions& options,
                                     std::string* error) {
  if (options.layout.seats_max == 0 || options.layout.seats_max > (1u << 26)) {
    *error = "seats_max must be in 1..2^26";
    return nullptr;
  }
  if (options.layout.venue_bytes_max > shm::kVenueIdBytesMax) {
    *error = "venue_bytes_max must be at most " + std::to_string(shm::kVenueIdBytesMax);
    return nullptr;
  }
  if (options.seats_per_request_max == 0 || options.seats_per_request_max > shm::kSeatsPerHoldMax) {
    *error = "seats_per_request_max must be in 1.." + std::to_string(shm::kSeatsPerHoldMax);
    return nullptr;
  }
  if (options.hold_ttl_ms_default <= 0 || options.hold_ttl_ms_default > options.hold_ttl_ms_max ||
      options.hold_ttl_ms_max > options.hold_lifetime_ms_max ||
      options.hold_lifetime_ms_max >= int64_t{1000} << (HoldToken::kMarkBits - 1)) {
    *error = "hold TTLs must satisfy 0 < default <= max <= lifetime max < 6 days";
    return nullptr;
  }
  std::unique_ptr<Engine> engine(new Engine(table, options));
  for (uint32_t i = 0; i < table->events_used(); ++i) {
    const auto state = static_cast<EventState>(table->event(i).state.load());
    if (state == EventState::kAbsent || state == EventState::kCreating) continue;
    if (Status s = engine->load_event(i); !s.is_ok()) {
      *error = "seat table " + table->path() + ": event " + std::to_string(i) +
               " cannot be loaded (" + s.to_string() + ")";
      return nullptr;
    }
  }
  engine->event_count_.store(table->events_used(), std::memory_order_release);
  return engine;
}

Status Engine::load_event(uint32_t event_index) {
  EventSlot& slot = table_->event(event_index);
  auto runtime = std::make_unique<EventRuntime>();
  runtime->index = event_index;
  runtime->slot = &slot;
  const std::string_view stored(table_->layout(slot), slot.layout_bytes);
  json document = json::parse(stored, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() || !document.contains("layout")) {
    return Status(ErrorCode::kInternal, "stored event document is not valid");
  }
  LayoutLimits unlimited;  // the layout was checked against the limits when it was created
  unlimited.seats_max = UINT32_MAX;
  unlimited.zones_max = unlimited.rows_per_zone_max = unlimited.seats_per_row_max = UINT32_MAX;
  unlimited.label_bytes_max = unlimited.name_bytes_max = unlimited.venue_bytes_max = UINT32_MAX;
  if (Status s = Layout::from_document(document["layout"], unlimited, &runtime->layout);
      !s.is_ok()) {
    return s;
  }
  if (runtime->layout.seat_count() != slot.seat_count) {
    return Status(ErrorCode::kInternal, "stored layout seat count differs from the table's");
  }
  if (auto it = document.find("name"); it != document.end() && it->is_string()) {
    runtime->name = it->get<std::string>();
  }
  runtime->taken = table_->taken(slot);
  runtime->sold = table_->sold(slot);
  runtime->tickets = table_->tickets(slot);
  runtime->counters = table_->counters(slot);
  events_[event_index].store(runtime.release(), std::memory_order_release);
  register_id(event_index);
  return Status::ok();
}

void Engine::register_id(uint32_t event_index) {
  const EventSlot& slot = table_->event(event_index);
  const std::string_view id(slot.id, slot.id_bytes);
  for (uint32_t probe = 0;; ++probe) {
    BOXOFFICE_ASSERT(probe < id_index_size_);
    auto& entry = id_index_[(id_hash(id) + probe) & (id_index_size_ - 1)];
    if (entry.load(std::memory_order_relaxed) == 0) {
      entry.store(event_index + 1, std::memory_order_release);
      return;
    }
  }
}

bool Engine::find_event(std::string_view event_id, uint32_t* event_index) const {
  for (uint32_t probe = 0; probe < id_index_size_; ++probe) {
    const uint32_t found = id_index_[(id_hash(event_id) + probe) & (id_index_size_ - 1)].load(
        std::memory_order_acquire);
    if (found == 0) return false;
    const EventSlot& slot = table_->event(found - 1);
    if (std::string_view(slot.id, slot.id_bytes) == event_id) {
      *event_index = found - 1;
      return true;
    }
  }
  return false;
}

Status Engine::create_event(std::string_view document_json, int64_t now_ms, uint32_t* event_index) {
  // The event wraps a layout: one more level of nesting and a little more text.
  json document;
  if (Status s =
          parse_json_document(document_json, options_.layout.document_bytes_max + 4096u,
                              options_.layout.nesting_depth_max + 1, "event document", &document);
      !s.is_ok()) {
    return s;
  }
  return create_event_parsed(document, now_ms, event_index);
}

// An event document checked against the limits, ready to be installed in the table.
struct Engine::PreparedEvent {
  std::string id;
  EventState state = EventState::kOpen;
  Layout layout;
  std::string stored_text;  // {"id", "name"?, "layout"} as kept in the table and the journal
};

Status Engine::prepare_event(const json& document, PreparedEvent* prepared) const {
  if (!document.is_object())
    return Status(ErrorCode::kBadRequest, "event document must be an object");
  for (const auto& item : document.items()) {
    if (item.key() != "id" && item.key() != "name" && item.key() != "state" &&
        item.key() != "layout") {
      return Status(ErrorCode::kBadRequest, "event: unknown key \"" + item.key() + "\"");
    }
  }
  auto id_it = document.find("id");
  if (id_it == document.end() || !id_it->is_string() ||
      !valid_event_id(id_it->get_ref<const std::string&>())) {
    return Status(ErrorCode::kBadRequest,
                  "event.id must be 1..64 characters of A-Z a-z 0-9 - _ . :");
  }
  prepared->id = id_it->get<std::string>();
  std::string name;
  if (auto it = document.find("name"); it != document.end()) {
    if (!it->is_string() ||
        it->get_ref<const std::string&>().size() > options_.layout.name_bytes_max) {
      return Status(ErrorCode::kBadRequest, "event.name must be a string of at most " +
                                                std::to_string(options_.layout.name_bytes_max) +
                                                " bytes");
    }
    name = it->get<std::string>();
  }
  if (auto it = document.find("state"); it != document.end()) {
    if (!it->is_string() ||
        !parse_event_state(it->get_ref<const std::string&>(), &prepared->state)) {
      return Status(ErrorCode::kBadRequest,
                    "event.state must be \"open\", \"paused\" or \"closed\"");
    }
  }
  auto layout_it = document.find("layout");
  if (layout_it == document.end())
    return Status(ErrorCode::kBadRequest, "event: missing \"layout\"");
  if (Status s = Layout::from_document(*layout_it, options_.layout, &prepared->layout); !s.is_ok())
    return s;

  json stored = {{"id", prepared->id}, {"layout", json::parse(prepared->layout.canonical_json())}};
  if (!name.empty()) stored["name"] = name;
  prepared->stored_text = stored.dump();
  return Status::ok();
}

Status Engine::create_event_parsed(const json& document, int64_t now_ms, uint32_t* event_index) {
  PreparedEvent prepared;
  if (Status s = prepare_event(document, &prepared); !s.is_ok()) return s;
  std::lock_guard<std::mutex> lock(create_mutex_);
  return install_event(prepared, now_ms, /*log=*/true, event_index);
}

// Called with create_mutex_ held. The creation is logged after the slot is filled and before
// it is published: a crash in between leaves a kCreating slot that finish_event() settles at
// the next start (as logged, or closed when the log never got it).
Status Engine::install_event(const PreparedEvent& prepared, int64_t now_ms, bool log,
                             uint32_t* event_index) {
  uint32_t existing;
  if (find_event(prepared.id, &existing)) {
    return Status(ErrorCode::kBadRequest, "event \"" + prepared.id + "\" already exists");
  }
  std::string error;
  EventSlot* slot =
      table_->allocate_event(prepared.layout.seat_count(), prepared.stored_text.size(), &error);
  if (slot == nullptr) return Status(ErrorCode::kLimitExceeded, error);
  const uint32_t index = static_cast<uint32_t>(slot - &table_->event(0));
  const std::string_view venue = prepared.layout.venue();
  slot->id_bytes = static_cast<uint32_t>(prepared.id.size());
  std::memcpy(slot->id, prepared.id.data(), prepared.id.size());
  slot->venue_bytes = static_cast<uint32_t>(venue.size());
  std::memcpy(slot->venue, venue.data(), venue.size());
  slot->created_at_ms = now_ms;
  std::memcpy(table_->layout(*slot), prepared.stored_text.data(), prepared.stored_text.size());
  // Loaded (and findable) while still kCreating, which sells nothing; then opened.
  if (Status s = load_event(index); !s.is_ok()) return s;
  event_count_.store(index + 1, std::memory_order_release);
  if (log && event_log_ != nullptr) {
    if (Status s = event_log_->event_created({index, now_ms, prepared.state, prepared.stored_text});
        !s.is_ok()) {
      return s;
    }
  }
  slot->state.store(static_cast<uint32_t>(prepared.state), std::memory_order_release);
  *event_index = index;
  return Status::ok();
}

Status Engine::set_event_state(uint32_t event_index, EventState state, int64_t now_ms) {
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) return Status(ErrorCode::kNotFound, "no such event");
  if (state != EventState::kOpen && state != EventState::kPaused && state != EventState::kClosed) {
    return Status(ErrorCode::kBadRequest, "events can be opened, paused or closed");
  }
  std::lock_guard<std::mutex> lock(create_mutex_);
  if (event->state() == EventState::kClosed && state != EventState::kClosed) {
    return Status(ErrorCode::kEventClosed, "a closed event cannot be reopened");
  }
  if (event_log_ != nullptr && event->state() != state) {
    if (Status s = event_log_->event_state({event_index, state, now_ms}); !s.is_ok()) return s;
  }
  event->slot->state.store(static_cast<uint32_t>(state), std::memory_order_release);
  return Status::ok();
}

const Engine::EventRuntime* Engine::runtime(uint32_t event_index) const {
  if (event_index >= table_->geometry().events_max) return nullptr;
  return events_[event_index].load(std::memory_order_acquire);
}

uint32_t Engine::event_count() const { return event_count_.load(std::memory_order_acquire); }
bool Engine::event_exists(uint32_t event_index) const { return runtime(event_index) != nullptr; }

const Engine::EventRuntime& Engine::existing(uint32_t event_index) const {
  const EventRuntime* event = runtime(event_index);
  BOXOFFICE_ASSERT(event != nullptr);  // callers check event_exists() / find_event() first
  return *event;
}

std::string_view Engine::event_id(uint32_t event_index) const {
  const EventSlot& slot = *existing(event_index).slot;
  return {slot.id, slot.id_bytes};
}
std::string_view Engine::event_venue(uint32_t event_index) const {
  const EventSlot& slot = *existing(event_index).slot;
  return {slot.venue, slot.venue_bytes};
}
std::string_view Engine::event_name(uint32_t event_index) const {
  return existing(event_index).name;
}
EventState Engine::event_state(uint32_t event_index) const { return existing(event_index).state(); }
int64_t Engine::event_created_at_ms(uint32_t event_index) const {
  return existing(event_index).slot->created_at_ms;
}
const Layout& Engine::layout(uint32_t event_index) const { return existing(event_index).layout; }

EventCounts Engine::counts(uint32_t event_index) const {
  const EventRuntime* event = &existing(event_index);
  EventCounts total;
  total.seats_total = event->layout.seat_count();
  for (uint32_t w = 0; w < table_->geometry().workers_max; ++w) {
    const shm::WorkerCounters& c = event->counters[w];
    total.seats_held += c.seats_held.load(std::memory_order_relaxed);
    total.seats_sold += c.seats_sold.load(std::memory_order_relaxed);
    total.revenue_cents += c.revenue_cents.load(std::memory_order_relaxed);
    total.holds_created += c.holds_created.load(std::memory_order_relaxed);
    total.holds_expired += c.holds_expired.load(std::memory_order_relaxed);
    total.holds_released += c.holds_released.load(std::memory_order_relaxed);
    total.tickets_voided += c.tickets_voided.load(std::memory_order_relaxed);
  }
  return total;
}

ZoneAvailability Engine::availability(uint32_t event_index, int64_t zone_id) const {
  ZoneAvailability a;
  const EventRuntime* event = runtime(event_index);
  const Zone* zone = event == nullptr ? nullptr : event->layout.zone_by_id(zone_id);
  if (zone == nullptr) return a;
  const uint32_t end = zone->first_seat + zone->seat_count;
  a.zone_id = zone_id;
  a.seats_total = zone->seat_count;
  a.seats_sold = shm::count_bits(event->sold, zone->first_seat, end);
  const uint32_t taken = shm::count_bits(event->taken, zone->first_seat, end);
  // Two separate snapshots: clamp so a sale between them never shows negative holds.
  a.seats_held = taken > a.seats_sold ? taken - a.seats_sold : 0;
  a.seats_free = zone->seat_count - std::min(zone->seat_count, a.seats_held + a.seats_sold);
  return a;
}

Status Engine::free_bitmap(uint32_t event_index, int64_t zone_id, std::vector<uint8_t>* out) const {
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) return Status(ErrorCode::kNotFound, "no such event");
  const Zone* zone = event->layout.zone_by_id(zone_id);
  if (zone == nullptr) return Status(ErrorCode::kNotFound, "no such zone");
  out->assign((zone->seat_count + 7) / 8, 0);
  shm::copy_free_bits(event->taken, zone->first_seat, zone->first_seat + zone->seat_count, *out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Holds

int64_t Engine::rel_ms(int64_t absolute_ms) const {
  // The epoch is a day before the table was made, so only a clock stepped back by more than a
  // day lands below it; such a deadline is simply in the past (the hold expires at once).
  const int64_t rel = absolute_ms - table_->epoch_ms();
  return std::clamp<int64_t>(rel, 0, (int64_t{1} << HoldControl::kExpiresBits) - 1);
}
uint32_t Engine::deadline_mark(int64_t deadline_ms) const {
  // Rounded down, so "now >= deadline" always implies "now's mark >= the token's mark": a
  // confirm after expiry says HOLD_EXPIRED even once the slot is reused.
  const int64_t seconds = rel_ms(deadline_ms) / 1000;
  return static_cast<uint32_t>(seconds) & ((1u << HoldToken::kMarkBits) - 1);
}

bool Engine::token_deadline_passed(HoldToken token, int64_t now_ms) const {
  // Marks wrap every 2^20 s (12 days); hold lifetimes are far shorter, so the signed distance
  // between two marks is unambiguous.
  const uint32_t now_mark = static_cast<uint32_t>((now_ms - table_->epoch_ms()) / 1000) &
                            ((1u << HoldToken::kMarkBits) - 1);
  const uint32_t distance = (now_mark - token.deadline_mark()) & ((1u << HoldToken::kMarkBits) - 1);
  return distance < (1u << (HoldToken::kMarkBits - 1));
}

uint32_t Engine::tick_ceiling(int64_t absolute_ms) const {
  // Saturates after 2^32 ticks (2.2 years of one table): then every conflict looks at the owner's
  // control word, which is slower but never wrong.
  const int64_t ticks =
      (rel_ms(absolute_ms) + shm::kOwnerDeadlineTickMs - 1) / shm::kOwnerDeadlineTickMs;
  return static_cast<uint32_t>(std::min<int64_t>(ticks, UINT32_MAX));
}

int64_t Engine::abs_ms(uint64_t relative_ms) const {
  return table_->epoch_ms() + static_cast<int64_t>(relative_ms);
}

Status Engine::check_seats(const EventRuntime& event, std::span<const uint32_t> seats,
                           SeatList* sorted) const {
  if (seats.empty()) return Status(ErrorCode::kBadRequest, "no seats given");
  if (seats.size() > options_.seats_per_request_max) {
    return Status(ErrorCode::kLimitExceeded, "too many seats in one request");
  }
  // Insertion sort: at most 32 seats, usually 1-4, often already ascending.
  sorted->count = static_cast<uint32_t>(seats.size());
  for (uint32_t i = 0; i < sorted->count; ++i) {
    uint32_t j = i;
    for (; j > 0 && sorted->seats[j - 1] > seats[i]; --j) sorted->seats[j] = sorted->seats[j - 1];
    sorted->seats[j] = seats[i];
  }
  for (uint32_t i = 0; i < sorted->count; ++i) {
    if (sorted->seats[i] >= event.layout.seat_count()) {
      return Status(ErrorCode::kBadRequest, "seat index out of range");
    }
    if (i > 0 && sorted->seats[i] == sorted->seats[i - 1]) {
      return Status(ErrorCode::kBadRequest, "seat given twice");
    }
  }
  return Status::ok();
}

static Status check_ttl(int64_t ttl_ms, const EngineOptions& options, int64_t* effective) {
  if (ttl_ms < 0) return Status(ErrorCode::kBadRequest, "ttl_ms must not be negative");
  if (ttl_ms > options.hold_ttl_ms_max) {
    return Status(ErrorCode::kLimitExceeded, "ttl_ms above the configured maximum");
  }
  *effective = ttl_ms == 0 ? options.hold_ttl_ms_default : ttl_ms;
  return Status::ok();
}

HoldOutcome Engine::hold(WorkerContext& worker, uint32_t event_index,
                         std::span<const uint32_t> seats, int64_t ttl_ms, int64_t now_ms) {
  HoldOutcome outcome;
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) {
    outcome.status = Status(ErrorCode::kNotFound, "no such event");
    return outcome;
  }
  if (event->state() != EventState::kOpen) {
    outcome.status = Status(ErrorCode::kEventClosed, "event is not open for sale");
    return outcome;
  }
  SeatList sorted;
  if (outcome.status = check_seats(*event, seats, &sorted); !outcome.status.is_ok()) return outcome;
  if (outcome.status = check_ttl(ttl_ms, options_, &ttl_ms); !outcome.status.is_ok())
    return outcome;
  prefetch_hold_lines(worker, *event, sorted);
  if (!acquire_or_expire(worker, *event, sorted, now_ms, &outcome.seats)) {
    outcome.status = Status(ErrorCode::kSeatTaken, "seats are taken");
    return outcome;
  }
  return make_hold(worker, *event, sorted, ttl_ms, now_ms);
}

// A random seat's bitmap word and both lines of its ticket slot (the ticket in the first; in the
// second the owner hint, written by a hold and read on a conflict) are cold in a large event. The
// seat lock's CAS is a full barrier: loads after it wait for it, so without a prefetch the misses
// come one at a time.
void Engine::prefetch_seat_lines(const EventRuntime& event, uint32_t seat) {
  __builtin_prefetch(&event.taken[shm::word_of(seat)], 1);
  __builtin_prefetch(&event.tickets[seat], 1);        // the ticket (a sale)
  __builtin_prefetch(&event.tickets[seat].owner, 1);  // the owner hint (a hold, a conflict)
}

void Engine::prefetch_seats(uint32_t event_index, std::span<const uint32_t> seats) const {
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) return;
  for (const uint32_t seat : seats) {
    if (seat < event->layout.seat_count()) prefetch_seat_lines(*event, seat);
  }
}

void Engine::prefetch_hold_lines(WorkerContext& worker, const EventRuntime& event,
                                 const SeatList& seats) const {
  // The seats' lines (usually on their way already: the worker prefetched this request while it
  // ran the one before) and the hold slot this worker will most likely take next.
  for (uint32_t i = 0; i < seats.count; ++i) prefetch_seat_lines(event, seats.seats[i]);
  const uint32_t next_hold = worker.hold_hint();  // the slot after the last one taken
  if (next_hold < table_->geometry().holds_max) __builtin_prefetch(&table_->hold(next_hold), 1);
}

bool Engine::acquire_or_expire(WorkerContext& worker, const EventRuntime& event,
                               const SeatList& seats, int64_t now_ms, SeatList* conflicts) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const shm::AcquireResult acquired =
        shm::acquire_seats(event.taken, seats.span(), conflicts->seats);
    if (acquired.acquired) return true;
    conflicts->count = acquired.conflict_count;
    // Holds expire on the wheel of the worker that made them; if that one runs late, a
    // buyer must not be refused seats whose hold is already over.
    if (attempt == 0 && !expire_overdue_owners(worker, event, *conflicts, now_ms)) return false;
  }
  return false;
}

bool Engine::expire_overdue_owners(WorkerContext& worker, const EventRuntime& event,
                                   const SeatList& taken, int64_t now_ms) {
  bool expired = false;
  // Rounded up, as deadlines are: a hold whose deadline tick has begun is looked at (its
  // control word has the exact deadline), so an overdue one is never skipped. Ticks are short
  // (16 ms) so that a conflict with a live hold rarely costs the miss on its control word.
  const uint32_t now_ticks = tick_ceiling(now_ms);
  for (uint32_t i = 0; i < taken.count; ++i) {
    // Owner and deadline are hints read from the seat's own line (they may change under us):
    // only a hold that may be overdue costs a look at its control word, and try_expire checks
    // the hold itself.
    const shm::TicketSlot& slot = event.tickets[taken.seats[i]];
    if (now_ticks < slot.owner_deadline_ticks.load(std::memory_order_relaxed)) continue;
    const uint32_t owner = slot.owner.load(std::memory_order_relaxed);
    if (owner == 0 || owner - 1 >= table_->geometry().holds_max) continue;
    const HoldControl control =
        HoldControl::decode(table_->hold(owner - 1).control.load(std::memory_order_acquire));
    if (control.state == HoldState::kActive && abs_ms(control.expires_at_rel_ms) <= now_ms) {
      expired = try_expire(worker, owner - 1, control.version, now_ms) || expired;
    }
  }
  return expired;
}

HoldOutcome Engine::make_hold(WorkerContext& worker, const EventRuntime& event,
                              const SeatList& seats, int64_t ttl_ms, int64_t now_ms) {
  HoldOutcome outcome;
  const int64_t slot_index = table_->allocate_hold(worker.hold_hint());
  if (slot_index < 0) {
    shm::release_seats(event.taken, seats.span());
    outcome.status = Status(ErrorCode::kBusy, "hold table full");
    return outcome;
  }
  const auto hold_index = static_cast<uint32_t>(slot_index);
  worker.hold_hint() = hold_index + 1;
  HoldSlot& slot = table_->hold(hold_index);
  const HoldControl previous = HoldControl::decode(slot.control.load(std::memory_order_acquire));
  BOXOFFICE_ASSERT(previous.state != HoldState::kActive &&
                   previous.state != HoldState::kConfirming &&
                   previous.state != HoldState::kReleasing);
  const uint32_t version = (previous.version + 1) & kHoldVersionMask;
  const uint64_t secret = worker.random().next();
  const int64_t expires_at_ms = now_ms + ttl_ms;
  const uint32_t deadline_ticks = tick_ceiling(expires_at_ms);

  slot.secret.store(secret, std::memory_order_relaxed);
  slot.event_index.store(event.index, std::memory_order_relaxed);
  slot.seat_count.store(seats.count, std::memory_order_relaxed);
  slot.created_at_ms.store(now_ms, std::memory_order_relaxed);
  for (uint32_t i = 0; i < seats.count; ++i) {
    slot.seats[i].store(seats.seats[i], std::memory_order_relaxed);
    event.tickets[seats.seats[i]].owner.store(hold_index + 1, std::memory_order_relaxed);
    event.tickets[seats.seats[i]].owner_deadline_ticks.store(deadline_ticks,
                                                             std::memory_order_relaxed);
  }
  // Counted before it is published, so a confirm on another worker never drives the sum of
  // held seats below zero.
  shm::WorkerCounters& counters = counters_of(event, worker);
  bump(counters.seats_held, seats.count);
  bump(counters.holds_created, 1);
  // Publishes everything above to whoever loads the control word with acquire.
  slot.control.store(
      HoldControl{version, HoldState::kActive, static_cast<uint64_t>(rel_ms(expires_at_ms))}
          .encode(),
      std::memory_order_release);
  worker.wheel().schedule(hold_index, version, expires_at_ms);
  if (observer_ != nullptr) observer_->seats_changed(event.index, seats.span(), SeatState::kHeld);

  outcome.token = HoldToken::make(hold_index, version, deadline_mark(expires_at_ms), secret);
  outcome.event_index = event.index;
  outcome.expires_at_ms = expires_at_ms;
  outcome.seats = seats;
  for (uint32_t i = 0; i < seats.count; ++i) outcome.total_cents += event.price_of(seats.seats[i]);
  return outcome;
}

HoldOutcome Engine::hold_best(WorkerContext& worker, uint32_t event_index, int64_t zone_id,
                              uint32_t count, int64_t ttl_ms, int64_t now_ms) {
  HoldOutcome outcome;
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) {
    outcome.status = Status(ErrorCode::kNotFound, "no such event");
    return outcome;
  }
  const Zone* zone = event->layout.zone_by_id(zone_id);
  if (zone == nullptr) {
    outcome.status = Status(ErrorCode::kNotFound, "no such zone");
    return outcome;
  }
  if (count == 0) {
    outcome.status = Status(ErrorCode::kBadRequest, "count must be at least 1");
    return outcome;
  }
  if (count > options_.seats_per_request_max) {
    outcome.status = Status(ErrorCode::kLimitExceeded, "too many seats in one request");
    return outcome;
  }
  if (event->state() != EventState::kOpen) {
    outcome.status = Status(ErrorCode::kEventClosed, "event is not open for sale");
    return outcome;
  }
  if (outcome.status = check_ttl(ttl_ms, options_, &ttl_ms); !outcome.status.is_ok())
    return outcome;

  SeatList chosen;
  chosen.count = count;
  if (zone->general_admission) {
    // Any places will do; start at a random word so concurrent buyers rarely collide.
    const uint32_t end = zone->first_seat + zone->seat_count;
    const uint32_t hint =
        zone->first_seat + static_cast<uint32_t>(worker.random().next() % zone->seat_count);
    for (uint32_t i = 0; i < count; ++i) {
      const int64_t bit = shm::acquire_any_bit(event->taken, zone->first_seat, end, hint);
      if (bit < 0) {
        std::sort(chosen.seats.begin(), chosen.seats.begin() + i);
        shm::release_seats(event->taken, {chosen.seats.data(), i});
        outcome.status = Status(ErrorCode::kSeatTaken, "not enough free places in the zone");
        return outcome;
      }
      chosen.seats[i] = static_cast<uint32_t>(bit);
    }
    std::sort(chosen.seats.begin(), chosen.seats.begin() + count);
    return make_hold(worker, *event, chosen, ttl_ms, now_ms);
  }

  const std::vector<Row>& rows = event->layout.rows();
  for (int attempt = 0; attempt < kBestAttemptsMax; ++attempt) {
    // Front to back: the first row with an orphan-free block wins; remember the first block
    // that leaves an orphan in case no row has a clean one.
    RowPick pick;
    for (uint32_t r = zone->first_row; r < zone->first_row + zone->row_count; ++r) {
      const RowPick candidate =
          pick_in_row(event->taken, rows[r].first_seat, rows[r].seat_count, count);
      if (!candidate.found) continue;
      if (!candidate.leaves_orphan) {
        pick = candidate;
        break;
      }
      if (!pick.found) pick = candidate;
    }
    if (!pick.found) {
      outcome.status = Status(ErrorCode::kSeatTaken, "no block of that many adjacent free seats");
      return outcome;
    }
    for (uint32_t i = 0; i < count; ++i) chosen.seats[i] = pick.first_seat + i;
    uint32_t ignored[1];
    if (shm::acquire_seats(event->taken, chosen.span(), ignored).acquired) {
      return make_hold(worker, *event, chosen, ttl_ms, now_ms);
    }
    // Someone took part of the block between our look and our CAS: look again.
  }
  outcome.status = Status(ErrorCode::kBusy, "seats keep changing; retry");
  return outcome;
}

void Engine::end_hold(WorkerContext& worker, uint32_t hold_index, HoldControl control,
                      HoldEnd end) {
  HoldSlot& slot = table_->hold(hold_index);
  BOXOFFICE_ASSERT(control.state == HoldState::kReleasing);
  const EventRuntime* event = runtime(slot.event_index.load(std::memory_order_relaxed));
  BOXOFFICE_ASSERT(event != nullptr);
  SeatList seats;
  seats.count = slot.seat_count.load(std::memory_order_relaxed);
  BOXOFFICE_ASSERT(seats.count > 0 && seats.count <= shm::kSeatsPerHoldMax);
  // The seats' owner fields are left naming this hold: they are hints, read only with the hold
  // itself (held_by_a_hold), and not touching the seats' lines saves a cache miss per seat.
  for (uint32_t i = 0; i < seats.count; ++i) {
    seats.seats[i] = slot.seats[i].load(std::memory_order_relaxed);
  }
  shm::release_seats(event->taken, seats.span());
  if (observer_ != nullptr) observer_->seats_changed(event->index, seats.span(), SeatState::kFree);
  shm::WorkerCounters& counters = counters_of(*event, worker);
  bump(counters.seats_held, -static_cast<int64_t>(seats.count));
  bump(end == HoldEnd::kExpired ? counters.holds_expired : counters.holds_released, 1);
  control.state = end == HoldEnd::kExpired ? HoldState::kExpired : HoldState::kReleased;
  slot.control.store(control.encode(), std::memory_order_release);
  table_->free_hold(hold_index);
}

bool Engine::try_expire(WorkerContext& worker, uint32_t hold_index, uint32_t version,
                        int64_t now_ms) {
  HoldSlot& slot = table_->hold(hold_index);
  uint64_t word = slot.control.load(std::memory_order_acquire);
  for (;;) {
    HoldControl control = HoldControl::decode(word);
    if (control.version != version || control.state != HoldState::kActive) return false;
    if (abs_ms(control.expires_at_rel_ms) > now_ms) return false;
    control.state = HoldState::kReleasing;
    if (slot.control.compare_exchange_weak(word, control.encode(), std::memory_order_acquire,
                                           std::memory_order_acquire)) {
      end_hold(worker, hold_index, control, HoldEnd::kExpired);
      return true;
    }
  }
}

uint32_t Engine::expire_due(WorkerContext& worker, int64_t now_ms,
                            const std::function<void(int64_t late_ms)>& on_expired) {
  uint32_t expired = 0;
  worker.wheel().advance(now_ms, [&](uint32_t hold_index, uint64_t cookie, int64_t) {
    const auto version = static_cast<uint32_t>(cookie);
    const HoldControl control =
        HoldControl::decode(table_->hold(hold_index).control.load(std::memory_order_acquire));
    if (control.version != version || control.state != HoldState::kActive) return;  // ended
    const int64_t deadline = abs_ms(control.expires_at_rel_ms);
    if (deadline > now_ms) {
      worker.wheel().schedule(hold_index, version, deadline);  // extended since it was armed
    } else if (try_expire(worker, hold_index, version, now_ms)) {
      ++expired;
      if (on_expired) on_expired(now_ms - deadline);
    }
  });
  return expired;
}

Status Engine::check_token(const HoldSlot& slot, HoldToken token, int64_t now_ms, uint64_t* word,
                           HoldControl* control) const {
  *word = slot.control.load(std::memory_order_acquire);
  *control = HoldControl::decode(*word);
  if (control->version != token.version()) {
    // The slot has been reused since: only the deadline mark in the token is left to go by.
    return token_deadline_passed(token, now_ms) ? kHoldExpired : kHoldNotFound;
  }
  if (control->state == HoldState::kFree ||
      slot.secret.load(std::memory_order_relaxed) != token.secret()) {
    return kHoldNotFound;
  }
  switch (control->state) {
    case HoldState::kActive:
      return Status::ok();
    case HoldState::kConfirming:
      return kHoldBusy;
    case HoldState::kReleasing:  // being released by its owner, or expired by any worker
      return abs_ms(control->expires_at_rel_ms) <= now_ms ? kHoldExpired : kHoldBusy;
    case HoldState::kConfirmed:
      return kHoldConfirmed;
    case HoldState::kReleased:
      return kHoldGone;
    case HoldState::kExpired:
      return kHoldExpired;
    case HoldState::kFree:
      break;
  }
  return kHoldNotFound;
}

HoldOutcome Engine::extend(WorkerContext& worker, HoldToken token, int64_t ttl_ms, int64_t now_ms) {
  HoldOutcome outcome;
  if (token.hold_index() >= table_->geometry().holds_max) {
    outcome.status = kHoldNotFound;
    return outcome;
  }
  if (outcome.status = check_ttl(ttl_ms, options_, &ttl_ms); !outcome.status.is_ok())
    return outcome;
  HoldSlot& slot = table_->hold(token.hold_index());
  for (;;) {
    uint64_t word;
    HoldControl control;
    if (outcome.status = check_token(slot, token, now_ms, &word, &control);
        !outcome.status.is_ok()) {
      return outcome;
    }
    if (abs_ms(control.expires_at_rel_ms) <= now_ms) {
      try_expire(worker, token.hold_index(), token.version(), now_ms);
      outcome.status = kHoldExpired;
      return outcome;
    }
    // Copy the hold before the CAS: a successful CAS on this exact word vouches that the slot
    // was not ended and reused while we read; afterwards it may be at any moment.
    const int64_t lifetime_end_ms =
        slot.created_at_ms.load(std::memory_order_relaxed) + options_.hold_lifetime_ms_max;
    outcome.event_index = slot.event_index.load(std::memory_order_relaxed);
    outcome.seats.count =
        std::min(slot.seat_count.load(std::memory_order_relaxed), shm::kSeatsPerHoldMax);
    for (uint32_t i = 0; i < outcome.seats.count; ++i) {
      outcome.seats.seats[i] = slot.seats[i].load(std::memory_order_relaxed);
    }
    const int64_t current_ms = abs_ms(control.expires_at_rel_ms);
    const int64_t wanted_ms = std::min(now_ms + ttl_ms, lifetime_end_ms);
    if (wanted_ms <= current_ms && now_ms + ttl_ms > current_ms) {
      outcome.status = Status(ErrorCode::kLimitExceeded, "hold is at its maximum lifetime");
      return outcome;
    }
    HoldControl updated = control;
    updated.expires_at_rel_ms = static_cast<uint64_t>(rel_ms(std::max(wanted_ms, current_ms)));
    if (slot.control.compare_exchange_weak(word, updated.encode(), std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
      // The hold's wheel entry (on whichever worker made it) re-arms itself when it fires early.
      outcome.token = token;
      outcome.expires_at_ms = abs_ms(updated.expires_at_rel_ms);
      const EventRuntime* event = runtime(outcome.event_index);
      for (uint32_t i = 0; i < outcome.seats.count; ++i) {
        outcome.total_cents += event->price_of(outcome.seats.seats[i]);
      }
      return outcome;
    }
  }
}

Status Engine::release(WorkerContext& worker, HoldToken token, int64_t now_ms) {
  if (token.hold_index() >= table_->geometry().holds_max) return kHoldNotFound;
  HoldSlot& slot = table_->hold(token.hold_index());
  for (;;) {
    uint64_t word;
    HoldControl control;
    if (Status s = check_token(slot, token, now_ms, &word, &control); !s.is_ok()) return s;
    HoldControl releasing = control;
    releasing.state = HoldState::kReleasing;
    if (slot.control.compare_exchange_weak(word, releasing.encode(), std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      const bool expired = abs_ms(control.expires_at_rel_ms) <= now_ms;
      end_hold(worker, token.hold_index(), releasing,
               expired ? HoldEnd::kExpired : HoldEnd::kReleased);
      return Status::ok();
    }
  }
}

HoldOutcome Engine::hold_info(HoldToken token, int64_t now_ms) const {
  HoldOutcome outcome;
  if (token.hold_index() >= table_->geometry().holds_max) {
    outcome.status = kHoldNotFound;
    return outcome;
  }
  HoldSlot& slot = table_->hold(token.hold_index());
  uint64_t word;
  HoldControl control;
  if (outcome.status = check_token(slot, token, now_ms, &word, &control); !outcome.status.is_ok()) {
    return outcome;
  }
  outcome.token = token;
  outcome.expires_at_ms = abs_ms(control.expires_at_rel_ms);
  if (outcome.expires_at_ms <= now_ms) {
    outcome.status = kHoldExpired;
    return outcome;
  }
  outcome.event_index = slot.event_index.load(std::memory_order_relaxed);
  const EventRuntime* event = runtime(outcome.event_index);
  outcome.seats.count =
      std::min(slot.seat_count.load(std::memory_order_relaxed), shm::kSeatsPerHoldMax);
  for (uint32_t i = 0; i < outcome.seats.count; ++i) {
    outcome.seats.seats[i] = slot.seats[i].load(std::memory_order_relaxed);
    if (event != nullptr && outcome.seats.seats[i] < event->layout.seat_count()) {
      outcome.total_cents += event->price_of(outcome.seats.seats[i]);
    }
  }
  // The slot may have been reused while we read: report only what the control word vouches for.
  if (slot.control.load(std::memory_order_acquire) != word) outcome.status = kHoldBusy;
  return outcome;
}

std::vector<HoldListing> Engine::holds_of(uint32_t event_index, int64_t now_ms, size_t listed_max,
                                          size_t* total) const {
  std::vector<HoldListing> listed;
  *total = 0;
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) return listed;
  const uint32_t holds_max = table_->geometry().holds_max;
  for (uint32_t h = 0; h < holds_max; ++h) {
    if (!table_->hold_allocated(h)) continue;
    const HoldSlot& slot = table_->hold(h);
    const uint64_t word = slot.control.load(std::memory_order_acquire);
    const HoldControl control = HoldControl::decode(word);
    if (control.state != HoldState::kActive ||
        slot.event_index.load(std::memory_order_relaxed) != event_index ||
        abs_ms(control.expires_at_rel_ms) <= now_ms) {
      continue;
    }
    HoldListing hold;
    hold.hold_index = h;
    hold.version = control.version;
    hold.created_at_ms = slot.created_at_ms.load(std::memory_order_acquire);
    hold.expires_at_ms = abs_ms(control.expires_at_rel_ms);
    hold.seats.count =
        std::min(slot.seat_count.load(std::memory_order_acquire), shm::kSeatsPerHoldMax);
    for (uint32_t i = 0; i < hold.seats.count; ++i) {
      hold.seats.seats[i] = slot.seats[i].load(std::memory_order_acquire);
      if (hold.seats.seats[i] < event->layout.seat_count()) {
        hold.total_cents += event->price_of(hold.seats.seats[i]);
      }
    }
    // Reused or ended while we read: what we read may be another hold's. The acquire loads
    // above keep the second look at the control word after them (a seqlock reader).
    if (slot.control.load(std::memory_order_acquire) != word) continue;
    ++*total;
    if (listed.size() < listed_max) listed.push_back(hold);
  }
  return listed;
}

// ---------------------------------------------------------------------------------------------
// Sales

namespace {

// A sale or void must be recorded once it is decided, so the log's room is checked first.
Status check_log_room(const WorkerContext& worker) {
  const SaleLog* log = worker.sale_log();
  if (log == nullptr || log->has_room()) return Status::ok();
  return Status(ErrorCode::kBusy, "the sales journal is behind; retry shortly");
}

Status check_sale_request(const SaleRequest& request) {
  if (request.idempotency_key.size() > shm::kIdempotencyKeyBytesMax) {
    return Status(ErrorCode::kBadRequest, "idempotency_key longer than 64 bytes");
  }
  if (request.buyer_ref.size() > shm::kBuyerRefBytesMax) {
    return Status(ErrorCode::kBadRequest, "buyer reference longer than 56 bytes");
  }
  return Status::ok();
}

// Outcomes a retry must see again; anything else (BUSY, a paused event) may change on retry.
bool is_final(ErrorCode code) {
  return code == ErrorCode::kOk || code == ErrorCode::kSeatTaken ||
         code == ErrorCode::kHoldExpired || code == ErrorCode::kHoldNotFound;
}

}  // namespace

bool Engine::claim_key(WorkerContext& worker, const SaleRequest& request, int64_t now_ms,
                       uint32_t* entry, SaleOutcome* outcome) {
  if (request.idempotency_key.empty()) return true;
  shm::CommitIntent& intent = table_->intent(worker.index());
  // The hash goes in first: a crash between the claim and the index store below is still found.
  intent.pending_key_hash.store(IdempotencyTable::hash(request.idempotency_key),
                                std::memory_order_relaxed);
  switch (idempotency_.claim(request.idempotency_key, now_ms, entry)) {
    case IdempotencyTable::Claim::kOwned:
      intent.pending_idempotency_plus_one.store(*entry + 1, std::memory_order_relaxed);
      return true;
    case IdempotencyTable::Claim::kReplay: {
      const shm::IdempotencyEntry& e = idempotency_.entry(*entry);
      outcome->replayed = true;
      outcome->event_index = e.event_index;
      outcome->seats.count = e.ticket_count;
      for (uint32_t i = 0; i < e.ticket_count; ++i) {
        outcome->seats.seats[i] = e.seats[i];
        if (e.error_code == 0) {
          outcome->tickets[i] = TicketId::make(e.event_index, e.seats[i], e.nonces[i]);
          outcome->total_cents += runtime(e.event_index)->price_of(e.seats[i]);
        }
      }
      if (e.error_code != 0) {
        outcome->status = Status(static_cast<ErrorCode>(e.error_code),
                                 "outcome of the first request with this idempotency_key");
      }
      break;
    }
    case IdempotencyTable::Claim::kInProgress:
      outcome->status = Status(ErrorCode::kBusy, "a request with this idempotency_key is running");
      break;
    case IdempotencyTable::Claim::kFull:
      outcome->status = Status(ErrorCode::kLimitExceeded, "idempotency table full");
      break;
  }
  intent.pending_key_hash.store(0, std::memory_order_relaxed);
  return false;
}

void Engine::settle_key(WorkerContext& worker, const SaleRequest& request, uint32_t entry,
                        SaleOutcome* outcome) {
  if (request.idempotency_key.empty()) return;
  if (is_final(outcome->status.code())) {
    idempotency_.finish(entry, outcome->event_index, static_cast<uint32_t>(outcome->status.code()),
                        outcome->seats.span(), {});
  } else {
    idempotency_.abandon(entry);
  }
  shm::CommitIntent& intent = table_->intent(worker.index());
  intent.pending_idempotency_plus_one.store(0, std::memory_order_relaxed);
  intent.pending_key_hash.store(0, std::memory_order_relaxed);
}

void Engine::commit_sale(WorkerContext& worker, const EventRuntime& event, const SeatList& seats,
                         const ConfirmingHold* hold, uint32_t idempotency_index_plus_one,
                         const SaleRequest& request, int64_t now_ms, SaleOutcome* outcome) {
  const uint64_t idempotency_hash =
      request.idempotency_key.empty() ? 0 : IdempotencyTable::hash(request.idempotency_key);
  std::array<uint64_t, shm::kSeatsPerHoldMax> nonces;
  std::array<SoldSeat, shm::kSeatsPerHoldMax> sold;
  outcome->total_cents = 0;
  for (uint32_t i = 0; i < seats.count; ++i) {
    const uint32_t seat = seats.seats[i];
    TicketRecord record = shm::lock_ticket(event.tickets[seat]);
    BOXOFFICE_ASSERT(!shm::test_bit(event.sold, seat));
    record.nonce = worker.random().next();
    record.status = TicketStatus::kValid;
    record.generation += 1;
    record.price_cents = event.price_of(seat);
    record.sold_at_ms = now_ms;
    record.voided_at_ms = 0;
    record.idempotency_hash = idempotency_hash;
    record.buyer_bytes = static_cast<uint32_t>(request.buyer_ref.size());
    std::memset(record.buyer, 0, sizeof record.buyer);
    if (!request.buyer_ref.empty()) {
      std::memcpy(record.buyer, request.buyer_ref.data(), request.buyer_ref.size());
    }
    shm::unlock_ticket(event.tickets[seat], record);
    nonces[i] = record.nonce;
    sold[i] = {seat, record.generation, record.nonce, record.price_cents};
    outcome->tickets[i] = TicketId::make(event.index, seat, record.nonce);
    outcome->total_cents += record.price_cents;
  }

  // From here on the sale is decided: a crash is rolled forward from the intent.
  shm::CommitIntent& intent = table_->intent(worker.index());
  intent.event_index = event.index;
  intent.hold_index_plus_one = hold == nullptr ? 0 : hold->index + 1;
  intent.hold_version = hold == nullptr ? 0 : hold->control.version;
  intent.seat_count = seats.count;
  std::copy(seats.seats.begin(), seats.seats.begin() + seats.count, intent.seats);
  std::copy(nonces.begin(), nonces.begin() + seats.count, intent.nonces);
  intent.state.store(static_cast<uint32_t>(shm::IntentState::kCommitting),
                     std::memory_order_release);
  if (SaleLog* log = worker.sale_log()) {
    log->sale({event.index,
               now_ms,
               idempotency_hash,
               request.idempotency_key,
               request.buyer_ref,
               {sold.data(), seats.count}});
  }

  // Owners first: once a sold bit is set the ticket can be voided and the seat re-held, and a
  // late owner store would wipe the new hold's.
  for (uint32_t i = 0; i < seats.count; ++i) {
    event.tickets[seats.seats[i]].owner.store(0, std::memory_order_relaxed);
  }
  shm::set_bits(event.sold, seats.span());
  if (idempotency_index_plus_one != 0) {
    idempotency_.finish(idempotency_index_plus_one - 1, event.index, 0, seats.span(),
                        {nonces.data(), seats.count});
    intent.pending_idempotency_plus_one.store(0, std::memory_order_relaxed);
    intent.pending_key_hash.store(0, std::memory_order_relaxed);
  }
  shm::WorkerCounters& counters = counters_of(event, worker);
  bump(counters.seats_sold, seats.count);
  bump(counters.revenue_cents, outcome->total_cents);
  if (hold != nullptr) {
    bump(counters.seats_held, -static_cast<int64_t>(seats.count));
    HoldControl confirmed = hold->control;
    confirmed.state = HoldState::kConfirmed;
    table_->hold(hold->index).control.store(confirmed.encode(), std::memory_order_release);
  }
  intent.state.store(static_cast<uint32_t>(shm::IntentState::kIdle), std::memory_order_release);
  if (observer_ != nullptr) observer_->seats_changed(event.index, seats.span(), SeatState::kSold);
  if (hold != nullptr) table_->free_hold(hold->index);
  outcome->event_index = event.index;
  outcome->seats = seats;
}

SaleOutcome Engine::confirm(WorkerContext& worker, HoldToken token, const SaleRequest& request,
                            int64_t now_ms) {
  SaleOutcome outcome;
  if (outcome.status = check_sale_request(request); !outcome.status.is_ok()) return outcome;
  if (outcome.status = check_log_room(worker); !outcome.status.is_ok()) return outcome;

  // An idempotent retry is answered before looking at the hold, which has since been confirmed
  // (or its slot reused).
  uint32_t entry = 0;
  if (!claim_key(worker, request, now_ms, &entry, &outcome)) return outcome;
  auto finish = [&](Status status) {
    outcome.status = std::move(status);
    settle_key(worker, request, entry, &outcome);
    return outcome;
  };
  const bool keyed = !request.idempotency_key.empty();

  if (token.hold_index() >= table_->geometry().holds_max) return finish(kHoldNotFound);
  const uint32_t hold_index = token.hold_index();
  HoldSlot& slot = table_->hold(hold_index);
  uint64_t word;
  HoldControl control;
  for (;;) {
    if (Status s = check_token(slot, token, now_ms, &word, &control); !s.is_ok())
      return finish(std::move(s));
    if (abs_ms(control.expires_at_rel_ms) <= now_ms) {
      try_expire(worker, hold_index, token.version(), now_ms);
      return finish(kHoldExpired);
    }
    const EventRuntime* event = runtime(slot.event_index.load(std::memory_order_relaxed));
    BOXOFFICE_ASSERT(event != nullptr);
    if (event->state() != EventState::kOpen) {
      return finish(Status(ErrorCode::kEventClosed, "event is not open for sale"));
    }
    HoldControl confirming = control;
    confirming.state = HoldState::kConfirming;
    if (slot.control.compare_exchange_weak(word, confirming.encode(), std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      control = confirming;
      break;
    }
  }

  // The hold is ours: turn it into tickets.
  const EventRuntime& event = *runtime(slot.event_index.load(std::memory_order_relaxed));
  SeatList seats;
  seats.count = slot.seat_count.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < seats.count; ++i)
    seats.seats[i] = slot.seats[i].load(std::memory_order_relaxed);
  const ConfirmingHold confirming{hold_index, control};
  commit_sale(worker, event, seats, &confirming, keyed ? entry + 1 : 0, request, now_ms, &outcome);
  return outcome;
}

SaleOutcome Engine::buy(WorkerContext& worker, uint32_t event_index,
                        std::span<const uint32_t> seats, const SaleRequest& request,
                        int64_t now_ms) {
  SaleOutcome outcome;
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) {
    outcome.status = Status(ErrorCode::kNotFound, "no such event");
    return outcome;
  }
  SeatList sorted;
  if (outcome.status = check_seats(*event, seats, &sorted); !outcome.status.is_ok()) return outcome;
  if (outcome.status = check_sale_request(request); !outcome.status.is_ok()) return outcome;
  if (outcome.status = check_log_room(worker); !outcome.status.is_ok()) return outcome;

  uint32_t entry = 0;
  if (!claim_key(worker, request, now_ms, &entry, &outcome)) return outcome;
  auto finish = [&](Status status) {
    outcome.status = std::move(status);
    outcome.event_index = event_index;
    settle_key(worker, request, entry, &outcome);
    return outcome;
  };
  const bool keyed = !request.idempotency_key.empty();

  if (event->state() != EventState::kOpen) {
    return finish(Status(ErrorCode::kEventClosed, "event is not open for sale"));
  }
  if (!acquire_or_expire(worker, *event, sorted, now_ms, &outcome.seats)) {
    return finish(Status(ErrorCode::kSeatTaken, "seats are taken"));
  }
  commit_sale(worker, *event, sorted, nullptr, keyed ? entry + 1 : 0, request, now_ms, &outcome);
  return outcome;
}

VoidOutcome Engine::void_ticket(WorkerContext& worker, TicketId id, int64_t now_ms) {
  VoidOutcome outcome;
  const EventRuntime* event = runtime(id.event_index());
  if (event == nullptr || id.seat_index() >= event->layout.seat_count()) {
    outcome.status = Status(ErrorCode::kNotFound, "no such ticket");
    return outcome;
  }
  if (outcome.status = check_log_room(worker); !outcome.status.is_ok()) return outcome;
  const uint32_t seat = id.seat_index();
  shm::TicketSlot& slot = event->tickets[seat];
  TicketRecord record = shm::lock_ticket(slot);
  if (record.nonce != id.nonce() || record.status == TicketStatus::kNone ||
      (record.status == TicketStatus::kValid && !shm::test_bit(event->sold, seat))) {
    shm::unlock_ticket(slot, record);
    outcome.status = Status(ErrorCode::kNotFound, "no such ticket");
    return outcome;
  }
  if (record.status == TicketStatus::kVoided) {
    shm::unlock_ticket(slot, record);
    outcome.already_voided = true;
    return outcome;
  }
  record.status = TicketStatus::kVoided;
  record.voided_at_ms = now_ms;
  shm::unlock_ticket(slot, record);
  if (SaleLog* log = worker.sale_log()) {
    log->voided({event->index, seat, record.generation, record.nonce, now_ms});
  }
  // Back on sale: sold first, then the lock, so a seat seen free is never seen sold.
  const uint32_t seats[1] = {seat};
  shm::clear_bits(event->sold, seats);
  shm::release_seats(event->taken, seats);
  if (observer_ != nullptr) observer_->seats_changed(event->index, seats, SeatState::kFree);
  shm::WorkerCounters& counters = counters_of(*event, worker);
  bump(counters.seats_sold, -1);
  bump(counters.revenue_cents, -record.price_cents);
  bump(counters.tickets_voided, 1);
  outcome.refund_cents = record.price_cents;
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// Rebuilding from the journal and MariaDB

Status Engine::restore_event(const EventEntry& entry) {
  json document = json::parse(entry.document, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return Status(ErrorCode::kInternal, "recorded event document is not valid JSON");
  }
  document["state"] = std::string(event_state_name(entry.state));
  PreparedEvent prepared;
  if (Status s = prepare_event(document, &prepared); !s.is_ok()) return s;
  std::lock_guard<std::mutex> lock(create_mutex_);
  if (table_->events_used() != entry.event_index) {
    return Status(ErrorCode::kInternal, "recorded event " + std::to_string(entry.event_index) +
                                            " would be created at index " +
                                            std::to_string(table_->events_used()));
  }
  uint32_t index;
  return install_event(prepared, entry.created_at_ms, /*log=*/false, &index);
}

Status Engine::restore_sale(const SaleEntry& entry) {
  const EventRuntime* event = runtime(entry.event_index);
  if (event == nullptr) return Status(ErrorCode::kInternal, "sale recorded for an unknown event");
  for (const SoldSeat& sold : entry.seats) {
    if (sold.seat >= event->layout.seat_count() || sold.generation == 0) {
      return Status(ErrorCode::kInternal, "sale recorded for a seat outside its event");
    }
    shm::TicketSlot& slot = event->tickets[sold.seat];
    TicketRecord record = shm::lock_ticket(slot);
    if (sold.generation < record.generation ||
        (sold.generation == record.generation && sold.nonce == record.nonce)) {
      shm::unlock_ticket(slot, record);  // superseded, or this very sale again
      continue;
    }
    if (sold.generation == record.generation) {
      shm::unlock_ticket(slot, record);
      return Status(ErrorCode::kInternal, "two different sales recorded for seat " +
                                              std::to_string(sold.seat) + " generation " +
                                              std::to_string(sold.generation));
    }
    record.nonce = sold.nonce;
    record.status = TicketStatus::kValid;
    record.generation = sold.generation;
    record.price_cents = sold.price_cents;
    record.sold_at_ms = entry.sold_at_ms;
    record.voided_at_ms = 0;
    record.idempotency_hash = entry.idempotency_hash;
    record.buyer_bytes = static_cast<uint32_t>(entry.buyer_ref.size());
    std::memset(record.buyer, 0, sizeof record.buyer);
    std::memcpy(record.buyer, entry.buyer_ref.data(), entry.buyer_ref.size());
    shm::unlock_ticket(slot, record);
    const uint32_t one[1] = {sold.seat};
    shm::set_bits(event->taken, one);
    shm::set_bits(event->sold, one);
  }
  // The key's outcome, so a retry after the rebuild gets these tickets, not new ones.
  if (!entry.idempotency_key.empty()) {
    std::array<uint32_t, shm::kSeatsPerHoldMax> seats;
    std::array<uint64_t, shm::kSeatsPerHoldMax> nonces;
    for (size_t i = 0; i < entry.seats.size(); ++i) {
      seats[i] = entry.seats[i].seat;
      nonces[i] = entry.seats[i].nonce;
    }
    uint32_t index;
    if (idempotency_.claim(entry.idempotency_key, entry.sold_at_ms, &index) ==
        IdempotencyTable::Claim::kOwned) {
      idempotency_.finish(index, entry.event_index, 0, {seats.data(), entry.seats.size()},
                          {nonces.data(), entry.seats.size()});
    }
  }
  return Status::ok();
}

Status Engine::restore_void(const VoidEntry& entry) {
  const EventRuntime* event = runtime(entry.event_index);
  if (event == nullptr || entry.seat >= event->layout.seat_count()) {
    return Status(ErrorCode::kInternal, "void recorded for an unknown event or seat");
  }
  shm::TicketSlot& slot = event->tickets[entry.seat];
  TicketRecord record = shm::lock_ticket(slot);
  if (record.generation != entry.generation || record.nonce != entry.nonce ||
      record.status != TicketStatus::kValid) {
    shm::unlock_ticket(slot, record);  // superseded by a later sale, or voided already
    return record.generation < entry.generation
               ? Status(ErrorCode::kNotFound, "void recorded before any sale of its ticket")
               : Status::ok();
  }
  record.status = TicketStatus::kVoided;
  record.voided_at_ms = entry.voided_at_ms;
  shm::unlock_ticket(slot, record);
  const uint32_t one[1] = {entry.seat};
  shm::clear_bits(event->sold, one);
  shm::release_seats(event->taken, one);
  return Status::ok();
}

std::vector<uint32_t> Engine::unfinished_events() const {
  std::vector<uint32_t> found;
  for (uint32_t i = 0; i < table_->events_used(); ++i) {
    if (table_->event(i).state.load() == static_cast<uint32_t>(EventState::kCreating)) {
      found.push_back(i);
    }
  }
  return found;
}

Status Engine::finish_event(uint32_t event_index, EventState state, int64_t created_at_ms,
                            bool log) {
  std::lock_guard<std::mutex> lock(create_mutex_);
  BOXOFFICE_ASSERT(event_index < table_->events_used());
  EventSlot& slot = table_->event(event_index);
  BOXOFFICE_ASSERT(slot.state.load() == static_cast<uint32_t>(EventState::kCreating));
  if (runtime(event_index) == nullptr) {
    if (Status s = load_event(event_index); !s.is_ok()) return s;
  }
  if (log && event_log_ != nullptr) {
    if (Status s = event_log_->event_created(
            {event_index, created_at_ms, state, event_document(event_index)});
        !s.is_ok()) {
      return s;
    }
  }
  slot.state.store(static_cast<uint32_t>(state), std::memory_order_release);
  return Status::ok();
}

std::string_view Engine::event_document(uint32_t event_index) const {
  BOXOFFICE_ASSERT(event_index < table_->events_used());
  const EventSlot& slot = table_->event(event_index);
  return {table_->layout(slot), slot.layout_bytes};
}

// ---------------------------------------------------------------------------------------------
// Queries

bool Engine::held_by_a_hold(const EventRuntime& event, uint32_t seat_index) const {
  // `owner` is the last hold that locked the seat, possibly long over (and its slot reused):
  // believe it only while that hold is active (or being confirmed) and lists the seat, and the
  // seat is unsold throughout (the control word read twice around the sold bit).
  const uint32_t owner = event.tickets[seat_index].owner.load(std::memory_order_acquire);
  if (owner == 0 || owner - 1 >= table_->geometry().holds_max) return false;
  const HoldSlot& hold = table_->hold(owner - 1);
  const uint64_t word = hold.control.load(std::memory_order_acquire);
  const HoldState state = HoldControl::decode(word).state;
  if (state != HoldState::kActive && state != HoldState::kConfirming) return false;
  if (hold.event_index.load(std::memory_order_relaxed) != event.index) return false;
  const uint32_t count =
      std::min(hold.seat_count.load(std::memory_order_relaxed), shm::kSeatsPerHoldMax);
  bool listed = false;
  for (uint32_t i = 0; i < count && !listed; ++i) {
    listed = hold.seats[i].load(std::memory_order_relaxed) == seat_index;
  }
  return listed && !shm::test_bit(event.sold, seat_index) &&
         hold.control.load(std::memory_order_acquire) == word;
}

SeatInfo Engine::seat(uint32_t event_index, uint32_t seat_index) const {
  SeatInfo info;
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) {
    info.status = Status(ErrorCode::kNotFound, "no such event");
    return info;
  }
  if (seat_index >= event->layout.seat_count()) {
    info.status = Status(ErrorCode::kNotFound, "no such seat");
    return info;
  }
  info.location = event->layout.locate(seat_index);
  // A seat taken but not sold is held only while a hold owns it. Taken with no owner is a step
  // inside another operation (a buy between its taken and sold bits, a void between clearing
  // them, a hold before it is active, a release or expiry before its bits are clear), all of which
  // other requests already see as taken: read again until the steps are done (a few hundred
  // nanoseconds, unless that thread was descheduled), so that a seat being bought or voided is
  // never reported held. Past kSeatReadAttemptsMax the read reports held.
  for (int attempt = 0;; ++attempt) {
    if (shm::test_bit(event->sold, seat_index)) {
      const TicketRecord record = shm::read_ticket(event->tickets[seat_index]);
      info.state = SeatState::kSold;
      info.ticket = TicketId::make(event_index, seat_index, record.nonce);
      return info;
    }
    if (!shm::test_bit(event->taken, seat_index)) {
      info.state = SeatState::kFree;
      return info;
    }
    if (held_by_a_hold(*event, seat_index) || attempt == kSeatReadAttemptsMax) {
      info.state = SeatState::kHeld;
      return info;
    }
    if (attempt >= kSeatReadYieldsMax) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    } else if (attempt >= kSeatReadSpinsMax) {
      std::this_thread::yield();
    }
  }
}

void Engine::sold_seats(uint32_t event_index, uint64_t skip, uint32_t max,
                        std::vector<uint32_t>* out) const {
  out->clear();
  const EventRuntime* event = runtime(event_index);
  if (event == nullptr) return;
  const uint32_t seats = event->layout.seat_count();
  for (uint32_t w = 0; w < shm::word_count_for(seats) && out->size() < max; ++w) {
    uint64_t bits = event->sold[w].load(std::memory_order_acquire);
    const auto in_word = static_cast<uint64_t>(std::popcount(bits));
    if (skip >= in_word) {
      skip -= in_word;
      continue;
    }
    for (; bits != 0 && out->size() < max; bits &= bits - 1) {
      if (skip > 0) {
        --skip;
        continue;
      }
      out->push_back(w * shm::kBitsPerWord + static_cast<uint32_t>(std::countr_zero(bits)));
    }
  }
}

TicketInfo Engine::ticket(TicketId id) const {
  TicketInfo info;
  const EventRuntime* event = runtime(id.event_index());
  if (event == nullptr || id.seat_index() >= event->layout.seat_count()) {
    info.status = Status(ErrorCode::kNotFound, "no such ticket");
    return info;
  }
  // Sold bit first (acquire): a set bit guarantees the ticket written before it is visible.
  const bool sold = shm::test_bit(event->sold, id.seat_index());
  const TicketRecord record = shm::read_ticket(event->tickets[id.seat_index()]);
  if (record.nonce != id.nonce() || record.status == TicketStatus::kNone ||
      (record.status == TicketStatus::kValid && !sold)) {
    info.status = Status(ErrorCode::kNotFound, "no such ticket");
    return info;
  }
  info.id = id;
  info.event_index = id.event_index();
  info.seat_index = id.seat_index();
  info.voided = record.status == TicketStatus::kVoided;
  info.generation = record.generation;
  info.price_cents = record.price_cents;
  info.sold_at_ms = record.sold_at_ms;
  info.voided_at_ms = record.voided_at_ms;
  info.buyer_ref.assign(record.buyer, record.buyer_bytes);
  return info;
}

// ---------------------------------------------------------------------------------------------
// Recovery

RecoveryReport Engine::recover(WorkerContext& worker, int64_t now_ms) {
  RecoveryReport report;
  for (uint32_t e = 0; e < event_count(); ++e) report.events += runtime(e) != nullptr;
  recover_ticket_locks(&report);
  recover_intents(worker, &report);  // before the keys: a rolled-forward sale settles its key
  recover_pending_keys(&report);
  recover_holds(&report);
  for (uint32_t e = 0; e < event_count(); ++e) {
    if (const EventRuntime* event = runtime(e)) {
      recover_seats(worker, *event, &report);
      recount(*event);
    }
  }
  rearm_holds(worker, now_ms, &report);
  return report;
}

// Ticket slots left locked by a dead writer. A set sold bit means the writer was a void that
// never finished: the ticket stays valid. Otherwise it was a sale that never got its sold bit.
void Engine::recover_ticket_locks(RecoveryReport* report) {
  for (uint32_t e = 0; e < event_count(); ++e) {
    const EventRuntime* event = runtime(e);
    if (event == nullptr) continue;
    for (uint32_t s = 0; s < event->layout.seat_count(); ++s) {
      if (!shm::ticket_locked(event->tickets[s])) continue;
      shm::recover_ticket(event->tickets[s], /*keep_valid=*/shm::test_bit(event->sold, s));
      ++report->tickets_unlocked;
    }
  }
}

// Sales cut after their intent: make every ticket the intent names visible (unless it has
// been voided since), settle the key, end the hold.
void Engine::recover_intents(WorkerContext& worker, RecoveryReport* report) {
  for (uint32_t w = 0; w < table_->geometry().workers_max; ++w) {
    shm::CommitIntent& intent = table_->intent(w);
    if (intent.state.load() != static_cast<uint32_t>(shm::IntentState::kCommitting)) continue;
    const EventRuntime* event = runtime(intent.event_index);
    BOXOFFICE_ASSERT(event != nullptr && intent.seat_count <= shm::kSeatsPerHoldMax);
    // The sale is logged again (the log may or may not have got it before the crash; readers
    // take records keyed by event, seat and generation, so a repeat changes nothing).
    std::array<SoldSeat, shm::kSeatsPerHoldMax> sold;
    uint32_t sold_count = 0;
    TicketRecord last;
    for (uint32_t i = 0; i < intent.seat_count; ++i) {
      const uint32_t seat = intent.seats[i];
      const TicketRecord ticket = shm::read_ticket(event->tickets[seat]);
      if (ticket.nonce != intent.nonces[i] || ticket.status == TicketStatus::kNone) continue;
      sold[sold_count++] = {seat, ticket.generation, ticket.nonce, ticket.price_cents};
      last = ticket;
      if (ticket.status != TicketStatus::kValid) continue;  // voided since: its void is logged
      event->tickets[seat].owner.store(0);
      const uint32_t one[1] = {seat};
      shm::set_bits(event->sold, one);
    }
    if (SaleLog* log = worker.sale_log(); log != nullptr && sold_count > 0) {
      std::string_view key;
      if (const uint32_t pending = intent.pending_idempotency_plus_one.load(); pending != 0) {
        const shm::IdempotencyEntry& e = idempotency_.entry(pending - 1);
        key = std::string_view(e.key, std::min(e.key_bytes, shm::kIdempotencyKeyBytesMax));
      }
      log->sale({event->index,
                 last.sold_at_ms,
                 last.idempotency_hash,
                 key,
                 std::string_view(last.buyer, last.buyer_bytes),
                 {sold.data(), sold_count}});
    }
    if (intent.hold_index_plus_one != 0) {
      const uint32_t h = intent.hold_index_plus_one - 1;
      HoldSlot& slot = table_->hold(h);
      HoldControl control = HoldControl::decode(slot.control.load());
      if (control.version == intent.hold_version && control.state == HoldState::kConfirming) {
        control.state = HoldState::kConfirmed;
        slot.control.store(control.encode());
        if (table_->hold_allocated(h)) table_->free_hold(h);
      }
    }
    const uint32_t pending = intent.pending_idempotency_plus_one.load();
    if (pending != 0 && idempotency_.entry(pending - 1).state.load() ==
                            static_cast<uint32_t>(shm::IdempotencyState::kPending)) {
      idempotency_.finish(pending - 1, intent.event_index, 0, {intent.seats, intent.seat_count},
                          {intent.nonces, intent.seat_count});
    }
    intent.pending_idempotency_plus_one.store(0);
    intent.pending_key_hash.store(0);
    intent.state.store(static_cast<uint32_t>(shm::IntentState::kIdle));
    ++report->intents_rolled_forward;
  }
}

// Keys claimed by a request that died: after recover_intents no request is running, so every
// key still pending (or claimed and never published) may run again.
void Engine::recover_pending_keys(RecoveryReport* report) {
  for (uint32_t w = 0; w < table_->geometry().workers_max; ++w) {
    shm::CommitIntent& intent = table_->intent(w);
    const uint32_t pending = intent.pending_idempotency_plus_one.load();
    if (pending != 0 && idempotency_.entry(pending - 1).state.load() ==
                            static_cast<uint32_t>(shm::IdempotencyState::kPending)) {
      idempotency_.abandon(pending - 1);
      ++report->idempotency_abandoned;
    } else if (const uint64_t hash = intent.pending_key_hash.load(); pending == 0 && hash != 0) {
      report->idempotency_abandoned += idempotency_.recover_claims(hash);
    }
    intent.pending_idempotency_plus_one.store(0);
    intent.pending_key_hash.store(0);
  }
}

// Holds cut in a transition: a confirm with no intent never sold (back to active); a release
// or expiry frees its seats below, as orphans. Ended slots still allocated are freed.
void Engine::recover_holds(RecoveryReport* report) {
  const uint32_t holds_max = table_->geometry().holds_max;
  for (uint32_t h = 0; h < holds_max; ++h) {
    if (!table_->hold_allocated(h)) continue;
    HoldSlot& slot = table_->hold(h);
    HoldControl control = HoldControl::decode(slot.control.load());
    if (control.state == HoldState::kConfirming) {
      control.state = HoldState::kActive;
      ++report->holds_restored;
    } else if (control.state == HoldState::kReleasing) {
      control.state = HoldState::kReleased;
      ++report->holds_released;
    }
    if (control.state == HoldState::kActive && runtime(slot.event_index.load()) == nullptr) {
      control.state = HoldState::kReleased;
      ++report->holds_released;
    }
    slot.control.store(control.encode());
    if (control.state != HoldState::kActive) table_->free_hold(h);
  }
}

// A taken bit with no sold bit and no active hold naming it is an orphan lock; a sold bit over
// a voided ticket is an unfinished void.
void Engine::recover_seats(WorkerContext& worker, const EventRuntime& event,
                           RecoveryReport* report) {
  const uint32_t holds_max = table_->geometry().holds_max;
  for (uint32_t s = 0; s < event.layout.seat_count(); ++s) {
    const uint32_t one[1] = {s};
    const bool taken = shm::test_bit(event.taken, s);
    if (shm::test_bit(event.sold, s)) {
      if (const TicketRecord ticket = shm::read_ticket(event.tickets[s]);
          ticket.status != TicketStatus::kValid) {
        if (SaleLog* log = worker.sale_log()) {
          log->voided({event.index, s, ticket.generation, ticket.nonce, ticket.voided_at_ms});
        }
        shm::clear_bits(event.sold, one);
        shm::clear_bits(event.taken, one);
        event.tickets[s].owner.store(0);
        ++report->voids_finished;
      } else if (!taken) {
        shm::set_bits(event.taken, one);  // sold implies taken
      }
      continue;
    }
    const uint32_t owner = event.tickets[s].owner.load();
    bool held = false;
    if (taken && owner != 0 && owner - 1 < holds_max && table_->hold_allocated(owner - 1)) {
      const HoldSlot& slot = table_->hold(owner - 1);
      if (HoldControl::decode(slot.control.load()).state == HoldState::kActive &&
          slot.event_index.load() == event.index) {
        const uint32_t count = std::min(slot.seat_count.load(), shm::kSeatsPerHoldMax);
        for (uint32_t i = 0; i < count; ++i) held = held || slot.seats[i].load() == s;
      }
    }
    if (!held) event.tickets[s].owner.store(0);
    if (taken && !held) {
      shm::clear_bits(event.taken, one);
      ++report->seats_unlocked;
    }
  }
}

// Per-worker counter lines may have missed a crash: recount from the bitmaps into line 0.
void Engine::recount(const EventRuntime& event) {
  int64_t held = 0, sold = 0, revenue = 0;
  for (uint32_t s = 0; s < event.layout.seat_count(); ++s) {
    if (shm::test_bit(event.sold, s)) {
      ++sold;
      revenue += shm::read_ticket(event.tickets[s]).price_cents;
    } else if (shm::test_bit(event.taken, s)) {
      ++held;
    }
  }
  for (uint32_t w = 0; w < table_->geometry().workers_max; ++w) {
    event.counters[w].seats_held.store(0);
    event.counters[w].seats_sold.store(0);
    event.counters[w].revenue_cents.store(0);
  }
  event.counters[0].seats_held.store(held);
  event.counters[0].seats_sold.store(sold);
  event.counters[0].revenue_cents.store(revenue);
}

// Active holds: expire the overdue, put the rest on `worker`'s wheel.
void Engine::rearm_holds(WorkerContext& worker, int64_t now_ms, RecoveryReport* report) {
  const uint32_t holds_max = table_->geometry().holds_max;
  for (uint32_t h = 0; h < holds_max; ++h) {
    if (!table_->hold_allocated(h)) continue;
    const HoldControl control = HoldControl::decode(table_->hold(h).control.load());
    if (control.state != HoldState::kActive) continue;
    if (abs_ms(control.expires_at_rel_ms) <= now_ms) {
      if (try_expire(worker, h, control.version, now_ms)) ++report->holds_expired;
    } else {
      ++report->holds_active;
      worker.wheel().schedule(h, control.version, abs_ms(control.expires_at_rel_ms));
    }
  }
}

}  // namespace boxoffice
