#include "net/dispatcher.h"

#include <nlohmann/json.hpp>

#include "core/msgpack_document.h"
#include "shm/check.h"

namespace boxoffice::net {

using shm::EventState;

// What a BUSY answer tells the client to wait before retrying.
constexpr uint32_t kRetryAfterMs = 10;

// Packs exactly one response for a request: either ok() then the result, or error().
struct Dispatcher::Reply {
  Reply(uint32_t msgid, ReplyBuffer* out) : msgid(msgid), out(out), pk(*out) {}

  Packer& ok() {
    BOXOFFICE_ASSERT(!done);
    done = true;
    pk.pack_array(4);
    pk.pack(1);
    pk.pack(msgid);
    pk.pack_nil();
    return pk;  // the caller packs the result
  }
  // Packs the error map with `extra_pairs` more pairs for the caller to pack after it returns.
  Packer& error(const Status& status, uint32_t extra_pairs = 0) {
    BOXOFFICE_ASSERT(!done && !status.is_ok());
    done = true;
    code = status.code();
    pk.pack_array(4);
    pk.pack(1);
    pk.pack(msgid);
    pk.pack_map(3 + extra_pairs);
    pk.pack_key("code");
    pk.pack(static_cast<uint32_t>(status.code()));
    pk.pack_key("name");
    pk.pack(error_name(status.code()));
    pk.pack_key("message");
    pk.pack(status.message());
    return pk;
  }
  // Packs the trailing nil result after error().
  void end_error() { pk.pack_nil(); }
  void fail(const Status& status) {
    if (status.code() == ErrorCode::kBusy) {  // BUSY always says when to come back
      error(status, 1);
      pk.pack_key("retry_after_ms");
      pk.pack(kRetryAfterMs);
    } else {
      error(status);
    }
    end_error();
  }

  uint32_t msgid;
  ReplyBuffer* out;  // packer writes straight through, so raw bytes may be appended too
  Packer pk;
  bool done = false;
  ErrorCode code = ErrorCode::kOk;
};

namespace {

const char* state_name(SeatState state) {
  switch (state) {
    case SeatState::kFree:
      return "free";
    case SeatState::kHeld:
      return "held";
    case SeatState::kSold:
      return "sold";
  }
  return "unknown";
}

// Compares in time independent of where the first difference is (and of which key matched).
bool equal_constant_time(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

Dispatcher::Dispatcher(Engine* engine, WorkerContext* worker, DispatchOptions options)
    : engine_(engine), worker_(worker), options_(std::move(options)) {}

ClientRole Dispatcher::role_of(std::string_view candidate) const {
  ClientRole role = ClientRole::kNone;
  for (const ApiKey& k : options_.api_keys) {
    if (equal_constant_time(k.key, candidate)) role = k.role;
  }
  return role;
}

void Dispatcher::pack_error(uint32_t msgid, const Status& status, ReplyBuffer* out) {
  Reply reply(msgid, out);
  reply.fail(status);
}

void Dispatcher::pack_subscribed(uint32_t msgid, ReplyBuffer* out) {
  Reply reply(msgid, out);
  Packer& pk = reply.ok();
  pk.pack_map(1);
  pk.pack_key("subscribed");
  pk.pack(true);
}

void Dispatcher::pack_seat_changed(uint32_t event_index, std::span<const uint32_t> seats,
                                   SeatState state, ReplyBuffer* out) {
  Packer pk(*out);
  pk.pack_array(3);
  pk.pack(2);
  pk.pack(std::string_view("seat.changed"));
  pk.pack_map(3);
  pk.pack_key("event");
  pk.pack(engine_->event_id(event_index));
  pk.pack_key("seats");
  pk.pack_array(static_cast<uint32_t>(seats.size()));
  for (uint32_t seat : seats) pk.pack(seat);
  pk.pack_key("state");
  pk.pack(std::string_view(state_name(state)));
}

void Dispatcher::pack_seats_lost(uint32_t event_index, uint64_t lost, ReplyBuffer* out) {
  Packer pk(*out);
  pk.pack_array(3);
  pk.pack(2);
  pk.pack(std::string_view("seat.changed"));
  pk.pack_map(2);
  pk.pack_key("event");
  pk.pack(engine_->event_id(event_index));
  pk.pack_key("lost");
  pk.pack(lost);
}

void Dispatcher::pack_busy(uint32_t msgid, const char* why, ReplyBuffer* out,
                           uint32_t retry_after_ms) {
  Reply reply(msgid, out);
  Packer& pk = reply.error(Status(ErrorCode::kBusy, why), 1);
  pk.pack_key("retry_after_ms");
  pk.pack(retry_after_ms > 0 ? retry_after_ms : kRetryAfterMs);
  reply.end_error();
}

Status Dispatcher::admit(const Request& request, const Session& session) const {
  if (!options_.api_keys.empty() && request.method != Method::kPing &&
      request.method != Method::kAuth && session.role == ClientRole::kNone) {
    return Status(ErrorCode::kUnauthorized, "authenticate first (auth)");
  }
  return Status::ok();
}

ErrorCode Dispatcher::handle(const Request& request, Session* session, int64_t now_ms,
                             ReplyBuffer* out, uint64_t* clock_ns) {
  const uint64_t started_ns = stats_ == nullptr     ? 0
                              : clock_ns != nullptr ? *clock_ns
                                                    : monotonic_ns();
  Reply reply(request.msgid, out);
  if (request.error != nullptr) {
    reply.fail(Status(ErrorCode::kBadRequest, request.error));
  } else if (Status s = admit(request, *session); !s.is_ok()) {
    reply.fail(s);
  } else {
    run(request, session, now_ms, &reply);
  }
  BOXOFFICE_ASSERT(reply.done);  // every method answers exactly once
  if (stats_ != nullptr) {
    const uint64_t done_ns = monotonic_ns();
    stats_->record(request.method, reply.code, done_ns - started_ns);
    if (clock_ns != nullptr) *clock_ns = done_ns;
  }
  return reply.code;
}

void Dispatcher::run(const Request& r, Session* session, int64_t now_ms, Reply* reply) {
  switch (r.method) {
    case Method::kPing:
      return do_ping(now_ms, reply);
    case Method::kAuth:
      return do_auth(r, session, reply);
    case Method::kEventCreate:
      if (!options_.api_keys.empty() && session->role != ClientRole::kAdmin) {
        return reply->fail(Status(ErrorCode::kUnauthorized, "event.create needs the admin role"));
      }
      return do_event_create(r, now_ms, reply);
    case Method::kEventGet:
      return do_event_get(r, reply);
    case Method::kEventList:
      return do_event_list(reply);
    case Method::kEventStats:
      return do_event_stats(r, reply);
    case Method::kHold:
      return do_hold(r, now_ms, reply);
    case Method::kHoldBest:
      return do_hold_best(r, now_ms, reply);
    case Method::kHoldExtend:
      return do_hold_extend(r, now_ms, reply);
    case Method::kHoldRelease:
      return do_hold_release(r, now_ms, reply);
    case Method::kHoldConfirm:
      return do_hold_confirm(r, now_ms, reply);
    case Method::kBuy:
      return do_buy(r, now_ms, reply);
    case Method::kTicketGet:
      return do_ticket_get(r, reply);
    case Method::kTicketVoid:
      return do_ticket_void(r, now_ms, reply);
    case Method::kSeatGet:
      return do_seat_get(r, reply);
    case Method::kAvailability:
      return do_availability(r, reply);
    case Method::kSubscribe:  // needs the connection: RpcHandler answers it
      return reply->fail(Status(ErrorCode::kInternal, "subscribe reached the dispatcher"));
    case Method::kUnknown:
      break;
  }
  reply->fail(Status(ErrorCode::kBadRequest, "unknown method"));
}

// ---------------------------------------------------------------------------------------------
// Resolving names

bool Dispatcher::find_event(std::string_view id, uint32_t* event_index) {
  if (!memo_event_id_.empty() && id == memo_event_id_) {
    *event_index = memo_event_index_;
    return true;
  }
  if (!engine_->find_event(id, event_index)) return false;
  memo_event_id_.assign(id);
  memo_event_index_ = *event_index;
  return true;
}

void Dispatcher::prefetch(const Request& request) {
  const bool seats_by_index = request.method == Method::kHold || request.method == Method::kBuy;
  if (!seats_by_index || request.error != nullptr || request.too_many_seats ||
      request.seat_count == 0) {
    return;
  }
  uint32_t event_index = 0;
  if (!find_event(request.event, &event_index)) return;
  uint32_t seats[shm::kSeatsPerHoldMax];
  uint32_t count = 0;
  for (uint32_t i = 0; i < request.seat_count; ++i) {
    if (!request.seats[i].by_label) seats[count++] = request.seats[i].index;
  }
  engine_->prefetch_seats(event_index, {seats, count});
}

bool Dispatcher::resolve_event(const Request& r, uint32_t* event_index, Reply* reply) {
  if (r.event.empty()) {
    reply->fail(Status(ErrorCode::kBadRequest, "missing \"event\""));
    return false;
  }
  if (!find_event(r.event, event_index)) {
    reply->fail(Status(ErrorCode::kNotFound, "no such event"));
    return false;
  }
  return true;
}

bool Dispatcher::resolve_seat(const SeatRef& ref, uint32_t event_index, uint32_t* seat,
                              Reply* reply) {
  if (!ref.by_label) {
    *seat = ref.index;  // range-checked by the engine
    return true;
  }
  const auto index = engine_->layout(event_index).seat_index(ref.zone, ref.row, ref.seat);
  if (!index) {
    reply->fail(Status(ErrorCode::kNotFound, "no such seat"));
    return false;
  }
  *seat = *index;
  return true;
}

bool Dispatcher::resolve_seats(const Request& r, uint32_t event_index, SeatList* seats,
                               Reply* reply) {
  if (r.too_many_seats) {
    reply->fail(Status(ErrorCode::kLimitExceeded, "too many seats in one request"));
    return false;
  }
  if (!r.has_seats || r.seat_count == 0) {
    reply->fail(Status(ErrorCode::kBadRequest, "missing \"seats\""));
    return false;
  }
  seats->count = r.seat_count;
  for (uint32_t i = 0; i < r.seat_count; ++i) {
    if (!resolve_seat(r.seats[i], event_index, &seats->seats[i], reply)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Packing results

void Dispatcher::pack_seat(Packer& pk, uint32_t event_index, uint32_t seat) {
  const Layout& layout = engine_->layout(event_index);
  if (seat >= layout.seat_count()) {  // defensive: seats come from the engine
    pk.pack_map(1);
    pk.pack_key("index");
    pk.pack(seat);
    return;
  }
  const SeatLocation where = layout.locate(seat);
  pk.pack_map(where.row != nullptr ? 5 : 4);
  pk.pack_key("index");
  pk.pack(seat);
  pk.pack_key("zone");
  pk.pack(where.zone->id);
  if (where.row != nullptr) {
    pk.pack_key("row");
    pk.pack(std::string_view(where.row->label));
  }
  pk.pack_key("seat");
  pk.pack(where.label());
  pk.pack_key("price_cents");
  pk.pack(where.zone->price_cents);
}

void Dispatcher::pack_hold(Packer& pk, const HoldOutcome& hold) {
  char token[HoldToken::kTextBytes];
  hold.token.format(token);
  pk.pack_map(4);
  pk.pack_key("hold");
  pk.pack_fixed_str<sizeof token>(token);
  pk.pack_key("expires_at_ms");
  pk.pack(hold.expires_at_ms);
  pk.pack_key("seats");
  pk.pack_array(hold.seats.count);
  for (uint32_t i = 0; i < hold.seats.count; ++i)
    pack_seat(pk, hold.event_index, hold.seats.seats[i]);
  pk.pack_key("total_cents");
  pk.pack(hold.total_cents);
}

void Dispatcher::pack_sale(Packer& pk, const SaleOutcome& sale) {
  pk.pack_map(3);
  pk.pack_key("tickets");
  pk.pack_array(sale.seats.count);
  for (uint32_t i = 0; i < sale.seats.count; ++i) {
    char id[TicketId::kTextBytes];
    sale.tickets[i].format(id);
    pk.pack_map(2);
    pk.pack_key("id");
    pk.pack_fixed_str<sizeof id>(id);
    pk.pack_key("seat");
    pack_seat(pk, sale.event_index, sale.seats.seats[i]);
  }
  pk.pack_key("total_cents");
  pk.pack(sale.total_cents);
  pk.pack_key("replayed");
  pk.pack(sale.replayed);
}

// ---------------------------------------------------------------------------------------------
// Methods

void Dispatcher::do_ping(int64_t now_ms, Reply* reply) {
  Packer& pk = reply->ok();
  pk.pack_map(2);
  pk.pack_key("pong");
  pk.pack(true);
  pk.pack_key("now_ms");
  pk.pack(now_ms);
}

void Dispatcher::do_auth(const Request& r, Session* session, Reply* reply) {
  if (options_.api_keys.empty()) {
    session->role = ClientRole::kAdmin;
  } else {
    const ClientRole role = role_of(r.key);
    if (role == ClientRole::kNone) {
      return reply->fail(Status(ErrorCode::kUnauthorized, "unknown API key"));
    }
    session->role = role;
  }
  Packer& pk = reply->ok();
  pk.pack_map(1);
  pk.pack_key("role");
  pk.pack(std::string_view(session->role == ClientRole::kAdmin ? "admin" : "sell"));
}

void Dispatcher::do_event_create(const Request& r, int64_t now_ms, Reply* reply) {
  nlohmann::json params;
  if (Status s = msgpack_to_json(r.params, DocumentLimits{}, &params); !s.is_ok()) {
    return reply->fail(s);
  }
  // The params map is the event document ({id, name?, state?, layout}); other fields the
  // protocol lets clients add are dropped before the strict document check.
  nlohmann::json document = nlohmann::json::object();
  for (const char* field : {"id", "name", "state", "layout"}) {
    if (params.contains(field)) document[field] = params[field];
  }
  uint32_t index = 0;
  if (Status s = engine_->create_event_parsed(document, now_ms, &index); !s.is_ok()) {
    return reply->fail(s);
  }
  Packer& pk = reply->ok();
  pk.pack_map(2);
  pk.pack_key("event");
  pk.pack(engine_->event_id(index));
  pk.pack_key("seats_total");
  pk.pack(engine_->layout(index).seat_count());
}

void Dispatcher::do_event_get(const Request& r, Reply* reply) {
  uint32_t e;
  if (!resolve_event(r, &e, reply)) return;
  const Layout& layout = engine_->layout(e);
  Packer& pk = reply->ok();
  pk.pack_map(r.want_layout ? 8 : 7);
  pk.pack_key("event");
  pk.pack(engine_->event_id(e));
  pk.pack_key("name");
  pk.pack(engine_->event_name(e));
  pk.pack_key("venue");
  pk.pack(engine_->event_venue(e));
  pk.pack_key("state");
  pk.pack(event_state_name(engine_->event_state(e)));
  pk.pack_key("created_at_ms");
  pk.pack(engine_->event_created_at_ms(e));
  pk.pack_key("seats_total");
  pk.pack(layout.seat_count());
  pk.pack_key("zones");
  pk.pack_array(static_cast<uint32_t>(layout.zones().size()));
  for (const Zone& zone : layout.zones()) {
    pk.pack_map(6);
    pk.pack_key("zone");
    pk.pack(zone.id);
    pk.pack_key("name");
    pk.pack(std::string_view(zone.name));
    pk.pack_key("price_cents");
    pk.pack(zone.price_cents);
    pk.pack_key("general_admission");
    pk.pack(zone.general_admission);
    pk.pack_key("first_index");
    pk.pack(zone.first_seat);
    pk.pack_key("seats_total");
    pk.pack(zone.seat_count);
  }
  if (r.want_layout) {
    pk.pack_key("layout");
    // The layout as the same msgpack map a client would send (off the booking path).
    const std::vector<uint8_t> packed =
        nlohmann::json::to_msgpack(nlohmann::json::parse(layout.canonical_json()));
    reply->out->write(reinterpret_cast<const char*>(packed.data()), packed.size());
  }
}

void Dispatcher::do_event_list(Reply* reply) {
  uint32_t live = 0;
  for (uint32_t e = 0; e < engine_->event_count(); ++e) live += engine_->event_exists(e);
  Packer& pk = reply->ok();
  pk.pack_map(1);
  pk.pack_key("events");
  pk.pack_array(live);
  for (uint32_t e = 0; e < engine_->event_count(); ++e) {
    if (!engine_->event_exists(e)) continue;
    const EventCounts c = engine_->counts(e);
    pk.pack_map(6);
    pk.pack_key("event");
    pk.pack(engine_->event_id(e));
    pk.pack_key("venue");
    pk.pack(engine_->event_venue(e));
    pk.pack_key("state");
    pk.pack(event_state_name(engine_->event_state(e)));
    pk.pack_key("seats_total");
    pk.pack(c.seats_total);
    pk.pack_key("seats_sold");
    pk.pack(c.seats_sold);
    pk.pack_key("seats_held");
    pk.pack(c.seats_held);
  }
}

void Dispatcher::do_event_stats(const Request& r, Reply* reply) {
  uint32_t e;
  if (!resolve_event(r, &e, reply)) return;
  const EventCounts c = engine_->counts(e);
  Packer& pk = reply->ok();
  pk.pack_map(9);
  pk.pack_key("seats_total");
  pk.pack(c.seats_total);
  pk.pack_key("seats_free");
  pk.pack(std::max<int64_t>(0, c.seats_total - c.seats_held - c.seats_sold));
  pk.pack_key("seats_held");
  pk.pack(c.seats_held);
  pk.pack_key("seats_sold");
  pk.pack(c.seats_sold);
  pk.pack_key("revenue_cents");
  pk.pack(c.revenue_cents);
  pk.pack_key("holds_created");
  pk.pack(c.holds_created);
  pk.pack_key("holds_expired");
  pk.pack(c.holds_expired);
  pk.pack_key("holds_released");
  pk.pack(c.holds_released);
  pk.pack_key("tickets_voided");
  pk.pack(c.tickets_voided);
}

void Dispatcher::fail_booking(const Status& status, uint32_t event_index, const SeatList& taken,
                              Reply* reply) {
  if (status.code() != ErrorCode::kSeatTaken) return reply->fail(status);
  Packer& pk = reply->error(status, 1);
  pk.pack_key("seats");  // the requested seats found taken (empty when the engine chose them)
  pk.pack_array(taken.count);
  for (uint32_t i = 0; i < taken.count; ++i) pack_seat(pk, event_index, taken.seats[i]);
  reply->end_error();
}

void Dispatcher::do_hold(const Request& r, int64_t now_ms, Reply* reply) {
  uint32_t e;
  SeatList seats;
  if (!resolve_event(r, &e, reply) || !resolve_seats(r, e, &seats, reply)) return;
  const HoldOutcome hold = engine_->hold(*worker_, e, seats.span(), r.ttl_ms, now_ms);
  if (!hold.status.is_ok()) return fail_booking(hold.status, e, hold.seats, reply);
  pack_hold(reply->ok(), hold);
}

void Dispatcher::do_hold_best(const Request& r, int64_t now_ms, Reply* reply) {
  uint32_t e;
  if (!resolve_event(r, &e, reply)) return;
  if (!r.has_zone || !r.has_count) {
    return reply->fail(Status(ErrorCode::kBadRequest, "hold.best needs \"zone\" and \"count\""));
  }
  if (r.count < 0 || r.count > UINT32_MAX) {
    return reply->fail(Status(ErrorCode::kBadRequest, "count out of range"));
  }
  const HoldOutcome hold =
      engine_->hold_best(*worker_, e, r.zone, static_cast<uint32_t>(r.count), r.ttl_ms, now_ms);
  if (!hold.status.is_ok()) return fail_booking(hold.status, e, hold.seats, reply);
  pack_hold(reply->ok(), hold);
}

void Dispatcher::do_hold_extend(const Request& r, int64_t now_ms, Reply* reply) {
  const auto token = HoldToken::parse(r.hold);
  if (!token) return reply->fail(Status(ErrorCode::kBadRequest, "\"hold\" must be a hold token"));
  const HoldOutcome hold = engine_->extend(*worker_, *token, r.ttl_ms, now_ms);
  if (!hold.status.is_ok()) return reply->fail(hold.status);
  pack_hold(reply->ok(), hold);
}

void Dispatcher::do_hold_release(const Request& r, int64_t now_ms, Reply* reply) {
  const auto token = HoldToken::parse(r.hold);
  if (!token) return reply->fail(Status(ErrorCode::kBadRequest, "\"hold\" must be a hold token"));
  if (Status s = engine_->release(*worker_, *token, now_ms); !s.is_ok()) return reply->fail(s);
  Packer& pk = reply->ok();
  pk.pack_map(1);
  pk.pack_key("released");
  pk.pack(true);
}

void Dispatcher::do_hold_confirm(const Request& r, int64_t now_ms, Reply* reply) {
  const auto token = HoldToken::parse(r.hold);
  if (!token) return reply->fail(Status(ErrorCode::kBadRequest, "\"hold\" must be a hold token"));
  const SaleOutcome sale = engine_->confirm(*worker_, *token, {r.idempotency_key, r.buyer}, now_ms);
  if (!sale.status.is_ok()) return fail_booking(sale.status, sale.event_index, sale.seats, reply);
  pack_sale(reply->ok(), sale);
}

void Dispatcher::do_buy(const Request& r, int64_t now_ms, Reply* reply) {
  uint32_t e;
  SeatList seats;
  if (!resolve_event(r, &e, reply) || !resolve_seats(r, e, &seats, reply)) return;
  const SaleOutcome sale =
      engine_->buy(*worker_, e, seats.span(), {r.idempotency_key, r.buyer}, now_ms);
  if (!sale.status.is_ok()) return fail_booking(sale.status, e, sale.seats, reply);
  pack_sale(reply->ok(), sale);
}

void Dispatcher::do_ticket_get(const Request& r, Reply* reply) {
  const auto id = TicketId::parse(r.ticket);
  if (!id) return reply->fail(Status(ErrorCode::kBadRequest, "\"ticket\" must be a ticket id"));
  const TicketInfo t = engine_->ticket(*id);
  if (!t.status.is_ok()) return reply->fail(t.status);
  char text[TicketId::kTextBytes];
  id->format(text);
  Packer& pk = reply->ok();
  pk.pack_map(t.voided ? 9 : 8);
  pk.pack_key("ticket");
  pk.pack(std::string_view(text, sizeof text));
  pk.pack_key("event");
  pk.pack(engine_->event_id(t.event_index));
  pk.pack_key("seat");
  pack_seat(pk, t.event_index, t.seat_index);
  pk.pack_key("status");
  pk.pack(std::string_view(t.voided ? "voided" : "valid"));
  pk.pack_key("price_cents");
  pk.pack(t.price_cents);
  pk.pack_key("sold_at_ms");
  pk.pack(t.sold_at_ms);
  if (t.voided) {
    pk.pack_key("voided_at_ms");
    pk.pack(t.voided_at_ms);
  }
  pk.pack_key("buyer");
  pk.pack(std::string_view(t.buyer_ref));
  pk.pack_key("generation");
  pk.pack(t.generation);
}

void Dispatcher::do_ticket_void(const Request& r, int64_t now_ms, Reply* reply) {
  const auto id = TicketId::parse(r.ticket);
  if (!id) return reply->fail(Status(ErrorCode::kBadRequest, "\"ticket\" must be a ticket id"));
  const VoidOutcome v = engine_->void_ticket(*worker_, *id, now_ms);
  if (!v.status.is_ok()) return reply->fail(v.status);
  Packer& pk = reply->ok();
  pk.pack_map(3);
  pk.pack_key("voided");
  pk.pack(true);
  pk.pack_key("refund_cents");
  pk.pack(v.refund_cents);
  pk.pack_key("already_voided");
  pk.pack(v.already_voided);
}

void Dispatcher::do_seat_get(const Request& r, Reply* reply) {
  uint32_t e, seat;
  if (!resolve_event(r, &e, reply)) return;
  if (!r.has_seat) return reply->fail(Status(ErrorCode::kBadRequest, "missing \"seat\""));
  if (!resolve_seat(r.seat, e, &seat, reply)) return;
  const SeatInfo info = engine_->seat(e, seat);
  if (!info.status.is_ok()) return reply->fail(info.status);
  Packer& pk = reply->ok();
  pk.pack_map(2);
  pk.pack_key("seat");
  pack_seat(pk, e, seat);
  pk.pack_key("state");
  pk.pack(std::string_view(state_name(info.state)));
}

void Dispatcher::do_availability(const Request& r, Reply* reply) {
  uint32_t e;
  if (!resolve_event(r, &e, reply)) return;
  const Layout& layout = engine_->layout(e);
  if (r.has_zone && layout.zone_by_id(r.zone) == nullptr) {
    return reply->fail(Status(ErrorCode::kNotFound, "no such zone"));
  }
  uint32_t zones = 0;
  for (const Zone& zone : layout.zones()) zones += !r.has_zone || zone.id == r.zone;
  Packer& pk = reply->ok();
  pk.pack_map(1);
  pk.pack_key("zones");
  pk.pack_array(zones);
  for (const Zone& zone : layout.zones()) {
    if (r.has_zone && zone.id != r.zone) continue;
    const ZoneAvailability a = engine_->availability(e, zone.id);
    pk.pack_map(r.want_bitmap ? 6 : 5);
    pk.pack_key("zone");
    pk.pack(zone.id);
    pk.pack_key("seats_total");
    pk.pack(a.seats_total);
    pk.pack_key("seats_free");
    pk.pack(a.seats_free);
    pk.pack_key("seats_held");
    pk.pack(a.seats_held);
    pk.pack_key("seats_sold");
    pk.pack(a.seats_sold);
    if (r.want_bitmap) {
      (void)engine_->free_bitmap(e, zone.id, &bitmap_scratch_);
      pk.pack_key("free_bitmap");
      pk.pack_bin(static_cast<uint32_t>(bitmap_scratch_.size()));
      pk.pack_bin_body(reinterpret_cast<const char*>(bitmap_scratch_.data()),
                       static_cast<uint32_t>(bitmap_scratch_.size()));
    }
  }
}

}  // namespace boxoffice::net
