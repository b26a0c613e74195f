// boxoffice-demo: walks through the booking engine on the shipped layouts and prints what
// happens: an event is created, seats are held, confirmed, retried idempotently, refused, voided
// and expired; the seat table is re-attached to show that state survives a restart; then a
// two-thread flash sale sells out a 60,000-seat stadium and the result is checked.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"

namespace {

using namespace boxoffice;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string money(int64_t cents) {
  char text[32];
  std::snprintf(text, sizeof text, "%lld.%02lld", static_cast<long long>(cents / 100),
                static_cast<long long>(cents % 100));
  return text;
}

std::string seat_names(const Engine& engine, uint32_t event, const SeatList& seats) {
  std::string names;
  for (uint32_t i = 0; i < seats.count; ++i) {
    const SeatLocation where = engine.layout(event).locate(seats.seats[i]);
    if (!names.empty()) names += ", ";
    names += where.row ? where.row->label + where.label() : where.zone->name + " #" + where.label();
  }
  return names;
}

// Prints the seat map of every reserved zone: '.' free, 'h' held, 'X' sold.
void print_map(const Engine& engine, uint32_t event) {
  for (const Row& row : engine.layout(event).rows()) {
    std::string line;
    for (uint32_t k = 0; k < row.seat_count; ++k) {
      const SeatState state = engine.seat(event, row.first_seat + k).state;
      line += state == SeatState::kFree ? '.' : state == SeatState::kHeld ? 'h' : 'X';
    }
    std::printf("    %-2s %s\n", row.label.c_str(), line.c_str());
  }
}

bool check(const Status& status, const char* what) {
  if (status.is_ok()) return true;
  std::printf("  %s failed: %s\n", what, status.to_string().c_str());
  return false;
}

struct Demo {
  std::string table_path;
  std::string layout_dir;
  shm::TableGeometry geometry;
  EngineOptions options;
  std::unique_ptr<shm::SeatTable> table;
  std::unique_ptr<Engine> engine;

  bool open(int64_t now_ms) {
    std::string error;
    table = shm::SeatTable::open({table_path, geometry, now_ms}, &error);
    if (table) engine = Engine::open(table.get(), options, &error);
    if (!engine) std::fprintf(stderr, "boxoffice-demo: %s\n", error.c_str());
    return engine != nullptr;
  }
  void close() {
    engine.reset();
    table.reset();
  }
  uint32_t create(const std::string& id, const std::string& layout_file, int64_t now_ms) {
    const std::string document =
        "{\"id\":\"" + id + "\",\"layout\":" + read_file(layout_dir + "/" + layout_file) + "}";
    uint32_t index = UINT32_MAX;
    check(engine->create_event(document, now_ms, &index), "event.create");
    return index;
  }
};

int run_cinema(Demo& demo) {
  int64_t now = wall_ms();
  WorkerContext worker(0, demo.geometry.holds_max, now);
  Engine& engine = *demo.engine;
  std::printf("\n== A 120-seat cinema (layouts/cinema.json)\n");
  const uint32_t e = demo.create("Premiere", "cinema.json", now);
  if (e == UINT32_MAX) return 1;
  std::printf("  created event %s at %s: %u seats in %zu zones\n",
              std::string(engine.event_id(e)).c_str(), std::string(engine.event_venue(e)).c_str(),
              engine.layout(e).seat_count(), engine.layout(e).zones().size());

  HoldOutcome best = engine.hold_best(worker, e, 1, 2, 120'000, now);
  if (!check(best.status, "hold.best")) return 1;
  std::printf("  hold.best 2 in Stalls -> %s, %s, expires in 120 s, token %s\n",
              seat_names(engine, e, best.seats).c_str(), money(best.total_cents).c_str(),
              best.token.to_string().c_str());

  SaleOutcome sale = engine.confirm(worker, best.token, {"order-1001", "alice@example.com"}, now);
  if (!check(sale.status, "hold.confirm")) return 1;
  for (uint32_t i = 0; i < sale.seats.count; ++i) {
    std::printf("  hold.confirm -> ticket %s for seat %s\n", sale.tickets[i].to_string().c_str(),
                seat_names(engine, e, {1, {sale.seats.seats[i]}}).c_str());
  }
  SaleOutcome retry = engine.confirm(worker, best.token, {"order-1001", "alice@example.com"}, now);
  std::printf("  the client retries with idempotency_key order-1001 -> %s, same tickets: %s\n",
              retry.replayed ? "replayed" : "NEW SALE",
              retry.tickets[0] == sale.tickets[0] ? "yes" : "NO");

  const uint32_t wanted[] = {sale.seats.seats[0], sale.seats.seats[0] + 2};
  HoldOutcome refused = engine.hold(worker, e, wanted, 0, now);
  std::printf("  hold %s -> %s, taken: %s\n",
              seat_names(engine, e, {2, {wanted[0], wanted[1]}}).c_str(),
              std::string(error_name(refused.status.code())).c_str(),
              seat_names(engine, e, refused.seats).c_str());

  const uint32_t love[] = {*engine.layout(e).seat_index(3, "L", "1A"),
                           *engine.layout(e).seat_index(3, "L", "1B")};
  SaleOutcome direct = engine.buy(worker, e, love, {"order-1002", "bob"}, now);
  if (!check(direct.status, "buy")) return 1;
  std::printf("  buy love seats L1A+L1B -> 2 tickets, %s\n", money(direct.total_cents).c_str());
  VoidOutcome refund = engine.void_ticket(worker, direct.tickets[1], now);
  std::printf("  ticket.void %s -> refunded %s, seat L1B back on sale\n",
              direct.tickets[1].to_string().c_str(), money(refund.refund_cents).c_str());

  const uint32_t brief[] = {*engine.layout(e).seat_index(2, "K", "4")};
  HoldOutcome short_hold = engine.hold(worker, e, brief, 1000, now);
  if (!check(short_hold.status, "hold")) return 1;
  std::printf("  hold K4 for 1 s; 1.5 s later the timer wheel expires %u hold(s)\n",
              engine.expire_due(worker, now + 1500));
  std::printf(
      "  hold.confirm of the expired hold -> %s\n",
      std::string(
          error_name(engine.confirm(worker, short_hold.token, {}, now + 1500).status.code()))
          .c_str());

  HoldOutcome pending = engine.hold_best(worker, e, 2, 3, 600'000, now);
  std::printf("  hold.best 3 in Premium -> %s (left pending)\n",
              seat_names(engine, e, pending.seats).c_str());
  const EventCounts c = engine.counts(e);
  std::printf("  stats: %lld sold, %lld held, revenue %s, %lld voided, %lld expired\n",
              static_cast<long long>(c.seats_sold), static_cast<long long>(c.seats_held),
              money(c.revenue_cents).c_str(), static_cast<long long>(c.tickets_voided),
              static_cast<long long>(c.holds_expired));
  print_map(engine, e);
  return 0;
}

int run_reattach(Demo& demo) {
  std::printf("\n== Restart: unmap the seat table and attach it again\n");
  uint32_t e = 0;
  demo.engine->find_event("Premiere", &e);
  const EventCounts before = demo.engine->counts(e);
  demo.close();
  const auto started = std::chrono::steady_clock::now();
  if (!demo.open(wall_ms())) return 1;
  WorkerContext worker(0, demo.geometry.holds_max, wall_ms());
  const RecoveryReport report = demo.engine->recover(worker, wall_ms());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  const EventCounts after = demo.engine->counts(e);
  std::printf("  re-attached %s in %.1f ms (%s)\n", demo.table_path.c_str(), ms,
              report.to_string().c_str());
  std::printf("  Premiere before: %lld sold / %lld held; after: %lld sold / %lld held -> %s\n",
              static_cast<long long>(before.seats_sold), static_cast<long long>(before.seats_held),
              static_cast<long long>(after.seats_sold), static_cast<long long>(after.seats_held),
              before.seats_sold == after.seats_sold && before.seats_held == after.seats_held
                  ? "identical"
                  : "DIFFERENT");
  return before.seats_sold == after.seats_sold && before.seats_held == after.seats_held ? 0 : 1;
}

int run_flash_sale(Demo& demo) {
  Engine& engine = *demo.engine;
  const int64_t now = wall_ms();
  std::printf("\n== Flash sale: a 60,000-seat stadium (layouts/stadium.json), 2 threads\n");
  const uint32_t e = demo.create("Final", "stadium.json", now);
  if (e == UINT32_MAX) return 1;
  const uint32_t seat_count = engine.layout(e).seat_count();
  std::atomic<uint64_t> attempts{0}, conflicts{0}, tickets{0};
  const auto started = std::chrono::steady_clock::now();
  auto buyer = [&](uint32_t index) {
    WorkerContext worker(index, demo.geometry.holds_max, now);
    std::mt19937 rng(index);
    uint64_t my_attempts = 0, my_conflicts = 0, my_tickets = 0, misses_in_a_row = 0;
    // Random pairs of adjacent seats until random picks keep failing, then sweep what is left.
    while (misses_in_a_row < 64) {
      const uint32_t first = rng() % (seat_count - 1);
      const uint32_t pair[] = {first, first + 1};
      SaleOutcome sale = engine.buy(worker, e, pair, {}, now);
      ++my_attempts;
      if (sale.status.is_ok()) {
        my_tickets += sale.seats.count;
        misses_in_a_row = 0;
      } else {
        ++my_conflicts;
        ++misses_in_a_row;
      }
    }
    for (uint32_t s = index; s < seat_count; s += 2) {
      const uint32_t one[] = {s};
      ++my_attempts;
      if (engine.buy(worker, e, one, {}, now).status.is_ok()) {
        ++my_tickets;
      } else {
        ++my_conflicts;
      }
    }
    attempts += my_attempts;
    conflicts += my_conflicts;
    tickets += my_tickets;
  };
  std::thread a(buyer, 1), b(buyer, 2);
  a.join();
  b.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const EventCounts c = engine.counts(e);
  std::printf("  %llu buy attempts in %.3f s (%.2f M/s), %llu conflicts, %llu tickets\n",
              static_cast<unsigned long long>(attempts.load()), seconds,
              attempts.load() / seconds / 1e6, static_cast<unsigned long long>(conflicts.load()),
              static_cast<unsigned long long>(tickets.load()));
  const bool sold_out = c.seats_sold == seat_count && tickets.load() == seat_count;
  std::printf("  sold %lld of %u seats, revenue %s: %s\n", static_cast<long long>(c.seats_sold),
              seat_count, money(c.revenue_cents).c_str(),
              sold_out ? "sold out, no seat sold twice" : "MISMATCH");
  return sold_out ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Demo demo;
  demo.table_path = "/dev/shm/boxoffice-demo-" + std::to_string(::getpid());
  demo.layout_dir = BOXOFFICE_LAYOUT_DIR;
  bool keep = false;
  CLI::App app{"boxoffice-demo: the booking engine on the shipped layouts, step by step"};
  app.add_option("--table", demo.table_path, "seat table file (created fresh)");
  app.add_option("--layouts", demo.layout_dir, "directory with cinema.json and stadium.json");
  app.add_flag("--keep", keep, "keep the seat table file afterwards");
  CLI11_PARSE(app, argc, argv);

  demo.geometry = shm::default_geometry();
  demo.geometry.events_max = 16;
  demo.geometry.holds_max = 1u << 16;
  demo.geometry.idempotency_entries_max = 1u << 16;
  demo.geometry.arena_bytes = uint64_t{256} << 20;
  ::unlink(demo.table_path.c_str());
  std::printf("boxoffice demo: seat table %s\n", demo.table_path.c_str());
  if (!demo.open(wall_ms())) return 1;
  int failed = run_cinema(demo);
  failed |= run_reattach(demo);
  failed |= run_flash_sale(demo);
  demo.close();
  if (!keep) ::unlink(demo.table_path.c_str());
  std::printf("\n%s\n", failed ? "demo FAILED" : "demo finished: every step behaved as expected");
  return failed;
}
