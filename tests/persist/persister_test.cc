// Persister end to end: a real engine (two events, created through a ControlLog) sells on two
// worker threads, each into its own WorkerLog, while a Persister tails the three journals into a
// real MariaDB: the one at $BOXOFFICE_TEST_MARIADB_URL, or else a private server this binary
// starts with tools/mariadb.sh under a temporary directory (on first use) and stops at the end.
// Every test starts from empty tables.
//
// Covered: MariaDB ends up equal to the engine (every ticket, every void, both events and their
// state, the progress of every stream); a killed server (selling goes on, the persister
// reconnects by itself and catches up, nothing twice); the backlog limit (BUSY until MariaDB is
// back); a restarted persister resuming from MariaDB's progress; persisted worker segments
// deleted, the control journal kept whole. Every wait is bounded.
#include "persist/persister.h"

#include <gtest/gtest.h>
#include <mysql.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "persist/control_log.h"
#include "persist/journal.h"
#include "persist/sinks.h"
#include "persist/worker_log.h"
#include "tests/core/engine_fixture.h"
#include "tests/persist/private_mariadb.h"

namespace boxoffice::persist {
namespace {

using boxoffice::testing::event_document;
using boxoffice::testing::small_geometry;
using boxoffice::testing::TempTablePath;
using testing::MariadbServer;
using testing::run_command;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls `done` every 2 ms until it holds or `timeout_ms` passed; returns its last value.
template <typename Predicate>
bool wait_for(Predicate done, int64_t timeout_ms) {
  const int64_t deadline_ms = steady_ms() + timeout_ms;
  while (!done()) {
    if (steady_ms() >= deadline_ms) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// ---- The server (as in mariadb_store_test.cc) -------------------------------------------

// ---- Selling -----------------------------------------------------------------------------

// One ticket a seller got, as the engine described it right after the sale.
struct SoldTicket {
  TicketId id;
  uint32_t generation = 0;
  int64_t price_cents = 0;
  int64_t sold_at_ms = 0;
  std::string buyer_ref;
  int64_t voided_at_ms = -1;  // -1: valid
};

// A worker thread: random buys of 1..4 seats on the events, and voids of some of its own
// tickets, logging into its WorkerLog (synced every `sync_every` operations and at the end).
// Keeps a ledger of what it sold and voided, read once the thread has been joined.
class Seller {
 public:
  Seller(Engine& engine, WorkerContext& worker, WorkerLog& log, std::vector<uint32_t> events,
         int sync_every, uint64_t seed)
      : engine_(engine),
        worker_(worker),
        log_(log),
        events_(std::move(events)),
        sync_every_(sync_every),
        seed_(seed) {}
  ~Seller() { stop(); }

  void start(uint64_t operations_max) {
    operations_max_ = operations_max;
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  uint64_t operations() const { return operations_.load(std::memory_order_acquire); }

  // After stop().
  const std::vector<SoldTicket>& tickets() const { return tickets_; }
  uint64_t sales() const { return sales_; }
  uint64_t voids() const { return voids_; }
  uint64_t busy() const { return busy_; }
  uint64_t event_closed() const { return event_closed_; }
  uint64_t room_refused() const { return room_refused_; }

 private:
  void run() {
    std::mt19937_64 rng(seed_);
    std::vector<size_t> valid;  // indices into tickets_ of tickets not voided
    uint64_t n = 0;
    while (!stop_.load(std::memory_order_relaxed) && n < operations_max_) {
      if (!log_.has_room()) ++room_refused_;
      const int64_t now_ms = wall_ms();
      if (!valid.empty() && rng() % 5 == 0) {
        const size_t k = rng() % valid.size();
        SoldTicket& t = tickets_[valid[k]];
        const VoidOutcome v = engine_.void_ticket(worker_, t.id, now_ms);
        if (v.status.is_ok()) {
          EXPECT_FALSE(v.already_voided);
          t.voided_at_ms = now_ms;
          valid[k] = valid.back();
          valid.pop_back();
          ++voids_;
        } else {
          count_refusal(v.status);
        }
      } else {
        const uint32_t event = events_[rng() % events_.size()];
        const uint32_t seat_count = engine_.layout(event).seat_count();
        std::set<uint32_t> picked;
        const size_t count = 1 + rng() % 4;
        while (picked.size() < count) picked.insert(static_cast<uint32_t>(rng() % seat_count));
        const std::vector<uint32_t> seats(picked.begin(), picked.end());
        const std::string tag = "s" + std::to_string(seed_) + "-" + std::to_string(n);
        // Keys are unique per seller (a repeated one would replay the first sale) and few (the
        // idempotency table is small).
        const std::string key = n < 1'000 && n % 5 == 0 ? "key-" + tag : "";
        const std::string buyer = n % 2 == 0 ? "buyer-" + tag : "";
        const SaleOutcome sale = engine_.buy(worker_, event, seats, {key, buyer}, now_ms);
        if (sale.status.is_ok()) {
          EXPECT_FALSE(sale.replayed);
          ++sales_;
          for (uint32_t i = 0; i < sale.seats.count; ++i) {
            const TicketInfo info = engine_.ticket(sale.tickets[i]);
            EXPECT_TRUE(info.status.is_ok()) << info.status.to_string();
            valid.push_back(tickets_.size());
            tickets_.push_back(
                {sale.tickets[i], info.generation, info.price_cents, info.sold_at_ms, buyer, -1});
          }
        } else if (sale.status.code() != ErrorCode::kSeatTaken) {
          count_refusal(sale.status);
        }
      }
      ++n;
      operations_.store(n, std::memory_order_release);
      if (n % sync_every_ == 0) sync();
    }
    sync();
    finished_.store(true, std::memory_order_release);
  }
  void count_refusal(const Status& status) {
    if (status.code() == ErrorCode::kBusy) {
      ++busy_;
    } else if (status.code() == ErrorCode::kEventClosed) {
      ++event_closed_;  // the paused event
    } else {
      ADD_FAILURE() << "worker " << worker_.index() << ": " << status.to_string();
    }
  }
  void sync() {
    std::string error;
    EXPECT_TRUE(log_.sync_now(&error)) << error;
  }

  Engine& engine_;
  WorkerContext& worker_;
  WorkerLog& log_;
  const std::vector<uint32_t> events_;
  const int sync_every_;
  const uint64_t seed_;
  uint64_t operations_max_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> operations_{0};
  std::vector<SoldTicket> tickets_;
  uint64_t sales_ = 0;
  uint64_t voids_ = 0;
  uint64_t busy_ = 0;
  uint64_t event_closed_ = 0;
  uint64_t room_refused_ = 0;  // operations begun while has_room() was false
};

// ---- Fixture -----------------------------------------------------------------------------

constexpr int64_t kCatchUpMs = 30'000;
constexpr int64_t kSettleMs = 5'000;  // stats and on_persisted trail wait_caught_up() a little
constexpr uint32_t kWorkers = 2;

struct NodeOptions {
  uint64_t backlog_records_max = 0;
  uint64_t segment_bytes_max = 64u << 20;
};

class PersisterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(MariadbServer::get().ensure_started(&error)) << error;
    config_ = MariadbServer::get().config();
    ASSERT_TRUE(open_admin(&error)) << error;
    for (const char* table : {"tickets", "events", "persist_progress", "dead_letters"}) {
      exec(std::string("DROP TABLE IF EXISTS ") + table);
    }
    char pattern[] = "/tmp/boxoffice-persister-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    // Threads first (they use the engine and the logs), then what they used.
    sellers_.clear();
    persisters_.clear();
    for (auto& worker : workers_) worker->set_sale_log(nullptr);
    if (engine_) engine_->set_event_log(nullptr);
    logs_.clear();
    control_.reset();
    workers_.clear();
    engine_.reset();
    table_.reset();
    if (admin_ != nullptr) mysql_close(admin_);
    if (server_down_) {
      std::string error;
      if (!MariadbServer::get().start(&error)) std::fprintf(stderr, "%s\n", error.c_str());
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
    if (HasFailure()) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      for (const std::string& line : log_lines_)
        std::fprintf(stderr, "persister: %s\n", line.c_str());
    }
  }

  // The seat table, its engine with the two events, the journals and the worker contexts.
  void open_node(const NodeOptions& options) {
    std::string error;
    const int64_t now_ms = wall_ms();
    table_ = shm::SeatTable::open({table_path_.path(), small_geometry(), now_ms}, &error);
    ASSERT_NE(table_, nullptr) << error;
    engine_ = Engine::open(table_.get(), EngineOptions{}, &error);
    ASSERT_NE(engine_, nullptr) << error;
    std::filesystem::create_directories(dir_ + "/journal");  // open() makes the last level only
    JournalTail tail;
    control_ = ControlLog::open(dir_ + "/journal/control", 16u << 20, &tail, &error);
    ASSERT_NE(control_, nullptr) << error;
    engine_->set_event_log(control_.get());
    for (uint32_t i = 0; i < kWorkers; ++i) {
      WorkerLogOptions worker;
      worker.journal_directory = dir_ + "/journal/worker-" + std::to_string(i);
      worker.staging_path = dir_ + "/table.log-" + std::to_string(i);
      worker.staging_bytes = 1u << 20;
      worker.segment_bytes_max = options.segment_bytes_max;
      worker.backlog_records_max = options.backlog_records_max;
      WorkerLogOpenReport report;
      logs_.push_back(WorkerLog::open(worker, &report, &error));
      ASSERT_NE(logs_.back(), nullptr) << error;
      // What MariaDB has is at least what the journal no longer keeps (as boxofficed does).
      const uint64_t first = first_retained_sequence(logs_.back()->directory());
      logs_.back()->set_persisted(first > 0 ? first - 1 : 0);
      workers_.push_back(std::make_unique<WorkerContext>(i, small_geometry().holds_max, now_ms));
      workers_.back()->set_sale_log(logs_.back().get());
    }
    for (const auto& [id, layout] : {std::pair{"persister-arena", "arena.json"},
                                     std::pair{"persister-cinema", "cinema.json"}}) {
      uint32_t index = 0;
      const Status s = engine_->create_event(event_document(id, layout), wall_ms(), &index);
      ASSERT_TRUE(s.is_ok()) << s.to_string();
      events_.push_back(index);
    }
  }

  // A persister over {control, worker-0, worker-1}, wired like tools/boxofficed.cc.
  Persister& add_persister(PersisterOptions options = {}) {
    std::vector<PersistStream> streams;
    streams.push_back({"control", control_->directory(),
                       [log = control_.get()] { return log->durable_sequence(); }});
    for (uint32_t i = 0; i < kWorkers; ++i) {
      streams.push_back({"worker-" + std::to_string(i), logs_[i]->directory(),
                         [log = logs_[i].get()] { return log->durable_sequence(); }});
    }
    auto on_persisted = [this](size_t stream, uint64_t sequence) {
      if (stream == 0) return;  // the control journal is kept whole
      WorkerLog& log = *logs_[stream - 1];
      log.set_persisted(sequence);
      delete_persisted_segments(log.directory(), sequence);
    };
    auto log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      log_lines_.push_back(line);
    };
    persisters_.push_back(std::make_unique<Persister>("mariadb", make_mariadb_sink(config_),
                                                      std::move(streams), engine_.get(), options,
                                                      on_persisted, log));
    return *persisters_.back();
  }

  // One more seller per worker (the ones before must have finished); the ledgers of every
  // round are checked together.
  void start_sellers(uint64_t operations_max, int sync_every) {
    const size_t first = sellers_.size();
    for (uint32_t i = 0; i < kWorkers; ++i) {
      sellers_.push_back(std::make_unique<Seller>(*engine_, *workers_[i], *logs_[i], events_,
                                                  sync_every, 1000 + first + i));
    }
    for (size_t i = first; i < sellers_.size(); ++i) sellers_[i]->start(operations_max);
  }
  bool sellers_finished(int64_t timeout_ms) {
    return wait_for(
        [&] {
          return std::all_of(sellers_.begin(), sellers_.end(),
                             [](const auto& s) { return s->finished(); });
        },
        timeout_ms);
  }
  void stop_sellers() {
    for (auto& seller : sellers_) seller->stop();
  }
  uint64_t seller_operations() const {
    uint64_t n = 0;
    for (const auto& seller : sellers_) n += seller->operations();
    return n;
  }
  uint64_t durable_total() const {
    uint64_t n = control_->durable_sequence();
    for (const auto& log : logs_) n += log->durable_sequence();
    return n;
  }
  uint64_t persisted_total(const Persister& persister) const {
    uint64_t n = 0;
    for (size_t i = 0; i <= kWorkers; ++i) n += persister.persisted(i);
    return n;
  }
  // Waits (bounded) for the batch that completed wait_caught_up() to show in stats().
  PersisterStats settled_stats(const Persister& persister, uint64_t records_persisted) {
    wait_for(
        [&] {
          const PersisterStats s = persister.stats();
          return s.records_persisted >= records_persisted && s.lag_records == 0;
        },
        kSettleMs);
    return persister.stats();
  }
  void kill_server() {
    std::string error;
    server_down_ = true;
    ASSERT_TRUE(MariadbServer::get().kill(&error)) << error;
  }
  void stop_server() {
    std::string error;
    server_down_ = true;
    ASSERT_TRUE(MariadbServer::get().stop(&error)) << error;
  }
  void start_server() {
    std::string error;
    ASSERT_TRUE(MariadbServer::get().start(&error)) << error;
    server_down_ = false;
    ASSERT_TRUE(open_admin(&error)) << error;
  }

  // A plain autocommit connection for checking what the persister wrote.
  bool open_admin(std::string* error) {
    if (admin_ != nullptr) mysql_close(admin_);
    admin_ = mysql_init(nullptr);
    mysql_optionsv(admin_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const bool socket = !config_.unix_socket.empty();
    if (mysql_real_connect(admin_, socket ? "localhost" : config_.host.c_str(),
                           config_.user.c_str(), config_.password.c_str(), config_.database.c_str(),
                           socket ? 0 : config_.port,
                           socket ? config_.unix_socket.c_str() : nullptr, 0) == nullptr) {
      *error = mysql_error(admin_);
      return false;
    }
    return true;
  }
  void exec(const std::string& sql) {
    ASSERT_EQ(mysql_query(admin_, sql.c_str()), 0) << mysql_error(admin_) << " in " << sql;
  }
  // Every row, each column as text ("NULL" for NULL).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    if (mysql_query(admin_, sql.c_str()) != 0) {
      ADD_FAILURE() << mysql_error(admin_) << " in " << sql;
      return out;
    }
    MYSQL_RES* result = mysql_store_result(admin_);
    if (result == nullptr) return out;
    const unsigned columns = mysql_num_fields(result);
    while (MYSQL_ROW row = mysql_fetch_row(result)) {
      std::vector<std::string>& r = out.emplace_back();
      for (unsigned c = 0; c < columns; ++c) r.push_back(row[c] == nullptr ? "NULL" : row[c]);
    }
    mysql_free_result(result);
    return out;
  }
  std::string query(const std::string& sql) {
    const auto result = rows(sql);
    return result.empty() || result[0].empty() ? "" : result[0][0];
  }
  std::map<std::string, uint64_t> progress() {
    std::map<std::string, uint64_t> out;
    for (const auto& row : rows("SELECT stream, sequence FROM persist_progress")) {
      out[row[0]] = std::stoull(row[1]);
    }
    return out;
  }

  // MariaDB's progress is every journal's durable sequence, and so is the persister's.
  void expect_progress_complete(const Persister& persister) {
    std::map<std::string, uint64_t> want{{"control", control_->durable_sequence()}};
    EXPECT_EQ(persister.persisted(0), control_->durable_sequence());
    for (uint32_t i = 0; i < kWorkers; ++i) {
      EXPECT_EQ(logs_[i]->durable_sequence(), logs_[i]->appended_sequence());
      want["worker-" + std::to_string(i)] = logs_[i]->durable_sequence();
      EXPECT_EQ(persister.persisted(i + 1), logs_[i]->durable_sequence()) << "worker " << i;
    }
    EXPECT_EQ(progress(), want);
  }

  // MariaDB holds exactly the tickets the sellers got (and voided), each as the engine has it,
  // and both events as the engine has them. The sellers must have been stopped.
  void expect_database_matches_engine() {
    std::map<std::string, SoldTicket> ledger;
    for (const auto& seller : sellers_) {
      for (const SoldTicket& t : seller->tickets()) {
        EXPECT_TRUE(ledger.emplace(t.id.to_string(), t).second)
            << "sold twice: " << t.id.to_string();
      }
    }
    EXPECT_EQ(query("SELECT COUNT(*) FROM dead_letters"), "0");
    EXPECT_EQ(query("SELECT CONCAT(COUNT(*), '/', COUNT(DISTINCT ticket_id), '/',"
                    " COUNT(DISTINCT event_index, seat_index, generation)) FROM tickets"),
              std::to_string(ledger.size()) + "/" + std::to_string(ledger.size()) + "/" +
                  std::to_string(ledger.size()));

    // Database against the ledger, row by row.
    size_t voided = 0;
    size_t resold = 0;  // generation > 1: a seat sold again after a void
    for (const auto& row : rows("SELECT ticket_id, event_index, event_id, seat_index, seat_label,"
                                " generation, price_cents, sold_at_ms, buyer_ref, voided_at_ms"
                                " FROM tickets")) {
      const auto it = ledger.find(row[0]);
      if (it == ledger.end()) {
        ADD_FAILURE() << "MariaDB has a ticket nobody sold: " << row[0];
        continue;
      }
      const SoldTicket& t = it->second;
      const uint32_t event = t.id.event_index();
      const uint32_t seat = t.id.seat_index();
      EXPECT_EQ(row[1], std::to_string(event)) << row[0];
      EXPECT_EQ(row[2], engine_->event_id(event)) << row[0];
      EXPECT_EQ(row[3], std::to_string(seat)) << row[0];
      const SeatLocation where = engine_->layout(event).locate(seat);
      EXPECT_EQ(row[4], std::to_string(where.zone->id) + "/" +
                            (where.row != nullptr ? where.row->label : "GA") + "/" + where.label())
          << row[0];
      EXPECT_EQ(row[5], std::to_string(t.generation)) << row[0];
      EXPECT_EQ(row[6], std::to_string(t.price_cents)) << row[0];
      EXPECT_EQ(row[7], std::to_string(t.sold_at_ms)) << row[0];
      EXPECT_EQ(row[8], t.buyer_ref) << row[0];
      EXPECT_EQ(row[9], t.voided_at_ms < 0 ? "NULL" : std::to_string(t.voided_at_ms)) << row[0];
      voided += t.voided_at_ms >= 0;
      resold += t.generation > 1;
    }

    // The ledger against the engine: valid tickets are valid there with the same values; a
    // voided one is voided there, or its seat has been sold again since.
    size_t valid = 0;
    for (const auto& [id, t] : ledger) {
      const TicketInfo info = engine_->ticket(t.id);
      if (t.voided_at_ms < 0) {
        ++valid;
        ASSERT_TRUE(info.status.is_ok()) << id << ": " << info.status.to_string();
        EXPECT_FALSE(info.voided) << id;
        EXPECT_EQ(info.generation, t.generation) << id;
        EXPECT_EQ(info.price_cents, t.price_cents) << id;
        EXPECT_EQ(info.sold_at_ms, t.sold_at_ms) << id;
      } else if (info.status.is_ok()) {
        EXPECT_TRUE(info.voided) << id;
        EXPECT_EQ(info.voided_at_ms, t.voided_at_ms) << id;
      } else {
        EXPECT_EQ(info.status.code(), ErrorCode::kNotFound) << id;
      }
    }
    // And every seat the engine has sold is a valid ticket of the ledger: nothing sold escaped.
    size_t sold = 0;
    for (uint32_t event : events_) {
      for (uint32_t seat = 0; seat < engine_->layout(event).seat_count(); ++seat) {
        const SeatInfo info = engine_->seat(event, seat);
        if (info.state != SeatState::kSold) continue;
        ++sold;
        const auto it = ledger.find(info.ticket.to_string());
        ASSERT_NE(it, ledger.end()) << "event " << event << " seat " << seat;
        EXPECT_LT(it->second.voided_at_ms, 0) << "event " << event << " seat " << seat;
      }
    }
    EXPECT_EQ(sold, valid);
    std::printf("tickets: %zu in MariaDB (%zu valid, %zu voided, %zu resold seats)\n",
                ledger.size(), valid, voided, resold);

    // Events.
    const auto events = rows(
        "SELECT event_index, event_id, venue_id, name, state, created_at_ms"
        " FROM events ORDER BY event_index");
    ASSERT_EQ(events.size(), events_.size());
    for (size_t i = 0; i < events.size(); ++i) {
      const uint32_t e = events_[i];
      EXPECT_EQ(events[i][0], std::to_string(e));
      EXPECT_EQ(events[i][1], engine_->event_id(e));
      EXPECT_EQ(events[i][2], engine_->event_venue(e));
      EXPECT_EQ(events[i][3], engine_->event_name(e));
      EXPECT_EQ(events[i][4], event_state_name(engine_->event_state(e)));
      EXPECT_EQ(events[i][5], std::to_string(engine_->event_created_at_ms(e)));
    }
  }

  static std::vector<std::string> segment_files(const std::string& directory) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
      names.push_back(entry.path().filename().string() + ":" + std::to_string(entry.file_size()));
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  MariadbConfig config_;
  MYSQL* admin_ = nullptr;
  bool server_down_ = false;
  std::string dir_;
  TempTablePath table_path_;
  std::unique_ptr<shm::SeatTable> table_;
  std::unique_ptr<Engine> engine_;
  std::vector<uint32_t> events_;
  std::unique_ptr<ControlLog> control_;
  std::vector<std::unique_ptr<WorkerLog>> logs_;
  std::vector<std::unique_ptr<WorkerContext>> workers_;
  std::vector<std::unique_ptr<Persister>> persisters_;
  std::vector<std::unique_ptr<Seller>> sellers_;
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};

// ---- Cases -------------------------------------------------------------------------------

// Two workers sell and void while the persister runs, one event is paused half-way: MariaDB
// ends up equal to the engine, and the progress equal to every journal's durable sequence.
TEST_F(PersisterTest, MariadbMatchesTheEngineAfterConcurrentSelling) {
  ASSERT_NO_FATAL_FAILURE(open_node({}));
  PersisterOptions options;
  options.batch_rows_max = 1'000;  // many batches
  Persister& persister = add_persister(options);
  const int64_t started_ms = steady_ms();
  persister.start();
  constexpr uint64_t kOperations = 20'000;  // per seller; the cinema is paused half-way
  start_sellers(kOperations, 300);
  ASSERT_TRUE(wait_for([&] { return seller_operations() >= kOperations; }, 60'000));
  const uint32_t cinema = events_[1];
  const Status paused = engine_->set_event_state(cinema, shm::EventState::kPaused, wall_ms());
  ASSERT_TRUE(paused.is_ok()) << paused.to_string();
  ASSERT_TRUE(sellers_finished(120'000));
  stop_sellers();
  ASSERT_TRUE(persister.wait_caught_up(kCatchUpMs));
  const int64_t elapsed_ms = steady_ms() - started_ms;

  const PersisterStats stats = settled_stats(persister, durable_total());
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.records_persisted, durable_total());  // every record once, from the start
  EXPECT_GT(stats.batches, 1u);
  // A batch stops at batch_rows_max rows; the record that reaches it may add a few more (a
  // sale gives one row per seat, up to 4 here).
  EXPECT_LE(stats.batch_rows_max_seen, options.batch_rows_max + 3);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error;
  EXPECT_EQ(stats.bad_records, 0u);
  EXPECT_EQ(stats.lag_records, 0u);
  EXPECT_EQ(stats.lag_ms, 0);
  expect_progress_complete(persister);
  ASSERT_NO_FATAL_FAILURE(expect_database_matches_engine());
  EXPECT_EQ(query("SELECT state FROM events WHERE event_index = " + std::to_string(cinema)),
            "paused");
  EXPECT_EQ(control_->durable_sequence(), 3u);  // two creations and the pause
  uint64_t sales = 0, voids = 0, closed = 0;
  for (const auto& seller : sellers_) {
    sales += seller->sales();
    voids += seller->voids();
    closed += seller->event_closed();
    EXPECT_EQ(seller->busy(), 0u);
  }
  EXPECT_GT(voids, 0u);
  EXPECT_GT(closed, 0u);  // the pause was seen by the sellers
  std::printf("persisted %llu records (%llu sales, %llu voids) in %llu batches, %lld ms\n",
              static_cast<unsigned long long>(stats.records_persisted),
              static_cast<unsigned long long>(sales), static_cast<unsigned long long>(voids),
              static_cast<unsigned long long>(stats.batches), static_cast<long long>(elapsed_ms));
}

// MariaDB killed while the workers sell: the persister reports the outage and retries, selling
// goes on into the journals; once MariaDB is back the persister reconnects by itself and
// catches up, and nothing is written twice.
TEST_F(PersisterTest, KilledMariadbIsRetriedWhileSellingGoesOn) {
  if (!MariadbServer::get().owned()) GTEST_SKIP() << "needs the private server to kill it";
  NodeOptions node;
  node.backlog_records_max = 1'000'000;  // far above what this test sells
  ASSERT_NO_FATAL_FAILURE(open_node(node));
  PersisterOptions options;
  options.batch_rows_max = 500;
  options.backoff_initial_ms = 20;
  options.backoff_max_ms = 400;
  Persister& persister = add_persister(options);
  persister.start();
  start_sellers(UINT64_MAX, 100);
  ASSERT_TRUE(wait_for([&] { return persister.stats().records_persisted > 500; }, kCatchUpMs));

  ASSERT_NO_FATAL_FAILURE(kill_server());
  const int64_t killed_ms = steady_ms();
  const uint64_t operations_at_kill = seller_operations();
  const uint64_t errors_at_kill = persister.stats().errors;
  EXPECT_TRUE(wait_for(
      [&] {
        const PersisterStats s = persister.stats();
        return !s.connected && s.errors >= errors_at_kill + 3;
      },
      kCatchUpMs))
      << persister.stats().last_error;
  // Selling goes on and becomes durable in the journals, past what MariaDB has.
  EXPECT_TRUE(
      wait_for([&] { return seller_operations() >= operations_at_kill + 2'000; }, kCatchUpMs));
  const uint64_t persisted_down = persisted_total(persister);
  EXPECT_TRUE(wait_for([&] { return durable_total() > persisted_down + 500; }, kCatchUpMs));
  EXPECT_EQ(persisted_total(persister), persisted_down);  // nothing moves while it is down
  EXPECT_FALSE(persister.stats().connected);
  const uint64_t errors_down = persister.stats().errors;

  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t restarted_ms = steady_ms();
  EXPECT_TRUE(wait_for([&] { return persister.stats().connected; }, kCatchUpMs));
  const int64_t reconnected_ms = steady_ms();
  EXPECT_TRUE(
      wait_for([&] { return seller_operations() >= operations_at_kill + 3'000; }, kCatchUpMs));
  stop_sellers();
  ASSERT_TRUE(persister.wait_caught_up(kCatchUpMs)) << persister.stats().last_error;

  const PersisterStats stats = settled_stats(persister, 0);
  EXPECT_TRUE(stats.connected);
  EXPECT_GE(stats.errors, errors_down);
  EXPECT_EQ(stats.lag_records, 0u);
  // A batch whose COMMIT reply the kill swallowed is counted once, by the progress reloaded.
  EXPECT_LE(stats.records_persisted, durable_total());
  for (const auto& seller : sellers_) {
    EXPECT_EQ(seller->busy(), 0u);
    EXPECT_EQ(seller->room_refused(), 0u);
  }
  expect_progress_complete(persister);
  ASSERT_NO_FATAL_FAILURE(expect_database_matches_engine());
  std::printf("outage: down %lld ms, reconnected %lld ms after the restart, %llu errors\n",
              static_cast<long long>(restarted_ms - killed_ms),
              static_cast<long long>(reconnected_ms - restarted_ms),
              static_cast<unsigned long long>(stats.errors));
}

// With MariaDB down, a worker log refuses sales past its backlog limit (the engine answers
// BUSY) and takes them again once the persister has caught up.
TEST_F(PersisterTest, BacklogLimitAnswersBusyUntilMariadbCatchesUp) {
  if (!MariadbServer::get().owned()) GTEST_SKIP() << "needs the private server to stop it";
  constexpr uint64_t kBacklog = 500;
  NodeOptions node;
  node.backlog_records_max = kBacklog;
  ASSERT_NO_FATAL_FAILURE(open_node(node));
  ASSERT_NO_FATAL_FAILURE(stop_server());
  PersisterOptions options;
  options.backoff_initial_ms = 20;
  options.backoff_max_ms = 400;
  Persister& persister = add_persister(options);
  persister.start();

  // This thread is worker 0: one seat per sale, each sale one record.
  WorkerContext& worker = *workers_[0];
  WorkerLog& log = *logs_[0];
  const uint32_t arena = events_[0];
  std::vector<TicketId> tickets;
  SaleOutcome refused;
  for (uint32_t seat = 0; seat < 2 * kBacklog; ++seat) {
    const SaleOutcome sale =
        engine_->buy(worker, arena, std::vector<uint32_t>{seat}, {}, wall_ms());
    if (!sale.status.is_ok()) {
      refused = sale;
      break;
    }
    tickets.push_back(sale.tickets[0]);
    if (tickets.size() % 50 == 0) {
      std::string error;
      ASSERT_TRUE(log.sync_now(&error)) << error;
    }
  }
  EXPECT_EQ(refused.status.code(), ErrorCode::kBusy) << refused.status.to_string();
  EXPECT_EQ(tickets.size(), kBacklog);
  EXPECT_EQ(log.appended_sequence(), kBacklog);
  EXPECT_FALSE(log.has_room());
  EXPECT_EQ(engine_->void_ticket(worker, tickets[0], wall_ms()).status.code(), ErrorCode::kBusy);
  EXPECT_TRUE(engine_->seat(arena, kBacklog).state == SeatState::kFree);  // the refusal took none
  EXPECT_TRUE(logs_[1]->has_room());  // the limit is per worker (read here: worker 1 is idle)
  std::string error;
  ASSERT_TRUE(log.sync_now(&error)) << error;
  EXPECT_EQ(persister.persisted(1), 0u);
  EXPECT_FALSE(persister.stats().connected);
  // Its first attempt may come after the sales (a slow start under a sanitizer): wait for it.
  EXPECT_TRUE(wait_for([&] { return persister.stats().errors > 0; }, kSettleMs));

  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_TRUE(persister.wait_caught_up(kCatchUpMs)) << persister.stats().last_error;
  EXPECT_EQ(persister.persisted(1), kBacklog);
  // set_persisted() runs in on_persisted, just after wait_caught_up() can see the progress.
  EXPECT_TRUE(wait_for([&] { return log.has_room(); }, kSettleMs));
  const SaleOutcome again =
      engine_->buy(worker, arena, std::vector<uint32_t>{kBacklog}, {}, wall_ms());
  ASSERT_TRUE(again.status.is_ok()) << again.status.to_string();
  ASSERT_TRUE(log.sync_now(&error)) << error;
  ASSERT_TRUE(persister.wait_caught_up(kCatchUpMs));
  EXPECT_EQ(query("SELECT COUNT(*) FROM tickets WHERE voided_at_ms IS NULL"),
            std::to_string(kBacklog + 1));
  EXPECT_EQ(query("SELECT COUNT(DISTINCT ticket_id) FROM tickets"), std::to_string(kBacklog + 1));
  EXPECT_EQ(query("SELECT sequence FROM persist_progress WHERE stream = 'worker-0'"),
            std::to_string(kBacklog + 1));
}

// A persister stopped mid-stream and a new one over the same journals: the new one starts
// from MariaDB's progress (it sends exactly the records after it), nothing twice, nothing lost.
TEST_F(PersisterTest, NewPersisterResumesFromMariadbProgress) {
  ASSERT_NO_FATAL_FAILURE(open_node({}));
  PersisterOptions options;
  options.batch_rows_max = 200;
  Persister& first = add_persister(options);
  first.start();
  start_sellers(UINT64_MAX, 100);
  ASSERT_TRUE(wait_for([&] { return persisted_total(first) >= 1'000; }, kCatchUpMs));
  first.stop();
  const std::map<std::string, uint64_t> stopped_at = progress();
  ASSERT_EQ(stopped_at.size(), 1 + kWorkers);
  EXPECT_EQ(stopped_at.at("control"), first.persisted(0));
  for (uint32_t i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(stopped_at.at("worker-" + std::to_string(i)), first.persisted(i + 1));
  }
  const uint64_t stopped_total = persisted_total(first);
  // Meanwhile the workers go on: the journals get ahead of MariaDB.
  ASSERT_TRUE(wait_for([&] { return durable_total() >= stopped_total + 1'000; }, kCatchUpMs));

  Persister& second = add_persister(options);
  second.start();
  const uint64_t operations = seller_operations();
  ASSERT_TRUE(wait_for([&] { return seller_operations() >= operations + 1'000; }, kCatchUpMs));
  stop_sellers();
  ASSERT_TRUE(second.wait_caught_up(kCatchUpMs)) << second.stats().last_error;

  // Exactly the records past the progress the first one left.
  const PersisterStats stats = settled_stats(second, durable_total() - stopped_total);
  EXPECT_EQ(stats.records_persisted, durable_total() - stopped_total);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error;
  EXPECT_EQ(first.stats().errors, 0u) << first.stats().last_error;
  expect_progress_complete(second);
  ASSERT_NO_FATAL_FAILURE(expect_database_matches_engine());
}

// Small segments: once persisted, every worker segment but the last is deleted (and the
// persister goes on reading after that); the control journal is never trimmed.
TEST_F(PersisterTest, PersistedWorkerSegmentsAreDeletedControlKept) {
  NodeOptions node;
  node.segment_bytes_max = 64u << 10;
  ASSERT_NO_FATAL_FAILURE(open_node(node));
  start_sellers(6'000, 200);
  ASSERT_TRUE(sellers_finished(120'000));
  for (const auto& log : logs_) {
    const size_t segments = segment_files(log->directory()).size();
    std::printf("%s: %llu records in %zu segments before persisting\n", log->directory().c_str(),
                static_cast<unsigned long long>(log->durable_sequence()), segments);
    EXPECT_GE(segments, 3u) << log->directory();
    EXPECT_EQ(first_retained_sequence(log->directory()), 1u);
  }
  const std::vector<std::string> control_before = segment_files(control_->directory());

  Persister& persister = add_persister();
  persister.start();
  ASSERT_TRUE(persister.wait_caught_up(kCatchUpMs)) << persister.stats().last_error;
  for (const auto& log : logs_) {
    // Deletion runs in on_persisted, right after the progress wait_caught_up() sees.
    EXPECT_TRUE(wait_for([&] { return segment_files(log->directory()).size() == 1; }, kSettleMs))
        << log->directory();
    EXPECT_GT(first_retained_sequence(log->directory()), 1u);
    EXPECT_LE(first_retained_sequence(log->directory()), log->durable_sequence());
  }
  EXPECT_EQ(segment_files(control_->directory()), control_before);
  EXPECT_EQ(first_retained_sequence(control_->directory()), 1u);

  // The journals go on after the trim, and a new persister resumes past the deleted segments.
  persister.stop();
  start_sellers(2'000, 200);
  ASSERT_TRUE(sellers_finished(120'000));
  stop_sellers();
  Persister& again = add_persister();
  again.start();
  ASSERT_TRUE(again.wait_caught_up(kCatchUpMs)) << again.stats().last_error;
  const PersisterStats stats = settled_stats(again, 0);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error;
  EXPECT_EQ(stats.bad_records, 0u);
  expect_progress_complete(again);
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    EXPECT_TRUE(log_lines_.empty()) << log_lines_.front();  // no "cannot be sent again"
  }
  ASSERT_NO_FATAL_FAILURE(expect_database_matches_engine());
}

}  // namespace
}  // namespace boxoffice::persist
