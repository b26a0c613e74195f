// SeatTable: the memory-mapped seat table file (see table_format.h for its bytes).
//
// open() creates the file (sized once, sparse, published by link() so a half-made file never
// carries a valid header) or re-attaches an existing one after checking magic, format version,
// header size, geometry and CRC32C; anything else is refused with a message, never used. The file
// is flock()ed for the lifetime of the object: one process owns a table at a time.
//
// Thread safety: accessors may be called from any thread. allocate_event() must be serialized
// by the caller (event creation is rare and not on the booking path); allocate_hold() and
// free_hold() are lock-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "shm/table_format.h"

namespace boxoffice::shm {

struct TableOptions {
  std::string path;
  TableGeometry geometry;  // used when creating; must match when attaching
  int64_t now_ms = 0;      // becomes the epoch of hold expiry times in a new table
};

// Sizes that suit one node: 1024 events, 1M concurrent holds, 1M idempotency keys, 4 GiB of
// event arena (a 60k-seat event takes about 8 MiB). The file is sparse: untouched pages are free.
TableGeometry default_geometry();

// Checks a geometry against the format's ceilings; returns an empty string when usable.
std::string validate_geometry(const TableGeometry& geometry);

class SeatTable {
 public:
  // Creates or attaches. Returns null and sets *error (a sentence naming the file) on failure.
  static std::unique_ptr<SeatTable> open(const TableOptions& options, std::string* error);
  ~SeatTable();
  SeatTable(const SeatTable&) = delete;
  SeatTable& operator=(const SeatTable&) = delete;

  bool created() const { return created_; }  // false: re-attached an existing file
  const std::string& path() const { return path_; }
  const TableGeometry& geometry() const { return header_->geometry; }
  TableHeader& header() { return *header_; }
  int64_t epoch_ms() const { return header_->created_at_ms; }
  uint64_t file_bytes() const { return header_->file_bytes; }

  // Events. Slots [0, events_used()) have been allocated; check their state.
  uint32_t events_used() const { return header_->events_used.load(std::memory_order_acquire); }
  EventSlot& event(uint32_t index);
  // Reserves the next directory slot and arena space; the slot is left in kCreating with its
  // offsets filled in. Null (and *error) when the directory or the arena is full.
  EventSlot* allocate_event(uint32_t seat_count, uint64_t layout_bytes, std::string* error);
  WorkerCounters* counters(const EventSlot& e) { return at<WorkerCounters>(e.counters_offset); }
  Word* taken(const EventSlot& e) { return at<Word>(e.taken_offset); }
  Word* sold(const EventSlot& e) { return at<Word>(e.sold_offset); }
  TicketSlot* tickets(const EventSlot& e) { return at<TicketSlot>(e.tickets_offset); }
  char* layout(const EventSlot& e) { return at<char>(e.layout_offset); }

  // Holds.
  HoldSlot& hold(uint32_t index);
  // Maps every page of the hold table in now (holds_max x 192 bytes), so that the first holds
  // after a start do not fault them in one at a time. allocate_event() does the same for each
  // new event's section. A hint: false where the kernel cannot (MADV_POPULATE_WRITE, Linux
  // 5.14+), and the pages are then faulted in on first use as before.
  bool populate_holds();
  // Claims a free hold slot, scanning from `hint`; -1 when all are in use.
  int64_t allocate_hold(uint32_t hint);
  void free_hold(uint32_t index);
  bool hold_allocated(uint32_t index) const;

  CommitIntent& intent(uint32_t worker_index);
  IdempotencyEntry& idempotency(uint32_t index);

 private:
  SeatTable() = default;
  bool populate(uint64_t offset, uint64_t bytes);
  template <typename T>
  T* at(uint64_t offset) {
    return reinterpret_cast<T*>(base_ + offset);
  }

  std::string path_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t mapped_bytes_ = 0;
  TableHeader* header_ = nullptr;
  bool created_ = false;
};

}  // namespace boxoffice::shm
