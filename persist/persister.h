// Persister: a thread that tails the journals (the control stream and one per worker) and
// applies their records to a sink (MariaDB, or the Redis outbox) in large batches, each batch
// committed together with how far every stream got (DESIGN.md section 7). The sink's recorded
// progress is where reading resumes after a restart or a reconnect, so a crash neither skips
// nor repeats a row (and a repeat would change nothing: rows are upserts).
//
// Only durable records are read (each stream's `durable` bound). When the sink is unreachable
// the thread retries with exponential backoff; selling goes on and the journal holds the
// backlog (the worker logs refuse sales past their backlog limit, see WorkerLog).
//
// Thread safety: start()/stop() from one owner thread; stats() and persisted() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "persist/persist_batch.h"

namespace boxoffice::persist {

// Where batches go. Used by the persister thread only.
class PersistSink {
 public:
  virtual ~PersistSink() = default;
  // (Re)connects; false with *error when the destination cannot be reached.
  virtual bool connect(std::string* error) = 0;
  virtual bool load_progress(std::vector<StreamProgress>* out, std::string* error) = 0;
  // Applies the rows and the progress in one transaction. False: not applied (a connection
  // problem; the persister reconnects and sends the same records again).
  virtual bool write(const PersistBatch& batch, std::string* error) = 0;
};

struct PersistStream {
  std::string name;                   // "control", "worker-0", ...
  std::string directory;              // its journal segments
  std::function<uint64_t()> durable;  // the last record known to be on disk
};

struct PersisterOptions {
  uint32_t batch_rows_max = 10'000;
  int64_t idle_wait_ms = 2;  // nothing new: look again after this
  // After committing a small batch (under a quarter of batch_rows_max), wait this long so the
  // next one gathers more rows: fewer, larger transactions cost MariaDB less CPU per row, at
  // the price of this much more lag. 0 for `--durability db`, where replies wait for it.
  int64_t linger_ms = 20;
  // While sales are coming in (new durable records since the last batch), rows per second at
  // most (0: never paced). When MariaDB shares the cores with the workers, this keeps a
  // backlog drain from taking CPU from selling: the journal holds what waits, and the pace is
  // lifted when no sales come or the backlog passes `pace_lag_records_max` (before the
  // workers' backlog limit would refuse sales).
  uint64_t rows_per_s_max = 0;
  uint64_t pace_lag_records_max = UINT64_MAX;
  int64_t backoff_initial_ms = 100;
  int64_t backoff_max_ms = 5'000;
};

struct PersisterStats {
  bool connected = false;
  uint64_t records_persisted = 0;  // since start
  uint64_t batches = 0;
  uint64_t last_batch_rows = 0;
  uint64_t batch_rows_max_seen = 0;
  uint64_t errors = 0;       // failed connects and writes
  uint64_t bad_records = 0;  // records that did not decode (logged, skipped)
  uint64_t lag_records = 0;  // durable records not yet persisted, all streams
  int64_t lag_ms = 0;        // age of the oldest sale not yet persisted (0 when caught up)
  double rows_per_s = 0;     // over the last second or so
  std::string last_error;
};

class Persister {
 public:
  // `engine` names events and seats for the rows; `on_persisted(stream, sequence)` is called
  // on the persister thread after every commit (segment deletion, backlog accounting).
  Persister(std::string name, std::unique_ptr<PersistSink> sink, std::vector<PersistStream> streams,
            const Engine* engine, const PersisterOptions& options,
            std::function<void(size_t stream, uint64_t sequence)> on_persisted,
            std::function<void(const std::string& line)> log);
  ~Persister();

  void start();
  void stop();  // finishes the batch in hand, then returns
  // Waits until every stream's durable records (as of the call) are persisted; false after
  // `timeout_ms`.
  bool wait_caught_up(int64_t timeout_ms);

  PersisterStats stats() const;
  uint64_t persisted(size_t stream) const;
  const std::string& name() const { return name_; }

 private:
  struct Stream;
  void run();
  bool resume(std::string* error);  // connect + load progress + position the readers
  // Appends the rows of one record to the batch; false when the record does not decode.
  bool add_record(size_t stream, uint8_t type, std::span<const uint8_t> payload, uint64_t sequence,
                  std::string* error);
  std::string seat_label(uint32_t event_index, uint32_t seat) const;
  void set_error(const std::string& error);

  std::string name_;
  std::unique_ptr<PersistSink> sink_;
  std::vector<std::unique_ptr<Stream>> streams_;
  const Engine* engine_;
  PersisterOptions options_;
  std::function<void(size_t, uint64_t)> on_persisted_;
  std::function<void(const std::string&)> log_;

  PersistBatch batch_;
  std::vector<uint64_t> durables_;  // per stream, read once per batch
  int64_t oldest_pending_sale_ms_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;  // guards stats_ and the wake-up below
  std::condition_variable wake_;
  PersisterStats stats_;
};

}  // namespace boxoffice::persist
