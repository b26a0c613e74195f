// WorkerLog: one worker's sales journal (core/sale_log.h -> persist/journal.h), with group
// commit split so the worker never blocks on the disk (DESIGN.md section 7).
//
// A sale or void is framed straight into a staging buffer that lives in a shared-memory file
// beside the seat table (`<table>.log-<worker>`), so a record survives the process the moment
// it is staged, just like the seat table it describes. Once per loop turn the worker calls
// write_staged(): the staged records go to the journal segment with one write() (into the page
// cache, which also outlives the process) and the staging buffer is emptied; the returned
// sequence is then made durable by an fdatasync of fd() that the reactor runs asynchronously
// (io_uring), and synced() reports it. Replies that depend on a record are held until then
// (net/reply_gate.h).
//
// Cut points: a crash after staging and before write() leaves the records in the staging file,
// and open() appends them to the journal; a crash after write() leaves them in both, and open()
// skips the copies it already has (records carry their sequence). A torn last write is cut
// by JournalWriter::open and re-appended from staging.
//
// A failed write or fdatasync (disk full, I/O error) keeps every record since the last good
// fdatasync in memory, refuses new sales (has_room() is false: the engine answers BUSY) and
// retries by writing them all to a fresh segment; nothing is acknowledged that is not durable.
//
// Thread safety: owned by its worker thread, except durable_sequence(), appended_sequence()
// and set_persisted(), which are atomics any thread may use (the persister reads up to the
// durable sequence and reports how far MariaDB has got).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/sale_log.h"
#include "persist/journal.h"
#include "persist/records.h"

namespace boxoffice::persist {

struct WorkerLogOptions {
  std::string journal_directory;  // this worker's segments
  std::string staging_path;       // shared-memory file for records not yet written
  uint64_t staging_bytes = 4u << 20;
  uint64_t segment_bytes_max = 64u << 20;
  // Records appended and not yet persisted downstream (MariaDB) beyond which new sales are
  // refused BUSY; 0 = no limit.
  uint64_t backlog_records_max = 0;
};

// What open() found and did.
struct WorkerLogOpenReport {
  JournalTail tail;               // the journal's own repair of a torn tail
  uint64_t staged_recovered = 0;  // records found only in the staging file, now journaled
  uint64_t staged_already = 0;    // staged records the journal already had
};

class WorkerLog : public SaleLog {
 public:
  static std::unique_ptr<WorkerLog> open(const WorkerLogOptions& options,
                                         WorkerLogOpenReport* report, std::string* error);
  ~WorkerLog() override;

  // SaleLog.
  bool has_room() const override;
  void sale(const SaleEntry& entry) override;
  void voided(const VoidEntry& entry) override;

  // Start-up only: stages filler records until `sequence` is taken, when a damaged tail was cut
  // below what a destination already has (MariaDB's progress). Returns how many.
  uint64_t fill_to(uint64_t sequence);

  uint64_t appended_sequence() const { return appended_.load(std::memory_order_acquire); }
  uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
  const std::string& directory() const { return options_.journal_directory; }

  // Writes the staged records to the segment. Returns the sequence an fdatasync of fd() would
  // make durable now, 0 when there is nothing to sync or the write failed (*error set, and
  // failed() true until a later write and sync succeed).
  uint64_t write_staged(std::string* error);
  int fd() const { return writer_->fd(); }
  // The fdatasync of fd() issued after write_staged() returned `sequence` finished.
  void synced(uint64_t sequence);
  void sync_failed(const std::string& error);
  // write_staged() + fdatasync on this thread; true when everything appended is durable.
  bool sync_now(std::string* error);
  bool failed() const { return failed_.load(std::memory_order_relaxed); }  // any thread
  const std::string& last_error() const { return last_error_; }

  // How far downstream (the persister) has taken this journal; any thread.
  void set_persisted(uint64_t sequence) { persisted_.store(sequence, std::memory_order_release); }
  uint64_t persisted_sequence() const { return persisted_.load(std::memory_order_acquire); }

 private:
  struct StagingHeader;
  WorkerLog() = default;
  void stage(RecordType type, std::span<const uint8_t> payload);

  WorkerLogOptions options_;
  std::unique_ptr<JournalWriter> writer_;
  StagingHeader* staging_ = nullptr;  // mapped
  uint8_t* staging_data_ = nullptr;
  uint64_t staging_capacity_ = 0;
  int staging_fd_ = -1;
  uint64_t next_sequence_ = 1;
  // Written but not yet known durable: kept to write them again after a failed fdatasync.
  std::vector<uint8_t> unsynced_;
  uint64_t unsynced_first_ = 0;      // sequence of the first record in unsynced_
  std::atomic<bool> failed_{false};  // written by the owner; /ready and the admin socket read it
  std::string last_error_;
  std::atomic<uint64_t> appended_{0};
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> persisted_{0};
};

}  // namespace boxoffice::persist
