// MariadbStore (persist/mariadb_store.h).
//
// Schema. connect() runs these statements (kSchema below, kept identical) on every connection;
// IF NOT EXISTS makes that a no-op once the tables are there. InnoDB, utf8mb4.
//
//   CREATE TABLE IF NOT EXISTS events (
//     event_index   INT UNSIGNED NOT NULL PRIMARY KEY,
//     event_id      VARCHAR(64) NOT NULL UNIQUE,
//     venue_id      VARCHAR(64) NOT NULL,
//     name          VARCHAR(256) NOT NULL,
//     state         VARCHAR(8) NOT NULL,        -- open | paused | closed
//     created_at_ms BIGINT NOT NULL,
//     layout        LONGTEXT NOT NULL           -- the event document's layout, JSON
//   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
//
//   CREATE TABLE IF NOT EXISTS tickets (
//     ticket_id        CHAR(36) NOT NULL,
//     event_index      INT UNSIGNED NOT NULL,
//     event_id         VARCHAR(64) NOT NULL,
//     seat_index       INT UNSIGNED NOT NULL,
//     seat_label       VARCHAR(200) NOT NULL,
//     generation       INT UNSIGNED NOT NULL,    -- 1 for the seat's first sale
//     price_cents      BIGINT NULL,              -- NULL until the sale arrives (void first)
//     sold_at_ms       BIGINT NULL,              -- idem
//     buyer_ref        VARCHAR(56) NOT NULL DEFAULT '',
//     idempotency_hash BIGINT UNSIGNED NOT NULL DEFAULT 0,
//     voided_at_ms     BIGINT NULL,              -- NULL: the ticket is valid
//     PRIMARY KEY (event_index, seat_index, generation),
//     UNIQUE KEY ticket_id (ticket_id)          -- no index on event_id: the primary key
//   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;   -- leads with event_index (events maps ids)
//
//   CREATE TABLE IF NOT EXISTS persist_progress (
//     stream   VARCHAR(64) NOT NULL PRIMARY KEY,  -- journal stream: control, worker-0, ...
//     sequence BIGINT UNSIGNED NOT NULL           -- every record <= sequence is applied
//   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
//
//   CREATE TABLE IF NOT EXISTS dead_letters (
//     id        BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
//     stream    VARCHAR(64),
//     sequence  BIGINT UNSIGNED,
//     kind      VARCHAR(16),                      -- event | event_state | ticket | void
//     reason    TEXT,                             -- MariaDB's error message
//     row_json  LONGTEXT,                         -- the refused row as JSON
//     failed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
//     KEY stream_sequence (stream, sequence)
//   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
//
// How rows land, all in one transaction per batch, in this order:
//  - event:       INSERT ... ON DUPLICATE KEY UPDATE venue_id, name, created_at_ms, layout
//                 (not state: a replayed creation must not undo a later state change);
//  - event state: UPDATE events SET state (an event state has no table of its own);
//  - ticket:      INSERT ... ON DUPLICATE KEY UPDATE every sale column, never voided_at_ms;
//  - void:        INSERT (ticket_id, event_index, event_id, seat_index, '', generation,
//                 voided_at_ms) ON DUPLICATE KEY UPDATE voided_at_ms. Voids and sales come
//                 from different journal streams, so a void may land first; the sale upsert
//                 then fills the rest of the row;
//  - progress:    INSERT ... ON DUPLICATE KEY UPDATE sequence = GREATEST(sequence, new);
//  - dead letter: inserted unless the same (stream, sequence, kind, row_json) is there, so a
//                 resent batch does not record its refused rows twice.
// The primary key (event_index, seat_index, generation) is the duplicate guard: resending a
// committed batch rewrites every row with the values it already has.
//
// Connector/C array binding (tickets and voids): column-wise, one C array per parameter, sized
// kChunkRowsMax once at connect. For a fixed-size type `buffer` is the array of values; for a
// string it is an array of `char*`, one per row, with `length` an array of unsigned long. NULL
// would need the `u.indicator` char array (is_null is ignored in bulk mode); no column here
// needs it, the void statement leaves the sale columns out instead. One mysql_stmt_execute per
// chunk sends COM_STMT_BULK_EXECUTE: one round trip for up to kChunkRowsMax rows.
#include "persist/mariadb_store.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "shm/check.h"

namespace boxoffice::persist {
namespace {

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS events ("
    " event_index INT UNSIGNED NOT NULL PRIMARY KEY,"
    " event_id VARCHAR(64) NOT NULL UNIQUE,"
    " venue_id VARCHAR(64) NOT NULL,"
    " name VARCHAR(256) NOT NULL,"
    " state VARCHAR(8) NOT NULL,"
    " created_at_ms BIGINT NOT NULL,"
    " layout LONGTEXT NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS tickets ("
    " ticket_id CHAR(36) NOT NULL,"
    " event_index INT UNSIGNED NOT NULL,"
    " event_id VARCHAR(64) NOT NULL,"
    " seat_index INT UNSIGNED NOT NULL,"
    " seat_label VARCHAR(200) NOT NULL,"
    " generation INT UNSIGNED NOT NULL,"
    " price_cents BIGINT NULL,"
    " sold_at_ms BIGINT NULL,"
    " buyer_ref VARCHAR(56) NOT NULL DEFAULT '',"
    " idempotency_hash BIGINT UNSIGNED NOT NULL DEFAULT 0,"
    " voided_at_ms BIGINT NULL,"
    " PRIMARY KEY (event_index, seat_index, generation),"
    " UNIQUE KEY ticket_id (ticket_id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS persist_progress ("
    " stream VARCHAR(64) NOT NULL PRIMARY KEY,"
    " sequence BIGINT UNSIGNED NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS dead_letters ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " stream VARCHAR(64),"
    " sequence BIGINT UNSIGNED,"
    " kind VARCHAR(16),"
    " reason TEXT,"
    " row_json LONGTEXT,"
    " failed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
    " KEY stream_sequence (stream, sequence)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
};

constexpr char kEventSql[] =
    "INSERT INTO events (event_index, event_id, venue_id, name, state, created_at_ms, layout)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE venue_id = VALUES(venue_id),"
    " name = VALUES(name), created_at_ms = VALUES(created_at_ms), layout = VALUES(layout)";
constexpr char kEventStateSql[] = "UPDATE events SET state = ? WHERE event_index = ?";
constexpr char kTicketSql[] =
    "INSERT INTO tickets (ticket_id, event_index, event_id, seat_index, seat_label, generation,"
    " price_cents, sold_at_ms, buyer_ref, idempotency_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE"
    " ticket_id = VALUES(ticket_id), event_id = VALUES(event_id),"
    " seat_label = VALUES(seat_label), price_cents = VALUES(price_cents),"
    " sold_at_ms = VALUES(sold_at_ms), buyer_ref = VALUES(buyer_ref),"
    " idempotency_hash = VALUES(idempotency_hash)";
constexpr char kVoidSql[] =
    "INSERT INTO tickets (ticket_id, event_index, event_id, seat_index, seat_label, generation,"
    " voided_at_ms) VALUES (?, ?, ?, ?, '', ?, ?)"
    " ON DUPLICATE KEY UPDATE voided_at_ms = VALUES(voided_at_ms)";
constexpr char kProgressSql[] =
    "INSERT INTO persist_progress (stream, sequence) VALUES (?, ?)"
    " ON DUPLICATE KEY UPDATE sequence = GREATEST(sequence, VALUES(sequence))";
constexpr char kDeadLetterSql[] =
    "INSERT INTO dead_letters (stream, sequence, kind, reason, row_json)"
    " SELECT ?, ?, ?, ?, ? FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM dead_letters"
    " WHERE stream = ? AND sequence = ? AND kind = ? AND row_json = ?)";

// Strict for every table, so a value that does not fit is an error (a dead letter), never a
// silent truncation, whatever the server's default sql_mode.
constexpr char kSessionSql[] =
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',"
    " time_zone = '+00:00'";

// A chunk is also cut when its request would pass half the server's max_allowed_packet (read at
// connect) or this, whichever is smaller: a request over the limit makes the server drop the
// connection, which would look transient and repeat forever. A row's fixed part (integers,
// indicators, length prefixes) is counted as kChunkRowOverheadBytes.
constexpr size_t kChunkBytesMax = 8u << 20;
constexpr size_t kChunkRowOverheadBytes = 64;

// Server errors that say nothing about the rows: the connection, the server, a lock or the
// operator's setup (missing table, privileges, read-only, disk full) failed. Resending the same
// batch later may succeed; dead-lettering its rows would throw good tickets away.
constexpr unsigned kTransientServerErrors[] = {
    ER_CANT_LOCK,
    ER_DISK_FULL,
    ER_GET_ERRNO,
    ER_OUTOFMEMORY,
    ER_CON_COUNT_ERROR,
    ER_OUT_OF_RESOURCES,
    ER_DBACCESS_DENIED_ERROR,
    ER_ACCESS_DENIED_ERROR,
    ER_UNKNOWN_COM_ERROR,  // Galera: "WSREP has not yet prepared node for application use"
    ER_BAD_DB_ERROR,
    ER_SERVER_SHUTDOWN,
    ER_BAD_FIELD_ERROR,
    ER_NORMAL_SHUTDOWN,
    ER_SHUTDOWN_COMPLETE,
    ER_FORCING_CLOSE,
    ER_RECORD_FILE_FULL,
    ER_TABLEACCESS_DENIED_ERROR,
    ER_COLUMNACCESS_DENIED_ERROR,
    ER_NO_SUCH_TABLE,
    ER_ABORTING_CONNECTION,
    ER_NET_READ_ERROR,
    ER_NET_READ_INTERRUPTED,
    ER_NET_ERROR_ON_WRITE,
    ER_NET_WRITE_INTERRUPTED,
    ER_ERROR_DURING_COMMIT,
    ER_ERROR_DURING_ROLLBACK,
    ER_NEW_ABORTING_CONNECTION,
    ER_LOCK_OR_ACTIVE_TRANSACTION,
    ER_TOO_MANY_USER_CONNECTIONS,
    ER_LOCK_WAIT_TIMEOUT,
    ER_LOCK_TABLE_FULL,
    ER_LOCK_DEADLOCK,
    ER_SPECIFIC_ACCESS_DENIED_ERROR,
    ER_UNKNOWN_STMT_HANDLER,
    ER_OPTION_PREVENTS_STATEMENT,  // --read-only
    ER_QUERY_INTERRUPTED,
    ER_TABLE_DEF_CHANGED,
    ER_XA_RBTIMEOUT,
    ER_XA_RBDEADLOCK,
    ER_NEED_REPREPARE,
    ER_TOO_MANY_CONCURRENT_TRXS,
    ER_LOCK_ABORTED,
    ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
    ER_READ_ONLY_MODE,
    ER_CONNECTION_KILLED,
    ER_STATEMENT_TIMEOUT,
};

// Errors raised by Connector/C itself (2000-2999, 5000-...) are about the connection or the
// client, never about a row: transient too. Anything else the server said is about a row.
bool is_transient(unsigned code) {
  if (code == 0) return true;  // a failure without an error number: do not blame the rows
  if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) return true;
  if (code >= CR_EVENT_CREATE_FAILED && code <= CR_MARIADB_LAST_ERROR) return true;
  return std::find(std::begin(kTransientServerErrors), std::end(kTransientServerErrors), code) !=
         std::end(kTransientServerErrors);
}

std::once_flag library_once;
int library_status = 0;

// ---- URL -----------------------------------------------------------------------------------

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, const char* what, std::string* out, std::string* error) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    const int high = i + 2 < in.size() ? hex_digit(in[i + 1]) : -1;
    const int low = i + 2 < in.size() ? hex_digit(in[i + 2]) : -1;
    if (high < 0 || low < 0) {
      *error = std::string("bad percent escape in the ") + what + " (want %XX, two hex digits)";
      return false;
    }
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c =
        text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (c != prefix[i]) return false;
  }
  return true;
}

bool parse_host_port(std::string_view text, MariadbConfig* config, std::string* error) {
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = "unterminated [ in the host";
      return false;
    }
    config->host = std::string(text.substr(1, close - 1));
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *error = "unexpected text after ] in the host";
        return false;
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      *error = "an IPv6 host must be written in brackets: [::1]:3306";
      return false;
    }
    config->host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (config->host.empty()) {
    *error = "missing host";
    return false;
  }
  config->port = 3306;
  if (has_port) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      *error = "bad port '" + std::string(port_text) + "' (want 1..65535)";
      return false;
    }
    config->port = static_cast<uint16_t>(port);
  }
  return true;
}

bool parse_query(std::string_view query, MariadbConfig* config, std::string* error) {
  config->unix_socket.clear();
  bool have_socket = false;
  while (true) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t equals = pair.find('=');
    const std::string_view key = pair.substr(0, equals);
    if (key != "socket" || equals == std::string_view::npos) {
      *error = "unknown URL parameter '" + std::string(pair) + "' (only socket=/path is known)";
      return false;
    }
    if (have_socket) {
      *error = "socket= given twice";
      return false;
    }
    if (!percent_decode(pair.substr(equals + 1), "socket path", &config->unix_socket, error)) {
      return false;
    }
    if (config->unix_socket.empty() || config->unix_socket.front() != '/') {
      *error = "socket= needs an absolute path";
      return false;
    }
    have_socket = true;
    if (amp == std::string_view::npos) return true;
    query = query.substr(amp + 1);
  }
}

// ---- Binding -------------------------------------------------------------------------------

// One string parameter of an array-bound statement: a pointer and a length per row.
struct StringColumn {
  std::vector<char*> data;
  std::vector<unsigned long> length;
  explicit StringColumn(size_t rows) : data(rows), length(rows) {}
  // Connector/C only reads the bytes; the cast is for its non-const `void* buffer`.
  void set(size_t row, const std::string& text) {
    data[row] = const_cast<char*>(text.data());
    length[row] = text.size();
  }
  MYSQL_BIND bind() {
    MYSQL_BIND b{};
    b.buffer_type = MYSQL_TYPE_STRING;
    b.buffer = data.data();
    b.length = length.data();
    return b;
  }
};

template <typename T>
MYSQL_BIND bind_integer(const T* values) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  MYSQL_BIND b{};
  b.buffer_type = sizeof(T) == 4 ? MYSQL_TYPE_LONG : MYSQL_TYPE_LONGLONG;
  b.buffer = const_cast<T*>(values);
  b.is_unsigned = std::is_unsigned_v<T>;
  return b;
}

// Parameters of one plain (not array-bound) execute; they point into the caller's values,
// which must outlive the execute.
class PlainParams {
 public:
  explicit PlainParams(size_t count) : lengths_(count) { binds_.reserve(count); }
  void add(const std::string& text) {
    lengths_[binds_.size()] = text.size();
    MYSQL_BIND b{};
    b.buffer_type = MYSQL_TYPE_STRING;
    b.buffer = const_cast<char*>(text.data());
    b.buffer_length = text.size();
    b.length = &lengths_[binds_.size()];
    binds_.push_back(b);
  }
  template <typename T>
  void add(const T& value) {
    binds_.push_back(bind_integer(&value));
  }
  MYSQL_BIND* binds() {
    BOXOFFICE_ASSERT(binds_.size() == lengths_.size());
    return binds_.data();
  }

 private:
  std::vector<MYSQL_BIND> binds_;
  std::vector<unsigned long> lengths_;
};

// ---- Reading -------------------------------------------------------------------------------

template <typename T>
bool parse_number(const char* text, unsigned long bytes, T* out) {
  if (text == nullptr) return false;
  const auto [end, ec] = std::from_chars(text, text + bytes, *out);
  return ec == std::errc() && end == text + bytes;
}

std::string text_of(const char* text, unsigned long bytes) {
  return text == nullptr ? std::string() : std::string(text, bytes);
}

// ---- Dead letters --------------------------------------------------------------------------

std::string to_json_text(const nlohmann::json& row) {
  // Invalid UTF-8 (a likely reason for the refusal) is replaced, never thrown about.
  return row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string row_json(const EventRow& row) {
  return to_json_text({{"event_index", row.event_index},
                       {"event_id", row.event_id},
                       {"venue_id", row.venue_id},
                       {"name", row.name},
                       {"state", row.state},
                       {"created_at_ms", row.created_at_ms},
                       {"layout", row.layout_json}});
}
std::string row_json(const EventStateRow& row) {
  return to_json_text(
      {{"event_index", row.event_index}, {"state", row.state}, {"at_ms", row.at_ms}});
}
std::string row_json(const TicketRow& row) {
  return to_json_text({{"ticket_id", row.ticket_id},
                       {"event_index", row.event_index},
                       {"event_id", row.event_id},
                       {"seat_index", row.seat_index},
                       {"seat_label", row.seat_label},
                       {"generation", row.generation},
                       {"nonce", row.nonce},
                       {"price_cents", row.price_cents},
                       {"sold_at_ms", row.sold_at_ms},
                       {"buyer_ref", row.buyer_ref},
                       {"idempotency_hash", row.idempotency_hash}});
}
std::string row_json(const VoidRow& row) {
  return to_json_text({{"ticket_id", row.ticket_id},
                       {"event_index", row.event_index},
                       {"event_id", row.event_id},
                       {"seat_index", row.seat_index},
                       {"generation", row.generation},
                       {"nonce", row.nonce},
                       {"voided_at_ms", row.voided_at_ms}});
}

}  // namespace

bool parse_mariadb_url(std::string_view url, MariadbConfig* config, std::string* error) {
  MariadbConfig parsed = *config;  // keeps the timeouts
  std::string_view rest;
  if (starts_with_ignoring_case(url, "mariadb://")) {
    rest = url.substr(10);
  } else if (starts_with_ignoring_case(url, "mysql://")) {
    rest = url.substr(8);
  } else {
    *error = "a MariaDB URL starts with mariadb:// or mysql://";
    return false;
  }
  if (rest.find('#') != std::string_view::npos) {
    *error = "a MariaDB URL has no #fragment";
    return false;
  }
  const size_t question = rest.find('?');
  const std::string_view path_part = rest.substr(0, question);
  const size_t slash = path_part.find('/');
  if (slash == std::string_view::npos) {
    *error = "missing /database after the host";
    return false;
  }
  const std::string_view authority = path_part.substr(0, slash);
  const std::string_view database = path_part.substr(slash + 1);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    *error = "missing user@ before the host";
    return false;
  }
  const std::string_view user_info = authority.substr(0, at);
  const size_t colon = user_info.find(':');
  if (!percent_decode(user_info.substr(0, colon), "user", &parsed.user, error)) return false;
  if (parsed.user.empty()) {
    *error = "missing user before @";
    return false;
  }
  parsed.password.clear();
  if (colon != std::string_view::npos &&
      !percent_decode(user_info.substr(colon + 1), "password", &parsed.password, error)) {
    return false;
  }
  if (!parse_host_port(authority.substr(at + 1), &parsed, error)) return false;
  if (database.empty()) {
    *error = "missing database name after /";
    return false;
  }
  if (database.size() > 64 || database.find_first_of("/\\.%") != std::string_view::npos) {
    *error = "bad database name '" + std::string(database) + "'";
    return false;
  }
  parsed.database = std::string(database);
  parsed.unix_socket.clear();
  if (question != std::string_view::npos &&
      !parse_query(rest.substr(question + 1), &parsed, error)) {
    return false;
  }
  *config = std::move(parsed);
  return true;
}

std::string redacted_url(const MariadbConfig& config) {
  std::string url = "mariadb://" + config.user;
  if (!config.password.empty()) url += ":***";
  url += '@';
  url += config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
  if (config.port != 3306) url += ":" + std::to_string(config.port);
  url += "/" + config.database;
  if (!config.unix_socket.empty()) url += "?socket=" + config.unix_socket;
  return url;
}

// ---- MariadbStore ----------------------------------------------------------------------------

struct MariadbStore::Statements {
  MYSQL_STMT* event = nullptr;
  MYSQL_STMT* event_state = nullptr;
  MYSQL_STMT* ticket = nullptr;
  MYSQL_STMT* voided = nullptr;
  MYSQL_STMT* progress = nullptr;
  MYSQL_STMT* dead_letter = nullptr;
  ~Statements() {
    for (MYSQL_STMT* stmt : {event, event_state, ticket, voided, progress, dead_letter}) {
      if (stmt != nullptr) mysql_stmt_close(stmt);
    }
  }
};

// The column arrays of the array-bound statements, sized once (kChunkRowsMax rows).
struct MariadbStore::Scratch {
  StringColumn ticket_id{kChunkRowsMax};
  StringColumn event_id{kChunkRowsMax};
  StringColumn seat_label{kChunkRowsMax};
  StringColumn buyer_ref{kChunkRowsMax};
  std::vector<uint32_t> event_index = std::vector<uint32_t>(kChunkRowsMax);
  std::vector<uint32_t> seat_index = std::vector<uint32_t>(kChunkRowsMax);
  std::vector<uint32_t> generation = std::vector<uint32_t>(kChunkRowsMax);
  std::vector<int64_t> price_cents = std::vector<int64_t>(kChunkRowsMax);
  std::vector<int64_t> sold_at_ms = std::vector<int64_t>(kChunkRowsMax);
  std::vector<uint64_t> idempotency_hash = std::vector<uint64_t>(kChunkRowsMax);
  std::vector<int64_t> voided_at_ms = std::vector<int64_t>(kChunkRowsMax);
};

MariadbStore::MariadbStore()
    : statements_(std::make_unique<Statements>()), scratch_(std::make_unique<Scratch>()) {}

MariadbStore::~MariadbStore() {
  statements_.reset();  // statements before their connection
  if (mysql_ != nullptr) mysql_close(mysql_);
}

std::unique_ptr<MariadbStore> MariadbStore::connect(const MariadbConfig& config,
                                                    std::string* error) {
  // mysql_init() initialises the library on first use, which is not thread-safe.
  std::call_once(library_once, [] { library_status = mysql_library_init(0, nullptr, nullptr); });
  if (library_status != 0) {
    *error = "mysql_library_init failed";
    return nullptr;
  }
  std::unique_ptr<MariadbStore> store(new MariadbStore());
  store->mysql_ = mysql_init(nullptr);
  if (store->mysql_ == nullptr) {
    *error = "mysql_init: out of memory";
    return nullptr;
  }
  MYSQL* mysql = store->mysql_;
  const my_bool reconnect = 0;  // a silent reconnect would lose the open transaction
  const unsigned connect_timeout_s = config.connect_timeout_s;
  const unsigned read_timeout_s = config.read_timeout_s;
  const unsigned write_timeout_s = config.write_timeout_s;
  mysql_optionsv(mysql, MYSQL_OPT_RECONNECT, &reconnect);
  mysql_optionsv(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s);
  mysql_optionsv(mysql, MYSQL_OPT_READ_TIMEOUT, &read_timeout_s);
  mysql_optionsv(mysql, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout_s);
  mysql_optionsv(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const bool use_socket = !config.unix_socket.empty();
  if (mysql_real_connect(mysql, use_socket ? "localhost" : config.host.c_str(), config.user.c_str(),
                         config.password.c_str(), config.database.c_str(),
                         use_socket ? 0 : config.port,
                         use_socket ? config.unix_socket.c_str() : nullptr, 0) == nullptr) {
    *error = "connect to " + redacted_url(config) + ": " + mysql_error(mysql);
    return nullptr;
  }
  // Array binding needs COM_STMT_BULK_EXECUTE (MariaDB 10.2+); without it every write would
  // fail with CR_FUNCTION_NOT_SUPPORTED, so refuse the server here.
  unsigned long extended_capabilities = 0;
  mariadb_get_infov(mysql, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended_capabilities);
  if ((extended_capabilities & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) == 0) {
    *error = std::string("server ") + mysql_get_server_info(mysql) +
             " lacks bulk statement execution (MariaDB 10.2 or later needed)";
    return nullptr;
  }
  if (!store->run_query(kSessionSql, error)) return nullptr;
  if (mysql_autocommit(mysql, 0) != 0) {
    *error = std::string("autocommit off: ") + mysql_error(mysql);
    return nullptr;
  }
  for (const char* sql : kSchema) {
    if (!store->run_query(sql, error)) return nullptr;
  }
  uint64_t max_allowed_packet = 0;
  if (!store->select(
          "SELECT @@max_allowed_packet",
          [&](char** row, const unsigned long* lengths) {
            return parse_number(row[0], lengths[0], &max_allowed_packet);
          },
          error)) {
    return nullptr;
  }
  store->chunk_bytes_max_ = std::min<uint64_t>(kChunkBytesMax, max_allowed_packet / 2);
  Statements& s = *store->statements_;
  const std::pair<MYSQL_STMT**, const char*> statements[] = {
      {&s.event, kEventSql}, {&s.event_state, kEventStateSql}, {&s.ticket, kTicketSql},
      {&s.voided, kVoidSql}, {&s.progress, kProgressSql},      {&s.dead_letter, kDeadLetterSql},
  };
  for (const auto& [stmt, sql] : statements) {
    *stmt = mysql_stmt_init(mysql);
    if (*stmt == nullptr || mysql_stmt_prepare(*stmt, sql, std::strlen(sql)) != 0) {
      *error = std::string("prepare: ") +
               (*stmt != nullptr ? mysql_stmt_error(*stmt) : mysql_error(mysql)) + " in " + sql;
      return nullptr;
    }
  }
  return store;
}

bool MariadbStore::run_query(const char* sql, std::string* error) {
  if (mysql_real_query(mysql_, sql, std::strlen(sql)) != 0) {
    last_error_code_ = mysql_errno(mysql_);
    *error = std::string(mysql_error(mysql_)) + " in: " + sql;
    return false;
  }
  return true;
}

MariadbStore::Failure MariadbStore::fail(const char* what, unsigned code, const char* message,
                                         std::string* error) {
  last_error_code_ = code;
  last_error_message_ = message;
  *error = std::string(what) + ": MariaDB error " + std::to_string(code) + ": " + message;
  return is_transient(code) ? Failure::kTransient : Failure::kPermanent;
}

MariadbStore::Failure MariadbStore::fail_connection(const char* what, std::string* error) {
  return fail(what, mysql_errno(mysql_), mysql_error(mysql_), error);
}

MariadbStore::Failure MariadbStore::fail_statement(MYSQL_STMT* stmt, const char* what,
                                                   std::string* error) {
  return fail(what, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), error);
}

void MariadbStore::rollback() {
  mysql_rollback(mysql_);  // on a dead connection this fails, and the server rolls back anyway
}

bool MariadbStore::ping() {
  if (mysql_ping(mysql_) != 0) {
    last_error_code_ = mysql_errno(mysql_);
    return false;
  }
  return true;
}

bool MariadbStore::write(const PersistBatch& batch, std::string* error, bool* transient) {
  *transient = false;
  dead_letter_rows_ = 0;
  Failure failure = write_rows(batch, /*dead_letter=*/false, error);
  if (failure == Failure::kNone) return true;
  rollback();
  if (failure == Failure::kPermanent) {
    // Some row was refused, and the bulk statement does not say which: redo the batch one row
    // at a time in a fresh transaction, setting the refused rows aside.
    failure = write_rows(batch, /*dead_letter=*/true, error);
    if (failure == Failure::kNone) return true;
    rollback();
  }
  *transient = failure == Failure::kTransient;
  return false;
}

MariadbStore::Failure MariadbStore::write_rows(const PersistBatch& batch, bool dead_letter,
                                               std::string* error) {
  // A row refused in dead-letter mode is recorded and skipped; anything else stops the batch.
  auto refused = [&](Failure failure, const RecordOrigin& origin, const char* kind,
                     const std::string& json) {
    if (failure == Failure::kTransient || !dead_letter) return failure;
    ++dead_letter_rows_;
    return insert_dead_letter(batch, origin, kind, last_error_message_, json, error);
  };
  for (const EventRow& row : batch.events) {
    PlainParams params(7);
    params.add(row.event_index);
    params.add(row.event_id);
    params.add(row.venue_id);
    params.add(row.name);
    params.add(row.state);
    params.add(row.created_at_ms);
    params.add(row.layout_json);
    MYSQL_STMT* stmt = statements_->event;
    if (mysql_stmt_bind_param(stmt, params.binds()) != 0 || mysql_stmt_execute(stmt) != 0) {
      const Failure f =
          refused(fail_statement(stmt, "event", error), row.origin, "event", row_json(row));
      if (f != Failure::kNone) return f;
    }
  }
  for (const EventStateRow& row : batch.event_states) {
    PlainParams params(2);
    params.add(row.state);
    params.add(row.event_index);
    MYSQL_STMT* stmt = statements_->event_state;
    if (mysql_stmt_bind_param(stmt, params.binds()) != 0 || mysql_stmt_execute(stmt) != 0) {
      const Failure f = refused(fail_statement(stmt, "event state", error), row.origin,
                                "event_state", row_json(row));
      if (f != Failure::kNone) return f;
    }
  }
  if (!dead_letter) {
    if (const Failure f = write_tickets(batch, 0, batch.tickets.size(), error);
        f != Failure::kNone) {
      return f;
    }
    if (const Failure f = write_voids(batch, 0, batch.voids.size(), error); f != Failure::kNone) {
      return f;
    }
  } else {
    for (size_t i = 0; i < batch.tickets.size(); ++i) {
      const Failure f = write_tickets(batch, i, 1, error);
      if (f != Failure::kNone) {
        const TicketRow& row = batch.tickets[i];
        if (const Failure g = refused(f, row.origin, "ticket", row_json(row));
            g != Failure::kNone) {
          return g;
        }
      }
    }
    for (size_t i = 0; i < batch.voids.size(); ++i) {
      const Failure f = write_voids(batch, i, 1, error);
      if (f != Failure::kNone) {
        const VoidRow& row = batch.voids[i];
        if (const Failure g = refused(f, row.origin, "void", row_json(row)); g != Failure::kNone) {
          return g;
        }
      }
    }
  }
  if (const Failure f = write_progress(batch, error); f != Failure::kNone) return f;
  return commit(error);
}

MariadbStore::Failure MariadbStore::write_tickets(const PersistBatch& batch, size_t begin,
                                                  size_t count, std::string* error) {
  Scratch& s = *scratch_;
  MYSQL_STMT* stmt = statements_->ticket;
  const size_t end = begin + count;
  for (size_t next = begin; next < end;) {
    unsigned rows = 0;
    size_t chunk_bytes = 0;
    for (; next < end && rows < kChunkRowsMax && chunk_bytes < chunk_bytes_max_; ++next) {
      const TicketRow& t = batch.tickets[next];
      s.ticket_id.set(rows, t.ticket_id);
      s.event_index[rows] = t.event_index;
      s.event_id.set(rows, t.event_id);
      s.seat_index[rows] = t.seat_index;
      s.seat_label.set(rows, t.seat_label);
      s.generation[rows] = t.generation;
      s.price_cents[rows] = t.price_cents;
      s.sold_at_ms[rows] = t.sold_at_ms;
      s.buyer_ref.set(rows, t.buyer_ref);
      s.idempotency_hash[rows] = t.idempotency_hash;
      chunk_bytes += kChunkRowOverheadBytes + t.ticket_id.size() + t.event_id.size() +
                     t.seat_label.size() + t.buyer_ref.size();
      ++rows;
    }
    MYSQL_BIND binds[] = {
        s.ticket_id.bind(),
        bind_integer(s.event_index.data()),
        s.event_id.bind(),
        bind_integer(s.seat_index.data()),
        s.seat_label.bind(),
        bind_integer(s.generation.data()),
        bind_integer(s.price_cents.data()),
        bind_integer(s.sold_at_ms.data()),
        s.buyer_ref.bind(),
        bind_integer(s.idempotency_hash.data()),
    };
    if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &rows) != 0 ||
        mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0) {
      return fail_statement(stmt, "tickets", error);
    }
  }
  return Failure::kNone;
}

MariadbStore::Failure MariadbStore::write_voids(const PersistBatch& batch, size_t begin,
                                                size_t count, std::string* error) {
  Scratch& s = *scratch_;
  MYSQL_STMT* stmt = statements_->voided;
  const size_t end = begin + count;
  for (size_t next = begin; next < end;) {
    unsigned rows = 0;
    size_t chunk_bytes = 0;
    for (; next < end && rows < kChunkRowsMax && chunk_bytes < chunk_bytes_max_; ++next) {
      const VoidRow& v = batch.voids[next];
      s.ticket_id.set(rows, v.ticket_id);
      s.event_index[rows] = v.event_index;
      s.event_id.set(rows, v.event_id);
      s.seat_index[rows] = v.seat_index;
      s.generation[rows] = v.generation;
      s.voided_at_ms[rows] = v.voided_at_ms;
      chunk_bytes += kChunkRowOverheadBytes + v.ticket_id.size() + v.event_id.size();
      ++rows;
    }
    MYSQL_BIND binds[] = {
        s.ticket_id.bind(),
        bind_integer(s.event_index.data()),
        s.event_id.bind(),
        bind_integer(s.seat_index.data()),
        bind_integer(s.generation.data()),
        bind_integer(s.voided_at_ms.data()),
    };
    if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &rows) != 0 ||
        mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0) {
      return fail_statement(stmt, "voids", error);
    }
  }
  return Failure::kNone;
}

MariadbStore::Failure MariadbStore::write_progress(const PersistBatch& batch, std::string* error) {
  MYSQL_STMT* stmt = statements_->progress;
  for (const StreamProgress& progress : batch.streams) {
    PlainParams params(2);
    params.add(progress.name);
    params.add(progress.sequence);
    if (mysql_stmt_bind_param(stmt, params.binds()) != 0 || mysql_stmt_execute(stmt) != 0) {
      return fail_statement(stmt, "progress", error);
    }
  }
  return Failure::kNone;
}

MariadbStore::Failure MariadbStore::commit(std::string* error) {
  if (mysql_commit(mysql_) != 0) return fail_connection("commit", error);
  last_error_code_ = 0;
  return Failure::kNone;
}

MariadbStore::Failure MariadbStore::insert_dead_letter(const PersistBatch& batch,
                                                       const RecordOrigin& origin, const char* kind,
                                                       const std::string& reason,
                                                       const std::string& row_json,
                                                       std::string* error) {
  BOXOFFICE_ASSERT(origin.stream < batch.streams.size());
  const std::string& stream = batch.streams[origin.stream].name;
  const std::string kind_text = kind;
  PlainParams params(9);
  params.add(stream);
  params.add(origin.sequence);
  params.add(kind_text);
  params.add(reason);
  params.add(row_json);
  params.add(stream);
  params.add(origin.sequence);
  params.add(kind_text);
  params.add(row_json);
  MYSQL_STMT* stmt = statements_->dead_letter;
  if (mysql_stmt_bind_param(stmt, params.binds()) != 0 || mysql_stmt_execute(stmt) != 0) {
    return fail_statement(stmt, "dead letter", error);
  }
  return Failure::kNone;
}

// Runs `sql` and hands each row to `fn` as it arrives (mysql_use_result: nothing buffered),
// then ends the read transaction so the next read sees fresh data (autocommit is off, and
// REPEATABLE READ would otherwise keep the first snapshot).
bool MariadbStore::select(const char* sql,
                          const std::function<bool(char** row, const unsigned long* lengths)>& fn,
                          std::string* error) {
  if (!run_query(sql, error)) return false;
  MYSQL_RES* result = mysql_use_result(mysql_);
  if (result == nullptr) {
    fail_connection("read", error);
    return false;
  }
  bool ok = true;
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    if (!fn(row, mysql_fetch_lengths(result))) {
      *error = std::string("unexpected value in the result of: ") + sql;
      ok = false;
      break;
    }
  }
  if (ok && mysql_errno(mysql_) != 0) {
    fail_connection("read", error);
    ok = false;
  }
  mysql_free_result(result);  // reads and drops any rows left
  rollback();
  return ok;
}

bool MariadbStore::load_progress(std::vector<StreamProgress>* out, std::string* error) {
  out->clear();
  return select(
      "SELECT stream, sequence FROM persist_progress ORDER BY stream",
      [&](char** row, const unsigned long* lengths) {
        StreamProgress progress;
        progress.name = text_of(row[0], lengths[0]);
        if (!parse_number(row[1], lengths[1], &progress.sequence)) return false;
        out->push_back(std::move(progress));
        return true;
      },
      error);
}

bool MariadbStore::read_events(std::vector<EventRow>* out, std::string* error) {
  out->clear();
  return select(
      "SELECT event_index, event_id, venue_id, name, state, created_at_ms, layout FROM events"
      " ORDER BY event_index",
      [&](char** row, const unsigned long* lengths) {
        EventRow event;
        if (!parse_number(row[0], lengths[0], &event.event_index) ||
            !parse_number(row[5], lengths[5], &event.created_at_ms)) {
          return false;
        }
        event.event_id = text_of(row[1], lengths[1]);
        event.venue_id = text_of(row[2], lengths[2]);
        event.name = text_of(row[3], lengths[3]);
        event.state = text_of(row[4], lengths[4]);
        event.layout_json = text_of(row[6], lengths[6]);
        out->push_back(std::move(event));
        return true;
      },
      error);
}

bool MariadbStore::read_tickets(
    uint32_t event_index, const std::function<void(const TicketRow& row, int64_t voided_at_ms)>& fn,
    std::string* error) {
  const std::string sql =
      "SELECT ticket_id, event_index, event_id, seat_index, seat_label, generation, price_cents,"
      " sold_at_ms, buyer_ref, idempotency_hash, voided_at_ms FROM tickets WHERE event_index = " +
      std::to_string(event_index) + " ORDER BY seat_index, generation";
  TicketRow ticket;  // reused: its strings keep their capacity
  return select(
      sql.c_str(),
      [&](char** row, const unsigned long* lengths) {
        ticket.ticket_id.assign(row[0], lengths[0]);
        ticket.event_id.assign(row[2], lengths[2]);
        ticket.seat_label.assign(row[4], lengths[4]);
        ticket.buyer_ref.assign(row[8], lengths[8]);
        ticket.price_cents = 0;
        ticket.sold_at_ms = 0;
        int64_t voided_at_ms = -1;
        if (!parse_number(row[1], lengths[1], &ticket.event_index) ||
            !parse_number(row[3], lengths[3], &ticket.seat_index) ||
            !parse_number(row[5], lengths[5], &ticket.generation) ||
            !parse_number(row[9], lengths[9], &ticket.idempotency_hash) ||
            (row[6] != nullptr && !parse_number(row[6], lengths[6], &ticket.price_cents)) ||
            (row[7] != nullptr && !parse_number(row[7], lengths[7], &ticket.sold_at_ms)) ||
            (row[10] != nullptr && !parse_number(row[10], lengths[10], &voided_at_ms))) {
          return false;
        }
        const std::optional<TicketId> id = TicketId::parse(ticket.ticket_id);
        ticket.nonce = id ? id->nonce() : 0;
        fn(ticket, voided_at_ms);
        return true;
      },
      error);
}

}  // namespace boxoffice::persist
