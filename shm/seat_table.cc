#include "shm/seat_table.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>

#include "shm/check.h"
#include "shm/crc32c.h"

namespace boxoffice::shm {
namespace {

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

std::string errno_text(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

uint32_t header_checksum(const TableHeader& header) {
  return crc32c(&header, offsetof(TableHeader, checksum));
}

// Computes the section offsets of a table of `geometry` into `header`.
void lay_out(const TableGeometry& geometry, TableHeader* header) {
  uint64_t offset = align_up(sizeof(TableHeader), kSectionAlignBytes);
  auto section = [&](uint64_t bytes) {
    const uint64_t start = offset;
    offset = align_up(offset + bytes, kSectionAlignBytes);
    return start;
  };
  header->events_offset = section(uint64_t{geometry.events_max} * sizeof(EventSlot));
  header->intents_offset = section(uint64_t{geometry.workers_max} * sizeof(CommitIntent));
  header->hold_bitmap_offset = section(uint64_t{geometry.holds_max} / kBitsPerWord * sizeof(Word));
  header->holds_offset = section(uint64_t{geometry.holds_max} * sizeof(HoldSlot));
  header->idempotency_offset =
      section(uint64_t{geometry.idempotency_entries_max} * sizeof(IdempotencyEntry));
  header->arena_offset = section(geometry.arena_bytes);
  header->file_bytes = offset;
}

std::string describe(const TableGeometry& g) {
  return "events_max=" + std::to_string(g.events_max) +
         " workers_max=" + std::to_string(g.workers_max) +
         " holds_max=" + std::to_string(g.holds_max) +
         " idempotency_entries_max=" + std::to_string(g.idempotency_entries_max) +
         " arena_bytes=" + std::to_string(g.arena_bytes);
}

// Sizes the new file at `fd` (sparse) and writes its header.
bool initialise(int fd, const TableOptions& options, uint64_t file_bytes, const std::string& name,
                std::string* error) {
  if (::ftruncate(fd, static_cast<off_t>(file_bytes)) != 0) {
    *error = errno_text("cannot size seat table", name);
    return false;
  }
  void* base = ::mmap(nullptr, sizeof(TableHeader), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    *error = errno_text("cannot map seat table", name);
    return false;
  }
  auto* header = new (base) TableHeader{};
  std::memcpy(header->magic, kMagic, sizeof kMagic);
  header->format_version = kFormatVersion;
  header->header_bytes = sizeof(TableHeader);
  header->geometry = options.geometry;
  lay_out(options.geometry, header);
  header->created_at_ms = options.now_ms - kEpochSlackMs;
  header->checksum = header_checksum(*header);
  ::munmap(base, sizeof(TableHeader));
  if (::fsync(fd) != 0) {
    *error = errno_text("cannot sync seat table", name);
    return false;
  }
  return true;
}

}  // namespace

TableGeometry default_geometry() {
  TableGeometry g;
  g.events_max = 1024;
  g.workers_max = kWorkersMax;
  g.holds_max = 1u << 20;
  g.idempotency_entries_max = 1u << 20;
  g.arena_bytes = uint64_t{4} << 30;
  return g;
}

std::string validate_geometry(const TableGeometry& g) {
  if (g.events_max == 0 || g.events_max > kEventsMax)
    return "events_max must be in 1.." + std::to_string(kEventsMax);
  if (g.workers_max == 0 || g.workers_max > kWorkersMax)
    return "workers_max must be in 1.." + std::to_string(kWorkersMax);
  if (g.holds_max == 0 || g.holds_max > kHoldsMax || g.holds_max % kBitsPerWord != 0)
    return "holds_max must be a multiple of 64 in 64.." + std::to_string(kHoldsMax);
  if (g.idempotency_entries_max < 64 || !std::has_single_bit(g.idempotency_entries_max) ||
      g.idempotency_entries_max > (1u << 26))
    return "idempotency_entries_max must be a power of two in 64..2^26";
  if (g.arena_bytes < kSectionAlignBytes || g.arena_bytes > (uint64_t{1} << 40))
    return "arena_bytes must be in 4 KiB..1 TiB";
  return {};
}

std::unique_ptr<SeatTable> SeatTable::open(const TableOptions& options, std::string* error) {
  if (std::string why = validate_geometry(options.geometry); !why.empty()) {
    *error = "seat table " + options.path + ": " + why;
    return nullptr;
  }
  std::unique_ptr<SeatTable> table(new SeatTable());
  table->path_ = options.path;

  TableHeader expected{};
  lay_out(options.geometry, &expected);

  int fd = ::open(options.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) {
    *error = errno_text("cannot open seat table", options.path);
    return nullptr;
  }
  if (fd < 0) {
    // Build the new file under a name of our own and link it into place: a crash half-way
    // leaves no file with a valid-looking header at `path`, and if another process published
    // one first, link() fails and we attach to theirs.
    const std::string temporary = options.path + ".creating-" + std::to_string(::getpid());
    ::unlink(temporary.c_str());
    fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = errno_text("cannot create seat table", temporary);
      return nullptr;
    }
    // Lock it before it has its public name: otherwise a process that opens it between link()
    // and our flock() below takes the lock, and the creator is the one refused as "in use".
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      *error = errno_text("cannot lock seat table", temporary);
      ::close(fd);
      ::unlink(temporary.c_str());
      return nullptr;
    }
    const bool written = initialise(fd, options, expected.file_bytes, temporary, error);
    const bool published = written && ::link(temporary.c_str(), options.path.c_str()) == 0;
    const int link_errno = errno;
    ::unlink(temporary.c_str());
    if (!published) {
      ::close(fd);
      if (!written) return nullptr;
      if (link_errno != EEXIST) {
        errno = link_errno;
        *error = errno_text("cannot publish seat table", options.path);
        return nullptr;
      }
      fd = ::open(options.path.c_str(), O_RDWR | O_CLOEXEC);  // someone else's: attach
      if (fd < 0) {
        *error = errno_text("cannot open seat table", options.path);
        return nullptr;
      }
    } else {
      table->created_ = true;
    }
  }
  table->fd_ = fd;

  // A no-op for the file we created (its lock was taken before it was published).
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK ? "seat table " + options.path + " is in use by another process"
                                  : errno_text("cannot lock seat table", options.path);
    return nullptr;
  }

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = errno_text("cannot stat seat table", options.path);
    return nullptr;
  }
  if (static_cast<uint64_t>(st.st_size) < sizeof(TableHeader)) {
    *error = "seat table " + options.path + " is too short (" + std::to_string(st.st_size) +
             " bytes) to hold a header; refusing it";
    return nullptr;
  }

  // Check the header from a private read before mapping the whole file.
  TableHeader found;
  if (::pread(fd, &found, sizeof found, 0) != static_cast<ssize_t>(sizeof found)) {
    *error = errno_text("cannot read seat table header", options.path);
    return nullptr;
  }
  const std::string refuse = "seat table " + options.path + " refused: ";
  if (std::memcmp(found.magic, kMagic, sizeof kMagic) != 0) {
    *error = refuse + "bad magic (not a boxoffice seat table)";
    return nullptr;
  }
  if (found.format_version != kFormatVersion) {
    *error = refuse + "format version " + std::to_string(found.format_version) +
             ", this build reads version " + std::to_string(kFormatVersion) +
             "; move the file away to start a new table (sales are rebuilt from the journal, "
             "holds are not)";
    return nullptr;
  }
  if (found.header_bytes != sizeof(TableHeader)) {
    *error = refuse + "header size " + std::to_string(found.header_bytes) +
             " != " + std::to_string(sizeof(TableHeader));
    return nullptr;
  }
  if (found.checksum != header_checksum(found)) {
    *error = refuse + "header checksum mismatch (corrupted header)";
    return nullptr;
  }
  if (!(found.geometry == options.geometry)) {
    *error = refuse + "it was created with " + describe(found.geometry) +
             " but this server is configured with " + describe(options.geometry) +
             "; restart with the same limits, or move the file away to start a new table";
    return nullptr;
  }
  if (found.file_bytes != expected.file_bytes || found.arena_offset != expected.arena_offset ||
      static_cast<uint64_t>(st.st_size) < found.file_bytes) {
    *error = refuse + "file size or section offsets do not match its geometry";
    return nullptr;
  }

  void* base = ::mmap(nullptr, found.file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    *error = errno_text("cannot map seat table", options.path);
    return nullptr;
  }
  table->base_ = static_cast<uint8_t*>(base);
  table->mapped_bytes_ = found.file_bytes;
  table->header_ = reinterpret_cast<TableHeader*>(base);
  table->header_->attach_count.fetch_add(1, std::memory_order_relaxed);
  BOXOFFICE_ASSERT(table->header_->arena_used_bytes.load() <= found.geometry.arena_bytes);
  BOXOFFICE_ASSERT(table->header_->events_used.load() <= found.geometry.events_max);
  return table;
}

SeatTable::~SeatTable() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
  if (fd_ >= 0) ::close(fd_);  // also drops the flock
}

EventSlot& SeatTable::event(uint32_t index) {
  BOXOFFICE_ASSERT(index < header_->geometry.events_max);
  return at<EventSlot>(header_->events_offset)[index];
}

EventSlot* SeatTable::allocate_event(uint32_t seat_count, uint64_t layout_bytes,
                                     std::string* error) {
  const TableGeometry& g = header_->geometry;
  const uint32_t index = header_->events_used.load(std::memory_order_relaxed);
  if (index >= g.events_max) {
    *error = "event directory full (events_max=" + std::to_string(g.events_max) + ")";
    return nullptr;
  }
  const uint64_t words_bytes = uint64_t{word_count_for(seat_count)} * sizeof(Word);
  uint64_t offset = header_->arena_offset + header_->arena_used_bytes.load();
  auto section = [&](uint64_t bytes) {
    const uint64_t start = align_up(offset, 64);
    offset = start + bytes;
    return start;
  };
  EventSlot candidate{};
  candidate.counters_offset = section(uint64_t{g.workers_max} * sizeof(WorkerCounters));
  candidate.taken_offset = section(words_bytes);
  candidate.sold_offset = section(words_bytes);
  candidate.tickets_offset = section(uint64_t{seat_count} * sizeof(TicketSlot));
  candidate.layout_offset = section(layout_bytes);
  const uint64_t end = align_up(offset, 64);
  if (end > header_->arena_offset + g.arena_bytes) {
    *error = "seat table arena full (arena_bytes=" + std::to_string(g.arena_bytes) + ", " +
             std::to_string(end - header_->arena_offset - header_->arena_used_bytes.load()) +
             " more bytes needed)";
    return nullptr;
  }
  EventSlot& slot = event(index);
  slot.state.store(static_cast<uint32_t>(EventState::kCreating), std::memory_order_relaxed);
  slot.seat_count = seat_count;
  slot.counters_offset = candidate.counters_offset;
  slot.taken_offset = candidate.taken_offset;
  slot.sold_offset = candidate.sold_offset;
  slot.tickets_offset = candidate.tickets_offset;
  slot.layout_offset = candidate.layout_offset;
  slot.layout_bytes = layout_bytes;
  header_->arena_used_bytes.store(end - header_->arena_offset, std::memory_order_relaxed);
  header_->events_used.store(index + 1, std::memory_order_release);
  // Its seats' pages are mapped now rather than by the first sale of each page, in the rush of
  // its on-sale (about 0.6 ms per MiB here: 80 ms for a 1M-seat event's 128 MiB).
  populate(candidate.counters_offset, end - candidate.counters_offset);
  return &slot;
}

bool SeatTable::populate_holds() {
  return populate(header_->holds_offset, uint64_t{header_->geometry.holds_max} * sizeof(HoldSlot));
}

bool SeatTable::populate(uint64_t offset, uint64_t bytes) {
  constexpr uint64_t kPageBytes = 4096;
  const uint64_t start = offset / kPageBytes * kPageBytes;
  BOXOFFICE_ASSERT(offset + bytes <= mapped_bytes_);
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14; older headers lack the name
#endif
  // Faults the pages in without changing their bytes, so it is safe while they are in use.
  return ::madvise(base_ + start, offset + bytes - start, MADV_POPULATE_WRITE) == 0;
}

HoldSlot& SeatTable::hold(uint32_t index) {
  BOXOFFICE_ASSERT(index < header_->geometry.holds_max);
  return at<HoldSlot>(header_->holds_offset)[index];
}

int64_t SeatTable::allocate_hold(uint32_t hint) {
  return acquire_any_bit(at<Word>(header_->hold_bitmap_offset), 0, header_->geometry.holds_max,
                         hint % header_->geometry.holds_max);
}

void SeatTable::free_hold(uint32_t index) {
  BOXOFFICE_ASSERT(index < header_->geometry.holds_max);
  const uint32_t seat[1] = {index};
  release_seats(at<Word>(header_->hold_bitmap_offset), seat);
}

bool SeatTable::hold_allocated(uint32_t index) const {
  auto* self = const_cast<SeatTable*>(this);
  return test_bit(self->at<Word>(header_->hold_bitmap_offset), index);
}

CommitIntent& SeatTable::intent(uint32_t worker_index) {
  BOXOFFICE_ASSERT(worker_index < header_->geometry.workers_max);
  return at<CommitIntent>(header_->intents_offset)[worker_index];
}

IdempotencyEntry& SeatTable::idempotency(uint32_t index) {
  BOXOFFICE_ASSERT(index < header_->geometry.idempotency_entries_max);
  return at<IdempotencyEntry>(header_->idempotency_offset)[index];
}

}  // namespace boxoffice::shm
