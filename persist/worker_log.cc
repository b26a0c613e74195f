#include "persist/worker_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "persist/records.h"
#include "shm/check.h"

namespace boxoffice::persist {
namespace {

constexpr char kStagingMagic[8] = {'B', 'O', 'X', 'S', 'T', 'A', 'G', 'E'};
constexpr uint32_t kStagingVersion = 1;
constexpr uint64_t kStagingHeaderBytes = 4096;
constexpr size_t kFrameBytesMax = kRecordHeaderBytes + kSaleRecordBytesMax;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

uint64_t frame_sequence(const uint8_t* frame) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | frame[8 + i];
  return v;
}
uint32_t frame_payload_bytes(const uint8_t* frame) {
  return uint32_t{frame[0]} | uint32_t{frame[1]} << 8 | uint32_t{frame[2]} << 16 |
         uint32_t{frame[3]} << 24;
}

}  // namespace

// The first page of the staging file; records follow it.
struct WorkerLog::StagingHeader {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t capacity_bytes;
  std::atomic<uint64_t> used_bytes;  // whole records staged; stored after the record bytes
};
static_assert(sizeof(std::atomic<uint64_t>) == 8);

std::unique_ptr<WorkerLog> WorkerLog::open(const WorkerLogOptions& options,
                                           WorkerLogOpenReport* report, std::string* error) {
  BOXOFFICE_ASSERT(options.staging_bytes >= 4 * kFrameBytesMax);
  std::unique_ptr<WorkerLog> log(new WorkerLog());
  log->options_ = options;
  *report = WorkerLogOpenReport{};
  JournalOptions journal;
  journal.directory = options.journal_directory;
  journal.segment_bytes_max = options.segment_bytes_max;
  journal.record_bytes_max = kSaleRecordBytesMax;
  log->writer_ = JournalWriter::open(journal, &report->tail, error);
  if (!log->writer_) return nullptr;

  log->staging_fd_ = ::open(options.staging_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (log->staging_fd_ < 0) {
    *error = errno_text("cannot open journal staging file " + options.staging_path);
    return nullptr;
  }
  // Records a previous process staged and never wrote go to the journal first.
  struct stat st {};
  if (::fstat(log->staging_fd_, &st) != 0) {
    *error = errno_text("cannot stat " + options.staging_path);
    return nullptr;
  }
  if (static_cast<uint64_t>(st.st_size) > kStagingHeaderBytes) {
    void* old = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED,
                       log->staging_fd_, 0);
    if (old == MAP_FAILED) {
      *error = errno_text("cannot map " + options.staging_path);
      return nullptr;
    }
    const auto* header = static_cast<const StagingHeader*>(old);
    const uint64_t used = header->used_bytes.load(std::memory_order_acquire);
    bool ok = true;
    if (std::memcmp(header->magic, kStagingMagic, sizeof kStagingMagic) == 0 &&
        header->version == kStagingVersion &&
        used <= static_cast<uint64_t>(st.st_size) - kStagingHeaderBytes) {
      const std::span<const uint8_t> staged(static_cast<const uint8_t*>(old) + kStagingHeaderBytes,
                                            used);
      std::string bad;
      size_t at = 0;
      walk_frames(
          staged, kSaleRecordBytesMax,
          [&](const JournalRecord& r) {
            const size_t frame_bytes = kRecordHeaderBytes + r.payload.size();
            const uint64_t next = log->writer_->next_sequence();
            if (r.sequence < next) {
              ++report->staged_already;
            } else if (r.sequence == next) {
              if (!log->writer_->write_framed(staged.subspan(at, frame_bytes), r.sequence,
                                              r.sequence, error)) {
                ok = false;
                return false;
              }
              ++report->staged_recovered;
            } else {
              *error = "journal " + options.journal_directory + " ends before sequence " +
                       std::to_string(r.sequence) + " of its staging file " + options.staging_path +
                       ": records " + std::to_string(next) + ".." + std::to_string(r.sequence - 1) +
                       " are missing";
              ok = false;
              return false;
            }
            at += frame_bytes;
            return true;
          },
          &bad);
      // A torn staged record was being appended when the process died: its operation never
      // finished, and recovery logs what it rolls forward.
    }
    ::munmap(old, static_cast<size_t>(st.st_size));
    if (!ok) return nullptr;
  }
  if (report->staged_recovered > 0 && ::fdatasync(log->writer_->fd()) != 0) {
    *error = errno_text("journal fdatasync");
    return nullptr;
  }
  log->writer_->set_synced(log->writer_->next_sequence() - 1);

  // A fresh, empty staging area.
  const uint64_t file_bytes = kStagingHeaderBytes + options.staging_bytes;
  if (::ftruncate(log->staging_fd_, 0) != 0 ||
      ::ftruncate(log->staging_fd_, static_cast<off_t>(file_bytes)) != 0) {
    *error = errno_text("cannot size " + options.staging_path);
    return nullptr;
  }
  void* mapped =
      ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, log->staging_fd_, 0);
  if (mapped == MAP_FAILED) {
    *error = errno_text("cannot map " + options.staging_path);
    return nullptr;
  }
  log->staging_ = static_cast<StagingHeader*>(mapped);
  log->staging_data_ = static_cast<uint8_t*>(mapped) + kStagingHeaderBytes;
  log->staging_capacity_ = options.staging_bytes;
  std::memcpy(log->staging_->magic, kStagingMagic, sizeof kStagingMagic);
  log->staging_->version = kStagingVersion;
  log->staging_->capacity_bytes = options.staging_bytes;
  log->staging_->used_bytes.store(0, std::memory_order_release);

  log->next_sequence_ = log->writer_->next_sequence();
  log->appended_.store(log->next_sequence_ - 1);
  log->durable_.store(log->next_sequence_ - 1);
  return log;
}

WorkerLog::~WorkerLog() {
  if (staging_ != nullptr) ::munmap(staging_, kStagingHeaderBytes + staging_capacity_);
  if (staging_fd_ >= 0) ::close(staging_fd_);
}

bool WorkerLog::has_room() const {
  if (failed_) return false;
  if (staging_->used_bytes.load(std::memory_order_relaxed) + kFrameBytesMax > staging_capacity_)
    return false;
  if (unsynced_.size() > 4 * staging_capacity_) return false;  // the disk is far behind
  return options_.backlog_records_max == 0 ||
         appended_sequence() - persisted_sequence() < options_.backlog_records_max;
}

void WorkerLog::sale(const SaleEntry& entry) {
  uint8_t payload[kSaleRecordBytesMax];
  stage(RecordType::kSale, {payload, encode_sale(entry, payload)});
}

void WorkerLog::voided(const VoidEntry& entry) {
  uint8_t payload[kVoidRecordBytes];
  stage(RecordType::kVoid, {payload, encode_void(entry, payload)});
}

uint64_t WorkerLog::fill_to(uint64_t sequence) {
  uint64_t filled = 0;
  while (next_sequence_ <= sequence) {
    stage(RecordType::kFiller, {});
    ++filled;
  }
  return filled;
}

void WorkerLog::stage(RecordType type, std::span<const uint8_t> payload) {
  const size_t bytes = kRecordHeaderBytes + payload.size();
  uint64_t used = staging_->used_bytes.load(std::memory_order_relaxed);
  if (used + bytes > staging_capacity_) {
    // Only recovery logs without asking has_room() first (a handful of records per worker);
    // make room by writing what is staged.
    std::string error;
    write_staged(&error);
    used = staging_->used_bytes.load(std::memory_order_relaxed);
    BOXOFFICE_ASSERT(used + bytes <= staging_capacity_);  // the disk refuses every write
  }
  const uint64_t sequence = next_sequence_++;
  JournalWriter::frame(sequence, static_cast<uint8_t>(type), payload, staging_data_ + used);
  // The bytes first, then the length that makes them part of the staging area.
  staging_->used_bytes.store(used + bytes, std::memory_order_release);
  appended_.store(sequence, std::memory_order_release);
}

uint64_t WorkerLog::write_staged(std::string* error) {
  const uint64_t used = staging_->used_bytes.load(std::memory_order_relaxed);
  if (failed_) {
    // Everything since the last durable record is written again, to a new segment that is
    // fdatasynced before it replaces the old one's copies.
    const uint64_t first = durable_sequence() + 1;
    BOXOFFICE_ASSERT(unsynced_.empty() || unsynced_first_ == first);
    const uint64_t last = unsynced_.empty() ? first - 1
                          : used > 0        ? frame_sequence(staging_data_) - 1
                                            : appended_sequence();
    if (!writer_->rewrite_segment(first, unsynced_, last, error)) {
      last_error_ = *error;
      return 0;
    }
    if (last >= first) synced(last);
    failed_ = false;
  }
  if (used > 0) {
    const uint64_t first = frame_sequence(staging_data_);
    const uint64_t last = next_sequence_ - 1;
    const bool written = writer_->write_framed({staging_data_, used}, first, last, error);
    // A rotation inside write_framed() fdatasynced the full segment: what it holds is durable,
    // and a rewrite after a failed fdatasync must begin after it, in the newest segment.
    if (writer_->synced_sequence() > durable_sequence()) synced(writer_->synced_sequence());
    if (!written) {
      // The segment may now end in a torn record: the next attempt starts a new one. The
      // records stay staged (they outlive a crash there) until a write succeeds.
      failed_ = true;
      last_error_ = *error;
      return 0;
    }
    if (unsynced_.empty()) unsynced_first_ = first;
    unsynced_.insert(unsynced_.end(), staging_data_, staging_data_ + used);
    staging_->used_bytes.store(0, std::memory_order_release);
  }
  return appended_sequence() > durable_sequence() ? appended_sequence() : 0;
}

void WorkerLog::synced(uint64_t sequence) {
  if (sequence <= durable_sequence()) return;  // an older sync finishing after a newer one
  durable_.store(sequence, std::memory_order_release);
  writer_->set_synced(sequence);
  failed_ = false;
  // Drop the records now durable from the copy kept for a rewrite.
  size_t at = 0;
  while (at < unsynced_.size() && frame_sequence(&unsynced_[at]) <= sequence) {
    at += kRecordHeaderBytes + frame_payload_bytes(&unsynced_[at]);
  }
  unsynced_.erase(unsynced_.begin(), unsynced_.begin() + static_cast<ptrdiff_t>(at));
  unsynced_first_ = sequence + 1;
}

void WorkerLog::sync_failed(const std::string& error) {
  failed_ = true;
  last_error_ = error;
}

bool WorkerLog::sync_now(std::string* error) {
  const uint64_t target = write_staged(error);
  if (target == 0) return !failed_ && appended_sequence() == durable_sequence();
  if (::fdatasync(writer_->fd()) != 0) {
    *error = errno_text("journal fdatasync");
    sync_failed(*error);
    return false;
  }
  synced(target);
  return true;
}

}  // namespace boxoffice::persist
