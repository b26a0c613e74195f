// WorkerLog and JournalReader: staged records reach the journal once each, in order, whichever
// point a crash cuts (before the write, after it, in the middle of it); a failed fdatasync
// refuses new sales and rewrites what was not durable into a segment that supersedes the old
// copies; a reader tailing the journal (on another thread too) sees every record exactly once.
#include "persist/worker_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "persist/journal.h"
#include "persist/records.h"

namespace boxoffice::persist {
namespace {

// The record these tests stage as sequence `i`: mostly sales of 1..4 seats (now and then 32),
// with and without key and buyer, and every seventh a void. Deterministic, so a reader can
// check each record it gets against what was staged.
struct PlannedRecord {
  bool is_void = false;
  std::string key;
  std::string buyer;
  std::array<SoldSeat, shm::kSeatsPerHoldMax> seats{};
  size_t seat_count = 0;
  VoidEntry void_entry;
  SaleEntry sale(uint64_t i) const {
    return {static_cast<uint32_t>(i % 5),
            static_cast<int64_t>(1'700'000'000'000 + i),
            key.empty() ? 0 : i * 0x9e3779b97f4a7c15ull,
            key,
            buyer,
            {seats.data(), seat_count}};
  }
};

PlannedRecord plan(uint64_t i) {
  PlannedRecord p;
  if (i % 7 == 0) {
    p.is_void = true;
    p.void_entry = {static_cast<uint32_t>(i % 5), static_cast<uint32_t>(i % 1000),
                    static_cast<uint32_t>(1 + i % 3), i * 31, static_cast<int64_t>(i)};
    return p;
  }
  if (i % 3 == 0) p.key = "key-" + std::to_string(i);
  if (i % 2 == 0) p.buyer = "buyer-" + std::to_string(i * 17);
  p.seat_count = i % 97 == 0 ? shm::kSeatsPerHoldMax : 1 + i % 4;
  for (size_t k = 0; k < p.seat_count; ++k) {
    p.seats[k] = {static_cast<uint32_t>(i * 3 + k), static_cast<uint32_t>(1 + k), i * 1000003 + k,
                  static_cast<int64_t>(100 * (k + 1))};
  }
  return p;
}

// A sale of 32 seats with the longest key and buyer: the largest record there is.
void stage_largest(WorkerLog& log, uint64_t i) {
  PlannedRecord p = plan(i);
  p.key.assign(shm::kIdempotencyKeyBytesMax, 'k');
  p.buyer.assign(shm::kBuyerRefBytesMax, 'b');
  p.seat_count = shm::kSeatsPerHoldMax;
  log.sale(p.sale(i));
}

void stage(SaleLog& log, uint64_t i) {
  const PlannedRecord p = plan(i);
  if (p.is_void) {
    log.voided(p.void_entry);
  } else {
    log.sale(p.sale(i));
  }
}

uint8_t expected_type(uint64_t i) {
  return static_cast<uint8_t>(i % 7 == 0 ? RecordType::kVoid : RecordType::kSale);
}

std::vector<uint8_t> expected_payload(uint64_t i) {
  const PlannedRecord p = plan(i);
  std::vector<uint8_t> out(kSaleRecordBytesMax);
  out.resize(p.is_void ? encode_void(p.void_entry, out.data())
                       : encode_sale(p.sale(i), out.data()));
  return out;
}

bool matches_plan(const JournalRecord& r) {
  const std::vector<uint8_t> expected = expected_payload(r.sequence);
  return r.type == expected_type(r.sequence) &&
         std::equal(r.payload.begin(), r.payload.end(), expected.begin(), expected.end());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

class WorkerLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = base_ + "/boxoffice-worker-log-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    options_.journal_directory = dir_ + "/worker-0";
    options_.staging_path = dir_ + "/table.log-0";
    options_.staging_bytes = 1u << 20;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<WorkerLog> open(WorkerLogOpenReport* report = nullptr) {
    WorkerLogOpenReport ignored;
    std::string error;
    auto log = WorkerLog::open(options_, report ? report : &ignored, &error);
    EXPECT_NE(log, nullptr) << error;
    return log;
  }
  static void stage_range(SaleLog& log, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i <= to; ++i) stage(log, i);
  }
  static void sync(WorkerLog& log) {
    std::string error;
    ASSERT_TRUE(log.sync_now(&error)) << error;
  }

  // Every record read_journal() finds from `from`, each checked against the plan.
  std::vector<uint64_t> journal_sequences(uint64_t from = 1, std::string* error = nullptr) {
    std::vector<uint64_t> seen;
    std::string ignored;
    read_journal(
        options_.journal_directory, from, UINT64_MAX,
        [&](const JournalRecord& r) {
          EXPECT_TRUE(matches_plan(r)) << "record " << r.sequence;
          seen.push_back(r.sequence);
          return true;
        },
        error ? error : &ignored);
    return seen;
  }
  static std::vector<uint64_t> range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> v;
    for (uint64_t i = from; i <= to; ++i) v.push_back(i);
    return v;
  }
  // Reads up to `until` with `reader`, checking each record; returns the sequences delivered.
  static std::vector<uint64_t> read_with(JournalReader& reader, uint64_t until, bool* ok,
                                         std::string* error) {
    std::vector<uint64_t> seen;
    error->clear();
    reader.read(
        until, SIZE_MAX,
        [&](const JournalRecord& r) {
          EXPECT_TRUE(matches_plan(r)) << "record " << r.sequence;
          seen.push_back(r.sequence);
        },
        ok, error);
    return seen;
  }
  std::vector<std::string> segments() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(options_.journal_directory))
      names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string segment_path(uint64_t first) const {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.journal", static_cast<unsigned long long>(first));
    return options_.journal_directory + "/" + name;
  }
  static uint64_t frame_bytes(uint64_t i) {
    return kRecordHeaderBytes + expected_payload(i).size();
  }

  std::string base_ = "/tmp";
  std::string dir_;
  WorkerLogOptions options_;
};

TEST_F(WorkerLogTest, StagedRecordsAreWrittenInOrder) {
  auto log = open();
  EXPECT_TRUE(log->has_room());
  stage_range(*log, 1, 100);
  EXPECT_EQ(log->appended_sequence(), 100u);
  EXPECT_EQ(log->durable_sequence(), 0u);
  EXPECT_TRUE(journal_sequences().empty());  // still only staged
  std::string error;
  EXPECT_EQ(log->write_staged(&error), 100u) << error;
  EXPECT_EQ(log->durable_sequence(), 0u);  // written, not yet synced
  EXPECT_EQ(journal_sequences(), range(1, 100));
  log->synced(100);
  EXPECT_EQ(log->durable_sequence(), 100u);
  EXPECT_EQ(log->write_staged(&error), 0u);  // nothing more to sync

  // The payloads decode to what was logged.
  read_journal(
      options_.journal_directory, 6, 7,
      [&](const JournalRecord& r) {
        if (r.sequence == 6) {
          DecodedSale sale;
          EXPECT_TRUE(decode_sale(r.payload, &sale, &error)) << error;
          EXPECT_EQ(sale.entry.idempotency_key, "key-6");
          EXPECT_EQ(sale.entry.buyer_ref, "buyer-102");
          EXPECT_EQ(sale.entry.seats.size(), 3u);
          EXPECT_EQ(sale.entry.seats[2].nonce, 6u * 1000003 + 2);
        } else {
          VoidEntry v;
          EXPECT_TRUE(decode_void(r.payload, &v, &error)) << error;
          EXPECT_EQ(v.nonce, 7u * 31);
        }
        return true;
      },
      &error);

  // Reopened, the log continues the sequence and finds nothing to repair.
  log.reset();
  WorkerLogOpenReport report;
  log = open(&report);
  EXPECT_EQ(report.tail.next_sequence, 101u);
  EXPECT_EQ(report.tail.truncated_bytes, 0u);
  EXPECT_EQ(report.staged_recovered, 0u);
  EXPECT_EQ(report.staged_already, 0u);
  EXPECT_EQ(log->appended_sequence(), 100u);
  EXPECT_EQ(log->durable_sequence(), 100u);
  stage_range(*log, 101, 120);
  sync(*log);
  EXPECT_EQ(journal_sequences(), range(1, 120));
}

TEST_F(WorkerLogTest, RecordsStagedButNeverWrittenSurviveTheProcess) {
  {
    auto log = open();
    stage_range(*log, 1, 10);
    sync(*log);
    SaleLog& sale_log = *log;  // what the engine sees
    stage_range(sale_log, 11, 50);
    // The process dies here: no write_staged(), no sync. The staging file stays.
  }
  EXPECT_EQ(journal_sequences(), range(1, 10));
  WorkerLogOpenReport report;
  auto log = open(&report);
  EXPECT_EQ(report.staged_recovered, 40u);
  EXPECT_EQ(report.staged_already, 0u);
  EXPECT_EQ(report.tail.truncated_bytes, 0u);
  EXPECT_EQ(log->appended_sequence(), 50u);
  EXPECT_EQ(log->durable_sequence(), 50u);  // open() fdatasynced them
  EXPECT_EQ(journal_sequences(), range(1, 50));
  stage_range(*log, 51, 60);
  sync(*log);
  EXPECT_EQ(journal_sequences(), range(1, 60));

  // The staging area was emptied: a second reopen recovers nothing more.
  log.reset();
  log = open(&report);
  EXPECT_EQ(report.staged_recovered, 0u);
  EXPECT_EQ(report.staged_already, 0u);
  EXPECT_EQ(journal_sequences(), range(1, 60));
}

TEST_F(WorkerLogTest, CrashAfterTheWriteDoublesNothing) {
  {
    auto log = open();
    stage_range(*log, 1, 30);
    std::string error;
    EXPECT_EQ(log->write_staged(&error), 30u) << error;
    // Dies after the write (page cache) and the staging reset, before the fdatasync.
  }
  WorkerLogOpenReport report;
  auto log = open(&report);
  EXPECT_EQ(report.staged_recovered, 0u);
  EXPECT_EQ(report.staged_already, 0u);
  EXPECT_EQ(log->appended_sequence(), 30u);
  EXPECT_EQ(journal_sequences(), range(1, 30));
}

TEST_F(WorkerLogTest, CrashBetweenTheWriteAndTheStagingResetDoublesNothing) {
  std::vector<uint8_t> staged;
  {
    auto log = open();
    stage_range(*log, 1, 5);
    sync(*log);
    stage_range(*log, 6, 30);
    staged = read_bytes(options_.staging_path);  // as it was before the write
    std::string error;
    EXPECT_EQ(log->write_staged(&error), 30u) << error;
  }
  // The staging file as a crash right after write() and before the reset leaves it.
  write_bytes(options_.staging_path, staged);
  WorkerLogOpenReport report;
  auto log = open(&report);
  EXPECT_EQ(report.staged_already, 25u);
  EXPECT_EQ(report.staged_recovered, 0u);
  EXPECT_EQ(log->appended_sequence(), 30u);
  EXPECT_EQ(journal_sequences(), range(1, 30));
  stage_range(*log, 31, 31);
  sync(*log);
  EXPECT_EQ(journal_sequences(), range(1, 31));
}

// A crash in the middle of write(): the segment ends in a torn record and the staging file
// still holds the whole batch. open() cuts the torn record and appends the rest from staging.
TEST_F(WorkerLogTest, TornWriteIsCutAndCompletedFromStaging) {
  // Cut inside the last record, and inside an earlier one of the batch.
  for (const uint64_t torn : {uint64_t{30}, uint64_t{24}}) {
    SCOPED_TRACE(::testing::Message() << "torn record " << torn);
    std::filesystem::remove_all(options_.journal_directory);
    std::vector<uint8_t> staged;
    {
      auto log = open();
      stage_range(*log, 1, 20);
      sync(*log);
      stage_range(*log, 21, 30);
      staged = read_bytes(options_.staging_path);
      std::string error;
      EXPECT_EQ(log->write_staged(&error), 30u) << error;
    }
    write_bytes(options_.staging_path, staged);
    // Keep records 21..torn-1 whole and 5 bytes of `torn`.
    uint64_t keep = 0;
    for (uint64_t i = 1; i < torn; ++i) keep += frame_bytes(i);
    const std::string segment = segments().back();
    std::filesystem::resize_file(segment, keep + 5);

    WorkerLogOpenReport report;
    auto log = open(&report);
    EXPECT_EQ(report.tail.truncated_bytes, 5u);
    EXPECT_FALSE(report.tail.reason.empty());
    EXPECT_EQ(report.staged_already, torn - 21);
    EXPECT_EQ(report.staged_recovered, 31 - torn);
    EXPECT_EQ(log->durable_sequence(), 30u);
    EXPECT_EQ(journal_sequences(), range(1, 30));
  }
}

// A torn tail with an empty staging area can only follow the loss of the page cache (a power
// cut), which takes the unsynced records with it: they were never acknowledged, and the log
// goes on from the last whole record.
TEST_F(WorkerLogTest, TornTailAfterAPowerCutKeepsTheWholeRecords) {
  {
    auto log = open();
    stage_range(*log, 1, 10);
    sync(*log);
    stage_range(*log, 11, 12);
    std::string error;
    EXPECT_EQ(log->write_staged(&error), 12u) << error;
  }
  const std::string segment = segments().back();
  std::filesystem::resize_file(segment, std::filesystem::file_size(segment) - 3);
  WorkerLogOpenReport report;
  auto log = open(&report);
  EXPECT_EQ(report.tail.truncated_bytes, frame_bytes(12) - 3);
  EXPECT_EQ(report.tail.next_sequence, 12u);
  EXPECT_EQ(log->appended_sequence(), 11u);
  stage_range(*log, 12, 15);
  sync(*log);
  EXPECT_EQ(journal_sequences(), range(1, 15));
}

TEST_F(WorkerLogTest, FailedSyncRewritesTheUnsyncedRecordsIntoANewSegment) {
  auto log = open();
  JournalReader reader(options_.journal_directory, 1);
  bool ok = false;
  std::string error;
  stage_range(*log, 1, 10);
  sync(*log);
  EXPECT_EQ(read_with(reader, log->durable_sequence(), &ok, &error), range(1, 10));
  EXPECT_TRUE(ok) << error;

  stage_range(*log, 11, 20);
  EXPECT_EQ(log->write_staged(&error), 20u) << error;
  log->sync_failed("test");
  EXPECT_TRUE(log->failed());
  EXPECT_EQ(log->last_error(), "test");
  EXPECT_FALSE(log->has_room());  // the engine answers BUSY
  EXPECT_EQ(log->durable_sequence(), 10u);
  // Recovery may still log (it does not ask has_room()).
  stage_range(*log, 21, 22);

  // The retry writes 11..20 to a new segment and fdatasyncs it before it takes the old one's
  // place: they are durable at once; 21..22 follow in it, durable after their own sync.
  EXPECT_EQ(log->write_staged(&error), 22u) << error;
  EXPECT_TRUE(std::filesystem::exists(segment_path(11)));
  EXPECT_FALSE(log->failed());
  EXPECT_EQ(log->durable_sequence(), 20u);
  EXPECT_TRUE(log->has_room());
  // That sync fails too: 21..22 go to a segment of their own, with 23 after them.
  log->sync_failed("test again");
  EXPECT_FALSE(log->has_room());
  stage_range(*log, 23, 23);
  EXPECT_EQ(log->write_staged(&error), 23u) << error;
  EXPECT_TRUE(std::filesystem::exists(segment_path(21)));
  EXPECT_EQ(log->durable_sequence(), 22u);
  log->synced(23);
  EXPECT_FALSE(log->failed());
  EXPECT_TRUE(log->has_room());
  EXPECT_EQ(log->durable_sequence(), 23u);
  EXPECT_EQ(segments().size(), 3u);
  // The old segment still holds its copies of 11..20 beyond where the new one begins.
  uint64_t first_segment_bytes = 0;
  for (uint64_t i = 1; i <= 20; ++i) first_segment_bytes += frame_bytes(i);
  EXPECT_EQ(std::filesystem::file_size(segment_path(1)), first_segment_bytes);

  EXPECT_EQ(journal_sequences(), range(1, 23));
  EXPECT_EQ(read_with(reader, log->durable_sequence(), &ok, &error), range(11, 23));
  EXPECT_TRUE(ok) << error;
  JournalReader fresh(options_.journal_directory, 1);
  EXPECT_EQ(read_with(fresh, log->durable_sequence(), &ok, &error), range(1, 23));
  EXPECT_TRUE(ok) << error;

  stage_range(*log, 24, 30);
  sync(*log);
  EXPECT_EQ(journal_sequences(), range(1, 30));
  EXPECT_EQ(read_with(reader, 30, &ok, &error), range(24, 30));
  EXPECT_TRUE(ok) << error;
  // After a restart the journal reads the same.
  log.reset();
  WorkerLogOpenReport report;
  log = open(&report);
  EXPECT_EQ(report.tail.next_sequence, 31u);
  EXPECT_EQ(report.tail.truncated_bytes, 0u);
  EXPECT_EQ(journal_sequences(), range(1, 30));
}

// The page cache may hold garbage for records whose fdatasync failed; the rewritten segment
// supersedes them, so a reader that meets the garbage moves on to it.
TEST_F(WorkerLogTest, GarbageInASupersededCopyIsNeverDelivered) {
  auto log = open();
  JournalReader reader(options_.journal_directory, 1);
  bool ok = false;
  std::string error;
  stage_range(*log, 1, 10);
  sync(*log);
  EXPECT_EQ(read_with(reader, 10, &ok, &error), range(1, 10));
  stage_range(*log, 11, 20);
  EXPECT_EQ(log->write_staged(&error), 20u) << error;
  log->sync_failed("test");
  // Flip a byte in record 15's copy in the first segment.
  uint64_t at = 0;
  for (uint64_t i = 1; i < 15; ++i) at += frame_bytes(i);
  std::vector<uint8_t> bytes = read_bytes(segment_path(1));
  bytes[at + kRecordHeaderBytes + 2] ^= 0x5a;
  write_bytes(segment_path(1), bytes);

  EXPECT_EQ(log->write_staged(&error), 0u) << error;  // rewritten and fdatasynced: durable
  EXPECT_EQ(log->durable_sequence(), 20u);
  EXPECT_EQ(read_with(reader, 20, &ok, &error), range(11, 20));
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(journal_sequences(), range(1, 20));
  JournalReader fresh(options_.journal_directory, 1);
  EXPECT_EQ(read_with(fresh, 20, &ok, &error), range(1, 20));
  EXPECT_TRUE(ok) << error;
}

// A rotation inside write_staged() fdatasyncs the full segment; if the new segment's fdatasync
// then fails, the rewrite must start after what that rotation made durable, in the newest
// segment, or readers would stop at a segment the writer no longer appends to.
TEST_F(WorkerLogTest, FailedSyncAfterARotationRewritesIntoTheNewestSegment) {
  options_.segment_bytes_max = 4096;
  auto log = open();
  std::string error;
  // Three of the largest records fit in a segment; the second batch rotates.
  for (uint64_t i = 1; i <= 3; ++i) stage_largest(*log, i);
  EXPECT_EQ(log->write_staged(&error), 3u) << error;
  for (uint64_t i = 4; i <= 6; ++i) stage_largest(*log, i);
  EXPECT_EQ(log->write_staged(&error), 6u) << error;
  EXPECT_TRUE(std::filesystem::exists(segment_path(4)));
  log->sync_failed("test");
  for (uint64_t i = 7; i <= 8; ++i) stage_largest(*log, i);
  EXPECT_NE(log->write_staged(&error), 0u) << error;
  log->synced(8);
  EXPECT_TRUE(log->has_room());

  std::vector<uint64_t> seen;
  error.clear();
  read_journal(
      options_.journal_directory, 1, UINT64_MAX,
      [&](const JournalRecord& r) {
        seen.push_back(r.sequence);
        return true;
      },
      &error);
  EXPECT_EQ(seen, range(1, 8)) << error;
  JournalReader reader(options_.journal_directory, 1);
  bool ok = false;
  error.clear();
  EXPECT_EQ(reader.read(
                8, SIZE_MAX, [](const JournalRecord&) {}, &ok, &error),
            8u);
  EXPECT_TRUE(ok) << error;
  log.reset();
  WorkerLogOpenReport report;
  log = open(&report);
  EXPECT_EQ(report.tail.next_sequence, 9u);
}

TEST_F(WorkerLogTest, BacklogBeyondItsLimitRefusesNewSales) {
  options_.backlog_records_max = 10;
  auto log = open();
  stage_range(*log, 1, 9);
  sync(*log);
  EXPECT_TRUE(log->has_room());
  stage_range(*log, 10, 10);
  EXPECT_FALSE(log->has_room());  // 10 appended, none persisted
  sync(*log);
  EXPECT_FALSE(log->has_room());  // durable is not enough: MariaDB must have them
  log->set_persisted(1);
  EXPECT_TRUE(log->has_room());
  EXPECT_EQ(log->persisted_sequence(), 1u);
  stage_range(*log, 11, 11);
  EXPECT_FALSE(log->has_room());
  log->set_persisted(11);
  EXPECT_TRUE(log->has_room());
}

TEST_F(WorkerLogTest, FullStagingAreaOrUnsyncedBacklogRefusesNewSales) {
  options_.staging_bytes = 4096;  // room for four of the largest records, not five
  auto log = open();
  uint64_t i = 0;
  while (log->has_room()) stage_largest(*log, ++i);
  EXPECT_EQ(i, 4u);  // has_room() said yes only while one more largest record fitted whole
  std::string error;
  EXPECT_EQ(log->write_staged(&error), i) << error;
  EXPECT_TRUE(log->has_room());
  // Written and never synced: at four staging areas' worth the disk is too far behind.
  while (log->has_room()) {
    stage_largest(*log, ++i);
    ASSERT_NE(log->write_staged(&error), 0u) << error;
  }
  EXPECT_GT(i * (kRecordHeaderBytes + kSaleRecordBytesMax), 4u * 4096);
  log->synced(log->appended_sequence());
  EXPECT_TRUE(log->has_room());
  // Recovery, which logs without asking, makes room by writing what is staged.
  for (uint64_t k = 0; k < 10; ++k) stage_largest(*log, ++i);
  sync(*log);
  uint64_t count = 0;
  read_journal(
      options_.journal_directory, 1, UINT64_MAX,
      [&](const JournalRecord&) { return ++count, true; }, &error);
  EXPECT_EQ(count, i);
}

TEST_F(WorkerLogTest, ReaderTailsAcrossRotationsAndDeletedSegments) {
  options_.segment_bytes_max = 4096;
  auto log = open();
  JournalReader reader(options_.journal_directory, 1);
  bool ok = false;
  std::string error;
  // Nothing durable yet: nothing to read, and no error.
  EXPECT_TRUE(read_with(reader, 0, &ok, &error).empty());
  EXPECT_TRUE(ok) << error;

  uint64_t appended = 0;
  auto append = [&](uint64_t n) {  // in batches of ten, one write and fdatasync each
    for (uint64_t k = 0; k < n; k += 10) {
      stage_range(*log, appended + 1, appended + std::min<uint64_t>(10, n - k));
      appended += std::min<uint64_t>(10, n - k);
      sync(*log);
    }
  };

  append(40);
  EXPECT_EQ(read_with(reader, 25, &ok, &error), range(1, 25));
  EXPECT_TRUE(ok) << error;
  append(200);  // several rotations
  EXPECT_GT(segments().size(), 3u);
  EXPECT_EQ(read_with(reader, 100, &ok, &error), range(26, 100));
  EXPECT_TRUE(ok) << error;
  // records_max bounds one call.
  std::vector<uint64_t> seen;
  EXPECT_EQ(reader.read(
                240, 7, [&](const JournalRecord& r) { seen.push_back(r.sequence); }, &ok, &error),
            7u);
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(seen, range(101, 107));
  EXPECT_EQ(reader.next_sequence(), 108u);

  // A bound past the end is damage: reported, with everything that exists delivered.
  EXPECT_EQ(read_with(reader, 250, &ok, &error), range(108, 240));
  EXPECT_FALSE(ok);
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(reader.next_sequence(), 241u);

  // Segments the reader is past are deleted (as the persister does): it goes on.
  append(100);
  EXPECT_GT(delete_persisted_segments(options_.journal_directory, reader.next_sequence() - 1), 0u);
  const uint64_t first = first_retained_sequence(options_.journal_directory);
  EXPECT_GT(first, 1u);
  EXPECT_EQ(read_with(reader, 300, &ok, &error), range(241, 300));
  EXPECT_TRUE(ok) << error;
  // A reader that has just finished a segment when it is deleted (its file stays open) moves
  // on to the next one.
  const std::vector<std::string> names = segments();
  ASSERT_GE(names.size(), 2u);
  const uint64_t second = std::stoull(std::filesystem::path(names[1]).stem().string(), nullptr, 16);
  JournalReader behind(options_.journal_directory, first);
  EXPECT_EQ(read_with(behind, second - 1, &ok, &error), range(first, second - 1));
  EXPECT_TRUE(ok) << error;
  append(100);
  EXPECT_EQ(delete_persisted_segments(options_.journal_directory, second - 1), 1u);
  EXPECT_FALSE(std::filesystem::exists(names[0]));
  EXPECT_EQ(read_with(behind, 440, &ok, &error), range(second, 440));
  EXPECT_TRUE(ok) << error;
  EXPECT_EQ(read_with(reader, 440, &ok, &error), range(301, 440));
  EXPECT_TRUE(ok) << error;

  // A reader starting before the first retained segment is told, not given a gap.
  JournalReader too_early(options_.journal_directory, 1);
  EXPECT_TRUE(read_with(too_early, 440, &ok, &error).empty());
  EXPECT_FALSE(ok);
  EXPECT_FALSE(error.empty());
}

TEST_F(WorkerLogTest, WalkFramesNeverCrashesOnGarbage) {
  // Real frames, as WorkerLog stages them.
  std::vector<uint8_t> frames;
  for (uint64_t i = 1; i <= 20; ++i) {
    const std::vector<uint8_t> payload = expected_payload(i);
    std::vector<uint8_t> frame(kRecordHeaderBytes + payload.size());
    JournalWriter::frame(i, expected_type(i), payload, frame.data());
    frames.insert(frames.end(), frame.begin(), frame.end());
  }
  auto walk_copy = [](const std::vector<uint8_t>& bytes, size_t* records, std::string* bad) {
    // An exact-size heap copy: reading past it is an ASan error.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[std::max<size_t>(bytes.size(), 1)]);
    std::copy(bytes.begin(), bytes.end(), copy.get());
    *records = 0;
    uint64_t expected = 0;
    const size_t good = walk_frames(
        {copy.get(), bytes.size()}, kSaleRecordBytesMax,
        [&](const JournalRecord& r) {
          if (expected != 0) {
            EXPECT_EQ(r.sequence, expected);
          }
          expected = r.sequence + 1;
          ++*records;
          return true;
        },
        bad);
    EXPECT_LE(good, bytes.size());
    return good;
  };
  size_t records = 0;
  std::string bad;
  EXPECT_EQ(walk_copy(frames, &records, &bad), frames.size());
  EXPECT_EQ(records, 20u);
  EXPECT_TRUE(bad.empty()) << bad;

  // Every truncation stops at the last whole frame, saying why.
  std::vector<size_t> ends = {0};
  for (uint64_t i = 1; i <= 20; ++i) ends.push_back(ends.back() + frame_bytes(i));
  for (size_t cut = 0; cut < frames.size(); ++cut) {
    std::vector<uint8_t> truncated(frames.begin(), frames.begin() + cut);
    bad.clear();
    const size_t good = walk_copy(truncated, &records, &bad);
    const size_t whole = std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin() - 1;
    EXPECT_EQ(good, ends[whole]) << "cut at " << cut;
    EXPECT_EQ(records, whole) << "cut at " << cut;
    EXPECT_EQ(bad.empty(), cut == ends[whole]) << "cut at " << cut;
  }
  // Every single-bit flip ends the walk just before the damaged frame (CRC32C catches any
  // single-bit error; a flipped length makes the frame torn, over the limit or a CRC mismatch).
  for (size_t at = 0; at < frames.size(); ++at) {
    std::vector<uint8_t> flipped = frames;
    flipped[at] ^= static_cast<uint8_t>(1u << (at % 8));
    bad.clear();
    const size_t good = walk_copy(flipped, &records, &bad);
    const size_t damaged = std::upper_bound(ends.begin(), ends.end(), at) - ends.begin() - 1;
    EXPECT_EQ(records, damaged) << "flip at " << at;
    EXPECT_EQ(good, ends[damaged]) << "flip at " << at;
    EXPECT_FALSE(bad.empty()) << "flip at " << at;
  }
  // Random bytes, and random bytes after a good prefix.
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> garbage(rng() % 300);
    for (auto& b : garbage) b = static_cast<uint8_t>(rng());
    if (round % 2 == 1) garbage.insert(garbage.begin(), frames.begin(), frames.begin() + ends[3]);
    bad.clear();
    walk_copy(garbage, &records, &bad);
  }
}

// One thread stages, writes and syncs while another tails the journal up to the durable
// sequence and reports its progress back (as the persister does): every record arrives once,
// in order, with its payload. Selected by name for the ThreadSanitizer run.
class WorkerLogConcurrency : public WorkerLogTest {
 protected:
  // tmpfs: fdatasync costs nothing there, so the test measures the interleavings, not the disk.
  WorkerLogConcurrency() { base_ = "/dev/shm"; }
};

TEST_F(WorkerLogConcurrency, ReaderTailsAWriterOnAnotherThread) {
  constexpr uint64_t kRecords = 100'000;
  options_.segment_bytes_max = 1u << 20;  // a dozen rotations
  options_.backlog_records_max = 20'000;  // the writer waits for the reader now and then
  auto log = open();
  std::atomic<bool> writer_failed{false};
  std::atomic<uint64_t> reader_errors{0};

  std::thread reader_thread([&] {
    JournalReader reader(options_.journal_directory, 1);
    uint64_t expected = 1;
    while (expected <= kRecords && !writer_failed.load()) {
      const uint64_t until = log->durable_sequence();
      bool ok = false;
      std::string error;
      reader.read(
          until, 4096,
          [&](const JournalRecord& r) {
            if (r.sequence != expected || !matches_plan(r)) reader_errors.fetch_add(1);
            expected = r.sequence + 1;
          },
          &ok, &error);
      if (!ok) {
        ADD_FAILURE() << error;
        reader_errors.fetch_add(1);
        break;
      }
      log->set_persisted(expected - 1);
      if (reader.next_sequence() > until) std::this_thread::yield();
    }
    EXPECT_EQ(expected, kRecords + 1);
  });

  std::mt19937_64 rng(11);
  uint64_t next = 1;
  std::string error;
  while (next <= kRecords && reader_errors.load() == 0) {
    const uint64_t batch = 1 + rng() % 64;
    for (uint64_t k = 0; k < batch && next <= kRecords; ++k) {
      while (!log->has_room() && reader_errors.load() == 0) {
        if (!log->sync_now(&error)) break;
        std::this_thread::yield();
      }
      stage(*log, next++);
    }
    if (!log->sync_now(&error)) {
      writer_failed.store(true);
      ADD_FAILURE() << error;
      break;
    }
  }
  reader_thread.join();
  EXPECT_EQ(reader_errors.load(), 0u);
  EXPECT_EQ(log->durable_sequence(), kRecords);
  EXPECT_EQ(log->persisted_sequence(), kRecords);
}

}  // namespace
}  // namespace boxoffice::persist
