#include "persist/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "shm/check.h"
#include "shm/crc32c.h"

namespace boxoffice::persist {
namespace {

constexpr size_t kHeaderBytes = kRecordHeaderBytes;
// No record is larger (the control journal's event documents are the largest): a length beyond
// it is corruption, not a reason to allocate.
constexpr uint32_t kReaderRecordBytesMax = 64u << 20;
constexpr char kSuffix[] = ".journal";

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t record_crc(const uint8_t* sequence_type_payload, size_t bytes) {
  return crc32c(sequence_type_payload, bytes);
}

// Writes all of `bytes` (retrying short writes); false with errno set on a failure.
bool write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string segment_name(uint64_t first_sequence) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx%s", static_cast<unsigned long long>(first_sequence),
                kSuffix);
  return name;
}

// The segments of `directory`, by first sequence.
std::vector<uint64_t> list_segments(const std::string& directory) {
  std::vector<uint64_t> firsts;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return firsts;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() != 16 + sizeof kSuffix - 1 || name.substr(16) != kSuffix) continue;
    const std::string digits = name.substr(0, 16);
    char* end = nullptr;
    const unsigned long long first = std::strtoull(digits.c_str(), &end, 16);
    if (end == digits.c_str() + digits.size() && first > 0) firsts.push_back(first);
  }
  ::closedir(dir);
  std::sort(firsts.begin(), firsts.end());
  return firsts;
}

bool read_file(const std::string& path, std::vector<uint8_t>* bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  bytes->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes->size()) {
    const ssize_t n =
        ::pread(fd, bytes->data() + done, bytes->size() - done, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bytes->resize(done);
  ::close(fd);
  return true;
}

// Walks the records of one segment's bytes. Returns the offset after the last good record;
// *bad says why the walk stopped early (empty at a clean end).
template <typename Fn>
size_t walk(std::span<const uint8_t> bytes, uint64_t expected_first, uint32_t record_bytes_max,
            std::string* bad, Fn&& fn) {
  size_t at = 0;
  uint64_t expected = expected_first;
  while (at < bytes.size()) {
    if (bytes.size() - at < kHeaderBytes) {
      *bad = "torn record header";
      break;
    }
    const uint32_t payload_bytes = get32(&bytes[at]);
    const uint32_t crc = get32(&bytes[at + 4]);
    const uint64_t sequence = get64(&bytes[at + 8]);
    if (payload_bytes > record_bytes_max) {
      *bad = "record length " + std::to_string(payload_bytes) + " over the limit";
      break;
    }
    if (bytes.size() - at - kHeaderBytes < payload_bytes) {
      *bad = "torn record";
      break;
    }
    if (record_crc(&bytes[at + 8], 8 + 1 + payload_bytes) != crc) {
      *bad = "CRC mismatch";
      break;
    }
    if (sequence != expected) {
      *bad = "sequence " + std::to_string(sequence) + " where " + std::to_string(expected) +
             " was due";
      break;
    }
    if (!fn(JournalRecord{sequence, bytes[at + 16], {&bytes[at + kHeaderBytes], payload_bytes}})) {
      return at + kHeaderBytes + payload_bytes;
    }
    at += kHeaderBytes + payload_bytes;
    ++expected;
  }
  return at;
}

}  // namespace

std::unique_ptr<JournalWriter> JournalWriter::open(const JournalOptions& options, JournalTail* tail,
                                                   std::string* error) {
  if (::mkdir(options.directory.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = errno_text("cannot create journal directory " + options.directory);
    return nullptr;
  }
  std::unique_ptr<JournalWriter> writer(new JournalWriter());
  writer->options_ = options;
  *tail = JournalTail{};
  const std::vector<uint64_t> segments = list_segments(options.directory);
  if (segments.empty()) {
    if (!writer->start_segment(1, error)) return nullptr;
    return writer;
  }
  // Only the last segment can have a torn tail: earlier ones were complete when it began.
  const uint64_t first = segments.back();
  const std::string path = options.directory + "/" + segment_name(first);
  std::vector<uint8_t> bytes;
  if (!read_file(path, &bytes)) {
    *error = errno_text("cannot read journal segment " + path);
    return nullptr;
  }
  std::string bad;
  uint64_t next = first;
  const size_t good =
      walk(bytes, first, options.record_bytes_max, &bad, [&](const JournalRecord& r) {
        next = r.sequence + 1;
        return true;
      });
  writer->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (writer->fd_ < 0) {
    *error = errno_text("cannot open journal segment " + path);
    return nullptr;
  }
  if (good < bytes.size()) {
    if (::ftruncate(writer->fd_, static_cast<off_t>(good)) != 0 || ::fdatasync(writer->fd_) != 0) {
      *error = errno_text("cannot truncate the bad tail of " + path);
      return nullptr;
    }
    tail->truncated_bytes = bytes.size() - good;
    tail->reason = bad + " at byte " + std::to_string(good) + " of " + segment_name(first);
  }
  if (::lseek(writer->fd_, static_cast<off_t>(good), SEEK_SET) < 0) {
    *error = errno_text("cannot seek in " + path);
    return nullptr;
  }
  // What a crashed process wrote may still be only in the page cache: make it durable before
  // anything counts it as such.
  if (::fdatasync(writer->fd_) != 0) {
    *error = errno_text("journal fdatasync of " + path);
    return nullptr;
  }
  writer->segment_bytes_ = good;
  writer->next_sequence_ = next;
  writer->synced_sequence_ = next - 1;
  tail->next_sequence = next;
  return writer;
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

bool JournalWriter::start_segment(uint64_t first_sequence, std::string* error) {
  const std::string path = options_.directory + "/" + segment_name(first_sequence);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = errno_text("cannot create journal segment " + path);
    return false;
  }
  // The new name must survive a crash before any record in it is acknowledged.
  const int dir = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_bytes_ = 0;
  return true;
}

size_t JournalWriter::frame(uint64_t sequence, uint8_t type, std::span<const uint8_t> payload,
                            uint8_t* p) {
  put32(p, static_cast<uint32_t>(payload.size()));
  put64(p + 8, sequence);
  p[16] = type;
  if (!payload.empty()) std::memcpy(p + kHeaderBytes, payload.data(), payload.size());
  put32(p + 4, record_crc(p + 8, 8 + 1 + payload.size()));
  return kHeaderBytes + payload.size();
}

uint64_t JournalWriter::append(uint8_t type, std::span<const uint8_t> payload, std::string* error) {
  if (payload.size() > options_.record_bytes_max) {
    *error = "journal record of " + std::to_string(payload.size()) + " bytes over the limit";
    return 0;
  }
  const size_t at = pending_.size();
  pending_.resize(at + kHeaderBytes + payload.size());
  // next_sequence_ moves when the records are written (sync -> write_framed).
  const uint64_t sequence = at == 0 ? next_sequence_ : pending_last_sequence_ + 1;
  frame(sequence, type, payload, &pending_[at]);
  pending_last_sequence_ = sequence;
  return sequence;
}

bool JournalWriter::write_framed(std::span<const uint8_t> frames, uint64_t first, uint64_t last,
                                 std::string* error) {
  BOXOFFICE_ASSERT(first == next_sequence_ && last >= first);
  if (segment_bytes_ > 0 && segment_bytes_ + frames.size() > options_.segment_bytes_max) {
    if (::fdatasync(fd_) != 0) {
      *error = errno_text("journal fdatasync");
      return false;
    }
    synced_sequence_ = first - 1;
    if (!start_segment(first, error)) return false;
  }
  if (!write_all(fd_, frames)) {
    // A short write leaves a torn record; the next write_framed must not follow it.
    *error = errno_text("journal write");
    return false;
  }
  segment_bytes_ += frames.size();
  next_sequence_ = last + 1;
  return true;
}

bool JournalWriter::rewrite_segment(uint64_t first, std::span<const uint8_t> frames, uint64_t last,
                                    std::string* error) {
  BOXOFFICE_ASSERT(first > synced_sequence_ && first <= next_sequence_ && last + 1 >= first);
  const std::string path = options_.directory + "/" + segment_name(first);
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = errno_text("cannot create journal segment " + temporary);
    return false;
  }
  if (!write_all(fd, frames) || ::fdatasync(fd) != 0 ||
      ::rename(temporary.c_str(), path.c_str()) != 0) {
    *error = errno_text("rewriting journal segment " + path);
    ::close(fd);
    ::unlink(temporary.c_str());
    return false;
  }
  const int dir = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool dir_synced = dir >= 0 && ::fsync(dir) == 0;
  if (dir >= 0) ::close(dir);
  if (!dir_synced) {
    *error = errno_text("fsync of journal directory " + options_.directory);
    ::close(fd);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_bytes_ = frames.size();
  next_sequence_ = last + 1;
  synced_sequence_ = last;
  return true;
}

bool JournalWriter::sync(std::string* error) {
  if (pending_.empty()) return true;
  if (!write_framed(pending_, get64(&pending_[8]), pending_last_sequence_, error)) return false;
  if (::fdatasync(fd_) != 0) {
    *error = errno_text("journal fdatasync");
    return false;
  }
  pending_.clear();  // keeps its capacity: no allocation once warm
  synced_sequence_ = pending_last_sequence_;
  return true;
}

uint64_t read_journal(const std::string& directory, uint64_t from, uint64_t until,
                      const std::function<bool(const JournalRecord&)>& fn, std::string* error) {
  uint64_t last = from - 1;
  const std::vector<uint64_t> segments = list_segments(directory);
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i + 1 < segments.size() && segments[i + 1] <= from) continue;  // wholly before `from`
    if (segments[i] > until) break;
    std::vector<uint8_t> bytes;
    const std::string path = directory + "/" + segment_name(segments[i]);
    if (!read_file(path, &bytes)) {
      *error = errno_text("cannot read journal segment " + path);
      return last;
    }
    std::string bad;
    bool stop = false;
    // A later segment that begins inside this one supersedes the rest of it (records written
    // again after a failed fdatasync).
    const uint64_t segment_last = i + 1 < segments.size() ? segments[i + 1] - 1 : UINT64_MAX;
    walk(bytes, segments[i], UINT32_MAX, &bad, [&](const JournalRecord& r) {
      if (r.sequence > segment_last) return false;
      if (r.sequence > until) {
        stop = true;
        return false;
      }
      if (r.sequence < from) return true;
      if (r.sequence != last + 1 || !fn(r)) {
        stop = true;
        return false;
      }
      last = r.sequence;
      return true;
    });
    if (stop) break;
    if (!bad.empty() && last < std::min(until, segment_last)) {
      *error = bad + " in " + segment_name(segments[i]);
      break;
    }
  }
  return last;
}

uint32_t delete_persisted_segments(const std::string& directory, uint64_t persisted) {
  const std::vector<uint64_t> segments = list_segments(directory);
  uint32_t removed = 0;
  // Segment i holds sequences [segments[i], segments[i+1]): removable when the next one starts
  // at or before persisted + 1. The last segment is always kept (the writer appends to it).
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i + 1] > persisted + 1) break;
    if (::unlink((directory + "/" + segment_name(segments[i])).c_str()) == 0) ++removed;
  }
  return removed;
}

JournalReader::JournalReader(std::string directory, uint64_t next_sequence)
    : directory_(std::move(directory)), next_(next_sequence) {}

JournalReader::~JournalReader() {
  if (fd_ >= 0) ::close(fd_);
}

// Opens the segment that holds next_: the one with the highest first sequence <= next_.
bool JournalReader::open_segment_for_next(std::string* error) {
  const std::vector<uint64_t> segments = list_segments(directory_);
  size_t best = segments.size();
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i] <= next_) best = i;
  }
  if (best == segments.size()) {
    *error = "journal " + directory_ + " has no segment holding sequence " + std::to_string(next_);
    return false;
  }
  const uint64_t last = best + 1 < segments.size() ? segments[best + 1] - 1 : UINT64_MAX;
  if (fd_ >= 0 && segments[best] == segment_first_) {
    // Same segment; a later one may have appeared since, or this one been written again
    // after a failed fdatasync: drop what is buffered past the next record and read afresh.
    segment_last_ = last;
    file_offset_ += buffer_at_;
    buffer_.clear();
    buffer_at_ = 0;
    return true;
  }
  const std::string path = directory_ + "/" + segment_name(segments[best]);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("cannot open journal segment " + path);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_first_ = segments[best];
  segment_last_ = last;
  file_offset_ = 0;
  buffer_.clear();
  buffer_at_ = 0;
  return true;
}

size_t JournalReader::read(uint64_t until, size_t records_max,
                           const std::function<void(const JournalRecord&)>& fn, bool* ok,
                           std::string* error, const std::function<bool()>& full) {
  constexpr size_t kReadBytes = 1u << 20;
  *ok = true;
  size_t delivered = 0;
  bool reopened = false;  // one look for a newer segment per call when this one runs dry
  if (fd_ < 0 && next_ <= until && !open_segment_for_next(error)) {
    *ok = false;
    return 0;
  }
  while (delivered < records_max && next_ <= until && !(full && full())) {
    // A whole record in the buffer?
    const size_t available = buffer_.size() - buffer_at_;
    const uint8_t* p = buffer_.data() + buffer_at_;
    if (available >= kHeaderBytes && get32(p) > kReaderRecordBytesMax) {
      *error = "journal " + directory_ + ": record length " + std::to_string(get32(p)) +
               " over the limit after sequence " + std::to_string(next_ - 1);
      *ok = false;
      return delivered;
    }
    if (available >= kHeaderBytes && available >= kHeaderBytes + get32(p)) {
      const uint32_t payload_bytes = get32(p);
      const uint64_t sequence = get64(p + 8);
      if (sequence > segment_last_ || record_crc(p + 8, 9 + payload_bytes) != get32(p + 4)) {
        // Superseded from here on (or a torn copy before a rewrite): move to the next segment.
        if (reopened || !open_segment_for_next(error)) break;
        reopened = true;
        continue;
      }
      buffer_at_ += kHeaderBytes + payload_bytes;
      if (sequence < next_) continue;  // before where we start
      if (sequence != next_) {
        *error = "journal " + directory_ + ": sequence " + std::to_string(sequence) + " where " +
                 std::to_string(next_) + " was due";
        *ok = false;
        return delivered;
      }
      fn(JournalRecord{sequence, p[16], {p + kHeaderBytes, payload_bytes}});
      ++next_;
      ++delivered;
      reopened = false;
      continue;
    }
    // Read more of the segment.
    if (buffer_at_ > 0) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(buffer_at_));
      file_offset_ += buffer_at_;
      buffer_at_ = 0;
    }
    const size_t had = buffer_.size();
    size_t want = std::max(
        kReadBytes, available >= kHeaderBytes ? kHeaderBytes + get32(buffer_.data()) : size_t{0});
    // Never past the end of the file: a corrupt length must not allocate (up to 64 MiB, zeroed)
    // for bytes that are not there.
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
      const uint64_t at = file_offset_ + had;
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      want = static_cast<size_t>(std::min<uint64_t>(want, size > at ? size - at : 0));
    }
    buffer_.resize(had + want);
    const ssize_t n =
        ::pread(fd_, buffer_.data() + had, want, static_cast<off_t>(file_offset_ + had));
    buffer_.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) continue;
    // End of this segment for now: the rest may be in the next one.
    if (reopened || !open_segment_for_next(error)) break;
    reopened = true;
  }
  if (next_ <= until && delivered < records_max && !(full && full())) {
    // Records up to `until` are durable, so they are in some segment: this is damage.
    if (error->empty()) {
      *error = "journal " + directory_ + " ends at sequence " + std::to_string(next_ - 1) +
               " before the durable " + std::to_string(until);
    }
    *ok = false;
  }
  return delivered;
}

size_t walk_frames(std::span<const uint8_t> bytes, uint32_t record_bytes_max,
                   const std::function<bool(const JournalRecord&)>& fn, std::string* bad) {
  if (bytes.size() < kHeaderBytes) {
    if (!bytes.empty()) *bad = "torn record header";
    return 0;
  }
  return walk(bytes, get64(&bytes[8]), record_bytes_max, bad, fn);
}

uint64_t first_retained_sequence(const std::string& directory) {
  const std::vector<uint64_t> segments = list_segments(directory);
  return segments.empty() ? 0 : segments.front();
}

}  // namespace boxoffice::persist
