// FuzzEngine: a fresh engine for one fuzz input. A small seat table in a temporary file under
// /dev/shm (removed again when the object goes), an engine over it, one worker, and the
// shipped cinema layout already on sale as event "Cinema", so inputs reach the booking paths
// without first having to invent a valid layout.
//
// A new table per input keeps every input independent of the ones before it: a crash found by
// a long run reproduces from its one input file. Creating one costs well under a millisecond.
//
// Thread safety: one FuzzEngine per thread (libFuzzer runs inputs on one thread).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "core/engine.h"

namespace boxoffice::fuzz {

inline constexpr int64_t kStartMs = 1'700'000'000'000;

// The text of layouts/<name> (BOXOFFICE_LAYOUT_DIR), read once per process by the caller.
inline std::string read_layout(const std::string& name) {
  std::ifstream in(std::string(BOXOFFICE_LAYOUT_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class FuzzEngine {
 public:
  FuzzEngine() {
    path_ = "/dev/shm/boxoffice-fuzz-" + std::to_string(::getpid());
    ::unlink(path_.c_str());  // left behind by a crashed run of this pid
    shm::TableGeometry geometry;
    geometry.events_max = 4;
    geometry.workers_max = 2;
    geometry.holds_max = 256;
    geometry.idempotency_entries_max = 256;
    geometry.arena_bytes = uint64_t{16} << 20;
    std::string error;
    table_ = shm::SeatTable::open({path_, geometry, kStartMs}, &error);
    if (table_ != nullptr) engine_ = Engine::open(table_.get(), EngineOptions{}, &error);
    if (engine_ == nullptr) die("cannot open a seat table: " + error);
    worker_ = std::make_unique<WorkerContext>(0, geometry.holds_max, kStartMs);
    static const std::string cinema =
        "{\"id\":\"Cinema\",\"layout\":" + read_layout("cinema.json") + "}";
    uint32_t index = 0;
    if (Status s = engine_->create_event(cinema, kStartMs, &index); !s.is_ok()) {
      die("cannot create the cinema event: " + s.to_string());
    }
  }
  ~FuzzEngine() {
    worker_.reset();
    engine_.reset();
    table_.reset();
    ::unlink(path_.c_str());
  }
  FuzzEngine(const FuzzEngine&) = delete;
  FuzzEngine& operator=(const FuzzEngine&) = delete;

  Engine& engine() { return *engine_; }
  WorkerContext& worker() { return *worker_; }

 private:
  [[noreturn]] static void die(const std::string& why) {
    std::fprintf(stderr, "fuzz set-up: %s\n", why.c_str());
    std::abort();
  }
  std::string path_;
  std::unique_ptr<shm::SeatTable> table_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<WorkerContext> worker_;
};

}  // namespace boxoffice::fuzz
