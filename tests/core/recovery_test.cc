// Re-attaching a seat table: state survives unchanged, transitions cut by a crash are repaired,
// and a real kill -9 at random moments never leaves a seat sold twice, an acknowledged ticket
// lost or a seat locked by nobody.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>

#include "core/engine.h"
#include "shm/seat_bitmap.h"
#include "tests/core/engine_fixture.h"

namespace boxoffice {
namespace {

class RecoveryTest : public testing::EngineFixture {};

// Everything a client could observe about an event.
struct Snapshot {
  std::vector<int> seat_states;
  std::vector<std::string> seat_tickets;
  EventCounts counts;
  bool operator==(const Snapshot& o) const {
    return seat_states == o.seat_states && seat_tickets == o.seat_tickets &&
           counts.seats_sold == o.counts.seats_sold && counts.seats_held == o.counts.seats_held &&
           counts.revenue_cents == o.counts.revenue_cents;
  }
};

Snapshot snapshot(const Engine& engine, uint32_t e) {
  Snapshot s;
  for (uint32_t i = 0; i < engine.layout(e).seat_count(); ++i) {
    const SeatInfo info = engine.seat(e, i);
    s.seat_states.push_back(static_cast<int>(info.state));
    s.seat_tickets.push_back(info.state == SeatState::kSold ? info.ticket.to_string() : "");
  }
  s.counts = engine.counts(e);
  return s;
}

// Checks the invariants every recovered table must satisfy.
void expect_consistent(const Engine& engine, shm::SeatTable& table, uint32_t e) {
  const shm::EventSlot& slot = table.event(e);
  const shm::Word* taken = table.taken(slot);
  const shm::Word* sold = table.sold(slot);
  int64_t held = 0, sold_count = 0, revenue = 0;
  for (uint32_t s = 0; s < slot.seat_count; ++s) {
    const bool is_taken = shm::test_bit(taken, s), is_sold = shm::test_bit(sold, s);
    ASSERT_TRUE(is_taken || !is_sold) << "seat " << s << " sold but not taken";
    if (is_sold) {
      ++sold_count;
      const TicketInfo t = engine.ticket(engine.seat(e, s).ticket);
      ASSERT_TRUE(t.status.is_ok()) << "sold seat " << s << " has no readable ticket";
      ASSERT_FALSE(t.voided);
      revenue += t.price_cents;
    } else if (is_taken) {
      ++held;
      const uint32_t owner = table.tickets(slot)[s].owner.load();
      ASSERT_NE(owner, 0u) << "seat " << s << " locked by nobody";
      const shm::HoldControl control =
          shm::HoldControl::decode(table.hold(owner - 1).control.load());
      ASSERT_EQ(control.state, shm::HoldState::kActive)
          << "seat " << s << " owned by an ended hold";
    }
  }
  const EventCounts c = engine.counts(e);
  EXPECT_EQ(c.seats_sold, sold_count);
  EXPECT_EQ(c.seats_held, held);
  EXPECT_EQ(c.revenue_cents, revenue);
}

TEST_F(RecoveryTest, ReattachKeepsEveryEventHoldAndTicket) {
  const uint32_t cinema = create("Cinema", "cinema.json");
  const uint32_t arena = create("Arena", "arena.json");
  const uint32_t a[] = {0, 1, 2};
  HoldOutcome held = engine_->hold(*worker_, cinema, a, 60'000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  const uint32_t b[] = {10, 11};
  SaleOutcome sold = engine_->buy(*worker_, cinema, b, {"key-1", "buyer"}, now_ms_);
  ASSERT_TRUE(sold.status.is_ok());
  ASSERT_TRUE(engine_->void_ticket(*worker_, sold.tickets[1], now_ms_).status.is_ok());
  HoldOutcome floor = engine_->hold_best(*worker_, arena, 100, 6, 0, now_ms_);
  ASSERT_TRUE(floor.status.is_ok());
  ASSERT_TRUE(engine_->set_event_state(arena, shm::EventState::kPaused, 0).is_ok());
  const Snapshot cinema_before = snapshot(*engine_, cinema),
                 arena_before = snapshot(*engine_, arena);
  const std::string layout_before = engine_->layout(arena).canonical_json();

  const RecoveryReport report = reopen();
  EXPECT_EQ(report.events, 2u);
  EXPECT_EQ(report.holds_active, 2u);
  EXPECT_EQ(report.repairs(), 0u) << report.to_string();

  uint32_t found;
  ASSERT_TRUE(engine_->find_event("Arena", &found));
  EXPECT_EQ(found, arena);
  EXPECT_EQ(engine_->event_state(arena), shm::EventState::kPaused);
  EXPECT_EQ(engine_->layout(arena).canonical_json(), layout_before);
  EXPECT_TRUE(snapshot(*engine_, cinema) == cinema_before);
  EXPECT_TRUE(snapshot(*engine_, arena) == arena_before);
  // Holds, tickets and idempotency keys all still work.
  EXPECT_TRUE(engine_->ticket(sold.tickets[0]).status.is_ok());
  EXPECT_TRUE(engine_->ticket(sold.tickets[1]).voided);
  SaleOutcome retry = engine_->buy(*worker_, cinema, b, {"key-1", "buyer"}, now_ms_);
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(retry.tickets[0], sold.tickets[0]);
  SaleOutcome confirmed = engine_->confirm(*worker_, held.token, {}, now_ms_ + 1);
  ASSERT_TRUE(confirmed.status.is_ok()) << confirmed.status.to_string();
  // The re-attached holds are on the new worker's wheel.
  ASSERT_TRUE(engine_->set_event_state(arena, shm::EventState::kOpen, 0).is_ok());
  EXPECT_EQ(engine_->expire_due(*worker_, floor.expires_at_ms), 1u);
  expect_consistent(*engine_, *table_, cinema);
  expect_consistent(*engine_, *table_, arena);
}

TEST_F(RecoveryTest, HoldsPastTheirDeadlineExpireOnReattach) {
  const uint32_t e = create("Cinema", "cinema.json");
  const uint32_t a[] = {5};
  HoldOutcome held = engine_->hold(*worker_, e, a, 1000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  now_ms_ += 5000;  // the process was down for five seconds
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.holds_expired, 1u);
  EXPECT_EQ(engine_->seat(e, 5).state, SeatState::kFree);
  EXPECT_EQ(engine_->confirm(*worker_, held.token, {}, now_ms_).status.code(),
            ErrorCode::kHoldExpired);
}

TEST_F(RecoveryTest, OrphanLocksAreFreed) {
  const uint32_t e = create("Cinema", "cinema.json");
  // A crash between locking the seats and publishing the hold leaves bits with no owner.
  const shm::EventSlot& slot = table_->event(e);
  const uint32_t seats[] = {7, 8};
  uint32_t conflicts[2];
  ASSERT_TRUE(shm::acquire_seats(table_->taken(slot), seats, conflicts).acquired);
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.seats_unlocked, 2u);
  EXPECT_EQ(engine_->seat(e, 7).state, SeatState::kFree);
  expect_consistent(*engine_, *table_, e);
}

// A seat's owner field still names the last hold after it ended (a hint, not cleared): an
// orphan lock on such a seat is freed all the same, and the seat reads free, not held.
TEST_F(RecoveryTest, OrphanLocksAreFreedWhenTheSeatNamesAnEndedHold) {
  const uint32_t e = create("Cinema", "cinema.json");
  const uint32_t seats[] = {7, 8};
  HoldOutcome held = engine_->hold(*worker_, e, seats, 60'000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  ASSERT_TRUE(engine_->release(*worker_, held.token, now_ms_).is_ok());
  EXPECT_EQ(engine_->seat(e, 7).state, SeatState::kFree);
  uint32_t conflicts[2];
  ASSERT_TRUE(shm::acquire_seats(table_->taken(table_->event(e)), seats, conflicts).acquired);
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.seats_unlocked, 2u);
  EXPECT_EQ(engine_->seat(e, 7).state, SeatState::kFree);
  expect_consistent(*engine_, *table_, e);
}

TEST_F(RecoveryTest, ConfirmCutBeforeItsIntentLeavesTheHoldActive) {
  const uint32_t e = create("Cinema", "cinema.json");
  const uint32_t a[] = {20, 21};
  HoldOutcome held = engine_->hold(*worker_, e, a, 60'000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  // Crash right after the CAS to CONFIRMING.
  shm::HoldSlot& slot = table_->hold(held.token.hold_index());
  shm::HoldControl control = shm::HoldControl::decode(slot.control.load());
  control.state = shm::HoldState::kConfirming;
  slot.control.store(control.encode());
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.holds_restored, 1u);
  EXPECT_EQ(engine_->seat(e, 20).state, SeatState::kHeld);
  EXPECT_TRUE(engine_->confirm(*worker_, held.token, {}, now_ms_).status.is_ok());
  expect_consistent(*engine_, *table_, e);
}

TEST_F(RecoveryTest, SaleCutAfterItsIntentIsRolledForward) {
  const uint32_t e = create("Cinema", "cinema.json");
  const uint32_t a[] = {62 - 60, 64 - 60};
  SaleOutcome sale = engine_->buy(*worker_, e, a, {"k-77", ""}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok());
  // Rewind to "intent written, sold bits not yet set, key still pending".
  const shm::EventSlot& slot = table_->event(e);
  shm::clear_bits(table_->sold(slot), a);
  shm::CommitIntent& intent = table_->intent(worker_->index());
  intent.event_index = e;
  intent.hold_index_plus_one = 0;
  intent.seat_count = 2;
  std::memcpy(intent.seats, a, sizeof a);
  intent.nonces[0] = sale.tickets[0].nonce();
  intent.nonces[1] = sale.tickets[1].nonce();
  intent.state.store(static_cast<uint32_t>(shm::IntentState::kCommitting));
  uint32_t entry = 0;
  for (uint32_t i = 0; i < geometry_.idempotency_entries_max; ++i) {
    if (table_->idempotency(i).key_hash.load() == IdempotencyTable::hash("k-77")) entry = i;
  }
  table_->idempotency(entry).state.store(static_cast<uint32_t>(shm::IdempotencyState::kPending));
  intent.pending_idempotency_plus_one.store(entry + 1);

  const RecoveryReport report = reopen();
  EXPECT_EQ(report.intents_rolled_forward, 1u);
  EXPECT_EQ(engine_->ticket(sale.tickets[0]).status.code(), ErrorCode::kOk);
  EXPECT_EQ(engine_->ticket(sale.tickets[1]).status.code(), ErrorCode::kOk);
  SaleOutcome retry = engine_->buy(*worker_, e, a, {"k-77", ""}, now_ms_);
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(retry.tickets[1], sale.tickets[1]);
  expect_consistent(*engine_, *table_, e);
}

TEST_F(RecoveryTest, KeyClaimedButNeverUsedIsAbandoned) {
  const uint32_t e = create("Cinema", "cinema.json");
  uint32_t entry = 0;
  IdempotencyTable keys(table_.get());
  ASSERT_EQ(keys.claim("k-dead", now_ms_, &entry), IdempotencyTable::Claim::kOwned);
  table_->intent(worker_->index()).pending_idempotency_plus_one.store(entry + 1);
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.idempotency_abandoned, 1u);
  const uint32_t a[] = {3};
  SaleOutcome sale = engine_->buy(*worker_, e, a, {"k-dead", ""}, now_ms_);
  EXPECT_TRUE(sale.status.is_ok()) << sale.status.to_string();
  EXPECT_FALSE(sale.replayed);
}

TEST_F(RecoveryTest, KeyClaimCutBeforePublishingIsRetired) {
  const uint32_t e = create("Cinema", "cinema.json");
  // The claimer died between its CAS on the entry's hash and publishing the key.
  const uint64_t hash = IdempotencyTable::hash("k-cut");
  table_->idempotency(static_cast<uint32_t>(hash) & (geometry_.idempotency_entries_max - 1))
      .key_hash.store(hash);
  const uint32_t a[] = {4};
  ASSERT_EQ(engine_->buy(*worker_, e, a, {"k-cut", ""}, now_ms_).status.code(), ErrorCode::kBusy);
  table_->intent(worker_->index()).pending_key_hash.store(hash);
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.idempotency_abandoned, 1u);
  SaleOutcome sale = engine_->buy(*worker_, e, a, {"k-cut", ""}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok()) << sale.status.to_string();
  SaleOutcome retry = engine_->buy(*worker_, e, a, {"k-cut", ""}, now_ms_);
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(retry.tickets[0], sale.tickets[0]);
}

TEST_F(RecoveryTest, KeyPublishedButNotYetRecordedByItsWorkerRunsAgain) {
  const uint32_t e = create("Cinema", "cinema.json");
  // The worker died after claim() published the key as pending, before it noted the entry.
  uint32_t entry = 0;
  IdempotencyTable keys(table_.get());
  ASSERT_EQ(keys.claim("k-gap", now_ms_, &entry), IdempotencyTable::Claim::kOwned);
  table_->intent(worker_->index()).pending_key_hash.store(IdempotencyTable::hash("k-gap"));
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.idempotency_abandoned, 1u);
  const uint32_t a[] = {6};
  SaleOutcome sale = engine_->buy(*worker_, e, a, {"k-gap", ""}, now_ms_);
  EXPECT_TRUE(sale.status.is_ok()) << sale.status.to_string();
}

TEST_F(RecoveryTest, RollForwardSkipsTicketsVoidedSinceTheIntent) {
  const uint32_t e = create("Cinema", "cinema.json");
  const uint32_t a[] = {30};
  SaleOutcome sale = engine_->buy(*worker_, e, a, {}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok());
  // The sale's worker stalled before clearing its intent; meanwhile the ticket was voided and
  // the seat held by someone else. Then the process died.
  shm::CommitIntent& intent = table_->intent(worker_->index());
  intent.event_index = e;
  intent.hold_index_plus_one = 0;
  intent.seat_count = 1;
  intent.seats[0] = 30;
  intent.nonces[0] = sale.tickets[0].nonce();
  intent.state.store(static_cast<uint32_t>(shm::IntentState::kCommitting));
  ASSERT_TRUE(engine_->void_ticket(*worker_, sale.tickets[0], now_ms_).status.is_ok());
  HoldOutcome held = engine_->hold(*worker_, e, a, 60'000, now_ms_);
  ASSERT_TRUE(held.status.is_ok());
  const RecoveryReport report = reopen();
  EXPECT_EQ(report.intents_rolled_forward, 1u);
  EXPECT_EQ(engine_->seat(e, 30).state, SeatState::kHeld) << report.to_string();
  EXPECT_TRUE(engine_->confirm(*worker_, held.token, {}, now_ms_).status.is_ok());
  expect_consistent(*engine_, *table_, e);
}

// A child process books over and over and reports every acknowledged ticket through a pipe;
// the parent kills it with SIGKILL at a random moment, re-attaches, recovers and checks.
TEST_F(RecoveryTest, KillNineAtRandomMomentsLosesNothingAcknowledged) {
  const uint32_t e = create("Cinema", "cinema.json");
  std::mt19937_64 rng(42);
  std::set<std::string> acknowledged;  // tickets the child reported as sold
  std::set<std::string> maybe_voided;  // tickets whose void was in flight or done
  constexpr int kKills = 20;
  for (int round = 0; round < kKills; ++round) {
    // The child must own the table alone: release ours first.
    worker_.reset();
    engine_.reset();
    table_.reset();
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      std::string error;
      auto table = shm::SeatTable::open({path_.path(), geometry_, now_ms_}, &error);
      if (!table) ::_exit(2);
      auto engine = Engine::open(table.get(), options_, &error);
      if (!engine) ::_exit(3);
      WorkerContext worker(1, geometry_.holds_max, now_ms_);
      engine->recover(worker, now_ms_);
      std::mt19937_64 child_rng(static_cast<uint64_t>(round) * 7919 + 1);
      std::vector<TicketId> mine;
      for (uint64_t op = 0;; ++op) {
        const uint32_t base = static_cast<uint32_t>(child_rng() % 110);
        const uint32_t seats[3] = {base, base + 1 + static_cast<uint32_t>(child_rng() % 3),
                                   base + 5};
        const uint32_t count = 1 + child_rng() % 3;
        if (child_rng() % 3 == 0 && !mine.empty()) {
          const TicketId id = mine.back();
          mine.pop_back();
          char line[64] = "V ";  // announced before the void: the outcome is indeterminate
          id.format(line + 2);
          line[38] = '\n';
          if (::write(fds[1], line, 39) != 39) ::_exit(4);
          (void)engine->void_ticket(worker, id, now_ms_);
          continue;
        }
        SaleOutcome sale;
        if (child_rng() % 2) {
          sale = engine->buy(worker, e, {seats, count}, {}, now_ms_);
        } else {
          HoldOutcome h = engine->hold(worker, e, {seats, count}, 0, now_ms_);
          if (!h.status.is_ok()) continue;
          if (child_rng() % 4 == 0) {
            (void)engine->release(worker, h.token, now_ms_);
            continue;
          }
          sale = engine->confirm(worker, h.token, {}, now_ms_);
        }
        if (!sale.status.is_ok()) continue;
        for (uint32_t i = 0; i < sale.seats.count; ++i) {
          char line[64] = "S ";  // the acknowledgement: sent after the sale returned
          sale.tickets[i].format(line + 2);
          line[38] = '\n';
          if (::write(fds[1], line, 39) != 39) ::_exit(4);
          mine.push_back(sale.tickets[i]);
        }
      }
    }
    ::close(fds[1]);
    ::usleep(static_cast<useconds_t>(2000 + rng() % 20000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    std::string received;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) received.append(buffer, n);
    ::close(fds[0]);
    for (size_t at = 0; at + 39 <= received.size(); at += 39) {
      const std::string id = received.substr(at + 2, 36);
      (received[at] == 'S' ? acknowledged : maybe_voided).insert(id);
    }

    open();
    const RecoveryReport report = engine_->recover(*worker_, now_ms_);
    SCOPED_TRACE("round " + std::to_string(round) + ": " + report.to_string());
    expect_consistent(*engine_, *table_, e);
    for (const std::string& text : acknowledged) {
      const TicketInfo t = engine_->ticket(*TicketId::parse(text));
      if (maybe_voided.count(text)) continue;
      ASSERT_TRUE(t.status.is_ok() && !t.voided) << "acknowledged ticket lost: " << text;
    }
  }
  EXPECT_GT(acknowledged.size(), 100u) << "the children sold too little to prove anything";
}

}  // namespace
}  // namespace boxoffice
