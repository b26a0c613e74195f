// MariadbStore: one connection to MariaDB that applies a PersistBatch (persist/persist_batch.h)
// in one transaction, tickets and voids through array-bound prepared statements, together with
// the journal progress of every stream, so a batch is either wholly committed or not at all
// (DESIGN.md section 7). It also reads back what it wrote, for rebuilding after a reboot.
// The schema (created on connect when missing) is documented at the top of mariadb_store.cc.
//
// Every write is an idempotent upsert: resending a batch that was committed (the reply to
// COMMIT was lost, the process crashed before noting it) changes nothing. write() sorts errors
// into two kinds:
//  - transient: the connection, the server or a lock failed, or the setup did (a missing table,
//    privileges, read-only, disk full); nothing is wrong with the rows. The transaction is
//    rolled back; the caller drops this store, reconnects with backoff (connect() recreates
//    missing tables) and resends the same batch.
//  - permanent: MariaDB refused some row (a label too long, bad UTF-8, a conflicting ticket id).
//    The batch is redone row by row in one transaction; each refused row goes to the
//    dead_letters table with the reason, the rest commits with the progress.
//
// Thread safety: a MariadbStore belongs to one thread (a Connector/C handle is not shared).
// Several stores on several threads are fine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persist/persist_batch.h"

struct st_mysql;
struct st_mysql_stmt;

namespace boxoffice::persist {

struct MariadbConfig {
  std::string host = "localhost";
  uint16_t port = 3306;
  std::string user;
  std::string password;
  std::string database = "boxoffice";
  std::string unix_socket;  // when set, used instead of host and port
  uint32_t connect_timeout_s = 5;
  uint32_t read_timeout_s = 30;
  uint32_t write_timeout_s = 30;
};

// Parses `mariadb://user[:password]@host[:port]/database[?socket=/path]` (or `mysql://`).
// User, password and the socket path are percent-decoded; an IPv6 host goes in brackets.
// False with *error naming what is wrong; `*config` is only written on success.
bool parse_mariadb_url(std::string_view url, MariadbConfig* config, std::string* error);
// The URL of `config` with the password replaced by `***`, for logs.
std::string redacted_url(const MariadbConfig& config);

class MariadbStore {
 public:
  // Rows per array-bound execute (one round trip each). A chunk is cut earlier when its request
  // would pass half the server's max_allowed_packet.
  static constexpr uint32_t kChunkRowsMax = 10000;

  // Connects (no auto-reconnect, autocommit off, utf8mb4, strict SQL mode), creates the
  // schema when missing and prepares the statements. Null and *error on failure.
  static std::unique_ptr<MariadbStore> connect(const MariadbConfig& config, std::string* error);
  ~MariadbStore();
  MariadbStore(const MariadbStore&) = delete;
  MariadbStore& operator=(const MariadbStore&) = delete;

  // Applies `batch` in one transaction (see the top of this file). True when committed, dead
  // letters included. False with *error and *transient: true when the caller should reconnect
  // and resend; false when the batch cannot be written at all (a progress row or dead letter
  // was refused), which needs an operator.
  bool write(const PersistBatch& batch, std::string* error, bool* transient);

  // Every row of persist_progress.
  bool load_progress(std::vector<StreamProgress>* out, std::string* error);
  // Every event, by event_index (origin left zero).
  bool read_events(std::vector<EventRow>* out, std::string* error);
  // Streams the tickets of one event in (seat_index, generation) order. `voided_at_ms` is -1
  // for a valid ticket. A void that arrived without its sale gives a row with price_cents and
  // sold_at_ms 0 and an empty seat_label. `fn` must not call this store.
  bool read_tickets(uint32_t event_index,
                    const std::function<void(const TicketRow& row, int64_t voided_at_ms)>& fn,
                    std::string* error);

  bool ping();
  // The MariaDB or Connector/C error number of the last failure (0 after a success).
  unsigned last_error_code() const { return last_error_code_; }
  // How many rows the last write() that returned true put in dead_letters.
  size_t last_dead_letter_rows() const { return dead_letter_rows_; }

 private:
  struct Statements;
  struct Scratch;
  enum class Failure { kNone, kTransient, kPermanent };

  MariadbStore();
  bool run_query(const char* sql, std::string* error);
  bool select(const char* sql,
              const std::function<bool(char** row, const unsigned long* lengths)>& fn,
              std::string* error);
  Failure fail(const char* what, unsigned code, const char* message, std::string* error);
  Failure fail_connection(const char* what, std::string* error);
  Failure fail_statement(st_mysql_stmt* stmt, const char* what, std::string* error);
  void rollback();
  Failure write_tickets(const PersistBatch& batch, size_t begin, size_t count, std::string* error);
  Failure write_voids(const PersistBatch& batch, size_t begin, size_t count, std::string* error);
  Failure write_rows(const PersistBatch& batch, bool dead_letter, std::string* error);
  Failure write_progress(const PersistBatch& batch, std::string* error);
  Failure commit(std::string* error);
  Failure insert_dead_letter(const PersistBatch& batch, const RecordOrigin& origin,
                             const char* kind, const std::string& reason,
                             const std::string& row_json, std::string* error);

  st_mysql* mysql_ = nullptr;
  std::unique_ptr<Statements> statements_;
  std::unique_ptr<Scratch> scratch_;  // column arrays reused by every chunk
  size_t chunk_bytes_max_ = 0;        // set by connect() from @@max_allowed_packet
  unsigned last_error_code_ = 0;
  size_t dead_letter_rows_ = 0;
  std::string last_error_message_;  // MariaDB's text, the reason of a dead letter
};

}  // namespace boxoffice::persist
