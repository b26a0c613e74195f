// Journal: an append-only log of records on disk, in segment files, each record framed with
// its length and a CRC32C so a torn or corrupted tail is detected (DESIGN.md section 7).
//
// Layout: a directory of segments named `<first sequence, 16 hex digits>.journal`. A record is
//   u32 payload_bytes | u32 crc32c(sequence, type, payload) | u64 sequence | u8 type | payload
// (little-endian), sequences consecutive from 1 across segments. A writer appends to the last
// segment and starts a new one past segment_bytes_max; sync() is one fdatasync for everything
// appended since the last (group commit: the caller acknowledges the batch after it returns).
//
// On open, the last segment is scanned: a record that is cut short, fails its CRC or breaks
// the sequence ends the journal there; the file is truncated to the last good record and the
// fact is reported, never silently used.
//
// Thread safety: a JournalWriter belongs to one thread; a JournalReader too. A reader may run
// on another thread than the writer of the same directory, reading only up to what the writer
// has synced (the caller passes that bound).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace boxoffice::persist {

struct JournalOptions {
  std::string directory;
  uint64_t segment_bytes_max = 64u << 20;
  uint32_t record_bytes_max = 64u << 10;  // payload limit; larger appends are refused
};

// What open() found and did at the end of the journal.
struct JournalTail {
  uint64_t next_sequence = 1;    // the sequence the next append gets
  uint64_t truncated_bytes = 0;  // bytes cut from the last segment (torn or corrupt tail)
  std::string reason;            // why they were cut, empty when nothing was
};

class JournalWriter {
 public:
  // Opens (creating the directory if needed) and repairs the tail. Null and *error on failure.
  static std::unique_ptr<JournalWriter> open(const JournalOptions& options, JournalTail* tail,
                                             std::string* error);
  ~JournalWriter();

  // Buffers one record; returns its sequence, or 0 (and *error) when the payload is too large
  // or the write failed. Not durable until sync().
  uint64_t append(uint8_t type, std::span<const uint8_t> payload, std::string* error);
  // Writes and fdatasyncs everything appended; false with *error on an I/O error (then the
  // records since the last successful sync must be treated as not written).
  bool sync(std::string* error);
  uint64_t synced_sequence() const { return synced_sequence_; }  // last durable record
  uint64_t next_sequence() const { return next_sequence_; }

  // The same in parts, for a caller that frames records itself (persist/worker_log.h) and
  // runs the fdatasync elsewhere (io_uring). Not to be mixed with append()/sync().
  //
  // Frames a record into `out` (kRecordHeaderBytes + payload bytes); returns the bytes used.
  static size_t frame(uint64_t sequence, uint8_t type, std::span<const uint8_t> payload,
                      uint8_t* out);
  // Writes framed records [first, last] (which must follow the last record written) at the
  // end of the segment. A full segment is fdatasynced and closed first and a new one begun.
  bool write_framed(std::span<const uint8_t> frames, uint64_t first, uint64_t last,
                    std::string* error);
  // After a failed fdatasync: writes `frames` (records [first, last], the ones not known to be
  // durable; may be empty, then last = first - 1) to a new segment that supersedes the old
  // one's copies from `first` on (readers stop each segment where the next one begins). The
  // segment is written under a temporary name, fdatasynced and only then renamed into place,
  // so a crash in between leaves the old segment as the last one. On success the records are
  // durable and appends continue in the new segment.
  bool rewrite_segment(uint64_t first, std::span<const uint8_t> frames, uint64_t last,
                       std::string* error);
  int fd() const { return fd_; }  // of the current segment, for an fdatasync elsewhere
  void set_synced(uint64_t sequence) { synced_sequence_ = sequence; }

 private:
  JournalWriter() = default;
  bool start_segment(uint64_t first_sequence, std::string* error);

  JournalOptions options_;
  int fd_ = -1;
  uint64_t segment_bytes_ = 0;
  uint64_t next_sequence_ = 1;
  uint64_t synced_sequence_ = 0;
  std::vector<uint8_t> pending_;  // appended, not yet written
  uint64_t pending_last_sequence_ = 0;
};

inline constexpr size_t kRecordHeaderBytes = 4 + 4 + 8 + 1;

struct JournalRecord {
  uint64_t sequence = 0;
  uint8_t type = 0;
  std::span<const uint8_t> payload;  // valid during the callback only
};

// Tails a journal directory while its writer appends: reads records in sequence order from a
// starting point, incrementally (each byte is read once), following rotation into the next
// segment and a rewrite into a segment that supersedes the rest of the current one. Only
// records up to a bound the caller knows to be complete (durable) are read.
class JournalReader {
 public:
  JournalReader(std::string directory, uint64_t next_sequence);
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  // Delivers records with sequence in [next_sequence(), until], at most `records_max`, and
  // stops early (before a record) once `full` (if given) returns true. Returns how many; false
  // in *ok (and *error) when a record in that range is missing or corrupt.
  size_t read(uint64_t until, size_t records_max,
              const std::function<void(const JournalRecord&)>& fn, bool* ok, std::string* error,
              const std::function<bool()>& full = nullptr);
  uint64_t next_sequence() const { return next_; }

 private:
  bool open_segment_for_next(std::string* error);
  std::string directory_;
  uint64_t next_;
  int fd_ = -1;
  uint64_t segment_first_ = 0;
  uint64_t segment_last_ = UINT64_MAX;  // the next segment's first - 1, when there is one
  uint64_t file_offset_ = 0;            // of buffer_[0]
  std::vector<uint8_t> buffer_;         // bytes read from the segment, not yet delivered
  size_t buffer_at_ = 0;
};

// Reads records with sequence >= `from` and <= `until`, in order, across segments (each
// segment up to where the next one begins). Returns the last sequence delivered (from - 1 if
// none); stops at the first bad record (reporting it in *error) or when `fn` returns false.
uint64_t read_journal(const std::string& directory, uint64_t from, uint64_t until,
                      const std::function<bool(const JournalRecord&)>& fn, std::string* error);

// Deletes whole segments whose records all have sequence <= `persisted` (never the last one).
// Returns how many were removed.
uint32_t delete_persisted_segments(const std::string& directory, uint64_t persisted);

// Walks framed records held in memory (as JournalWriter::frame makes them), checking each
// one's length, CRC and that sequences are consecutive; stops at the first bad one (saying why
// in *bad) or when `fn` returns false. Returns the bytes of the good records walked.
size_t walk_frames(std::span<const uint8_t> bytes, uint32_t record_bytes_max,
                   const std::function<bool(const JournalRecord&)>& fn, std::string* bad);

// The first sequence of the oldest segment (1 for a journal never trimmed, 0 when there is
// none): records before it were deleted once persisted.
uint64_t first_retained_sequence(const std::string& directory);

}  // namespace boxoffice::persist
