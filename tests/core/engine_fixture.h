// Test support for engine tests: a seat table in a temporary file under /dev/shm (removed at
// the end), an engine over it, and helpers to load the shipped layouts.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "core/engine.h"

namespace boxoffice::testing {

inline std::string read_layout(const std::string& name) {
  std::ifstream in(std::string(BOXOFFICE_LAYOUT_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// {"id": id, "layout": <layouts/name>}
inline std::string event_document(const std::string& id, const std::string& layout_name) {
  return "{\"id\":\"" + id + "\",\"layout\":" + read_layout(layout_name) + "}";
}

inline shm::TableGeometry small_geometry() {
  shm::TableGeometry g;
  g.events_max = 16;
  g.workers_max = 8;
  g.holds_max = 1u << 14;
  g.idempotency_entries_max = 1u << 14;
  g.arena_bytes = uint64_t{64} << 20;
  return g;
}

class TempTablePath {
 public:
  TempTablePath() {
    static std::atomic<int> counter{0};
    path_ = "/dev/shm/boxoffice-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter.fetch_add(1));
    ::unlink(path_.c_str());
  }
  ~TempTablePath() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A table + engine + one worker, with a controllable clock.
class EngineFixture : public ::testing::Test {
 protected:
  static constexpr int64_t kStartMs = 1'700'000'000'000;

  void SetUp() override { open(); }

  void open() {
    std::string error;
    table_ = shm::SeatTable::open({path_.path(), geometry_, now_ms_}, &error);
    ASSERT_NE(table_, nullptr) << error;
    engine_ = Engine::open(table_.get(), options_, &error);
    ASSERT_NE(engine_, nullptr) << error;
    worker_ = std::make_unique<WorkerContext>(0, geometry_.holds_max, now_ms_);
  }
  // Unmaps and re-attaches the same file, as a restarted process would.
  RecoveryReport reopen() {
    worker_.reset();
    engine_.reset();
    table_.reset();
    open();
    return engine_->recover(*worker_, now_ms_);
  }

  uint32_t create(const std::string& id, const std::string& layout_name) {
    uint32_t index = 0;
    Status s = engine_->create_event(event_document(id, layout_name), now_ms_, &index);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return index;
  }
  uint32_t seat(uint32_t event, int64_t zone, const std::string& row, const std::string& label) {
    auto index = engine_->layout(event).seat_index(zone, row, label);
    EXPECT_TRUE(index.has_value()) << zone << "/" << row << "/" << label;
    return index.value_or(0);
  }

  TempTablePath path_;
  shm::TableGeometry geometry_ = small_geometry();
  EngineOptions options_;
  int64_t now_ms_ = kStartMs;
  std::unique_ptr<shm::SeatTable> table_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<WorkerContext> worker_;
};

}  // namespace boxoffice::testing
