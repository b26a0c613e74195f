// SeatTable: creating, re-attaching and refusing seat table files.
#include "shm/seat_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "tests/core/engine_fixture.h"

namespace boxoffice::shm {
namespace {

using boxoffice::testing::small_geometry;
using boxoffice::testing::TempTablePath;

std::unique_ptr<SeatTable> open_table(const std::string& path, std::string* error,
                                      TableGeometry geometry = small_geometry()) {
  return SeatTable::open({path, geometry, 1000}, error);
}

void overwrite(const std::string& path, off_t offset, const void* bytes, size_t size) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, size, offset), static_cast<ssize_t>(size));
  ::close(fd);
}

TEST(SeatTable, CreatesThenReattachesKeepingState) {
  TempTablePath path;
  std::string error;
  {
    auto table = open_table(path.path(), &error);
    ASSERT_NE(table, nullptr) << error;
    EXPECT_TRUE(table->created());
    EventSlot* slot = table->allocate_event(100, 10, &error);
    ASSERT_NE(slot, nullptr) << error;
    const uint32_t seats[] = {3, 64, 99};
    uint32_t conflicts[3];
    ASSERT_TRUE(acquire_seats(table->taken(*slot), seats, conflicts).acquired);
    EXPECT_GE(table->allocate_hold(0), 0);
  }
  auto table = open_table(path.path(), &error);
  ASSERT_NE(table, nullptr) << error;
  EXPECT_FALSE(table->created());
  EXPECT_EQ(table->events_used(), 1u);
  EXPECT_EQ(table->header().attach_count.load(), 2u);
  const EventSlot& slot = table->event(0);
  EXPECT_EQ(slot.seat_count, 100u);
  EXPECT_EQ(count_bits(table->taken(slot), 0, 100), 3u);
  EXPECT_TRUE(test_bit(table->taken(slot), 64));
  EXPECT_TRUE(table->hold_allocated(0));
}

TEST(SeatTable, RefusesSecondProcessOrHandle) {
  TempTablePath path;
  std::string error;
  auto first = open_table(path.path(), &error);
  ASSERT_NE(first, nullptr) << error;
  auto second = open_table(path.path(), &error);
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

// The creator must hold the lock from before the file has its name: a process that opens it in
// between must be the one refused "in use", never the creator. The window is a few system calls
// wide, so the race is run for several rounds.
TEST(SeatTable, ConcurrentCreatorsPublishExactlyOneFile) {
  constexpr int kRounds = 20;
  constexpr int kProcesses = 6;
  for (int round = 0; round < kRounds; ++round) {
    TempTablePath path;
    std::vector<pid_t> children;
    for (int i = 0; i < kProcesses; ++i) {
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        std::string error;
        auto table = open_table(path.path(), &error);
        if (table && table->created()) {
          ::usleep(10'000);  // keep it locked while the others try
          ::_exit(10);
        }
        if (table) ::_exit(11);                                        // attached after
        ::_exit(error.find("in use") != std::string::npos ? 12 : 13);  // attached while locked
      }
      children.push_back(child);
    }
    int created = 0, unexpected = 0;
    for (pid_t child : children) {
      int status = 0;
      ::waitpid(child, &status, 0);
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      created += code == 10;
      unexpected += code != 10 && code != 11 && code != 12;
    }
    ASSERT_EQ(created, 1) << "round " << round;
    ASSERT_EQ(unexpected, 0) << "round " << round;
    std::string error;
    EXPECT_NE(open_table(path.path(), &error), nullptr) << error;
  }
}

TEST(SeatTable, RefusesBadMagic) {
  TempTablePath path;
  std::string error;
  ASSERT_NE(open_table(path.path(), &error), nullptr) << error;
  overwrite(path.path(), 0, "NOTATABL", 8);
  EXPECT_EQ(open_table(path.path(), &error), nullptr);
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;
}

TEST(SeatTable, RefusesOtherFormatVersion) {
  TempTablePath path;
  std::string error;
  ASSERT_NE(open_table(path.path(), &error), nullptr) << error;
  const uint32_t version = kFormatVersion + 1;
  overwrite(path.path(), offsetof(TableHeader, format_version), &version, sizeof version);
  EXPECT_EQ(open_table(path.path(), &error), nullptr);
  EXPECT_NE(error.find("format version"), std::string::npos) << error;
}

TEST(SeatTable, RefusesCorruptedHeader) {
  TempTablePath path;
  std::string error;
  ASSERT_NE(open_table(path.path(), &error), nullptr) << error;
  // Flip one byte of a checksummed field (the arena offset) without fixing the checksum.
  uint8_t byte = 0x5A;
  overwrite(path.path(), offsetof(TableHeader, arena_offset) + 2, &byte, 1);
  EXPECT_EQ(open_table(path.path(), &error), nullptr);
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
}

TEST(SeatTable, RefusesTruncatedFile) {
  TempTablePath path;
  std::string error;
  ASSERT_NE(open_table(path.path(), &error), nullptr) << error;
  ASSERT_EQ(::truncate(path.path().c_str(), 100), 0);
  EXPECT_EQ(open_table(path.path(), &error), nullptr);
  EXPECT_NE(error.find("too short"), std::string::npos) << error;
  TempTablePath other;
  ASSERT_NE(open_table(other.path(), &error), nullptr) << error;
  ASSERT_EQ(::truncate(other.path().c_str(), 8192), 0);  // header intact, body missing
  EXPECT_EQ(open_table(other.path(), &error), nullptr);
  EXPECT_NE(error.find("file size"), std::string::npos) << error;
}

TEST(SeatTable, RefusesDifferentGeometry) {
  TempTablePath path;
  std::string error;
  ASSERT_NE(open_table(path.path(), &error), nullptr) << error;
  TableGeometry other = small_geometry();
  other.holds_max *= 2;
  EXPECT_EQ(open_table(path.path(), &error, other), nullptr);
  EXPECT_NE(error.find("holds_max"), std::string::npos) << error;
}

TEST(SeatTable, RejectsBadGeometry) {
  TempTablePath path;
  std::string error;
  TableGeometry g = small_geometry();
  g.holds_max = 100;  // not a multiple of 64
  EXPECT_EQ(open_table(path.path(), &error, g), nullptr);
  EXPECT_NE(error.find("holds_max"), std::string::npos);
  g = small_geometry();
  g.idempotency_entries_max = 1000;  // not a power of two
  EXPECT_EQ(open_table(path.path(), &error, g), nullptr);
  g = small_geometry();
  g.workers_max = kWorkersMax + 1;
  EXPECT_EQ(open_table(path.path(), &error, g), nullptr);
  EXPECT_NE(::access(path.path().c_str(), F_OK), 0) << "a refused geometry must not leave a file";
}

TEST(SeatTable, DirectoryAndArenaLimits) {
  TempTablePath path;
  std::string error;
  TableGeometry g = small_geometry();
  g.events_max = 2;
  g.arena_bytes = 1 << 20;
  auto table = open_table(path.path(), &error, g);
  ASSERT_NE(table, nullptr) << error;
  EXPECT_EQ(table->allocate_event(1'000'000, 10, &error), nullptr);  // ~130 MB of slots
  EXPECT_NE(error.find("arena full"), std::string::npos) << error;
  ASSERT_NE(table->allocate_event(100, 10, &error), nullptr) << error;
  ASSERT_NE(table->allocate_event(100, 10, &error), nullptr) << error;
  EXPECT_EQ(table->allocate_event(100, 10, &error), nullptr);
  EXPECT_NE(error.find("directory full"), std::string::npos) << error;
}

// How many of the pages under [begin, begin + bytes) are resident (mincore).
size_t resident_pages(const void* begin, size_t bytes, size_t* pages) {
  const size_t page_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<uintptr_t>(begin) / page_bytes * page_bytes;
  const uintptr_t end = reinterpret_cast<uintptr_t>(begin) + bytes;
  *pages = (end - start + page_bytes - 1) / page_bytes;
  std::vector<unsigned char> in_core(*pages);
  EXPECT_EQ(mincore(reinterpret_cast<void*>(start), end - start, in_core.data()), 0);
  size_t resident = 0;
  for (unsigned char page : in_core) resident += page & 1;
  return resident;
}

TEST(SeatTable, HoldTableAndNewEventsArePopulated) {
  TempTablePath path;
  std::string error;
  TableGeometry g = small_geometry();
  g.holds_max = 64 * 1024;  // 12 MiB of hold slots
  g.arena_bytes = 64 << 20;
  auto table = open_table(path.path(), &error, g);
  ASSERT_NE(table, nullptr) << error;
  size_t pages = 0;
  const size_t hold_bytes = size_t{g.holds_max} * sizeof(HoldSlot);
  size_t resident = resident_pages(&table->hold(0), hold_bytes, &pages);
  EXPECT_LT(resident, pages / 2);  // a sparse file so far
  if (!table->populate_holds()) GTEST_SKIP() << "no MADV_POPULATE_WRITE (Linux < 5.14)";
  resident = resident_pages(&table->hold(0), hold_bytes, &pages);
  EXPECT_EQ(resident, pages);

  EventSlot* event = table->allocate_event(100'000, 10, &error);  // 12.8 MB of ticket slots
  ASSERT_NE(event, nullptr) << error;
  resident = resident_pages(table->tickets(*event), 100'000 * sizeof(TicketSlot), &pages);
  EXPECT_EQ(resident, pages);
  resident = resident_pages(table->taken(*event), 100'000 / 8, &pages);
  EXPECT_EQ(resident, pages);
}

TEST(SeatTable, HoldSlotsAllocateUntilFullThenReuse) {
  TempTablePath path;
  std::string error;
  TableGeometry g = small_geometry();
  g.holds_max = 128;
  auto table = open_table(path.path(), &error, g);
  ASSERT_NE(table, nullptr) << error;
  std::vector<bool> seen(128, false);
  for (int i = 0; i < 128; ++i) {
    const int64_t slot = table->allocate_hold(static_cast<uint32_t>(i * 7));
    ASSERT_GE(slot, 0);
    ASSERT_FALSE(seen[slot]) << "slot handed out twice";
    seen[slot] = true;
  }
  EXPECT_EQ(table->allocate_hold(0), -1);
  table->free_hold(77);
  EXPECT_EQ(table->allocate_hold(3), 77);
}

}  // namespace
}  // namespace boxoffice::shm
