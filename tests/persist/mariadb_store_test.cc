// MariadbStore against a real MariaDB: the one at $BOXOFFICE_TEST_MARIADB_URL, or else a private
// server this binary starts with tools/mariadb.sh under a temporary directory (on first use, so
// the URL tests need none) and stops at the end. Every test starts from empty tables.
//
// Covered: URL parsing, idempotent schema creation, a 50,000-ticket batch read back, replays
// that change nothing, a void before its sale, a refused row dead-lettered while the rest
// commits, GREATEST progress, transient errors (a killed server, a dropped table) and resending
// after them. MariadbStoreTest.Throughput prints rows/s (not asserted) for the benchmark.
#include "persist/mariadb_store.h"

#include <gtest/gtest.h>
#include <mysql.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/ids.h"
#include "tests/persist/private_mariadb.h"

namespace boxoffice::persist {
namespace {

using testing::MariadbServer;
using testing::run_command;

// ---- Rows --------------------------------------------------------------------------------

uint64_t nonce_for(uint32_t seat, uint32_t generation) {
  uint64_t x = (uint64_t{seat} << 32 | generation) + 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string event_id_for(uint32_t event_index) { return "E" + std::to_string(event_index); }

TicketRow make_ticket(uint32_t event_index, uint32_t seat, uint32_t generation, uint64_t sequence) {
  TicketRow t;
  t.origin = {0, sequence};
  t.nonce = nonce_for(seat, generation);
  t.ticket_id = TicketId::make(event_index, seat, t.nonce).to_string();
  t.event_index = event_index;
  t.event_id = event_id_for(event_index);
  t.seat_index = seat;
  t.seat_label = "S" + std::to_string(seat / 1000) + "/R" + std::to_string(seat / 50 % 20) + "/" +
                 std::to_string(seat % 50 + 1);
  t.generation = generation;
  t.price_cents = 1000 + seat % 7 * 250;
  t.sold_at_ms = 1'700'000'000'000 + seat;
  t.buyer_ref = "buyer-" + std::to_string(seat % 97);
  t.idempotency_hash = seat % 3 == 0 ? 0 : nonce_for(seat, 99);  // top bit often set
  return t;
}

VoidRow make_void(const TicketRow& t, uint64_t sequence, int64_t voided_at_ms) {
  VoidRow v;
  v.origin = {0, sequence};
  v.ticket_id = t.ticket_id;
  v.event_index = t.event_index;
  v.event_id = t.event_id;
  v.seat_index = t.seat_index;
  v.generation = t.generation;
  v.nonce = t.nonce;
  v.voided_at_ms = voided_at_ms;
  return v;
}

EventRow make_event(uint32_t event_index, uint64_t sequence) {
  EventRow e;
  e.origin = {0, sequence};
  e.event_index = event_index;
  e.event_id = event_id_for(event_index);
  e.venue_id = "venue-1";
  e.name = "Event " + std::to_string(event_index);
  e.state = "open";
  e.created_at_ms = 1'699'999'999'000;
  e.layout_json = R"({"zones":[{"id":1,"rows":20}]})";
  return e;
}

// Tickets for seats [first_seat, first_seat + count) of event 1, one per journal record of
// stream `stream` starting at `first_sequence`; the progress names the last one.
PersistBatch make_sales(uint32_t first_seat, uint32_t count, uint64_t first_sequence,
                        const std::string& stream = "worker-0") {
  PersistBatch batch;
  batch.tickets.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    batch.tickets.push_back(make_ticket(1, first_seat + i, 1, first_sequence + i));
  }
  batch.streams.push_back({stream, first_sequence + count - 1});
  return batch;
}

// ---- Fixture -----------------------------------------------------------------------------

class MariadbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(MariadbServer::get().ensure_started(&error)) << error;
    config_ = MariadbServer::get().config();
    ASSERT_TRUE(open_admin(&error)) << error;
    for (const char* table : {"tickets", "events", "persist_progress", "dead_letters"}) {
      exec(std::string("DROP TABLE IF EXISTS ") + table);
    }
  }
  void TearDown() override {
    if (admin_ != nullptr) mysql_close(admin_);
  }

  // A plain autocommit connection for checking what the store wrote.
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
  // The first column of the first row, as text ("NULL" for NULL, "" for no row).
  std::string query(const std::string& sql) {
    if (mysql_query(admin_, sql.c_str()) != 0) {
      ADD_FAILURE() << mysql_error(admin_) << " in " << sql;
      return "";
    }
    MYSQL_RES* result = mysql_store_result(admin_);
    if (result == nullptr) return "";
    MYSQL_ROW row = mysql_fetch_row(result);
    const std::string value = row == nullptr ? "" : row[0] == nullptr ? "NULL" : row[0];
    mysql_free_result(result);
    return value;
  }
  uint64_t count(const std::string& table) {
    return std::stoull(query("SELECT COUNT(*) FROM " + table));
  }
  // Changes whenever any column of any ticket changes.
  std::string tickets_checksum() {
    return query(
        "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', ticket_id, event_index, event_id,"
        " seat_index, seat_label, generation, IFNULL(price_cents, 'n'), IFNULL(sold_at_ms, 'n'),"
        " buyer_ref, idempotency_hash, IFNULL(voided_at_ms, 'n'))))) FROM tickets");
  }

  std::unique_ptr<MariadbStore> connect() {
    std::string error;
    auto store = MariadbStore::connect(config_, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  void write(MariadbStore& store, const PersistBatch& batch) {
    std::string error;
    bool transient = true;
    ASSERT_TRUE(store.write(batch, &error, &transient)) << error;
  }
  std::vector<StreamProgress> progress(MariadbStore& store) {
    std::vector<StreamProgress> out;
    std::string error;
    EXPECT_TRUE(store.load_progress(&out, &error)) << error;
    return out;
  }
  struct ReadTicket {
    TicketRow row;
    int64_t voided_at_ms = 0;
  };
  std::vector<ReadTicket> read_tickets(MariadbStore& store, uint32_t event_index) {
    std::vector<ReadTicket> out;
    std::string error;
    EXPECT_TRUE(store.read_tickets(
        event_index,
        [&](const TicketRow& row, int64_t voided_at_ms) {
          out.push_back({row, voided_at_ms});
        },
        &error))
        << error;
    return out;
  }

  MariadbConfig config_;
  MYSQL* admin_ = nullptr;
};

void expect_same_ticket(const TicketRow& got, const TicketRow& want) {
  EXPECT_EQ(got.ticket_id, want.ticket_id);
  EXPECT_EQ(got.event_index, want.event_index);
  EXPECT_EQ(got.event_id, want.event_id);
  EXPECT_EQ(got.seat_index, want.seat_index);
  EXPECT_EQ(got.seat_label, want.seat_label);
  EXPECT_EQ(got.generation, want.generation);
  EXPECT_EQ(got.nonce, want.nonce);
  EXPECT_EQ(got.price_cents, want.price_cents);
  EXPECT_EQ(got.sold_at_ms, want.sold_at_ms);
  EXPECT_EQ(got.buyer_ref, want.buyer_ref);
  EXPECT_EQ(got.idempotency_hash, want.idempotency_hash);
}

// ---- URL ---------------------------------------------------------------------------------

TEST(MariadbUrlTest, ParsesEveryPart) {
  MariadbConfig config;
  config.read_timeout_s = 7;
  std::string error;
  ASSERT_TRUE(parse_mariadb_url("mariadb://box:secret@db.example:3307/tickets", &config, &error))
      << error;
  EXPECT_EQ(config.user, "box");
  EXPECT_EQ(config.password, "secret");
  EXPECT_EQ(config.host, "db.example");
  EXPECT_EQ(config.port, 3307);
  EXPECT_EQ(config.database, "tickets");
  EXPECT_EQ(config.unix_socket, "");
  EXPECT_EQ(config.read_timeout_s, 7u);  // not the URL's business

  ASSERT_TRUE(parse_mariadb_url("mysql://box@localhost/boxoffice?socket=/tmp/x%20y/mysqld.sock",
                                &config, &error))
      << error;
  EXPECT_EQ(config.user, "box");
  EXPECT_EQ(config.password, "");
  EXPECT_EQ(config.port, 3306);
  EXPECT_EQ(config.unix_socket, "/tmp/x y/mysqld.sock");

  ASSERT_TRUE(
      parse_mariadb_url("MariaDB://us%65r:p%40ss%3Aw%2Fo%25rd@[::1]:3310/db", &config, &error))
      << error;
  EXPECT_EQ(config.user, "user");
  EXPECT_EQ(config.password, "p@ss:w/o%rd");
  EXPECT_EQ(config.host, "::1");
  EXPECT_EQ(config.port, 3310);
  EXPECT_EQ(config.database, "db");

  // The last @ ends the user part; an empty password is allowed.
  ASSERT_TRUE(parse_mariadb_url("mariadb://a:@h/d", &config, &error)) << error;
  EXPECT_EQ(config.password, "");
  EXPECT_EQ(config.host, "h");
}

TEST(MariadbUrlTest, RefusesEveryBadForm) {
  const char* bad[] = {
      "",
      "localhost/boxoffice",
      "http://u@h/d",
      "mariadb:/u@h/d",
      "mariadb://",
      "mariadb://u@h",                        // no /database
      "mariadb://u@h/",                       // empty database
      "mariadb://u@h/a/b",                    // nested path
      "mariadb://u@h/d.e",                    // not a database name
      "mariadb://h/d",                        // no user@
      "mariadb://@h/d",                       // empty user
      "mariadb://:pw@h/d",                    // empty user
      "mariadb://u@/d",                       // empty host
      "mariadb://u@:3306/d",                  // empty host
      "mariadb://u@h:/d",                     // empty port
      "mariadb://u@h:abc/d",                  // port not a number
      "mariadb://u@h:0/d",                    // port out of range
      "mariadb://u@h:65536/d",                // port out of range
      "mariadb://u@h:33o6/d",                 // port with junk
      "mariadb://u@::1/d",                    // IPv6 without brackets
      "mariadb://u@[::1/d",                   // unterminated bracket
      "mariadb://u@[::1]x/d",                 // junk after bracket
      "mariadb://u%2@h/d",                    // short escape
      "mariadb://u:p%zz@h/d",                 // bad escape
      "mariadb://u@h/d?",                     // empty parameter
      "mariadb://u@h/d?sock=/x",              // unknown parameter
      "mariadb://u@h/d?socket",               // no value
      "mariadb://u@h/d?socket=",              // empty socket
      "mariadb://u@h/d?socket=relative",      // relative socket
      "mariadb://u@h/d?socket=/a&socket=/b",  // twice
      "mariadb://u@h/d?socket=/a%2",          // bad escape in the socket
      "mariadb://u@h/d#frag",                 // fragment
  };
  for (const char* url : bad) {
    MariadbConfig config;
    config.user = "untouched";
    std::string error;
    EXPECT_FALSE(parse_mariadb_url(url, &config, &error)) << url;
    EXPECT_FALSE(error.empty()) << url;
    EXPECT_EQ(config.user, "untouched") << url;
  }
}

TEST(MariadbUrlTest, RedactedUrlHidesThePassword) {
  MariadbConfig config;
  std::string error;
  ASSERT_TRUE(parse_mariadb_url("mariadb://box:hunter2@localhost/boxoffice?socket=/run/m.sock",
                                &config, &error));
  const std::string url = redacted_url(config);
  EXPECT_EQ(url, "mariadb://box:***@localhost/boxoffice?socket=/run/m.sock");
  ASSERT_TRUE(parse_mariadb_url("mysql://box@[::1]:3307/db", &config, &error));
  EXPECT_EQ(redacted_url(config), "mariadb://box@[::1]:3307/db");
}

// ---- Store -------------------------------------------------------------------------------

TEST_F(MariadbStoreTest, SchemaCreationIsIdempotent) {
  auto first = connect();
  ASSERT_NE(first, nullptr);
  auto second = connect();  // CREATE TABLE IF NOT EXISTS again, on existing tables
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ="
                  " DATABASE() AND table_name IN ('events', 'tickets', 'persist_progress',"
                  " 'dead_letters') AND engine = 'InnoDB'"),
            "4");
  EXPECT_TRUE(first->ping());
  std::vector<StreamProgress> none = progress(*second);
  EXPECT_TRUE(none.empty());
}

TEST_F(MariadbStoreTest, ConnectFailureIsReported) {
  MariadbConfig bad = config_;
  bad.password = "wrong";
  std::string error;
  EXPECT_EQ(MariadbStore::connect(bad, &error), nullptr);
  EXPECT_NE(error.find("Access denied"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong"), std::string::npos) << "password leaked: " << error;
}

TEST_F(MariadbStoreTest, LargeBatchCommitsWithProgressAndReadsBack) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  PersistBatch batch = make_sales(0, 50'000, 1);
  batch.events.push_back(make_event(1, 1));
  batch.streams.push_back({"control", 1});
  batch.events.back().origin = {1, 1};
  write(*store, batch);
  EXPECT_EQ(store->last_dead_letter_rows(), 0u);

  EXPECT_EQ(count("tickets"), 50'000u);
  EXPECT_EQ(count("dead_letters"), 0u);
  const std::vector<StreamProgress> stored = progress(*store);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].name, "control");
  EXPECT_EQ(stored[0].sequence, 1u);
  EXPECT_EQ(stored[1].name, "worker-0");
  EXPECT_EQ(stored[1].sequence, 50'000u);

  const std::vector<ReadTicket> tickets = read_tickets(*store, 1);
  ASSERT_EQ(tickets.size(), 50'000u);
  for (uint32_t seat : {0u, 1u, 12'345u, 49'999u}) {
    expect_same_ticket(tickets[seat].row, batch.tickets[seat]);
    EXPECT_EQ(tickets[seat].voided_at_ms, -1);
  }
  EXPECT_TRUE(read_tickets(*store, 2).empty());
  // BIGINT UNSIGNED round trip with the top bit set.
  EXPECT_EQ(query("SELECT idempotency_hash FROM tickets WHERE seat_index = 1"),
            std::to_string(batch.tickets[1].idempotency_hash));

  std::vector<EventRow> events;
  std::string error;
  ASSERT_TRUE(store->read_events(&events, &error)) << error;
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_id, "E1");
  EXPECT_EQ(events[0].name, "Event 1");
  EXPECT_EQ(events[0].state, "open");
  EXPECT_EQ(events[0].created_at_ms, 1'699'999'999'000);
  EXPECT_EQ(events[0].layout_json, batch.events[0].layout_json);
}

TEST_F(MariadbStoreTest, ReplayingABatchChangesNothing) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  PersistBatch batch = make_sales(0, 5'000, 1);
  batch.voids.push_back(make_void(batch.tickets[10], 5'001, 1'800'000'000'000));
  batch.streams[0].sequence = 5'001;
  write(*store, batch);
  const std::string checksum = tickets_checksum();
  EXPECT_EQ(checksum.substr(0, checksum.find(':')), "5000");

  write(*store, batch);  // the COMMIT reply was lost, say: the persister resends
  EXPECT_EQ(tickets_checksum(), checksum);
  const std::vector<StreamProgress> stored = progress(*store);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].sequence, 5'001u);

  // Replaying only the sales (as a restart from an older progress would) keeps the void.
  PersistBatch sales = make_sales(0, 5'000, 1);
  write(*store, sales);
  EXPECT_EQ(tickets_checksum(), checksum);
  EXPECT_EQ(query("SELECT voided_at_ms FROM tickets WHERE seat_index = 10"), "1800000000000");
  EXPECT_EQ(progress(*store)[0].sequence, 5'001u);
}

TEST_F(MariadbStoreTest, VoidBeforeSaleThenSale) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  const TicketRow sale = make_ticket(1, 42, 2, 7);
  PersistBatch voids;
  voids.voids.push_back(make_void(sale, 3, 1'750'000'000'000));
  voids.streams.push_back({"worker-1", 3});
  write(*store, voids);

  std::vector<ReadTicket> rows = read_tickets(*store, 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].row.ticket_id, sale.ticket_id);
  EXPECT_EQ(rows[0].row.seat_label, "");
  EXPECT_EQ(rows[0].row.price_cents, 0);
  EXPECT_EQ(rows[0].row.nonce, sale.nonce);  // from the ticket id
  EXPECT_EQ(rows[0].voided_at_ms, 1'750'000'000'000);
  EXPECT_EQ(query("SELECT IFNULL(sold_at_ms, 'null') FROM tickets"), "null");

  PersistBatch sales;
  sales.tickets.push_back(sale);
  sales.streams.push_back({"worker-0", 7});
  write(*store, sales);
  rows = read_tickets(*store, 1);
  ASSERT_EQ(rows.size(), 1u);
  expect_same_ticket(rows[0].row, sale);
  EXPECT_EQ(rows[0].voided_at_ms, 1'750'000'000'000);

  // Sale and void of another seat in one batch: the void lands after the sale.
  PersistBatch both;
  both.tickets.push_back(make_ticket(1, 43, 1, 8));
  both.voids.push_back(make_void(both.tickets[0], 4, 1'760'000'000'000));
  both.voids[0].origin.stream = 1;
  both.streams = {{"worker-0", 8}, {"worker-1", 4}};
  write(*store, both);
  rows = read_tickets(*store, 1);
  ASSERT_EQ(rows.size(), 2u);
  expect_same_ticket(rows[1].row, both.tickets[0]);
  EXPECT_EQ(rows[1].voided_at_ms, 1'760'000'000'000);
  EXPECT_EQ(count("persist_progress"), 2u);
}

TEST_F(MariadbStoreTest, RefusedRowsGoToDeadLettersAndTheRestCommits) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  PersistBatch batch = make_sales(0, 1'000, 100);
  batch.tickets[500].seat_label = std::string(201, 'x');  // VARCHAR(200), strict mode
  batch.tickets[700].buyer_ref = "\xff\xfe bad utf-8";    // not utf8mb4
  const TicketRow voided_sale = make_ticket(1, 2'000, 1, 0);
  batch.voids.push_back(make_void(voided_sale, 1'100, 5));
  batch.voids.back().event_id = std::string(65, 'e');  // VARCHAR(64)
  batch.events.push_back(make_event(1, 1));
  batch.events.push_back(make_event(2, 2));
  batch.events.back().name = std::string(257, 'n');           // VARCHAR(256)
  batch.event_states.push_back({{1, 3}, 1, "sold-out!", 0});  // VARCHAR(8)
  for (EventRow& e : batch.events) e.origin.stream = 1;
  batch.event_states[0].origin.stream = 1;
  batch.streams[0].sequence = 1'100;
  batch.streams.push_back({"control", 3});

  std::string error;
  bool transient = true;
  ASSERT_TRUE(store->write(batch, &error, &transient)) << error;
  EXPECT_EQ(store->last_dead_letter_rows(), 5u);
  EXPECT_EQ(count("tickets"), 998u);
  EXPECT_EQ(count("events"), 1u);
  EXPECT_EQ(query("SELECT state FROM events"), "open");
  EXPECT_EQ(count("dead_letters"), 5u);
  EXPECT_EQ(query("SELECT COUNT(*) FROM tickets WHERE seat_index IN (500, 700, 2000)"), "0");
  const std::vector<StreamProgress> stored = progress(*store);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[1].sequence, 1'100u);

  EXPECT_EQ(query("SELECT GROUP_CONCAT(kind ORDER BY kind) FROM dead_letters"),
            "event,event_state,ticket,ticket,void");
  EXPECT_EQ(query("SELECT CONCAT(stream, ':', sequence) FROM dead_letters WHERE kind = 'ticket'"
                  " ORDER BY sequence LIMIT 1"),
            "worker-0:600");
  EXPECT_NE(query("SELECT reason FROM dead_letters WHERE sequence = 600").find("seat_label"),
            std::string::npos);
  const nlohmann::json row =
      nlohmann::json::parse(query("SELECT row_json FROM dead_letters WHERE sequence = 600"));
  EXPECT_EQ(row["ticket_id"], batch.tickets[500].ticket_id);
  EXPECT_EQ(row["seat_label"].get<std::string>().size(), 201u);
  EXPECT_EQ(query("SELECT stream FROM dead_letters WHERE kind = 'event'"), "control");

  // Resending the batch records nothing twice.
  const std::string checksum = tickets_checksum();
  ASSERT_TRUE(store->write(batch, &error, &transient)) << error;
  EXPECT_EQ(tickets_checksum(), checksum);
  EXPECT_EQ(count("dead_letters"), 5u);
}

TEST_F(MariadbStoreTest, ProgressOnlyMovesForward) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  PersistBatch batch;
  batch.streams = {{"worker-0", 100}, {"worker-1", 7}};
  write(*store, batch);
  batch.streams = {{"worker-0", 50}, {"worker-1", 8}};  // an older batch resent, a newer one
  write(*store, batch);
  std::vector<StreamProgress> stored = progress(*store);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].sequence, 100u);
  EXPECT_EQ(stored[1].sequence, 8u);
  batch.streams = {{"worker-0", 150}, {"control", 1}};
  write(*store, batch);
  stored = progress(*store);
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].name, "control");
  EXPECT_EQ(stored[1].sequence, 150u);
  EXPECT_EQ(stored[2].sequence, 8u);
}

TEST_F(MariadbStoreTest, EventStateUpdatesTheEvent) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  PersistBatch batch;
  batch.events.push_back(make_event(3, 1));
  batch.event_states.push_back({{0, 2}, 3, "paused", 10});
  batch.streams = {{"control", 2}};
  write(*store, batch);
  EXPECT_EQ(query("SELECT state FROM events WHERE event_index = 3"), "paused");
  // Replaying the creation alone does not undo the state change.
  batch.event_states.clear();
  batch.streams = {{"control", 1}};
  write(*store, batch);
  EXPECT_EQ(query("SELECT state FROM events WHERE event_index = 3"), "paused");
  EXPECT_EQ(progress(*store)[0].sequence, 2u);
}

TEST_F(MariadbStoreTest, MissingTableIsTransientAndAReconnectRepairsIt) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  exec("DROP TABLE tickets");  // an operator's mistake, not the rows' fault
  const PersistBatch batch = make_sales(0, 100, 1);
  std::string error;
  bool transient = false;
  EXPECT_FALSE(store->write(batch, &error, &transient));
  EXPECT_TRUE(transient) << error;
  EXPECT_EQ(store->last_error_code(), 1146u) << error;  // ER_NO_SUCH_TABLE
  EXPECT_EQ(count("persist_progress"), 0u);             // rolled back with the rows
  EXPECT_EQ(count("dead_letters"), 0u);

  store = connect();  // recreates the table
  ASSERT_NE(store, nullptr);
  write(*store, batch);
  EXPECT_EQ(count("tickets"), 100u);
}

// A bulk request over max_allowed_packet makes the server drop the connection (which would look
// transient forever), so the store cuts its chunks to fit the server's limit.
TEST_F(MariadbStoreTest, ChunksFitASmallMaxAllowedPacket) {
  if (!MariadbServer::get().owned()) GTEST_SKIP() << "needs the private server's administrator";
  MYSQL* root = mysql_init(nullptr);
  const passwd* user = ::getpwuid(::geteuid());
  ASSERT_NE(user, nullptr);
  ASSERT_NE(mysql_real_connect(root, "localhost", user->pw_name, nullptr, nullptr, 0,
                               config_.unix_socket.c_str(), 0),
            nullptr)
      << mysql_error(root);
  ASSERT_EQ(mysql_query(root, "SET GLOBAL max_allowed_packet = 1048576"), 0) << mysql_error(root);
  auto store = connect();  // a new session sees the new global
  PersistBatch batch = make_sales(0, 10'000, 1);
  for (TicketRow& t : batch.tickets) t.seat_label.append(180, 'L');  // ~2.5 MB in all
  std::string error;
  bool transient = false;
  const bool written = store != nullptr && store->write(batch, &error, &transient);
  EXPECT_EQ(mysql_query(root, "SET GLOBAL max_allowed_packet = 16777216"), 0) << mysql_error(root);
  mysql_close(root);
  ASSERT_TRUE(written) << error;
  EXPECT_EQ(count("tickets"), 10'000u);
  EXPECT_EQ(count("dead_letters"), 0u);
}

TEST_F(MariadbStoreTest, KilledServerIsTransientAndResendCommitsOnce) {
  if (!MariadbServer::get().owned()) GTEST_SKIP() << "needs the private server to kill it";
  auto store = connect();
  ASSERT_NE(store, nullptr);
  write(*store, make_sales(0, 1'000, 1));

  std::string error;
  ASSERT_TRUE(MariadbServer::get().kill(&error)) << error;
  const PersistBatch second = make_sales(1'000, 20'000, 1'001);
  bool transient = false;
  EXPECT_FALSE(store->write(second, &error, &transient));
  EXPECT_TRUE(transient) << error;
  EXPECT_GE(store->last_error_code(), 2000u) << error;  // a Connector/C connection error
  EXPECT_FALSE(store->ping());
  EXPECT_EQ(MariadbStore::connect(config_, &error), nullptr);

  ASSERT_TRUE(MariadbServer::get().start(&error)) << error;
  std::unique_ptr<MariadbStore> again;
  for (int attempt = 0; attempt < 50 && again == nullptr; ++attempt) {
    again = MariadbStore::connect(config_, &error);
    if (again == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_NE(again, nullptr) << error;
  write(*again, second);
  write(*again, second);  // and once more, as after a lost COMMIT reply
  ASSERT_TRUE(open_admin(&error)) << error;
  EXPECT_EQ(count("tickets"), 21'000u);
  EXPECT_EQ(query("SELECT COUNT(DISTINCT ticket_id) FROM tickets"), "21000");
  const std::vector<StreamProgress> stored = progress(*again);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].sequence, 21'000u);
}

// Not a correctness test: prints the write rates the benchmark will compare.
TEST_F(MariadbStoreTest, Throughput) {
  auto store = connect();
  ASSERT_NE(store, nullptr);
  using Clock = std::chrono::steady_clock;
  constexpr uint32_t kBulkRows = 200'000;
  constexpr uint32_t kBatchRows = 10'000;
  std::vector<PersistBatch> batches;
  for (uint32_t first = 0; first < kBulkRows; first += kBatchRows) {
    batches.push_back(make_sales(first, kBatchRows, first + 1));
  }
  const auto bulk_start = Clock::now();
  for (const PersistBatch& batch : batches) write(*store, batch);
  const double bulk_s = std::chrono::duration<double>(Clock::now() - bulk_start).count();
  ASSERT_EQ(count("tickets"), kBulkRows);

  // The naive peer: one prepared single-row INSERT per ticket, autocommit (a commit each).
  constexpr uint32_t kSingleRows = 20'000;
  std::vector<TicketRow> singles;
  for (uint32_t i = 0; i < kSingleRows; ++i) singles.push_back(make_ticket(2, i, 1, i + 1));
  MYSQL_STMT* stmt = mysql_stmt_init(admin_);
  const std::string sql =
      "INSERT INTO tickets (ticket_id, event_index, event_id, seat_index, seat_label,"
      " generation, price_cents, sold_at_ms, buyer_ref, idempotency_hash)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  ASSERT_EQ(mysql_stmt_prepare(stmt, sql.c_str(), sql.size()), 0) << mysql_stmt_error(stmt);
  const auto single_start = Clock::now();
  for (TicketRow& t : singles) {
    unsigned long lengths[4] = {t.ticket_id.size(), t.event_id.size(), t.seat_label.size(),
                                t.buyer_ref.size()};
    MYSQL_BIND b[10] = {};
    auto text = [&](MYSQL_BIND& bind, std::string& s, unsigned long* length) {
      bind.buffer_type = MYSQL_TYPE_STRING;
      bind.buffer = s.data();
      bind.buffer_length = s.size();
      bind.length = length;
    };
    auto number = [](MYSQL_BIND& bind, void* value, enum_field_types type, bool is_unsigned) {
      bind.buffer_type = type;
      bind.buffer = value;
      bind.is_unsigned = is_unsigned;
    };
    text(b[0], t.ticket_id, &lengths[0]);
    number(b[1], &t.event_index, MYSQL_TYPE_LONG, true);
    text(b[2], t.event_id, &lengths[1]);
    number(b[3], &t.seat_index, MYSQL_TYPE_LONG, true);
    text(b[4], t.seat_label, &lengths[2]);
    number(b[5], &t.generation, MYSQL_TYPE_LONG, true);
    number(b[6], &t.price_cents, MYSQL_TYPE_LONGLONG, false);
    number(b[7], &t.sold_at_ms, MYSQL_TYPE_LONGLONG, false);
    text(b[8], t.buyer_ref, &lengths[3]);
    number(b[9], &t.idempotency_hash, MYSQL_TYPE_LONGLONG, true);
    ASSERT_EQ(mysql_stmt_bind_param(stmt, b), 0) << mysql_stmt_error(stmt);
    ASSERT_EQ(mysql_stmt_execute(stmt), 0) << mysql_stmt_error(stmt);
  }
  const double single_s = std::chrono::duration<double>(Clock::now() - single_start).count();
  mysql_stmt_close(stmt);
  ASSERT_EQ(count("tickets"), kBulkRows + kSingleRows);

  std::printf(
      "mariadb_store throughput: array-bound upsert %u rows in batches of %u (one COMMIT each): "
      "%.0f rows/s; single-row autocommit INSERT %u rows: %.0f rows/s; ratio %.1fx\n",
      kBulkRows, kBatchRows, kBulkRows / bulk_s, kSingleRows, kSingleRows / single_s,
      (kBulkRows / bulk_s) / (kSingleRows / single_s));
}

}  // namespace
}  // namespace boxoffice::persist
