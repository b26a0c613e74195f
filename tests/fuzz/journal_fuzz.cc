// journal_fuzz: the journal's readers and its tail repair (persist/journal.h) over segment
// files with arbitrary contents: torn tails, flipped bytes, bad CRCs, huge lengths, sequences
// out of order, segments that overlap or leave gaps, names that do not match their records.
//
// Input: one byte of options, then the segments:
//   options bits 0-1: segment count - 1 (1 to 4 segments)
//   per segment: u64 first sequence (little-endian; it names the file, 0 is not a segment
//   name), then for every segment but the last a u16 byte count and those bytes; the last
//   segment takes the rest of the input.
// The segments are written to a fresh directory under /dev/shm, then read by every reader:
// walk_frames on each segment's bytes, read_journal over the directory, a JournalReader
// (whole and in steps of a few records), read_control (the control journal's decoder) and the
// payload decoders of persist/records.h on every record delivered. Finally JournalWriter::open
// repairs the tail and appends one record, which must then read back.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "persist/control_log.h"
#include "persist/journal.h"
#include "persist/records.h"
#include "tests/fuzz/input_deadline.h"

namespace boxoffice::fuzz {
namespace {

using namespace ::boxoffice::persist;

constexpr uint32_t kRecordBytesMax = 64u << 10;  // JournalOptions' default

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "journal_fuzz: %s\n", what.c_str());
  std::abort();
}

// The bytes of the input, consumed from the front.
struct Cursor {
  std::span<const uint8_t> rest;
  uint64_t take(size_t bytes) {
    uint64_t value = 0;
    for (size_t i = 0; i < bytes && i < rest.size(); ++i) value |= uint64_t{rest[i]} << (8 * i);
    rest = rest.subspan(std::min(bytes, rest.size()));
    return value;
  }
  std::span<const uint8_t> take_bytes(size_t bytes) {
    const std::span<const uint8_t> out = rest.first(std::min(bytes, rest.size()));
    rest = rest.subspan(out.size());
    return out;
  }
};

// A directory of its own under /dev/shm, emptied for each input and removed at exit.
class ScratchDirectory {
 public:
  ScratchDirectory() : path_("/dev/shm/boxoffice-fuzz-journal-" + std::to_string(::getpid())) {
    ::mkdir(path_.c_str(), 0700);
  }
  ~ScratchDirectory() {
    clear();
    ::rmdir(path_.c_str());
  }
  void clear() const {
    DIR* dir = ::opendir(path_.c_str());
    if (dir == nullptr) return;
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") ::unlink((path_ + "/" + name).c_str());
    }
    ::closedir(dir);
  }
  void write(uint64_t first_sequence, std::span<const uint8_t> bytes) const {
    char name[40];
    std::snprintf(name, sizeof name, "/%016llx.journal",
                  static_cast<unsigned long long>(first_sequence));
    const int fd = ::open((path_ + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      broken("cannot write a segment under " + path_);
    }
    ::close(fd);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the payload decoder of the record's type; its answer does not matter, only that it
// gives one.
void decode(const JournalRecord& record) {
  std::string error;
  switch (static_cast<RecordType>(record.type)) {
    case RecordType::kSale: {
      DecodedSale sale;
      if (decode_sale(record.payload, &sale, &error) && sale.entry.seats.size() == 0) {
        broken("a sale of no seats decoded");
      }
      break;
    }
    case RecordType::kVoid: {
      VoidEntry entry;
      decode_void(record.payload, &entry, &error);
      break;
    }
    case RecordType::kEventCreated: {
      EventEntry entry;
      decode_event(record.payload, &entry, &error);
      break;
    }
    case RecordType::kEventState: {
      EventStateEntry entry;
      decode_event_state(record.payload, &entry, &error);
      break;
    }
    default:
      break;
  }
}

void read_everything(const ScratchDirectory& directory) {
  const std::string& path = directory.path();
  std::string error;
  uint64_t expected = 1;
  const uint64_t last = read_journal(
      path, 1, UINT64_MAX,
      [&](const JournalRecord& record) {
        if (record.sequence != expected++) broken("read_journal skipped a sequence");
        decode(record);
        return true;
      },
      &error);
  if (last != expected - 1) broken("read_journal's last sequence is not the last delivered");

  for (const size_t step : {size_t{100'000}, size_t{3}}) {
    JournalReader reader(path, 1);
    uint64_t next = 1;
    bool ok = true;
    for (int calls = 0; ok && calls < 64; ++calls) {
      error.clear();
      const size_t delivered = reader.read(
          UINT64_MAX, step,
          [&](const JournalRecord& record) {
            if (record.sequence != next++) broken("JournalReader skipped a sequence");
            decode(record);
          },
          &ok, &error);
      if (reader.next_sequence() != next) broken("JournalReader's next sequence is off");
      if (delivered < step) break;
    }
  }

  ControlEvents events;
  error.clear();
  read_control(path, &events, &error);
}

// After the tail repair, a record appended must read back as the next sequence.
void repair_and_append(const ScratchDirectory& directory) {
  JournalOptions options;
  options.directory = directory.path();
  options.segment_bytes_max = 4096;
  JournalTail tail;
  std::string error;
  std::unique_ptr<JournalWriter> writer = JournalWriter::open(options, &tail, &error);
  if (writer == nullptr) return;  // e.g. a segment that cannot be read: refused, not used
  static constexpr uint8_t kPayload[] = {'f', 'u', 'z', 'z'};
  const uint64_t sequence =
      writer->append(static_cast<uint8_t>(RecordType::kFiller), kPayload, &error);
  if (sequence != tail.next_sequence) broken("an append after open() got an unexpected sequence");
  if (!writer->sync(&error)) broken("sync after open(): " + error);
  uint64_t found = 0;
  error.clear();
  read_journal(
      directory.path(), sequence, sequence,
      [&](const JournalRecord& record) {
        found = record.sequence;
        return record.payload.size() == sizeof kPayload;
      },
      &error);
  if (found != sequence) {
    broken("the record appended after open() does not read back (" + error + "; " + tail.reason +
           ")");
  }
}

}  // namespace
}  // namespace boxoffice::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace boxoffice::fuzz;
  static const ScratchDirectory directory;
  run_within_deadline("journal_fuzz", [&] {
    directory.clear();
    Cursor input{{data, size}};
    const uint32_t segments = static_cast<uint32_t>(input.take(1) & 3) + 1;
    for (uint32_t i = 0; i < segments && !input.rest.empty(); ++i) {
      const uint64_t first = input.take(8);
      const size_t bytes =
          i + 1 < segments ? static_cast<size_t>(input.take(2)) : input.rest.size();
      const std::span<const uint8_t> segment = input.take_bytes(bytes);
      directory.write(first, segment);
      std::string bad;
      walk_frames(
          segment, kRecordBytesMax,
          [](const JournalRecord& record) {
            decode(record);
            return true;
          },
          &bad);
    }
    read_everything(directory);
    repair_and_append(directory);
  });
  return 0;
}
