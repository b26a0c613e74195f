// bench_core: ns per booking-engine op (hold/release, hold_best, confirm) vs the raw seat-bitmap
// CAS, 1 and 2 threads.
//
// Every run (Google Benchmark calls Setup/Teardown once per run, before the threads start)
// gets a fresh seat table under /dev/shm, or $BENCH_TABLE_DIR (a tmpfs mounted with huge pages,
// say), with a unique name, unlinked at the end of the run. It has three events: "hot" (one
// row of 128 seats), "zone10k" (100 rows x 100 seats, empty) and "zone10k_half" (the same,
// front 50 rows sold in set-up). The table's pages are pre-faulted in set-up, so no run pays
// first-touch page faults of the sparse file.
//
// Each thread brings its own WorkerContext with worker index = thread index. The clock is a
// per-thread counter advanced by 1 ms every 1024 operations (no clock_gettime in the timed
// loops); holds are taken with a 10-minute TTL and released in the same iteration, so none
// expires during a run (each hold still arms its slot's timer in the worker's wheel, as in the
// server).
//
// Names: without /threads:2, one thread on seats that nobody else touches. With
// /threads:2 both threads hammer the SAME 64-bit words: the plain names give each thread its
// own seats inside those words; the *_same_seat(s) names make both threads fight for the same
// seats, where a SEAT_TAKEN answer (or a failed acquire) is a completed op, counted in the
// `seat_taken` counter (fraction of ops). Threaded runs use real time: "Time" = wall time /
// total ops of both threads (inverse throughput), "CPU" = CPU time per op on one thread; a
// threaded row whose CPU is not ~2x its Time ran while another process held a core.
// BM_bitmap_acquire_release_* is the peer: the bare seat lock the engine is built on.
// BM_hold_steady_1M_random is the odd one out: holds lapse, as in a real on-sale (see there).
//
// Machine-readable output: --benchmark_format=json or --benchmark_out=FILE.
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "core/engine.h"
#include "core/worker_context.h"
#include "shm/seat_bitmap.h"
#include "shm/seat_table.h"

namespace boxoffice {
namespace {

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kTtlMs = 10 * 60 * 1000;  // holds never expire during a run
constexpr uint32_t kSetupWorker = 7;        // buys the half-sold zone; no bench thread uses it
constexpr int64_t kZoneId = 1;
constexpr uint32_t kZoneRows = 100;
constexpr uint32_t kZoneSeatsPerRow = 100;

shm::TableGeometry bench_geometry() {
  shm::TableGeometry g;
  g.events_max = 16;
  g.workers_max = 8;
  g.holds_max = 1u << 16;
  g.idempotency_entries_max = 1u << 22;  // keys are never evicted: room for every keyed confirm
  g.arena_bytes = uint64_t{256} << 20;
  return g;
}

// One row of 128 seats: seats 0..63 are word 0 of the taken bitmap, 64..127 word 1.
std::string hot_event_document() {
  return R"({"id":"hot","layout":{"venue":"bench","zones":[{"id":1,"name":"Hot","price_cents":5000,)"
         R"("rows":[{"label":"A","seats":128}]}]}})";
}

// kZoneRows rows of kZoneSeatsPerRow seats in one reserved zone (10,000 seats).
std::string zone_event_document(const std::string& id) {
  std::string text =
      R"({"id":")" + id +
      R"(","layout":{"venue":"bench","zones":[{"id":1,"name":"Stalls","price_cents":5000,"rows":[)";
  for (uint32_t r = 0; r < kZoneRows; ++r) {
    if (r > 0) text += ',';
    text += R"({"label":"R)" + std::to_string(r + 1) + R"(","seats":)" +
            std::to_string(kZoneSeatsPerRow) + "}";
  }
  text += "]}]}}";
  return text;
}

// Populates (write-faults) [offset, offset + bytes) of the mapped table.
void prefault(shm::SeatTable& table, uint64_t offset, uint64_t bytes) {
  auto* base = reinterpret_cast<uint8_t*>(&table.header());
  if (bytes == 0) return;
  if (::madvise(base + offset, bytes, MADV_POPULATE_WRITE) != 0) {
    static bool warned = false;
    if (!warned) std::perror("bench_core: madvise(MADV_POPULATE_WRITE); pages fault in the runs");
    warned = true;
  }
}

// The table, engine and events shared by every thread of one run.
struct Env {
  std::string path;
  std::unique_ptr<shm::SeatTable> table;
  std::unique_ptr<Engine> engine;
  uint32_t hot = 0;
  uint32_t zone = 0;
  uint32_t zone_half = 0;
  alignas(64) shm::Word raw_words[8] = {};  // the bitmap baseline's words (not in the table)
  std::atomic<uint64_t> next_key{0};
  std::string error;
};

Env* g_env = nullptr;

void fail_setup(const std::string& what) {
  std::fprintf(stderr, "bench_core: set-up failed: %s\n", what.c_str());
  std::abort();
}

void setup(bool prefault_idempotency) {
  static std::atomic<int> run_counter{0};
  auto env = std::make_unique<Env>();
  const char* dir = std::getenv("BENCH_TABLE_DIR");  // e.g. a tmpfs mounted with huge pages
  env->path = std::string(dir != nullptr ? dir : "/dev/shm") + "/boxoffice-bench-" +
              std::to_string(::getpid()) + "-" + std::to_string(run_counter.fetch_add(1));
  ::unlink(env->path.c_str());
  std::string error;
  env->table = shm::SeatTable::open({env->path, bench_geometry(), kStartMs}, &error);
  if (env->table == nullptr) fail_setup(error);
  env->engine = Engine::open(env->table.get(), EngineOptions{}, &error);
  if (env->engine == nullptr) fail_setup(error);
  Engine& engine = *env->engine;
  if (Status s = engine.create_event(hot_event_document(), kStartMs, &env->hot); !s.is_ok())
    fail_setup(s.to_string());
  if (Status s = engine.create_event(zone_event_document("zone10k"), kStartMs, &env->zone);
      !s.is_ok())
    fail_setup(s.to_string());
  if (Status s =
          engine.create_event(zone_event_document("zone10k_half"), kStartMs, &env->zone_half);
      !s.is_ok())
    fail_setup(s.to_string());

  // Sell the front half of zone10k_half, 25 seats per buy (a request holds at most 32).
  WorkerContext seller(kSetupWorker, 64, kStartMs);
  const uint32_t first_seat = engine.layout(env->zone_half).zone_by_id(kZoneId)->first_seat;
  for (uint32_t r = 0; r < kZoneRows / 2; ++r) {
    for (uint32_t chunk = 0; chunk < kZoneSeatsPerRow; chunk += 25) {
      uint32_t seats[25];
      for (uint32_t i = 0; i < 25; ++i) seats[i] = first_seat + r * kZoneSeatsPerRow + chunk + i;
      SaleOutcome sale = engine.buy(seller, env->zone_half, seats, {}, kStartMs);
      if (!sale.status.is_ok()) fail_setup("buy: " + sale.status.to_string());
    }
  }

  shm::SeatTable& table = *env->table;
  const shm::TableHeader& h = table.header();
  prefault(table, 0, h.idempotency_offset);  // header, events, intents, hold bitmap, holds
  prefault(table, h.arena_offset, h.arena_used_bytes.load());
  if (prefault_idempotency) {
    prefault(table, h.idempotency_offset, h.arena_offset - h.idempotency_offset);
  }
  g_env = env.release();
}

void setup_plain(const benchmark::State&) { setup(false); }
void setup_keyed(const benchmark::State&) { setup(true); }

void teardown_env() {
  if (g_env == nullptr) return;
  const std::string path = g_env->path;
  delete g_env;  // engine before table (member order)
  g_env = nullptr;
  ::unlink(path.c_str());
}

void teardown(const benchmark::State&) { teardown_env(); }

// A cheap clock: +1 ms every 1024 ops.
struct BenchClock {
  int64_t now_ms = kStartMs;
  uint32_t ops = 0;
  int64_t tick() {
    if ((++ops & 1023) == 0) ++now_ms;
    return now_ms;
  }
};

WorkerContext make_worker(const benchmark::State& state) {
  return WorkerContext(static_cast<uint32_t>(state.thread_index()), bench_geometry().holds_max,
                       kStartMs);
}

void set_seat_taken_counter(benchmark::State& state, int64_t seat_taken) {
  state.counters["seat_taken"] =
      benchmark::Counter(static_cast<double>(seat_taken), benchmark::Counter::kAvgIterations);
}

// ---------------------------------------------------------------------------------------------
// Raw bitmap baseline: one acquire_seats CAS + one release_seats fetch_and.

// Thread t owns bit t of word 0.
void BM_bitmap_acquire_release_single(benchmark::State& state) {
  shm::Word* words = g_env->raw_words;
  const uint32_t seat[1] = {static_cast<uint32_t>(state.thread_index())};
  uint32_t conflicts[1];
  for (auto _ : state) {
    const shm::AcquireResult r = shm::acquire_seats(words, seat, conflicts);
    benchmark::DoNotOptimize(r);
    if (!r.acquired) {
      state.SkipWithError("acquire_seats failed on an uncontended seat");
      break;
    }
    shm::release_seats(words, seat);
  }
}

// Both threads acquire bit 0 of word 0; a failed acquire is a completed op.
void BM_bitmap_acquire_release_same_seat(benchmark::State& state) {
  shm::Word* words = g_env->raw_words;
  const uint32_t seat[1] = {0};
  uint32_t conflicts[1];
  int64_t taken = 0;
  for (auto _ : state) {
    const shm::AcquireResult r = shm::acquire_seats(words, seat, conflicts);
    benchmark::DoNotOptimize(r);
    if (r.acquired) {
      shm::release_seats(words, seat);
    } else {
      ++taken;
    }
  }
  set_seat_taken_counter(state, taken);
}

// ---------------------------------------------------------------------------------------------
// Engine::hold + Engine::release.

// Holds `seats`; returns false (after SkipWithError) on any outcome but OK, or SEAT_TAKEN when
// `taken_ok`, which is counted in *taken.
bool hold_release(benchmark::State& state, WorkerContext& worker, uint32_t event,
                  std::span<const uint32_t> seats, int64_t now_ms, bool taken_ok, int64_t* taken) {
  Engine& engine = *g_env->engine;
  HoldOutcome held = engine.hold(worker, event, seats, kTtlMs, now_ms);
  benchmark::DoNotOptimize(held.token);
  if (!held.status.is_ok()) {
    if (taken_ok && held.status.code() == ErrorCode::kSeatTaken) {
      ++*taken;
      return true;
    }
    g_env->error = "hold: " + held.status.to_string();
    state.SkipWithError(g_env->error.c_str());
    return false;
  }
  Status released = engine.release(worker, held.token, now_ms);
  benchmark::DoNotOptimize(released);
  if (!released.is_ok()) {
    g_env->error = "release: " + released.to_string();
    state.SkipWithError(g_env->error.c_str());
    return false;
  }
  return true;
}

// Thread t holds seat t (all in word 0 of "hot").
void BM_hold_release_single(benchmark::State& state) {
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  const uint32_t seat[1] = {static_cast<uint32_t>(state.thread_index())};
  int64_t taken = 0;
  for (auto _ : state) {
    if (!hold_release(state, worker, g_env->hot, seat, clock.tick(), false, &taken)) break;
  }
}

// Both threads hold seat 0 of "hot".
void BM_hold_release_same_seat(benchmark::State& state) {
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  const uint32_t seat[1] = {0};
  int64_t taken = 0;
  for (auto _ : state) {
    if (!hold_release(state, worker, g_env->hot, seat, clock.tick(), true, &taken)) break;
  }
  set_seat_taken_counter(state, taken);
}

// Four seats across the word 0 / word 1 boundary: thread 0 holds 62,63,64,65; thread 1 holds
// 60,61,66,67 (same two words, other bits).
void BM_hold4_word_boundary(benchmark::State& state) {
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  const uint32_t seats[2][4] = {{62, 63, 64, 65}, {60, 61, 66, 67}};
  const std::span<const uint32_t> mine(seats[state.thread_index() % 2], 4);
  int64_t taken = 0;
  for (auto _ : state) {
    if (!hold_release(state, worker, g_env->hot, mine, clock.tick(), false, &taken)) break;
  }
}

// Both threads hold 62,63,64,65.
void BM_hold4_word_boundary_same_seats(benchmark::State& state) {
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  const uint32_t seats[4] = {62, 63, 64, 65};
  int64_t taken = 0;
  for (auto _ : state) {
    if (!hold_release(state, worker, g_env->hot, seats, clock.tick(), true, &taken)) break;
  }
  set_seat_taken_counter(state, taken);
}

// Engine::hold_best(count 4) + release in a 100 x 100 zone. With two threads both pick from
// the same front-row words; a pick lost between scan and CAS is retried inside hold_best.
void hold_best_release(benchmark::State& state, uint32_t event) {
  Engine& engine = *g_env->engine;
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  for (auto _ : state) {
    const int64_t now_ms = clock.tick();
    HoldOutcome held = engine.hold_best(worker, event, kZoneId, 4, kTtlMs, now_ms);
    benchmark::DoNotOptimize(held.seats);
    if (!held.status.is_ok()) {
      g_env->error = "hold_best: " + held.status.to_string();
      state.SkipWithError(g_env->error.c_str());
      break;
    }
    Status released = engine.release(worker, held.token, now_ms);
    benchmark::DoNotOptimize(released);
    if (!released.is_ok()) {
      g_env->error = "release: " + released.to_string();
      state.SkipWithError(g_env->error.c_str());
      break;
    }
  }
}

void BM_hold_best4_10k_zone(benchmark::State& state) { hold_best_release(state, g_env->zone); }
// Rows 1-50 are sold: the scan walks 50 full rows before it finds a block.
void BM_hold_best4_10k_zone_half_sold(benchmark::State& state) {
  hold_best_release(state, g_env->zone_half);
}

// ---------------------------------------------------------------------------------------------
// Engine::hold + Engine::confirm (+ void_ticket, so the seat goes back on sale).

void confirm_loop(benchmark::State& state, bool keyed) {
  Engine& engine = *g_env->engine;
  WorkerContext worker = make_worker(state);
  BenchClock clock;
  const uint32_t seat[1] = {10};
  char key[32];
  for (auto _ : state) {
    const int64_t now_ms = clock.tick();
    HoldOutcome held = engine.hold(worker, g_env->hot, seat, kTtlMs, now_ms);
    if (!held.status.is_ok()) {
      g_env->error = "hold: " + held.status.to_string();
      state.SkipWithError(g_env->error.c_str());
      break;
    }
    SaleRequest request;
    if (keyed) {
      const uint64_t n = g_env->next_key.fetch_add(1, std::memory_order_relaxed);
      std::memcpy(key, "bench-key-", 10);
      const auto [end, ec] = std::to_chars(key + 10, key + sizeof key, n);
      request.idempotency_key = std::string_view(key, static_cast<size_t>(end - key));
    }
    SaleOutcome sale = engine.confirm(worker, held.token, request, now_ms);
    benchmark::DoNotOptimize(sale.tickets);
    if (!sale.status.is_ok() || sale.replayed) {
      g_env->error = "confirm: " + sale.status.to_string() + (sale.replayed ? " (replayed)" : "") +
                     " after " + std::to_string(g_env->next_key.load()) + " keys";
      state.SkipWithError(g_env->error.c_str());
      break;
    }
    VoidOutcome voided = engine.void_ticket(worker, sale.tickets[0], now_ms);
    benchmark::DoNotOptimize(voided);
    if (!voided.status.is_ok() || voided.already_voided) {
      g_env->error = "void_ticket: " + voided.status.to_string();
      state.SkipWithError(g_env->error.c_str());
      break;
    }
  }
}

void BM_confirm(benchmark::State& state) { confirm_loop(state, false); }
void BM_confirm_idempotency_key(benchmark::State& state) { confirm_loop(state, true); }

// ---------------------------------------------------------------------------------------------
// A steady on-sale: Engine::hold of one random seat of 1M, holds lapsing after 250 ms.
//
// The hold rows above release each hold at once, so every line they touch stays in cache. Here,
// as in bench/compare.sh's hold rows, a hold is taken at ~800k/s (the clock advances 1 ms every
// 800 ops) and lives 250 ms, so ~200k holds are live and each op also expires the hold that
// lapses: a random seat's bitmap word and ticket line, a hold slot and a timer entry, all cold.
// expire_due runs every 16 ops, as a worker's loop turn does under 16-deep pipelining. One
// thread; its own table (2M holds) with one event of 1,000 rows x 1,000 seats.

constexpr uint32_t kLargeRows = 1000;
constexpr uint32_t kLargeSeatsPerRow = 1000;
constexpr int64_t kSteadyTtlMs = 250;
constexpr uint32_t kSteadyOpsPerMs = 800;
constexpr uint32_t kSteadyOpsPerTurn = 16;

void setup_large(const benchmark::State&) {
  static std::atomic<int> run_counter{0};
  auto env = std::make_unique<Env>();
  env->path = "/dev/shm/boxoffice-bench-large-" + std::to_string(::getpid()) + "-" +
              std::to_string(run_counter.fetch_add(1));
  ::unlink(env->path.c_str());
  shm::TableGeometry geometry = bench_geometry();
  geometry.holds_max = 1u << 21;
  geometry.idempotency_entries_max = 1u << 10;
  geometry.arena_bytes = uint64_t{512} << 20;
  std::string error;
  env->table = shm::SeatTable::open({env->path, geometry, kStartMs}, &error);
  if (env->table == nullptr) fail_setup(error);
  env->engine = Engine::open(env->table.get(), EngineOptions{}, &error);
  if (env->engine == nullptr) fail_setup(error);
  std::string text =
      R"({"id":"large","layout":{"venue":"bench","zones":[{"id":1,"name":"Arena","price_cents":5000,"rows":[)";
  for (uint32_t r = 0; r < kLargeRows; ++r) {
    if (r > 0) text += ',';
    text += R"({"label":"R)" + std::to_string(r + 1) + R"(","seats":)" +
            std::to_string(kLargeSeatsPerRow) + "}";
  }
  text += "]}]}}";
  if (Status s = env->engine->create_event(text, kStartMs, &env->hot); !s.is_ok())
    fail_setup(s.to_string());
  shm::SeatTable& table = *env->table;
  const shm::TableHeader& h = table.header();
  prefault(table, 0, h.idempotency_offset);
  prefault(table, h.arena_offset, h.arena_used_bytes.load());
  g_env = env.release();
}

void BM_hold_steady_1M_random(benchmark::State& state) {
  Engine& engine = *g_env->engine;
  WorkerContext worker(0, g_env->table->geometry().holds_max, kStartMs);
  int64_t now_ms = kStartMs;
  uint64_t random = 0x9E3779B97F4A7C15ull;
  uint32_t ops = 0;
  int64_t taken = 0;
  for (auto _ : state) {
    random ^= random << 13;  // xorshift64
    random ^= random >> 7;
    random ^= random << 17;
    const uint32_t seat[1] = {static_cast<uint32_t>(random % (kLargeRows * kLargeSeatsPerRow))};
    HoldOutcome held = engine.hold(worker, g_env->hot, seat, kSteadyTtlMs, now_ms);
    benchmark::DoNotOptimize(held.token);
    if (!held.status.is_ok()) {
      if (held.status.code() != ErrorCode::kSeatTaken) {
        g_env->error = "hold: " + held.status.to_string();
        state.SkipWithError(g_env->error.c_str());
        break;
      }
      ++taken;
    }
    ++ops;
    if (ops % kSteadyOpsPerMs == 0) ++now_ms;
    if (ops % kSteadyOpsPerTurn == 0) engine.expire_due(worker, now_ms, nullptr);
  }
  set_seat_taken_counter(state, taken);
}

// ---------------------------------------------------------------------------------------------

#define BOXOFFICE_BENCH(fn) BENCHMARK(fn)->Setup(setup_plain)->Teardown(teardown)
#define BOXOFFICE_BENCH2(fn) \
  BENCHMARK(fn)->Setup(setup_plain)->Teardown(teardown)->Threads(2)->UseRealTime()

BOXOFFICE_BENCH(BM_bitmap_acquire_release_single);
BOXOFFICE_BENCH2(BM_bitmap_acquire_release_single);
BOXOFFICE_BENCH2(BM_bitmap_acquire_release_same_seat);
BOXOFFICE_BENCH(BM_hold_release_single);
BOXOFFICE_BENCH2(BM_hold_release_single);
BOXOFFICE_BENCH2(BM_hold_release_same_seat);
BOXOFFICE_BENCH(BM_hold4_word_boundary);
BOXOFFICE_BENCH2(BM_hold4_word_boundary);
BOXOFFICE_BENCH2(BM_hold4_word_boundary_same_seats);
BOXOFFICE_BENCH(BM_hold_best4_10k_zone);
BOXOFFICE_BENCH2(BM_hold_best4_10k_zone);
BOXOFFICE_BENCH(BM_hold_best4_10k_zone_half_sold);
BOXOFFICE_BENCH2(BM_hold_best4_10k_zone_half_sold);
BOXOFFICE_BENCH(BM_confirm);
// Fixed iterations: every run pre-faults the 2 GiB idempotency section (keys hash to random
// entries, so a cold table would measure page faults), which takes seconds; one run per
// repetition keeps that bounded, and 2^18 keys fill 6% of the 2^22 entries.
BENCHMARK(BM_confirm_idempotency_key)->Setup(setup_keyed)->Teardown(teardown)->Iterations(1 << 18);
// Long enough (10M ops, 12.5 s of simulated time) that the start, before the first holds lapse,
// is a small share of the run.
BENCHMARK(BM_hold_steady_1M_random)->Setup(setup_large)->Teardown(teardown)->Iterations(10'000'000);

}  // namespace
}  // namespace boxoffice

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  boxoffice::teardown_env();  // in case a run ended without its teardown
  return 0;
}
