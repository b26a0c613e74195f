// persist_bench: the MariaDB side of bench/persist.sh. Watches the persister's progress, and
// inserts the tickets it wrote again the way an application without it would: one row per
// autocommit INSERT, or 1000-row multi-row INSERT statements, each its own transaction.
//
//   persist_bench watch  --url URL --target N [--timeout S] [--json FILE]
//     Polls SUM(sequence) over the worker streams of persist_progress (every record of a worker
//     journal is one sale, so this is the number of sale records the persister has committed)
//     every --poll-ms until it reaches N. Reports the wall-clock time (ms since the epoch) of the
//     first poll that saw it, and a sample about every 250 ms. A missing table counts as 0 (the
//     persister creates it when it first connects).
//
//   persist_bench insert --url URL --mode single|multirow --rows N [--rows-per-statement 1000]
//                        [--time-limit S] [--json FILE]
//     Reads the first N rows of `tickets` (primary-key order; not timed), recreates an empty
//     table with the same definition (CREATE TABLE ... LIKE tickets) and inserts them with
//     autocommit on, as text statements: the persister's own upsert (kTicketSql in
//     persist/mariadb_store.cc; ON DUPLICATE KEY UPDATE of the sale columns) with one row per
//     statement, or with --rows-per-statement rows per statement. Stops early after
//     --time-limit seconds (one-row commits are slow). Reports rows, seconds, rows/s and its own
//     CPU use while inserting (cores).
//
// One connection, over the same unix socket as the persister; output is one line on stdout and,
// with --json, a JSON object. Exit status 1 on any MariaDB error or when watch times out.
#include <mysql.h>
#include <mysqld_error.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "persist/mariadb_store.h"

namespace {

using boxoffice::persist::MariadbConfig;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double steady_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The ticket columns in the persister's statement order, and its ON DUPLICATE KEY clause
// (kept the same as kTicketSql in persist/mariadb_store.cc).
constexpr char kColumns[] =
    "ticket_id, event_index, event_id, seat_index, seat_label, generation, price_cents,"
    " sold_at_ms, buyer_ref, idempotency_hash";
constexpr char kOnDuplicate[] =
    " ON DUPLICATE KEY UPDATE ticket_id = VALUES(ticket_id), event_id = VALUES(event_id),"
    " seat_label = VALUES(seat_label), price_cents = VALUES(price_cents),"
    " sold_at_ms = VALUES(sold_at_ms), buyer_ref = VALUES(buyer_ref),"
    " idempotency_hash = VALUES(idempotency_hash)";
constexpr int kColumnCount = 10;
constexpr bool kQuoted[kColumnCount] = {true,  false, true,  false, true,
                                        false, false, false, true,  false};

class Connection {
 public:
  ~Connection() {
    if (mysql_ != nullptr) mysql_close(mysql_);
  }
  bool open(const MariadbConfig& c) {
    mysql_ = mysql_init(nullptr);
    if (mysql_ == nullptr) return fail("mysql_init");
    mysql_optionsv(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const bool socket = !c.unix_socket.empty();
    if (mysql_real_connect(mysql_, socket ? "localhost" : c.host.c_str(), c.user.c_str(),
                           c.password.c_str(), c.database.c_str(), socket ? 0 : c.port,
                           socket ? c.unix_socket.c_str() : nullptr, 0) == nullptr) {
      return fail("connect");
    }
    // Strict, like the persister's session (persist/mariadb_store.cc, kSessionSql).
    return query(
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
        "NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'");
  }
  bool query(const std::string& sql) {
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return fail(sql.substr(0, 80));
    return true;
  }
  unsigned error_code() const { return mysql_errno(mysql_); }
  MYSQL* handle() { return mysql_; }
  bool fail(const std::string& what) {
    std::fprintf(stderr, "persist_bench: %s: %s\n", what.c_str(),
                 mysql_ != nullptr ? mysql_error(mysql_) : "out of memory");
    return false;
  }

 private:
  MYSQL* mysql_ = nullptr;
};

// ---- watch --------------------------------------------------------------------------------

// The sale records persisted so far; -1 on an error other than a missing table.
int64_t persisted_sales(Connection& db) {
  const char sql[] =
      "SELECT COALESCE(SUM(sequence), 0) FROM persist_progress WHERE stream <> 'control'";
  if (mysql_real_query(db.handle(), sql, sizeof sql - 1) != 0) {
    if (db.error_code() == ER_NO_SUCH_TABLE) return 0;
    db.fail("poll");
    return -1;
  }
  MYSQL_RES* result = mysql_store_result(db.handle());
  if (result == nullptr) return -1;
  MYSQL_ROW row = mysql_fetch_row(result);
  const int64_t value = row != nullptr && row[0] != nullptr ? std::stoll(row[0]) : 0;
  mysql_free_result(result);
  return value;
}

int watch(const MariadbConfig& config, int64_t target, double timeout_s, int poll_ms,
          const std::string& json_path) {
  Connection db;
  if (!db.open(config)) return 1;
  // autocommit is on: every poll sees the latest commit.
  const double deadline = steady_s() + timeout_s;
  std::vector<std::pair<int64_t, int64_t>> samples;
  int64_t last_sample_ms = 0;
  int64_t done_ms = 0;
  int64_t value = 0;
  while (steady_s() < deadline) {
    value = persisted_sales(db);
    if (value < 0) return 1;
    const int64_t now = wall_ms();
    if (now - last_sample_ms >= 250 || value >= target) {
      samples.emplace_back(now, value);
      last_sample_ms = now;
    }
    if (value >= target) {
      done_ms = now;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  std::printf("persist_bench watch: %lld of %lld sale records persisted%s\n",
              static_cast<long long>(value), static_cast<long long>(target),
              done_ms > 0 ? "" : " (timed out)");
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr) return 1;
    std::fprintf(f,
                 "{\"target\": %lld, \"persisted\": %lld, \"done_wall_ms\": %lld, \"samples\": [",
                 static_cast<long long>(target), static_cast<long long>(value),
                 static_cast<long long>(done_ms));
    for (size_t i = 0; i < samples.size(); ++i) {
      std::fprintf(f, "%s[%lld, %lld]", i == 0 ? "" : ", ",
                   static_cast<long long>(samples[i].first),
                   static_cast<long long>(samples[i].second));
    }
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  return done_ms > 0 ? 0 : 1;
}

// ---- insert -------------------------------------------------------------------------------

// Each row as its ten SQL literals, already escaped and quoted, joined by commas.
bool read_rows(Connection& db, int64_t rows_max, std::vector<std::string>* rows) {
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM tickets ORDER BY event_index, seat_index, generation LIMIT " +
                          std::to_string(rows_max);
  if (!db.query(sql)) return false;
  MYSQL_RES* result = mysql_use_result(db.handle());
  if (result == nullptr) return db.fail("read tickets");
  std::string escaped;
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    const unsigned long* lengths = mysql_fetch_lengths(result);
    std::string literal = "(";
    for (int c = 0; c < kColumnCount; ++c) {
      if (c > 0) literal += ',';
      if (row[c] == nullptr) {
        literal += "NULL";
      } else if (kQuoted[c]) {
        escaped.resize(2 * lengths[c] + 1);
        escaped.resize(mysql_real_escape_string(db.handle(), escaped.data(), row[c], lengths[c]));
        literal += '\'';
        literal += escaped;
        literal += '\'';
      } else {
        literal.append(row[c], lengths[c]);
      }
    }
    literal += ')';
    rows->push_back(std::move(literal));
  }
  const bool ok = mysql_errno(db.handle()) == 0;
  mysql_free_result(result);
  return ok || db.fail("read tickets");
}

int insert(const MariadbConfig& config, const std::string& mode, int64_t rows_max,
           int rows_per_statement, double time_limit_s, const std::string& json_path) {
  Connection db;
  if (!db.open(config)) return 1;
  std::vector<std::string> rows;
  if (!read_rows(db, rows_max, &rows)) return 1;
  if (rows.empty()) {
    std::fprintf(stderr, "persist_bench: the tickets table is empty\n");
    return 1;
  }
  const std::string table = "bench_tickets_" + mode;
  if (!db.query("DROP TABLE IF EXISTS " + table) ||
      !db.query("CREATE TABLE " + table + " LIKE tickets")) {
    return 1;
  }
  if (mysql_autocommit(db.handle(), 1) != 0) return db.fail("autocommit on") ? 0 : 1;
  const size_t per_statement = mode == "single" ? 1 : static_cast<size_t>(rows_per_statement);
  const std::string head = "INSERT INTO " + table + " (" + kColumns + ") VALUES ";
  std::string sql;
  size_t done = 0;
  const double started = steady_s();
  const double cpu_started = cpu_s();
  double elapsed = 0;
  while (done < rows.size()) {
    const size_t end = std::min(rows.size(), done + per_statement);
    sql = head;
    for (size_t i = done; i < end; ++i) {
      if (i > done) sql += ',';
      sql += rows[i];
    }
    sql += kOnDuplicate;
    if (!db.query(sql)) return 1;  // autocommit: one transaction per statement
    done = end;
    elapsed = steady_s() - started;
    if (time_limit_s > 0 && elapsed >= time_limit_s) break;
  }
  const double rows_per_s = static_cast<double>(done) / elapsed;
  const double client_cpu_cores = (cpu_s() - cpu_started) / elapsed;
  std::printf("persist_bench insert %s: %zu rows, %zu per statement, %.2f s: %.0f rows/s\n",
              mode.c_str(), done, per_statement, elapsed, rows_per_s);
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr) return 1;
    std::fprintf(f,
                 "{\"mode\": \"%s\", \"rows\": %zu, \"rows_per_statement\": %zu, "
                 "\"seconds\": %.3f, \"rows_per_s\": %.1f, \"client_cpu_cores\": %.3f}\n",
                 mode.c_str(), done, per_statement, elapsed, rows_per_s, client_cpu_cores);
    std::fclose(f);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"persist_bench: persister progress, and one-row vs multi-row INSERT rates"};
  app.require_subcommand(1);
  std::string url;
  std::string json_path;
  int64_t target = 0;
  double timeout_s = 120;
  int poll_ms = 10;
  std::string mode;
  int64_t rows = 0;
  int rows_per_statement = 1000;
  double time_limit_s = 0;
  CLI::App* watch_command = app.add_subcommand("watch", "wait until N sale records are persisted");
  watch_command->add_option("--url", url, "mariadb://... as boxofficed --mariadb")->required();
  watch_command->add_option("--target", target, "sale records")->required();
  watch_command->add_option("--timeout", timeout_s, "give up after S seconds")
      ->capture_default_str();
  watch_command->add_option("--poll-ms", poll_ms, "poll interval")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  watch_command->add_option("--json", json_path, "write the result here");
  CLI::App* insert_command = app.add_subcommand("insert", "insert tickets without the persister");
  insert_command->add_option("--url", url, "mariadb://... as boxofficed --mariadb")->required();
  insert_command->add_option("--mode", mode, "one row per statement, or several")
      ->check(CLI::IsMember({"single", "multirow"}))
      ->required();
  insert_command->add_option("--rows", rows, "rows to read from tickets and insert")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->required();
  insert_command->add_option("--rows-per-statement", rows_per_statement, "multirow only")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  insert_command->add_option("--time-limit", time_limit_s, "stop after S seconds (0: never)")
      ->capture_default_str();
  insert_command->add_option("--json", json_path, "write the result here");
  CLI11_PARSE(app, argc, argv);

  MariadbConfig config;
  std::string error;
  if (!boxoffice::persist::parse_mariadb_url(url, &config, &error)) {
    std::fprintf(stderr, "persist_bench: --url: %s\n", error.c_str());
    return 2;
  }
  if (mysql_library_init(0, nullptr, nullptr) != 0) return 1;
  const int status = watch_command->parsed()
                         ? watch(config, target, timeout_s, poll_ms, json_path)
                         : insert(config, mode, rows, rows_per_statement, time_limit_s, json_path);
  mysql_library_end();
  return status;
}
