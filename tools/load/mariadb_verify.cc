#include "tools/load/mariadb_verify.h"

#include <mysql.h>

#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>

#include "persist/mariadb_store.h"

namespace boxoffice::load {
namespace {

struct MysqlClose {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
struct ResultFree {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using Connection = std::unique_ptr<MYSQL, MysqlClose>;
using Result = std::unique_ptr<MYSQL_RES, ResultFree>;

std::string quoted(MYSQL* m, const std::string& text) {
  std::string out(text.size() * 2 + 1, '\0');
  out.resize(mysql_real_escape_string(m, out.data(), text.data(), text.size()));
  return "'" + out + "'";
}

const char kValidTicketsOfEvent[] = " FROM tickets WHERE voided_at_ms IS NULL AND sold_at_ms IS "
                                   "NOT NULL AND event_id = ";

// How many valid (sold, not voided) ticket rows the event has; -1 and *error on failure.
int64_t valid_ticket_count(MYSQL* m, const std::string& event, std::string* error) {
  const std::string sql = std::string("SELECT COUNT(*)") + kValidTicketsOfEvent + quoted(m, event);
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    *error = mysql_error(m);
    return -1;
  }
  Result result(mysql_store_result(m));
  MYSQL_ROW row = result ? mysql_fetch_row(result.get()) : nullptr;
  if (row == nullptr || row[0] == nullptr) {
    *error = mysql_error(m);
    return -1;
  }
  return std::strtoll(row[0], nullptr, 10);
}

// The event's valid ticket rows: ticket_id -> seat_index.
bool valid_tickets(MYSQL* m, const std::string& event,
                   std::unordered_map<std::string, uint32_t>* out, std::string* error) {
  const std::string sql =
      std::string("SELECT ticket_id, seat_index") + kValidTicketsOfEvent + quoted(m, event);
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    *error = mysql_error(m);
    return false;
  }
  Result result(mysql_use_result(m));
  if (!result) {
    *error = mysql_error(m);
    return false;
  }
  out->clear();
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    (*out)[row[0]] = static_cast<uint32_t>(std::strtoul(row[1], nullptr, 10));
  }
  return true;
}

}  // namespace

void verify_mariadb(const std::string& url, const VerifyInput& input, double wait_s,
                    VerifyResult* r) {
  r->mariadb_checked = true;
  auto fail = [&](const std::string& why) {
    ++r->mariadb_mismatches;
    ++r->mismatches;
    note_mismatch(r, "MariaDB: " + why);
  };
  persist::MariadbConfig config;
  std::string error;
  if (!persist::parse_mariadb_url(url, &config, &error)) return fail(error);
  Connection m(mysql_init(nullptr));
  const bool use_socket = !config.unix_socket.empty();
  if (!m || mysql_real_connect(m.get(), use_socket ? "localhost" : config.host.c_str(),
                               config.user.c_str(), config.password.c_str(),
                               config.database.c_str(), use_socket ? 0 : config.port,
                               use_socket ? config.unix_socket.c_str() : nullptr, 0) == nullptr) {
    return fail("connect to " + persist::redacted_url(config) + ": " +
                (m ? mysql_error(m.get()) : "out of memory"));
  }

  // Wait until every ticket the clients got has arrived (the persister drains asynchronously):
  // count the rows every 100 ms, and read them once there are enough (or time is up).
  std::unordered_map<std::string, uint32_t> rows;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000));
  for (;;) {
    const bool last = std::chrono::steady_clock::now() >= deadline;
    const int64_t count = valid_ticket_count(m.get(), input.event, &error);
    if (count < 0) return fail(error);
    if (last || count >= static_cast<int64_t>(input.tickets.size())) {
      if (!valid_tickets(m.get(), input.event, &rows, &error)) return fail(error);
      size_t found = 0;
      for (const TicketSeen& t : input.tickets) found += rows.count(ticket_id_text(t));
      if (last || found == input.tickets.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  r->mariadb_rows = rows.size();
  for (const TicketSeen& t : input.tickets) {
    const std::string id = ticket_id_text(t);
    const auto row = rows.find(id);
    if (row == rows.end()) {
      ++r->mariadb_missing;
      note_mismatch(r, "MariaDB has no valid row for ticket " + id + " (seat " +
                           std::to_string(t.seat_index) + ")");
    } else if (row->second != t.seat_index) {
      ++r->mariadb_wrong_seat;
      note_mismatch(r, "MariaDB has ticket " + id + " on seat " + std::to_string(row->second) +
                           ", the client saw seat " + std::to_string(t.seat_index));
    }
  }
  if (input.exclusive && rows.size() > input.tickets.size() - r->mariadb_missing) {
    r->mariadb_extra = rows.size() - (input.tickets.size() - r->mariadb_missing);
    note_mismatch(r, "MariaDB has " + std::to_string(r->mariadb_extra) +
                         " valid tickets for the event that no client got");
  }
  r->mariadb_mismatches += r->mariadb_missing + r->mariadb_wrong_seat + r->mariadb_extra;
  r->mismatches += r->mariadb_missing + r->mariadb_wrong_seat + r->mariadb_extra;
}

}  // namespace boxoffice::load
