// Worker: one boxoffice-load thread driving its share of the connections over its own Transport
// (io_uring or epoll, tools/load/transport.h; non-blocking sockets): one receive always in
// flight per connection, and at most one send, which carries every request queued on that
// connection since the last one. Each connection has `pipeline` slots; a free slot is a
// request that may be sent. Closed loop (rate 0): every free slot is refilled at once. Open loop
// (rate > 0): requests leave at the OpenLoopSchedule's times; one whose time has come waits for a
// free slot, and its latency counts from its intended time. A request's tag names its slot and a
// generation (tag = generation << 16 | slot), so an answer nobody asked for is caught. A slot
// answered BUSY rests for the retry_after_ms the answer names (unless honor_retry_after is off)
// before it counts as free again.
//
// Answers before the window (warm-up) and after it (drain) are not counted, but the scenario and
// the --verify record (tickets, open holds) see every one. At the window's end, or when
// SharedRun::stop is set, the worker stops sending and waits up to drain_timeout for what is in
// flight, so the server's state matches what the clients saw.
//
// Thread safety: run() on one thread; counters() are read by the main thread meanwhile; result()
// after run() returns.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "tools/load/codec.h"
#include "tools/load/latency_histogram.h"
#include "tools/load/run_state.h"
#include "tools/load/scenario.h"
#include "tools/load/transport.h"

namespace boxoffice::load {

struct WorkerConfig {
  TargetKind target = TargetKind::kBoxoffice;
  TargetOptions target_options;
  ScenarioConfig scenario;
  uint32_t pipeline = 1;
  double rate_ops_per_s = 0;  // this thread's share; 0: closed loop
  bool record_tickets = false;
  int64_t drain_timeout_ns = 5'000'000'000;
  uint64_t seed = 1;
  IoChoice io = IoChoice::kAuto;
  // A slot answered BUSY with a retry_after_ms (Retry-After over HTTP) waits that long before
  // its next request, as a client that backs off would; false: it sends again at once.
  bool honor_retry_after = true;
};

struct WorkerResult {
  uint64_t ok = 0;  // in the window
  uint64_t conflicts = 0;
  uint64_t errors = 0;
  uint64_t errors_by_code[kErrorCodesMax] = {};
  LatencyHistogram latency;
  uint64_t protocol_errors = 0;     // unmatched tag, unparseable bytes
  uint64_t connections_lost = 0;    // closed or reset by the server
  uint64_t unanswered = 0;          // still in flight when the drain gave up
  uint64_t tickets_ok_total = 0;    // every ticket seen, window or not
  std::vector<TicketSeen> tickets;  // with record_tickets
  int64_t open_hold_seats = 0;
  int64_t last_reply_ns = 0;  // the last counted answer's time
  std::string io_fallback;    // why io_uring could not be set up, else empty
  bool io_failed = false;     // no transport, or it failed during the run
};

class Worker {
 public:
  Worker(const WorkerConfig& config, SharedRun* shared_run, SharedSeats* shared_seats,
         std::vector<int> fds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();
  const ThreadCounters& counters() const { return counters_; }
  const WorkerResult& result() const { return result_; }

 private:
  struct Slot {
    uint16_t generation = 0;
    bool in_flight = false;
    Operation operation;
  };
  struct Connection {
    int fd = -1;
    bool open = true;
    bool send_in_flight = false;
    bool dirty = false;
    std::unique_ptr<Codec> codec;
    std::unique_ptr<OutputBuffer> output;
    std::vector<Slot> slots;
    std::vector<uint16_t> free_slots;
  };

  void send_due(int64_t now_ns);
  void send(uint32_t connection_index, Operation* op);
  void arm_receive(uint32_t connection_index);
  void on_received(uint32_t connection_index, int32_t result);
  void on_sent(uint32_t connection_index, int32_t result);
  bool on_reply(Connection& c, const Reply& reply, int64_t now_ns);
  void flush(uint32_t connection_index);
  void lose(Connection& c, const char* why);
  void publish_progress(int64_t now_ns);

  WorkerConfig config_;
  SharedRun* shared_;
  Scenario scenario_;
  std::vector<Connection> connections_;
  // A connection index per free slot, oldest first: the open loop sends on the connection idle
  // longest, so every connection stays in use (as many clients would) and none sits idle past
  // a server's keep-alive timeout.
  std::deque<uint32_t> ready_;
  std::vector<uint32_t> dirty_;  // connections with output to write
  // Slots resting after a BUSY answer: (when they are free again, connection index), soonest
  // on top.
  struct Resting {
    int64_t until_ns;
    uint32_t connection;
    bool operator>(const Resting& other) const { return until_ns > other.until_ns; }
  };
  std::priority_queue<Resting, std::vector<Resting>, std::greater<Resting>> resting_;
  std::unique_ptr<Transport> transport_;
  uint64_t in_flight_ = 0;
  size_t open_connections_ = 0;
  bool stopping_ = false;
  bool scenario_done_ = false;
  int64_t progress_second_ = 0;
  LatencyHistogram second_latency_;
  ThreadCounters counters_;
  WorkerResult result_;
};

}  // namespace boxoffice::load
