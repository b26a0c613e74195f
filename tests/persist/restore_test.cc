// restore: a seat table rebuilt from the journals alone (no MariaDB) matches the table that
// wrote them, seat by seat and ticket by ticket; event creations and state changes cut by a
// crash are settled against the control journal; and what recover() rolls forward after a
// crash is journaled, so a later rebuild has it too.
#include "persist/restore.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/engine.h"
#include "persist/records.h"
#include "shm/seat_bitmap.h"
#include "shm/ticket_slot.h"
#include "tests/core/engine_fixture.h"

namespace boxoffice::persist {
namespace {

using boxoffice::testing::event_document;
using boxoffice::testing::small_geometry;
using boxoffice::testing::TempTablePath;

constexpr int64_t kStartMs = 1'700'000'000'000;

// A seat table, its engine and the journals it logs to, as one boxofficed process has them.
struct Node {
  std::unique_ptr<shm::SeatTable> table;
  std::unique_ptr<Engine> engine;
  JournalSet journals;
  std::vector<std::unique_ptr<WorkerContext>> workers;

  // Sales and events go nowhere until attach_logs().
  void attach_logs() {
    for (size_t i = 0; i < workers.size(); ++i) workers[i]->set_sale_log(journals.workers[i].get());
    engine->set_event_log(journals.control.get());
  }
  void detach_logs() {
    for (auto& w : workers) w->set_sale_log(nullptr);
    engine->set_event_log(nullptr);
  }
  void sync() {
    for (auto& log : journals.workers) {
      std::string error;
      ASSERT_TRUE(log->sync_now(&error)) << error;
    }
  }
};

// Forwards to a real EventLog (or none), then fails: the process "died" after the journal
// got the record (forward = true) or before (forward = false).
class FailingEventLog : public EventLog {
 public:
  FailingEventLog(EventLog* inner, bool forward) : inner_(inner), forward_(forward) {}
  Status event_created(const EventEntry& entry) override {
    if (forward_) {
      EXPECT_TRUE(inner_->event_created(entry).is_ok());
    }
    return Status(ErrorCode::kInternal, "test: the log is gone");
  }
  Status event_state(const EventStateEntry& entry) override {
    if (forward_) {
      EXPECT_TRUE(inner_->event_state(entry).is_ok());
    }
    return Status(ErrorCode::kInternal, "test: the log is gone");
  }

 private:
  EventLog* inner_;
  bool forward_;
};

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/boxoffice-restore-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    journal_options_.directory = dir_ + "/journal";
    journal_options_.staging_prefix = dir_ + "/table";
    journal_options_.workers = 2;
    journal_options_.staging_bytes = 1u << 20;
    journal_options_.segment_bytes_max = 8u << 10;  // a handful of segments per worker
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens (creating or re-attaching) the table at `path` and its journals.
  void open(Node* node, const TempTablePath& path, std::vector<std::string>* notes = nullptr) {
    std::string error;
    node->table = shm::SeatTable::open({path.path(), geometry_, now_ms_}, &error);
    ASSERT_NE(node->table, nullptr) << error;
    node->engine = Engine::open(node->table.get(), EngineOptions{}, &error);
    ASSERT_NE(node->engine, nullptr) << error;
    std::vector<std::string> ignored;
    ASSERT_TRUE(open_journals(journal_options_, &node->journals, notes ? notes : &ignored, &error))
        << error;
    node->workers.clear();
    for (uint32_t i = 0; i < journal_options_.workers; ++i) {
      node->workers.push_back(std::make_unique<WorkerContext>(i, geometry_.holds_max, now_ms_));
    }
  }
  // Ends the process: logs closed without a sync (staged records stay in their files).
  static void crash(Node* node) {
    node->detach_logs();
    node->journals = JournalSet{};
    node->workers.clear();
    node->engine.reset();
    node->table.reset();
  }
  ControlEvents control() {
    ControlEvents events;
    std::string error;
    EXPECT_TRUE(read_control(journal_options_.directory + "/control", &events, &error)) << error;
    return events;
  }
  // A new table rebuilt from the journals, as boxofficed does after a reboot.
  void rebuild(Node* node, const TempTablePath& path, RebuildReport* report,
               std::vector<std::string>* notes = nullptr) {
    open(node, path, notes);
    ASSERT_TRUE(node->table->created());
    const ControlEvents events = control();
    ASSERT_FALSE(rebuild_needs_database(node->journals));
    std::string error;
    ASSERT_TRUE(rebuild_table(*node->engine, events, node->journals, nullptr, report, &error))
        << error;
    node->attach_logs();
    const RecoveryReport recovered = node->engine->recover(*node->workers[0], now_ms_);
    EXPECT_EQ(recovered.repairs(), 0u) << recovered.to_string();
  }
  uint32_t create(Engine& engine, const std::string& id, const std::string& layout) {
    uint32_t index = 0;
    const Status s = engine.create_event(event_document(id, layout), now_ms_, &index);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return index;
  }
  // Every sale record in worker `w`'s journal.
  std::vector<std::vector<SoldSeat>> journaled_sales(uint32_t w) {
    std::vector<std::vector<SoldSeat>> sales;
    std::string error;
    read_journal(
        journal_options_.directory + "/worker-" + std::to_string(w), 1, UINT64_MAX,
        [&](const JournalRecord& r) {
          if (r.type == static_cast<uint8_t>(RecordType::kSale)) {
            DecodedSale sale;
            EXPECT_TRUE(decode_sale(r.payload, &sale, &error)) << error;
            sales.emplace_back(sale.entry.seats.begin(), sale.entry.seats.end());
          }
          return true;
        },
        &error);
    EXPECT_TRUE(error.empty()) << error;
    return sales;
  }

  std::string dir_;
  JournalSetOptions journal_options_;
  shm::TableGeometry geometry_ = small_geometry();
  int64_t now_ms_ = kStartMs;
};

// What a workload did, for the checks after the rebuild.
struct Workload {
  int operations = 0;  // so far, over every run: keys and buyers stay unique
  uint64_t sales = 0;
  uint64_t voids = 0;
  std::vector<TicketId> tickets;                           // every ticket sold
  std::vector<std::pair<std::string, SaleOutcome>> keyed;  // idempotency key -> first outcome
};

// Random buys, holds + confirms, releases and voids on both events from both workers, with
// seats drawn from a small range so voided seats are sold again (generations above 1).
// Logs are synced every `sync_every` operations (0: never).
void run_workload(Node& node, const std::vector<uint32_t>& events, int operations, int sync_every,
                  int64_t* now_ms, Workload* done) {
  std::mt19937_64 rng(2024 + done->operations);
  constexpr uint32_t kSeatRange = 120;
  for (int n = 0; n < operations; ++n) {
    const int op = done->operations++;
    *now_ms += 1 + static_cast<int64_t>(rng() % 50);
    WorkerContext& worker = *node.workers[rng() % node.workers.size()];
    const uint32_t event = events[rng() % events.size()];
    std::set<uint32_t> picked;
    const uint32_t count = 1 + static_cast<uint32_t>(rng() % 4);
    while (picked.size() < count) picked.insert(static_cast<uint32_t>(rng() % kSeatRange));
    const std::vector<uint32_t> seats(picked.begin(), picked.end());
    const std::string key = op % 3 == 0 ? "key-" + std::to_string(op) : "";
    const std::string buyer = op % 2 == 0 ? "buyer-" + std::to_string(op) : "";
    const uint64_t kind = rng() % 10;
    SaleOutcome sale;
    if (kind < 4) {
      sale = node.engine->buy(worker, event, seats, {key, buyer}, *now_ms);
    } else if (kind < 7) {
      const HoldOutcome held = node.engine->hold(worker, event, seats, 60'000, *now_ms);
      if (held.status.is_ok()) {
        if (kind == 6 && rng() % 2 == 0) {
          EXPECT_TRUE(node.engine->release(worker, held.token, *now_ms).is_ok());
        } else if (kind < 6 || rng() % 4 != 0) {
          sale = node.engine->confirm(worker, held.token, {key, buyer}, *now_ms);
          EXPECT_TRUE(sale.status.is_ok()) << sale.status.to_string();
        }  // else left held: holds are not durable
      }
    } else if (!done->tickets.empty()) {
      const TicketId id = done->tickets[rng() % done->tickets.size()];
      // A ticket whose seat was sold again since is gone (NOT_FOUND).
      const VoidOutcome voided = node.engine->void_ticket(worker, id, *now_ms);
      EXPECT_TRUE(voided.status.is_ok() || voided.status.code() == ErrorCode::kNotFound)
          << voided.status.to_string();
      if (voided.status.is_ok() && !voided.already_voided) ++done->voids;
    }
    EXPECT_FALSE(sale.replayed);
    if (sale.status.is_ok() && sale.seats.count > 0) {
      ++done->sales;
      for (uint32_t i = 0; i < sale.seats.count; ++i) done->tickets.push_back(sale.tickets[i]);
      if (!key.empty()) done->keyed.emplace_back(key, sale);
    }
    if (sync_every != 0 && n % sync_every == sync_every - 1) node.sync();
  }
}

// Everything durable about two tables' events must agree: events, every seat's ticket slot
// and sold state, every ticket, and the sold counters. Holds are not durable: a seat held in
// `original` is free in `rebuilt`.
void expect_same_durable_state(Node& original, Node& rebuilt, const Workload& done) {
  Engine& a = *original.engine;
  Engine& b = *rebuilt.engine;
  ASSERT_EQ(a.event_count(), b.event_count());
  for (uint32_t e = 0; e < a.event_count(); ++e) {
    SCOPED_TRACE(::testing::Message() << "event " << e);
    ASSERT_TRUE(b.event_exists(e));
    EXPECT_EQ(a.event_id(e), b.event_id(e));
    EXPECT_EQ(a.event_name(e), b.event_name(e));
    EXPECT_EQ(a.event_state(e), b.event_state(e));
    EXPECT_EQ(a.event_created_at_ms(e), b.event_created_at_ms(e));
    EXPECT_EQ(a.event_document(e), b.event_document(e));
    EXPECT_EQ(a.layout(e).canonical_json(), b.layout(e).canonical_json());
    const shm::EventSlot& slot_a = original.table->event(e);
    const shm::EventSlot& slot_b = rebuilt.table->event(e);
    const uint32_t seats = a.layout(e).seat_count();
    for (uint32_t s = 0; s < seats; ++s) {
      const SeatInfo seat_a = a.seat(e, s), seat_b = b.seat(e, s);
      ASSERT_EQ(seat_b.state,
                seat_a.state == SeatState::kSold ? SeatState::kSold : SeatState::kFree)
          << "seat " << s;
      EXPECT_EQ(seat_a.ticket, seat_b.ticket) << "seat " << s;
      const shm::TicketRecord ta = shm::read_ticket(original.table->tickets(slot_a)[s]);
      const shm::TicketRecord tb = shm::read_ticket(rebuilt.table->tickets(slot_b)[s]);
      EXPECT_EQ(ta.nonce, tb.nonce) << "seat " << s;
      EXPECT_EQ(ta.status, tb.status) << "seat " << s;
      EXPECT_EQ(ta.generation, tb.generation) << "seat " << s;
      EXPECT_EQ(ta.price_cents, tb.price_cents) << "seat " << s;
      EXPECT_EQ(ta.sold_at_ms, tb.sold_at_ms) << "seat " << s;
      EXPECT_EQ(ta.voided_at_ms, tb.voided_at_ms) << "seat " << s;
      EXPECT_EQ(ta.idempotency_hash, tb.idempotency_hash) << "seat " << s;
      EXPECT_EQ(std::string_view(ta.buyer, ta.buyer_bytes),
                std::string_view(tb.buyer, tb.buyer_bytes))
          << "seat " << s;
    }
    const EventCounts ca = a.counts(e), cb = b.counts(e);
    EXPECT_EQ(ca.seats_total, cb.seats_total);
    EXPECT_EQ(ca.seats_sold, cb.seats_sold);
    EXPECT_EQ(ca.revenue_cents, cb.revenue_cents);
    EXPECT_EQ(cb.seats_held, 0);
  }
  // Every ticket ever sold reads the same, superseded ones included.
  for (const TicketId& id : done.tickets) {
    const TicketInfo ta = a.ticket(id), tb = b.ticket(id);
    ASSERT_EQ(ta.status.code(), tb.status.code()) << id.to_string();
    if (!ta.status.is_ok()) continue;
    EXPECT_EQ(ta.voided, tb.voided) << id.to_string();
    EXPECT_EQ(ta.generation, tb.generation) << id.to_string();
    EXPECT_EQ(ta.price_cents, tb.price_cents) << id.to_string();
    EXPECT_EQ(ta.sold_at_ms, tb.sold_at_ms) << id.to_string();
    EXPECT_EQ(ta.voided_at_ms, tb.voided_at_ms) << id.to_string();
    EXPECT_EQ(ta.buyer_ref, tb.buyer_ref) << id.to_string();
  }
}

TEST_F(RestoreTest, TableRebuiltFromTheJournalsMatchesTheOriginal) {
  TempTablePath path_a;
  Node a;
  open(&a, path_a);
  a.attach_logs();
  const uint32_t cinema = create(*a.engine, "Cinema", "cinema.json");
  const uint32_t arena = create(*a.engine, "Arena", "arena.json");
  Workload done;
  run_workload(a, {cinema, arena}, 1500, 100, &now_ms_, &done);
  ASSERT_TRUE(a.engine->set_event_state(arena, shm::EventState::kPaused, now_ms_).is_ok());
  run_workload(a, {cinema}, 1500, 100, &now_ms_, &done);
  ASSERT_TRUE(a.engine->set_event_state(arena, shm::EventState::kOpen, now_ms_).is_ok());
  run_workload(a, {cinema, arena}, 1500, 100, &now_ms_, &done);
  ASSERT_TRUE(a.engine->set_event_state(arena, shm::EventState::kPaused, now_ms_).is_ok());
  a.sync();
  // The workload exercised what it is meant to.
  uint32_t resold = 0;
  for (const TicketId& id : done.tickets) resold += a.engine->ticket(id).generation > 1;
  EXPECT_GT(resold, 50u);
  EXPECT_GT(done.voids, 100u);
  for (const char* worker : {"/worker-0", "/worker-1"}) {
    const auto files = std::filesystem::directory_iterator(journal_options_.directory + worker);
    EXPECT_GT(std::distance(begin(files), end(files)), 1) << worker << ": one segment only";
  }
  a.detach_logs();
  a.journals = JournalSet{};  // the original keeps its table, for comparison

  TempTablePath path_b;
  Node b;
  RebuildReport report;
  rebuild(&b, path_b, &report);
  EXPECT_EQ(report.events, 2u);
  EXPECT_EQ(report.sale_records_from_journal, done.sales);
  EXPECT_EQ(report.tickets_from_database, 0u);
  EXPECT_EQ(report.void_records, done.voids);
  EXPECT_EQ(report.voids_without_sale, 0u) << report.to_string();
  EXPECT_EQ(b.engine->event_state(arena), shm::EventState::kPaused);
  expect_same_durable_state(a, b, done);

  // An idempotent retry after the rebuild gets the first outcome, not new tickets.
  ASSERT_FALSE(done.keyed.empty());
  for (size_t i = 0; i < done.keyed.size(); i += std::max<size_t>(1, done.keyed.size() / 20)) {
    const auto& [key, first] = done.keyed[i];
    const SaleOutcome retry =
        b.engine->buy(*b.workers[0], first.event_index, first.seats.span(), {key, ""}, now_ms_);
    EXPECT_TRUE(retry.replayed) << key << ": " << retry.status.to_string();
    EXPECT_EQ(retry.tickets[0], first.tickets[0]) << key;
  }
  // The rebuilt table sells on from where the original stopped, logging to the same journals:
  // a seat sold and voided before sells at the next generation.
  const shm::TicketSlot* tickets_a = a.table->tickets(a.table->event(cinema));
  const shm::TicketSlot* tickets_b = b.table->tickets(b.table->event(cinema));
  uint32_t seat = 0;
  while (b.engine->seat(cinema, seat).state != SeatState::kFree ||
         shm::read_ticket(tickets_a[seat]).generation == 0) {
    ++seat;
    ASSERT_LT(seat, 120u);
  }
  const uint32_t one[] = {seat};
  const SaleOutcome next = b.engine->buy(*b.workers[1], cinema, one, {}, now_ms_);
  ASSERT_TRUE(next.status.is_ok()) << next.status.to_string();
  EXPECT_EQ(shm::read_ticket(tickets_b[seat]).generation,
            shm::read_ticket(tickets_a[seat]).generation + 1);
  b.sync();
  EXPECT_EQ(b.journals.workers[1]->durable_sequence(), b.journals.workers[1]->appended_sequence());
}

// The last operations were only staged when the process died. open_journals() journals them
// from the staging files before anything else, so a rebuild that follows (of a table deleted,
// or found older than its journal) has them.
TEST_F(RestoreTest, RecordsLeftInTheStagingFilesAreInTheRebuild) {
  TempTablePath path_a;
  Node a;
  open(&a, path_a);
  a.attach_logs();
  const uint32_t cinema = create(*a.engine, "Cinema", "cinema.json");
  const uint32_t arena = create(*a.engine, "Arena", "arena.json");
  Workload done;
  run_workload(a, {cinema, arena}, 2000, 100, &now_ms_, &done);
  a.sync();
  run_workload(a, {cinema, arena}, 60, 0, &now_ms_, &done);  // staged only
  const uint64_t staged_0 =
      a.journals.workers[0]->appended_sequence() - a.journals.workers[0]->durable_sequence();
  const uint64_t staged_1 =
      a.journals.workers[1]->appended_sequence() - a.journals.workers[1]->durable_sequence();
  EXPECT_GT(staged_0 + staged_1, 0u);
  a.detach_logs();
  a.journals = JournalSet{};  // dies without a write or a sync

  TempTablePath path_b;
  Node b;
  RebuildReport report;
  std::vector<std::string> notes;
  rebuild(&b, path_b, &report, &notes);
  size_t recovered_notes = 0;
  for (const std::string& note : notes) {
    recovered_notes += note.find("recovered from the staging file") != std::string::npos;
  }
  EXPECT_EQ(recovered_notes, (staged_0 > 0) + (staged_1 > 0));
  EXPECT_EQ(report.sale_records_from_journal, done.sales);
  EXPECT_EQ(report.void_records, done.voids);
  expect_same_durable_state(a, b, done);
}

// ---------------------------------------------------------------------------------------------
// reconcile_events

TEST_F(RestoreTest, CreationCutBeforeItWasJournaledIsClosedAndJournaled) {
  TempTablePath path;
  Node node;
  open(&node, path);
  FailingEventLog lost(nullptr, /*forward=*/false);
  node.engine->set_event_log(&lost);
  uint32_t index = 99;
  EXPECT_FALSE(
      node.engine->create_event(event_document("Cinema", "cinema.json"), now_ms_, &index).is_ok());
  EXPECT_EQ(node.engine->unfinished_events(), std::vector<uint32_t>{0});
  crash(&node);

  std::vector<std::string> notes;
  open(&node, path, &notes);
  ASSERT_FALSE(node.table->created());
  EXPECT_EQ(node.engine->unfinished_events(), std::vector<uint32_t>{0});
  bool rebuild = true;
  std::string error;
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, control(), now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_FALSE(rebuild);
  EXPECT_TRUE(node.engine->unfinished_events().empty());
  ASSERT_TRUE(node.engine->event_exists(0));
  EXPECT_EQ(node.engine->event_state(0), shm::EventState::kClosed);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes.back().find("closed"), std::string::npos) << notes.back();
  // Journaled now, closed, with the table's document.
  const ControlEvents events = control();
  ASSERT_EQ(events.events.size(), 1u);
  EXPECT_EQ(events.events[0].state, shm::EventState::kClosed);
  EXPECT_EQ(events.events[0].entry.document, node.engine->event_document(0));
  EXPECT_EQ(events.events[0].entry.created_at_ms, kStartMs);
  // Nothing is sold on it.
  node.attach_logs();
  node.engine->recover(*node.workers[0], now_ms_);
  const uint32_t seats[] = {1};
  EXPECT_EQ(node.engine->buy(*node.workers[0], 0, seats, {}, now_ms_).status.code(),
            ErrorCode::kEventClosed);
  // Settled once: a second start finds nothing to do.
  crash(&node);
  notes.clear();
  open(&node, path, &notes);
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, control(), now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_FALSE(rebuild);
  EXPECT_TRUE(notes.empty()) << notes.front();
  EXPECT_EQ(control().events.size(), 1u);
}

TEST_F(RestoreTest, CreationCutAfterItWasJournaledIsFinishedAsJournaled) {
  TempTablePath path;
  Node node;
  open(&node, path);
  const uint32_t cinema = create(*node.engine, "Cinema", "cinema.json");  // no log yet
  (void)cinema;
  node.engine->set_event_log(node.journals.control.get());
  std::string error;
  bool rebuild = true;
  std::vector<std::string> notes;
  // The journal lacks the event created before the log was attached: journaled again.
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, control(), now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_FALSE(rebuild);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("journaled again"), std::string::npos) << notes[0];
  ASSERT_EQ(control().events.size(), 1u);

  FailingEventLog journaled(node.journals.control.get(), /*forward=*/true);
  node.engine->set_event_log(&journaled);
  std::string document = event_document("Arena", "arena.json");
  document.insert(1, "\"state\":\"paused\",");
  uint32_t index = 99;
  EXPECT_FALSE(node.engine->create_event(document, now_ms_ + 5, &index).is_ok());
  EXPECT_EQ(node.engine->unfinished_events(), std::vector<uint32_t>{1});
  crash(&node);

  notes.clear();
  open(&node, path, &notes);
  const ControlEvents events = control();
  ASSERT_EQ(events.events.size(), 2u);
  EXPECT_EQ(events.events[1].state, shm::EventState::kPaused);
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, events, now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_FALSE(rebuild);
  EXPECT_TRUE(node.engine->unfinished_events().empty());
  ASSERT_TRUE(node.engine->event_exists(1));
  EXPECT_EQ(node.engine->event_id(1), "Arena");
  EXPECT_EQ(node.engine->event_state(1), shm::EventState::kPaused);
  EXPECT_EQ(node.engine->event_state(0), shm::EventState::kOpen);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("as journaled"), std::string::npos) << notes[0];
  EXPECT_EQ(control().events.size(), 2u);  // not journaled twice
}

TEST_F(RestoreTest, StateChangeJournaledButNotAppliedIsApplied) {
  TempTablePath path;
  Node node;
  open(&node, path);
  node.attach_logs();
  const uint32_t cinema = create(*node.engine, "Cinema", "cinema.json");
  FailingEventLog journaled(node.journals.control.get(), /*forward=*/true);
  node.engine->set_event_log(&journaled);
  EXPECT_FALSE(node.engine->set_event_state(cinema, shm::EventState::kPaused, now_ms_).is_ok());
  EXPECT_EQ(node.engine->event_state(cinema), shm::EventState::kOpen);
  crash(&node);

  std::vector<std::string> notes;
  open(&node, path, &notes);
  bool rebuild = true;
  std::string error;
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, control(), now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_FALSE(rebuild);
  EXPECT_EQ(node.engine->event_state(cinema), shm::EventState::kPaused);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("applied from the journal"), std::string::npos) << notes[0];
}

TEST_F(RestoreTest, TableOlderThanItsJournalMustBeRebuilt) {
  {
    TempTablePath path;
    Node node;
    open(&node, path);
    node.attach_logs();
    create(*node.engine, "Cinema", "cinema.json");
    create(*node.engine, "Arena", "arena.json");
    crash(&node);
  }
  // Another table (an older copy) that has only the first event.
  TempTablePath path;
  Node node;
  open(&node, path);
  create(*node.engine, "Cinema", "cinema.json");
  crash(&node);
  std::vector<std::string> notes;
  open(&node, path, &notes);
  bool rebuild = false;
  std::string error;
  ASSERT_TRUE(reconcile_events(*node.engine, *node.journals.control, control(), now_ms_, &rebuild,
                               &notes, &error))
      << error;
  EXPECT_TRUE(rebuild);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("older than its journal"), std::string::npos) << notes[0];
  EXPECT_EQ(node.table->events_used(), 1u);  // nothing changed
  EXPECT_EQ(control().events.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// What recover() rolls forward is journaled

// Rewinds a finished sale to "tickets written, intent COMMITTING, sold bits not yet set, key
// still pending", as a crash right after the intent store leaves it; `worker` made the sale.
void rewind_to_intent(Node& node, uint32_t worker, uint32_t event, const SaleOutcome& sale,
                      const std::string& key) {
  shm::SeatTable& table = *node.table;
  const shm::EventSlot& slot = table.event(event);
  shm::clear_bits(table.sold(slot), sale.seats.span());
  shm::CommitIntent& intent = table.intent(worker);
  intent.event_index = event;
  intent.hold_index_plus_one = 0;
  intent.seat_count = sale.seats.count;
  for (uint32_t i = 0; i < sale.seats.count; ++i) {
    intent.seats[i] = sale.seats.seats[i];
    intent.nonces[i] = sale.tickets[i].nonce();
  }
  intent.state.store(static_cast<uint32_t>(shm::IntentState::kCommitting));
  for (uint32_t i = 0; i < table.geometry().idempotency_entries_max; ++i) {
    shm::IdempotencyEntry& entry = table.idempotency(i);
    if (entry.key_hash.load() == IdempotencyTable::hash(key)) {
      entry.state.store(static_cast<uint32_t>(shm::IdempotencyState::kPending));
      intent.pending_idempotency_plus_one.store(i + 1);
    }
  }
}

TEST_F(RestoreTest, SaleRolledForwardByRecoveryIsJournaledForTheNextRebuild) {
  TempTablePath path_a;
  Node a;
  open(&a, path_a);
  a.attach_logs();
  const uint32_t cinema = create(*a.engine, "Cinema", "cinema.json");
  const uint32_t sold_before[] = {1};
  ASSERT_TRUE(a.engine->buy(*a.workers[0], cinema, sold_before, {}, now_ms_).status.is_ok());
  a.sync();
  // The sale the crash cuts: its record never reached the log (the crash came first).
  a.workers[1]->set_sale_log(nullptr);
  const uint32_t seats[] = {2, 4};
  const SaleOutcome sale = a.engine->buy(*a.workers[1], cinema, seats, {"k-77", "who"}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok()) << sale.status.to_string();
  rewind_to_intent(a, 1, cinema, sale, "k-77");
  crash(&a);
  EXPECT_EQ(journaled_sales(0).size(), 1u);
  EXPECT_TRUE(journaled_sales(1).empty());

  // Restart on the same table: recovery rolls the sale forward and logs it (on worker 0).
  open(&a, path_a);
  ASSERT_FALSE(a.table->created());
  a.attach_logs();
  const RecoveryReport recovered = a.engine->recover(*a.workers[0], now_ms_);
  EXPECT_EQ(recovered.intents_rolled_forward, 1u) << recovered.to_string();
  a.sync();
  const auto logged = journaled_sales(0);
  ASSERT_EQ(logged.size(), 2u);
  ASSERT_EQ(logged[1].size(), 2u);
  EXPECT_EQ(logged[1][0].seat, 2u);
  EXPECT_EQ(logged[1][0].nonce, sale.tickets[0].nonce());
  EXPECT_EQ(logged[1][1].seat, 4u);
  EXPECT_EQ(logged[1][1].nonce, sale.tickets[1].nonce());
  a.detach_logs();
  a.journals = JournalSet{};

  // A later rebuild from the journals has the sale, its buyer and its key.
  TempTablePath path_b;
  Node b;
  RebuildReport report;
  rebuild(&b, path_b, &report);
  EXPECT_EQ(report.sale_records_from_journal, 2u);
  Workload done;
  done.tickets = {sale.tickets[0], sale.tickets[1]};
  expect_same_durable_state(a, b, done);
  EXPECT_EQ(b.engine->ticket(sale.tickets[1]).buyer_ref, "who");
  const SaleOutcome retry = b.engine->buy(*b.workers[0], cinema, seats, {"k-77", "who"}, now_ms_);
  EXPECT_TRUE(retry.replayed) << retry.status.to_string();
  EXPECT_EQ(retry.tickets[1], sale.tickets[1]);
}

TEST_F(RestoreTest, VoidFinishedByRecoveryIsJournaledForTheNextRebuild) {
  TempTablePath path_a;
  Node a;
  open(&a, path_a);
  a.attach_logs();
  const uint32_t cinema = create(*a.engine, "Cinema", "cinema.json");
  const uint32_t seats[] = {7};
  const SaleOutcome sale = a.engine->buy(*a.workers[0], cinema, seats, {}, now_ms_);
  ASSERT_TRUE(sale.status.is_ok());
  // The void the crash cuts: the ticket is marked voided, then the process dies before the
  // log and before the seat is put back on sale.
  a.workers[1]->set_sale_log(nullptr);
  ASSERT_TRUE(a.engine->void_ticket(*a.workers[1], sale.tickets[0], now_ms_ + 10).status.is_ok());
  const shm::EventSlot& slot = a.table->event(cinema);
  shm::set_bits(a.table->taken(slot), seats);
  shm::set_bits(a.table->sold(slot), seats);
  a.sync();
  crash(&a);

  open(&a, path_a);
  a.attach_logs();
  const RecoveryReport recovered = a.engine->recover(*a.workers[0], now_ms_);
  EXPECT_EQ(recovered.voids_finished, 1u) << recovered.to_string();
  a.sync();
  a.detach_logs();
  a.journals = JournalSet{};

  TempTablePath path_b;
  Node b;
  RebuildReport report;
  rebuild(&b, path_b, &report);
  EXPECT_EQ(report.void_records, 1u);
  EXPECT_EQ(report.voids_without_sale, 0u);
  const TicketInfo ticket = b.engine->ticket(sale.tickets[0]);
  ASSERT_TRUE(ticket.status.is_ok());
  EXPECT_TRUE(ticket.voided);
  EXPECT_EQ(ticket.voided_at_ms, now_ms_ + 10);
  EXPECT_EQ(b.engine->seat(cinema, 7).state, SeatState::kFree);
  Workload done;
  done.tickets = {sale.tickets[0]};
  expect_same_durable_state(a, b, done);
}

}  // namespace
}  // namespace boxoffice::persist
