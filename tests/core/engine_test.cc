// Engine: every booking operation and every error path, single-threaded, on the shipped layouts.
#include "core/engine.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/core/engine_fixture.h"

namespace boxoffice {
namespace {

using testing::EngineFixture;
using testing::event_document;

class EngineTest : public EngineFixture {};

std::vector<uint32_t> seats_of(const SeatList& list) {
  return {list.seats.begin(), list.seats.begin() + list.count};
}

TEST_F(EngineTest, CreateEventAndQueryIt) {
  const uint32_t e = create("Event1", "cinema.json");
  uint32_t found = 99;
  ASSERT_TRUE(engine_->find_event("Event1", &found));
  EXPECT_EQ(found, e);
  EXPECT_FALSE(engine_->find_event("Event2", &found));
  EXPECT_EQ(engine_->event_id(e), "Event1");
  EXPECT_EQ(engine_->event_venue(e), "Odeon-Leicester");
  EXPECT_EQ(engine_->event_state(e), shm::EventState::kOpen);
  const EventCounts c = engine_->counts(e);
  EXPECT_EQ(c.seats_total, 120);
  EXPECT_EQ(c.seats_sold, 0);
  EXPECT_EQ(c.seats_held, 0);
}

TEST_F(EngineTest, CreateEventRejectsBadDocuments) {
  uint32_t index;
  auto code = [&](const std::string& doc) {
    return engine_->create_event(doc, now_ms_, &index).code();
  };
  EXPECT_EQ(code("not json"), ErrorCode::kBadRequest);
  EXPECT_EQ(code("[]"), ErrorCode::kBadRequest);
  EXPECT_EQ(code(R"({"layout":{"venue":"V","zones":[{"id":1,"price_cents":1,"capacity":5}]}})"),
            ErrorCode::kBadRequest);  // no id
  EXPECT_EQ(
      code(
          R"({"id":"has space","layout":{"venue":"V","zones":[{"id":1,"price_cents":1,"capacity":5}]}})"),
      ErrorCode::kBadRequest);
  EXPECT_EQ(code(R"({"id":"E","layout":{"venue":"V","zones":[]}})"), ErrorCode::kBadRequest);
  EXPECT_EQ(
      code(
          R"({"id":"E","state":"sold-out","layout":{"venue":"V","zones":[{"id":1,"price_cents":1,"capacity":5}]}})"),
      ErrorCode::kBadRequest);
  EXPECT_EQ(
      code(
          R"({"id":"E","colour":"red","layout":{"venue":"V","zones":[{"id":1,"price_cents":1,"capacity":5}]}})"),
      ErrorCode::kBadRequest);
  EXPECT_EQ(code(std::string(100000, '[')), ErrorCode::kLimitExceeded);
  create("Event1", "cinema.json");
  Status dup = engine_->create_event(event_document("Event1", "arena.json"), now_ms_, &index);
  EXPECT_EQ(dup.code(), ErrorCode::kBadRequest);
  EXPECT_NE(dup.message().find("already exists"), std::string::npos);
}

TEST_F(EngineTest, EventDirectoryFullIsLimitExceeded) {
  for (uint32_t i = 0; i < geometry_.events_max; ++i)
    create("E" + std::to_string(i), "cinema.json");
  uint32_t index;
  EXPECT_EQ(
      engine_->create_event(event_document("one-more", "cinema.json"), now_ms_, &index).code(),
      ErrorCode::kLimitExceeded);
}

TEST_F(EngineTest, HoldConfirmProducesFindableTickets) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t a1 = seat(e, 1, "A", "1"), a2 = seat(e, 1, "A", "2");
  const uint32_t wanted[] = {a2, a1};  // any order in, ascending out
  HoldOutcome held = engine_->hold(*worker_, e, wanted, 0, now_ms_);
  ASSERT_TRUE(held.status.is_ok()) << held.status.to_string();
  EXPECT_EQ(seats_of(held.seats), (std::vector<uint32_t>{a1, a2}));
  EXPECT_EQ(held.expires_at_ms, now_ms_ + options_.hold_ttl_ms_default);
  EXPECT_EQ(held.total_cents, 2 * 1250);
  EXPECT_EQ(engine_->counts(e).seats_held, 2);
  EXPECT_EQ(engine_->seat(e, a1).state, SeatState::kHeld);

  SaleOutcome sale = engine_->confirm(*worker_, held.token, {"", "customer-42"}, now_ms_ + 5);
  ASSERT_TRUE(sale.status.is_ok()) << sale.status.to_string();
  ASSERT_EQ(sale.seats.count, 2u);
  EXPECT_EQ(sale.total_cents, 2500);
  const EventCounts c = engine_->counts(e);
  EXPECT_EQ(c.seats_held, 0);
  EXPECT_EQ(c.seats_sold, 2);
  EXPECT_EQ(c.revenue_cents, 2500);
  for (uint32_t i = 0; i < 2; ++i) {
    const TicketInfo t = engine_->ticket(sale.tickets[i]);
    ASSERT_TRUE(t.status.is_ok()) << t.status.to_string();
    EXPECT_EQ(t.seat_index, sale.seats.seats[i]);
    EXPECT_EQ(t.event_index, e);
    EXPECT_EQ(t.price_cents, 1250);
    EXPECT_EQ(t.buyer_ref, "customer-42");
    EXPECT_EQ(t.sold_at_ms, now_ms_ + 5);
    EXPECT_EQ(t.generation, 1u);
    EXPECT_FALSE(t.voided);
    const SeatInfo s = engine_->seat(e, sale.seats.seats[i]);
    EXPECT_EQ(s.state, SeatState::kSold);
    EXPECT_EQ(s.ticket, sale.tickets[i]);
    // The text form round-trips to the same ticket.
    EXPECT_EQ(TicketId::parse(sale.tickets[i].to_string()), sale.tickets[i]);
  }
  EXPECT_NE(sale.tickets[0], sale.tickets[1]);
  // The hold is gone: a second confirm without a key is refused.
  EXPECT_EQ(engine_->confirm(*worker_, held.token, {}, now_ms_).status.code(),
            ErrorCode::kHoldNotFound);
  EXPECT_EQ(engine_->release(*worker_, held.token, now_ms_).code(), ErrorCode::kHoldNotFound);
}

TEST_F(EngineTest, HoldIsAllOrNothingAndReportsTakenSeats) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t b5 = seat(e, 1, "B", "5"), b6 = seat(e, 1, "B", "6"), b7 = seat(e, 1, "B", "7");
  const uint32_t first[] = {b6};
  ASSERT_TRUE(engine_->hold(*worker_, e, first, 0, now_ms_).status.is_ok());
  const uint32_t second[] = {b5, b6, b7};
  HoldOutcome conflict = engine_->hold(*worker_, e, second, 0, now_ms_);
  EXPECT_EQ(conflict.status.code(), ErrorCode::kSeatTaken);
  EXPECT_EQ(seats_of(conflict.seats), (std::vector<uint32_t>{b6}));
  // Nothing of the failed request stays locked.
  EXPECT_EQ(engine_->seat(e, b5).state, SeatState::kFree);
  EXPECT_EQ(engine_->seat(e, b7).state, SeatState::kFree);
  EXPECT_EQ(engine_->counts(e).seats_held, 1);
}

TEST_F(EngineTest, HoldRejectsBadSeatLists) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t out_of_range[] = {120};
  EXPECT_EQ(engine_->hold(*worker_, e, out_of_range, 0, now_ms_).status.code(),
            ErrorCode::kBadRequest);
  const uint32_t twice[] = {3, 3};
  EXPECT_EQ(engine_->hold(*worker_, e, twice, 0, now_ms_).status.code(), ErrorCode::kBadRequest);
  EXPECT_EQ(engine_->hold(*worker_, e, {}, 0, now_ms_).status.code(), ErrorCode::kBadRequest);
  std::vector<uint32_t> too_many(options_.seats_per_request_max + 1);
  for (uint32_t i = 0; i < too_many.size(); ++i) too_many[i] = i;
  EXPECT_EQ(engine_->hold(*worker_, e, too_many, 0, now_ms_).status.code(),
            ErrorCode::kLimitExceeded);
  const uint32_t one[] = {0};
  EXPECT_EQ(engine_->hold(*worker_, 7, one, 0, now_ms_).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->hold(*worker_, e, one, -1, now_ms_).status.code(), ErrorCode::kBadRequest);
  EXPECT_EQ(engine_->hold(*worker_, e, one, options_.hold_ttl_ms_max + 1, now_ms_).status.code(),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(engine_->counts(e).seats_held, 0);
}

TEST_F(EngineTest, PausedAndClosedEventsDoNotSell) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {0}, two[] = {1};
  HoldOutcome held = engine_->hold(*worker_, e, one, 0, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  ASSERT_TRUE(engine_->set_event_state(e, shm::EventState::kPaused, 0).is_ok());
  EXPECT_EQ(engine_->hold(*worker_, e, two, 0, now_ms_).status.code(), ErrorCode::kEventClosed);
  EXPECT_EQ(engine_->buy(*worker_, e, two, {}, now_ms_).status.code(), ErrorCode::kEventClosed);
  EXPECT_EQ(engine_->hold_best(*worker_, e, 1, 2, 0, now_ms_).status.code(),
            ErrorCode::kEventClosed);
  EXPECT_EQ(engine_->confirm(*worker_, held.token, {}, now_ms_).status.code(),
            ErrorCode::kEventClosed);
  ASSERT_TRUE(engine_->set_event_state(e, shm::EventState::kOpen, 0).is_ok());
  EXPECT_TRUE(engine_->confirm(*worker_, held.token, {}, now_ms_).status.is_ok());
  ASSERT_TRUE(engine_->set_event_state(e, shm::EventState::kClosed, 0).is_ok());
  EXPECT_EQ(engine_->buy(*worker_, e, two, {}, now_ms_).status.code(), ErrorCode::kEventClosed);
  EXPECT_EQ(engine_->set_event_state(e, shm::EventState::kOpen, 0).code(), ErrorCode::kEventClosed);
  EXPECT_EQ(engine_->set_event_state(9, shm::EventState::kOpen, 0).code(), ErrorCode::kNotFound);
}

TEST_F(EngineTest, ReleaseFreesSeats) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t seats[] = {10, 11};
  HoldOutcome held = engine_->hold(*worker_, e, seats, 0, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  ASSERT_TRUE(engine_->release(*worker_, held.token, now_ms_).is_ok());
  EXPECT_EQ(engine_->seat(e, 10).state, SeatState::kFree);
  EXPECT_EQ(engine_->counts(e).seats_held, 0);
  EXPECT_EQ(engine_->counts(e).holds_released, 1);
  EXPECT_EQ(engine_->release(*worker_, held.token, now_ms_).code(), ErrorCode::kHoldNotFound);
  EXPECT_TRUE(engine_->hold(*worker_, e, seats, 0, now_ms_).status.is_ok());
}

TEST_F(EngineTest, ForgedOrStaleTokensAreRejected) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {0};
  HoldOutcome held = engine_->hold(*worker_, e, one, 0, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  HoldToken forged = held.token;
  forged.lo ^= 1;  // wrong secret
  EXPECT_EQ(engine_->confirm(*worker_, forged, {}, now_ms_).status.code(),
            ErrorCode::kHoldNotFound);
  EXPECT_EQ(engine_->release(*worker_, forged, now_ms_).code(), ErrorCode::kHoldNotFound);
  EXPECT_EQ(engine_->extend(*worker_, forged, 1000, now_ms_).status.code(),
            ErrorCode::kHoldNotFound);
  HoldToken other_version = HoldToken::make(held.token.hold_index(), held.token.version() + 1,
                                            held.token.deadline_mark(), held.token.secret());
  EXPECT_EQ(engine_->confirm(*worker_, other_version, {}, now_ms_).status.code(),
            ErrorCode::kHoldNotFound);
  HoldToken out_of_range =
      HoldToken::make(geometry_.holds_max + 5, 1, held.token.deadline_mark(), 1);
  EXPECT_EQ(engine_->confirm(*worker_, out_of_range, {}, now_ms_).status.code(),
            ErrorCode::kHoldNotFound);
  // The real hold is untouched.
  EXPECT_TRUE(engine_->confirm(*worker_, held.token, {}, now_ms_).status.is_ok());
}

TEST_F(EngineTest, HoldsExpireThroughTheWheel) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {5};
  HoldOutcome held = engine_->hold(*worker_, e, one, 1000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 999), 0u);
  EXPECT_EQ(engine_->seat(e, 5).state, SeatState::kHeld);
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 1000), 1u);
  EXPECT_EQ(engine_->seat(e, 5).state, SeatState::kFree);
  const EventCounts c = engine_->counts(e);
  EXPECT_EQ(c.seats_held, 0);
  EXPECT_EQ(c.holds_expired, 1);
  EXPECT_EQ(engine_->confirm(*worker_, held.token, {}, now_ms_ + 1001).status.code(),
            ErrorCode::kHoldExpired);
  EXPECT_EQ(engine_->extend(*worker_, held.token, 1000, now_ms_ + 1001).status.code(),
            ErrorCode::kHoldExpired);
}

TEST_F(EngineTest, OverdueHoldsGiveWayToTheNextBuyerWhateverTheirWorker) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {12};
  HoldOutcome held = engine_->hold(*worker_, e, one, 1000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  // Another worker comes after the deadline; the first worker's wheel has not run.
  WorkerContext other(1, geometry_.holds_max, now_ms_);
  EXPECT_EQ(engine_->hold(other, e, one, 0, now_ms_ + 999).status.code(), ErrorCode::kSeatTaken);
  HoldOutcome next = engine_->hold(other, e, one, 0, now_ms_ + 1000);
  ASSERT_TRUE(next.status.is_ok()) << next.status.to_string();
  EXPECT_EQ(engine_->counts(e).holds_expired, 1);
  EXPECT_EQ(engine_->counts(e).seats_held, 1);
  EXPECT_EQ(engine_->confirm(*worker_, held.token, {}, now_ms_ + 1001).status.code(),
            ErrorCode::kHoldExpired);
  // The first worker's wheel later finds nothing to do for the ended hold.
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 2000), 0u);
  EXPECT_TRUE(engine_->buy(other, e, one, {}, now_ms_ + 2000).status.code() ==
              ErrorCode::kSeatTaken);
  EXPECT_TRUE(engine_->confirm(other, next.token, {}, now_ms_ + 2000).status.is_ok());
}

TEST_F(EngineTest, OverdueHoldsGiveWayTheMillisecondTheirDeadlinePasses) {
  // The seat's deadline hint is rounded to 16 ms ticks: whatever the phase of the clock and the
  // length of the hold, the next buyer is refused until the deadline and served from it on.
  const uint32_t e = create("Event1", "cinema.json");
  WorkerContext other(1, geometry_.holds_max, now_ms_);
  uint32_t seat = 0;
  for (const int64_t ttl_ms : {1, 15, 16, 17, 250, 1001}) {
    for (const int64_t phase_ms : {0, 1, 7, 15}) {
      const uint32_t one[] = {seat++};
      const int64_t start_ms = now_ms_ + phase_ms;
      ASSERT_TRUE(engine_->hold(*worker_, e, one, ttl_ms, start_ms).status.is_ok());
      EXPECT_EQ(engine_->hold(other, e, one, 0, start_ms + ttl_ms - 1).status.code(),
                ErrorCode::kSeatTaken)
          << "ttl " << ttl_ms << " phase " << phase_ms;
      EXPECT_TRUE(engine_->hold(other, e, one, 0, start_ms + ttl_ms).status.is_ok())
          << "ttl " << ttl_ms << " phase " << phase_ms;
    }
  }
}

TEST_F(EngineTest, ConfirmAfterDeadlineIsRefusedEvenBeforeTheWheelRuns) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {5};
  HoldOutcome held = engine_->hold(*worker_, e, one, 1000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  SaleOutcome late = engine_->confirm(*worker_, held.token, {}, now_ms_ + 1000);
  EXPECT_EQ(late.status.code(), ErrorCode::kHoldExpired);
  EXPECT_EQ(engine_->seat(e, 5).state, SeatState::kFree);
  EXPECT_EQ(engine_->counts(e).seats_sold, 0);
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 2000), 0u);  // already expired
}

TEST_F(EngineTest, ExtendMovesTheDeadlineUpToTheLifetimeMax) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {7};
  HoldOutcome held = engine_->hold(*worker_, e, one, 1000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  HoldOutcome extended = engine_->extend(*worker_, held.token, 5000, now_ms_ + 500);
  ASSERT_TRUE(extended.status.is_ok()) << extended.status.to_string();
  EXPECT_EQ(extended.expires_at_ms, now_ms_ + 5500);
  // The wheel entry fires at the old deadline, sees the new one and re-arms.
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 1500), 0u);
  EXPECT_EQ(engine_->seat(e, 7).state, SeatState::kHeld);
  EXPECT_EQ(engine_->expire_due(*worker_, now_ms_ + 5500), 1u);

  // Extending is capped at hold_lifetime_ms_max after creation.
  HoldOutcome again = engine_->hold(*worker_, e, one, 0, now_ms_ + 6000);
  ASSERT_TRUE(again.status.is_ok());
  int64_t t = now_ms_ + 6000;
  int64_t last = again.expires_at_ms;
  for (int i = 0; i < 10; ++i) {
    t += options_.hold_ttl_ms_max / 2;
    HoldOutcome x = engine_->extend(*worker_, again.token, options_.hold_ttl_ms_max, t);
    if (!x.status.is_ok()) {
      EXPECT_EQ(x.status.code(), ErrorCode::kLimitExceeded);
      break;
    }
    EXPECT_GT(x.expires_at_ms, last);
    last = x.expires_at_ms;
  }
  EXPECT_EQ(last, now_ms_ + 6000 + options_.hold_lifetime_ms_max);
}

TEST_F(EngineTest, BuyAndVoidReturnSeatToSale) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t love = seat(e, 3, "L", "2B");
  const uint32_t one[] = {love};
  SaleOutcome sale = engine_->buy(*worker_, e, one, {"", "b"}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok());
  EXPECT_EQ(sale.total_cents, 3000);
  EXPECT_EQ(engine_->buy(*worker_, e, one, {}, now_ms_).status.code(), ErrorCode::kSeatTaken);

  VoidOutcome voided = engine_->void_ticket(*worker_, sale.tickets[0], now_ms_ + 10);
  ASSERT_TRUE(voided.status.is_ok());
  EXPECT_EQ(voided.refund_cents, 3000);
  EXPECT_FALSE(voided.already_voided);
  EXPECT_EQ(engine_->seat(e, love).state, SeatState::kFree);
  EventCounts c = engine_->counts(e);
  EXPECT_EQ(c.seats_sold, 0);
  EXPECT_EQ(c.revenue_cents, 0);
  EXPECT_EQ(c.tickets_voided, 1);
  const TicketInfo info = engine_->ticket(sale.tickets[0]);
  ASSERT_TRUE(info.status.is_ok());
  EXPECT_TRUE(info.voided);
  EXPECT_EQ(info.voided_at_ms, now_ms_ + 10);
  // Voiding twice refunds once.
  VoidOutcome twice = engine_->void_ticket(*worker_, sale.tickets[0], now_ms_ + 11);
  EXPECT_TRUE(twice.status.is_ok());
  EXPECT_TRUE(twice.already_voided);
  EXPECT_EQ(engine_->counts(e).tickets_voided, 1);

  // Resold: a new ticket (generation 2); the old id no longer names a ticket on this seat.
  SaleOutcome resale = engine_->buy(*worker_, e, one, {}, now_ms_ + 20);
  ASSERT_TRUE(resale.status.is_ok());
  EXPECT_NE(resale.tickets[0], sale.tickets[0]);
  EXPECT_EQ(engine_->ticket(resale.tickets[0]).generation, 2u);
  EXPECT_EQ(engine_->ticket(sale.tickets[0]).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->void_ticket(*worker_, sale.tickets[0], now_ms_).status.code(),
            ErrorCode::kNotFound);
}

TEST_F(EngineTest, UnknownTicketsAreNotFound) {
  const uint32_t e = create("Event1", "cinema.json");
  EXPECT_EQ(engine_->ticket(TicketId::make(e, 3, 12345)).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->ticket(TicketId::make(e, 100000, 1)).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->ticket(TicketId::make(9, 0, 1)).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->void_ticket(*worker_, TicketId::make(e, 3, 1), now_ms_).status.code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(engine_->seat(e, 120).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->seat(9, 0).status.code(), ErrorCode::kNotFound);
}

TEST_F(EngineTest, IdempotentBuyReturnsTheFirstOutcome) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t seats[] = {20, 21};
  SaleOutcome first = engine_->buy(*worker_, e, seats, {"order-1", "x"}, now_ms_);
  ASSERT_TRUE(first.status.is_ok());
  EXPECT_FALSE(first.replayed);
  SaleOutcome retry = engine_->buy(*worker_, e, seats, {"order-1", "x"}, now_ms_ + 1);
  ASSERT_TRUE(retry.status.is_ok()) << retry.status.to_string();
  EXPECT_TRUE(retry.replayed);
  ASSERT_EQ(retry.seats.count, 2u);
  EXPECT_EQ(retry.tickets[0], first.tickets[0]);
  EXPECT_EQ(retry.tickets[1], first.tickets[1]);
  EXPECT_EQ(retry.total_cents, first.total_cents);
  EXPECT_EQ(engine_->counts(e).seats_sold, 2);

  // A failure is an outcome too: the same key keeps answering SEAT_TAKEN.
  SaleOutcome taken = engine_->buy(*worker_, e, seats, {"order-2", ""}, now_ms_);
  EXPECT_EQ(taken.status.code(), ErrorCode::kSeatTaken);
  EXPECT_EQ(engine_->buy(*worker_, e, seats, {"order-2", ""}, now_ms_).status.code(),
            ErrorCode::kSeatTaken);
  // A transient failure is not: a paused event, then reopened, sells under the same key.
  const uint32_t other[] = {30};
  ASSERT_TRUE(engine_->set_event_state(e, shm::EventState::kPaused, 0).is_ok());
  EXPECT_EQ(engine_->buy(*worker_, e, other, {"order-3", ""}, now_ms_).status.code(),
            ErrorCode::kEventClosed);
  ASSERT_TRUE(engine_->set_event_state(e, shm::EventState::kOpen, 0).is_ok());
  EXPECT_TRUE(engine_->buy(*worker_, e, other, {"order-3", ""}, now_ms_).status.is_ok());
  // Keys longer than the limit are refused up front.
  EXPECT_EQ(engine_->buy(*worker_, e, other, {std::string(65, 'k'), ""}, now_ms_).status.code(),
            ErrorCode::kBadRequest);
}

TEST_F(EngineTest, IdempotentConfirmSurvivesHoldSlotReuse) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t one[] = {40};
  HoldOutcome held = engine_->hold(*worker_, e, one, 0, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  SaleOutcome first = engine_->confirm(*worker_, held.token, {"pay-77", ""}, now_ms_);
  ASSERT_TRUE(first.status.is_ok());
  // Churn hold slots so the confirmed hold's slot is reused.
  for (uint32_t i = 0; i < geometry_.holds_max + 10; ++i) {
    const uint32_t s[] = {41};
    HoldOutcome h = engine_->hold(*worker_, e, s, 0, now_ms_);
    ASSERT_TRUE(h.status.is_ok());
    ASSERT_TRUE(engine_->release(*worker_, h.token, now_ms_).is_ok());
  }
  SaleOutcome retry = engine_->confirm(*worker_, held.token, {"pay-77", ""}, now_ms_);
  ASSERT_TRUE(retry.status.is_ok());
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(retry.tickets[0], first.tickets[0]);
  EXPECT_EQ(engine_->counts(e).seats_sold, 1);
}

TEST_F(EngineTest, HoldBestPicksFrontCentreWithoutOrphans) {
  const uint32_t e = create("Event1", "cinema.json");
  // Row A has 12 seats: the best 4 are the centre block 5..8.
  HoldOutcome best = engine_->hold_best(*worker_, e, 1, 4, 0, now_ms_);
  ASSERT_TRUE(best.status.is_ok()) << best.status.to_string();
  std::vector<std::string> labels;
  for (uint32_t s : seats_of(best.seats)) {
    SeatLocation where = engine_->layout(e).locate(s);
    EXPECT_EQ(where.row->label, "A");
    labels.push_back(where.label());
  }
  EXPECT_EQ(labels, (std::vector<std::string>{"5", "6", "7", "8"}));
  // Rows fill before the next row is used; blocks never strand a single seat when avoidable.
  for (int i = 0; i < 10; ++i) {
    HoldOutcome h = engine_->hold_best(*worker_, e, 1, 2, 0, now_ms_);
    ASSERT_TRUE(h.status.is_ok());
  }
  std::vector<uint8_t> free_map;
  ASSERT_TRUE(engine_->free_bitmap(e, 1, &free_map).is_ok());
  for (const Row& row : engine_->layout(e).rows()) {
    if (row.zone_index != 0) continue;
    for (uint32_t k = 0; k < row.seat_count; ++k) {
      const uint32_t rel = row.first_seat - engine_->layout(e).zones()[0].first_seat + k;
      const bool free = (free_map[rel / 8] >> (rel % 8)) & 1;
      const bool left_taken = k == 0 || !((free_map[(rel - 1) / 8] >> ((rel - 1) % 8)) & 1);
      const bool right_taken =
          k + 1 == row.seat_count || !((free_map[(rel + 1) / 8] >> ((rel + 1) % 8)) & 1);
      EXPECT_FALSE(free && left_taken && right_taken) << "orphan at " << row.label << k + 1;
    }
  }
  EXPECT_EQ(engine_->hold_best(*worker_, e, 1, 13, 0, now_ms_).status.code(),
            ErrorCode::kSeatTaken);
  EXPECT_EQ(engine_->hold_best(*worker_, e, 99, 2, 0, now_ms_).status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(engine_->hold_best(*worker_, e, 1, 0, 0, now_ms_).status.code(),
            ErrorCode::kBadRequest);
}

TEST_F(EngineTest, HoldBestInGeneralAdmissionTakesAnyPlaces) {
  const uint32_t e = create("Arena", "arena.json");
  const Zone* floor = engine_->layout(e).zone_by_id(100);
  ASSERT_NE(floor, nullptr);
  uint32_t held = 0;
  while (held + 32 <= floor->seat_count) {
    HoldOutcome h = engine_->hold_best(*worker_, e, 100, 32, 0, now_ms_);
    ASSERT_TRUE(h.status.is_ok()) << h.status.to_string();
    for (uint32_t s : seats_of(h.seats)) {
      EXPECT_GE(s, floor->first_seat);
      EXPECT_LT(s, floor->first_seat + floor->seat_count);
    }
    held += 32;
  }
  const uint32_t left = floor->seat_count - held;
  if (left > 0) {
    EXPECT_TRUE(engine_->hold_best(*worker_, e, 100, left, 0, now_ms_).status.is_ok());
  }
  EXPECT_EQ(engine_->hold_best(*worker_, e, 100, 1, 0, now_ms_).status.code(),
            ErrorCode::kSeatTaken);
  EXPECT_EQ(engine_->availability(e, 100).seats_free, 0u);
  EXPECT_EQ(engine_->availability(e, 100).seats_held, floor->seat_count);
  // The other zones are untouched.
  EXPECT_EQ(engine_->availability(e, 101).seats_free, 800u);
}

TEST_F(EngineTest, AvailabilityAndFreeBitmap) {
  const uint32_t e = create("Event1", "cinema.json");
  const uint32_t held_seats[] = {0, 9};
  ASSERT_TRUE(engine_->hold(*worker_, e, held_seats, 0, now_ms_).status.is_ok());
  const uint32_t sold_seats[] = {3};
  ASSERT_TRUE(engine_->buy(*worker_, e, sold_seats, {}, now_ms_).status.is_ok());
  ZoneAvailability a = engine_->availability(e, 1);
  EXPECT_EQ(a.seats_total, 96u);
  EXPECT_EQ(a.seats_held, 2u);
  EXPECT_EQ(a.seats_sold, 1u);
  EXPECT_EQ(a.seats_free, 93u);
  std::vector<uint8_t> bits;
  ASSERT_TRUE(engine_->free_bitmap(e, 1, &bits).is_ok());
  ASSERT_EQ(bits.size(), 12u);
  EXPECT_EQ(bits[0], 0b11110110);  // seats 0 and 3 taken
  EXPECT_EQ(bits[1], 0b11111101);  // seat 9 taken
  EXPECT_EQ(engine_->free_bitmap(e, 42, &bits).code(), ErrorCode::kNotFound);
  // The last zone (8 love seats) starts mid-byte in the event: its map starts at its own seat 0.
  ASSERT_TRUE(engine_->free_bitmap(e, 3, &bits).is_ok());
  ASSERT_EQ(bits.size(), 1u);
  EXPECT_EQ(bits[0], 0xFF);
}

class SmallHoldTableTest : public EngineFixture {
 protected:
  SmallHoldTableTest() { geometry_.holds_max = 64; }
};

TEST_F(SmallHoldTableTest, HoldTableFullIsBusyAndLeavesSeatsFree) {
  const uint32_t e = create("Event1", "stadium.json");
  std::vector<HoldToken> tokens;
  for (uint32_t i = 0; i < 64; ++i) {
    const uint32_t s[] = {i};
    HoldOutcome h = engine_->hold(*worker_, e, s, 0, now_ms_);
    ASSERT_TRUE(h.status.is_ok());
    tokens.push_back(h.token);
  }
  const uint32_t s[] = {100};
  EXPECT_EQ(engine_->hold(*worker_, e, s, 0, now_ms_).status.code(), ErrorCode::kBusy);
  EXPECT_EQ(engine_->hold_best(*worker_, e, 1, 2, 0, now_ms_).status.code(), ErrorCode::kBusy);
  EXPECT_EQ(engine_->seat(e, 100).state, SeatState::kFree);
  EXPECT_EQ(engine_->counts(e).seats_held, 64);
  // Buying directly needs no hold slot.
  EXPECT_TRUE(engine_->buy(*worker_, e, s, {}, now_ms_).status.is_ok());
  ASSERT_TRUE(engine_->release(*worker_, tokens[10], now_ms_).is_ok());
  const uint32_t t[] = {101};
  EXPECT_TRUE(engine_->hold(*worker_, e, t, 0, now_ms_).status.is_ok());
}

}  // namespace
}  // namespace boxoffice
