// Journal: records survive reopening in order, a torn or corrupted tail is cut at the last good
// record (and reported), segments rotate and persisted ones can be deleted.
#include "persist/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace boxoffice::persist {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/boxoffice-journal-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<JournalWriter> open(JournalTail* tail, uint64_t segment_bytes_max = 64u << 20) {
    std::string error;
    auto writer = JournalWriter::open({dir_, segment_bytes_max, 1024}, tail, &error);
    EXPECT_NE(writer, nullptr) << error;
    return writer;
  }
  static std::vector<uint8_t> payload_for(uint64_t i) {
    std::vector<uint8_t> p(1 + i % 50);
    for (size_t k = 0; k < p.size(); ++k) p[k] = static_cast<uint8_t>(i * 31 + k);
    return p;
  }
  void append(JournalWriter& w, uint64_t from, uint64_t to) {
    std::string error;
    for (uint64_t i = from; i <= to; ++i) {
      ASSERT_EQ(w.append(static_cast<uint8_t>(i % 3), payload_for(i), &error), i) << error;
    }
    ASSERT_TRUE(w.sync(&error)) << error;
  }
  // Reads everything, checking each record's content; returns the last sequence.
  uint64_t read_all(uint64_t from = 1, std::string* error = nullptr) {
    std::string ignored;
    return read_journal(
        dir_, from, UINT64_MAX,
        [&](const JournalRecord& r) {
          EXPECT_EQ(r.type, r.sequence % 3);
          const auto expected = payload_for(r.sequence);
          EXPECT_TRUE(
              std::equal(r.payload.begin(), r.payload.end(), expected.begin(), expected.end()))
              << "record " << r.sequence;
          return true;
        },
        error ? error : &ignored);
  }
  std::vector<std::string> segments() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(JournalTest, RecordsSurviveReopenInOrder) {
  JournalTail tail;
  {
    auto w = open(&tail);
    EXPECT_EQ(tail.next_sequence, 1u);
    append(*w, 1, 500);
    EXPECT_EQ(w->synced_sequence(), 500u);
  }
  auto w = open(&tail);
  EXPECT_EQ(tail.next_sequence, 501u);
  EXPECT_EQ(tail.truncated_bytes, 0u);
  append(*w, 501, 600);
  EXPECT_EQ(read_all(), 600u);
  EXPECT_EQ(read_all(250), 600u);
}

TEST_F(JournalTest, UnsyncedRecordsAreNotOnDisk) {
  JournalTail tail;
  {
    auto w = open(&tail);
    append(*w, 1, 10);
    std::string error;
    w->append(1, payload_for(11), &error);  // never synced: the process "dies"
  }
  auto w = open(&tail);
  EXPECT_EQ(tail.next_sequence, 11u);
  EXPECT_EQ(read_all(), 10u);
}

TEST_F(JournalTest, TornTailIsCutAtTheLastGoodRecordAtEveryByte) {
  JournalTail tail;
  { append(*open(&tail), 1, 20); }
  const std::string segment = segments().back();
  const auto full = std::filesystem::file_size(segment);
  // Where each record ends: a 17-byte header plus its payload.
  std::vector<uintmax_t> ends = {0};
  for (uint64_t i = 1; i <= 20; ++i) ends.push_back(ends.back() + 17 + payload_for(i).size());
  ASSERT_EQ(ends.back(), full);
  // Cut the file at every length inside the last three records.
  for (uintmax_t cut = full - 1; cut >= ends[17]; --cut) {
    std::filesystem::resize_file(segment, cut);
    const uint64_t complete = std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin() - 1;
    auto w = open(&tail);
    EXPECT_EQ(tail.next_sequence, complete + 1) << "cut at " << cut;
    EXPECT_EQ(tail.truncated_bytes, cut - ends[complete]) << "cut at " << cut;
    EXPECT_EQ(tail.reason.empty(), tail.truncated_bytes == 0) << tail.reason;
    EXPECT_EQ(std::filesystem::file_size(segment), ends[complete]);
    EXPECT_EQ(read_all(), complete);
    append(*w, complete + 1, 20);  // appending after the repair continues the sequence
    EXPECT_EQ(read_all(), 20u);
  }
}

TEST_F(JournalTest, CorruptedRecordEndsTheJournalThere) {
  JournalTail tail;
  { append(*open(&tail), 1, 100); }
  const std::string segment = segments().back();
  const auto size = std::filesystem::file_size(segment);
  {
    const int fd = ::open(segment.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    uint8_t byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(size / 2)), 1);
    byte ^= 0x40;
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(size / 2)), 1);
    ::close(fd);
  }
  std::string error;
  const uint64_t readable = read_all(1, &error);
  EXPECT_LT(readable, 100u);
  EXPECT_FALSE(error.empty());
  auto w = open(&tail);
  EXPECT_EQ(tail.next_sequence, readable + 1);
  EXPECT_NE(tail.reason.find("CRC"), std::string::npos) << tail.reason;
}

TEST_F(JournalTest, SegmentsRotateAndPersistedOnesAreDeleted) {
  JournalTail tail;
  auto w = open(&tail, /*segment_bytes_max=*/4096);
  for (uint64_t i = 1; i <= 1000; i += 50) append(*w, i, i + 49);
  const size_t before = segments().size();
  EXPECT_GT(before, 5u);
  EXPECT_EQ(read_all(), 1000u);
  EXPECT_EQ(read_all(777), 1000u);
  const uint32_t removed = delete_persisted_segments(dir_, 500);
  EXPECT_GT(removed, 0u);
  EXPECT_EQ(segments().size(), before - removed);
  EXPECT_EQ(read_all(501), 1000u);  // everything not yet persisted is still there
  EXPECT_EQ(delete_persisted_segments(dir_, 1000), before - removed - 1);  // the last stays
}

TEST_F(JournalTest, OversizedRecordsAreRefused) {
  JournalTail tail;
  auto w = open(&tail);
  std::string error;
  std::vector<uint8_t> big(2048);
  EXPECT_EQ(w->append(1, big, &error), 0u);
  EXPECT_NE(error.find("over the limit"), std::string::npos);
  append(*w, 1, 3);  // the sequence did not advance
  EXPECT_EQ(read_all(), 3u);
}

}  // namespace
}  // namespace boxoffice::persist
