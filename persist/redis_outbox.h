// RedisOutbox: publishes every committed ticket and void to a Redis Stream for downstream
// consumers (notifications, billing), with its own progress (DESIGN.md section 7, `--redis`).
//
// publish() turns one PersistBatch into MULTI ... EXEC transactions, pipelined: one
//   XADD <stream> MAXLEN ~ <stream_length_max> * type sale ticket_id .. event_id .. event_index ..
//        seat_index .. seat_label .. generation .. price_cents .. sold_at_ms .. buyer_ref ..
// per ticket row, one `XADD ... type void ticket_id .. event_id .. event_index .. seat_index ..
// generation .. voided_at_ms ..` per void row (sales before voids, so a void never precedes its
// sale), and `HSET <stream>:progress <journal stream name> <sequence> ...` for batch.streams.
// Event rows are not published. A batch of more than kTransactionEntriesMax entries is cut into
// several transactions and the progress travels only in the last one, so the stored progress
// never claims an entry that is not in the stream.
//
// Delivery is at least once, never exactly once. A failed publish() may have left some or all of
// its entries in the stream (an EXEC whose reply was lost, the earlier transactions of a cut
// batch, an error inside EXEC: Redis does not roll back), and the caller resends the batch from
// the stored progress. Entry ids are Redis-assigned, so a duplicate has a new id: consumers
// dedupe by (ticket_id, type).
//
// Redis being down never blocks selling: connect, every write and every read are bounded by
// timeout_ms, and a failure is a false return with *error. The caller (the persister, on its
// thread) drops the outbox, reconnects later and resends; the journal holds the backlog.
//
// Thread safety: a RedisOutbox belongs to one thread. After a connection error (I/O, timeout,
// protocol) every call fails at once; connect() again. After an error reply the connection
// stays usable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persist/persist_batch.h"

struct redisContext;  // hiredis, kept out of this header

namespace boxoffice::persist {

struct RedisConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string unix_socket;  // when set, used instead of host and port
  std::string stream = "boxoffice:tickets";
  uint64_t stream_length_max = 1'000'000;  // approximate (MAXLEN ~): Redis trims whole nodes
  uint32_t timeout_ms = 2000;              // connect, and each socket read or write
};

// Parses `host:port`, `[v6 address]:port` or `unix:/path` into the address fields of *config
// (a TCP address clears unix_socket). On failure returns false with *error, *config untouched.
bool parse_redis_address(std::string_view text, RedisConfig* config, std::string* error);

class RedisOutbox {
 public:
  static constexpr size_t kTransactionEntriesMax = 5000;  // XADDs per MULTI ... EXEC

  // Connects and checks the server answers PING. Null and *error on failure.
  static std::unique_ptr<RedisOutbox> connect(const RedisConfig& config, std::string* error);
  ~RedisOutbox();
  RedisOutbox(const RedisOutbox&) = delete;
  RedisOutbox& operator=(const RedisOutbox&) = delete;

  // The progress stored in `<stream>:progress`, sorted by name; empty if nothing was published.
  bool load_progress(std::vector<StreamProgress>* out, std::string* error);
  // Publishes the batch's tickets and voids and records batch.streams as the progress (see
  // above). True once every transaction committed without an error.
  bool publish(const PersistBatch& batch, std::string* error);

 private:
  RedisOutbox(const RedisConfig& config, redisContext* context);
  bool connection_usable(std::string* error) const;
  bool send_transaction(const PersistBatch& batch, size_t first_entry, size_t entries,
                        bool with_progress, std::string* error);

  RedisConfig config_;
  std::string address_;       // "host:port" or "unix:/path", for messages
  std::string progress_key_;  // "<stream>:progress"
  std::string length_max_text_;
  redisContext* context_ = nullptr;
};

}  // namespace boxoffice::persist
