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

struct JournalRecord {
  uint64_t sequence = 0;
  uint8_t type = 0;
  std::span<const uint8_t> payload;  // valid during the callback only
};

// Reads records with sequence >= `from` and <= `until`, in order, across segments. Returns the
// last sequence delivered (from - 1 if none); stops at the first bad record (reporting it in
// *error) or when `fn` returns false.
uint64_t read_journal(const std::string& directory, uint64_t from, uint64_t until,
                      const std::function<bool(const JournalRecord&)>& fn, std::string* error);

// Deletes whole segments whose records all have sequence <= `persisted` (never the last one).
// Returns how many were removed.
uint32_t delete_persisted_segments(const std::string& directory, uint64_t persisted);

}  // namespace boxoffice::persist
