// RpcHandler: the msgpack-rpc side of a worker: a ConnectionHandler (net/reactor.h) that frames
// the bytes of each connection into requests (net/rpc_request.h), runs them through the
// worker's Dispatcher and queues the responses, and expires holds once per loop turn.
//
// A connection whose bytes cannot be framed, or whose unsent responses exceed the output
// limit (a client that does not read), is closed. Requests are answered in arrival order.
//
// Durability (DESIGN.md section 7): the worker's sales and voids go to its WorkerLog. Once per
// loop turn the handler writes the staged records and has the reactor fdatasync them (on
// io_uring without blocking the loop); in `journal` mode every reply packed after an undurable
// record waits in a ReplyGate until that sync completes, in `db` mode until MariaDB has the
// record, in `memory` mode nothing waits (the records still reach the disk every turn).
//
// Thread safety: one RpcHandler per worker thread, called only by that worker's reactor.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <vector>

namespace boxoffice::persist {
class WorkerLog;
}

#include "net/dispatcher.h"
#include "net/durability.h"
#include "net/reactor.h"
#include "net/reply_gate.h"
#include "net/request_stats.h"
#include "net/rpc_request.h"
#include "net/seat_feed.h"

namespace boxoffice::net {

struct RpcLimits {
  FrameLimits frame;
  uint32_t connections_max = 10'000;  // the session table (ReactorOptions::connections_max)
  // Requests run for one connection per read: the rest of that batch is answered BUSY with
  // retry_after_ms at once, so one client pipelining thousands of requests cannot starve the
  // worker's other connections.
  uint32_t requests_per_read_max = 1024;
  // Unsent output beyond which a subscriber's notifications are counted as missed instead of
  // queued; below ReactorOptions::output_bytes_max so notifications never close a connection.
  uint32_t notification_backlog_bytes = 1u << 20;
  // Replies one connection may have waiting for a journal sync; beyond, it is closed.
  uint32_t held_reply_bytes_max = 1u << 20;
  // Requests whose bytes waited longer than this in the socket before the worker read them
  // (the kernel's receive timestamp; ReactorOptions::receive_timestamps) are answered BUSY
  // without running, pings excepted, with retry_after_ms = how long they queued (at least
  // this; at most 5 s, or this if longer): a request that runs has waited less, and a client
  // that has likely given up takes no seats it will never pay for. (A refusal still costs most
  // of what a hold does: it sheds work only when clients wait as told.) 0: off.
  uint32_t queue_budget_ms = 0;
};

class RpcHandler : public ConnectionHandler {
 public:
  // `feed` (shared by all workers, may be null: no subscribe) carries seat changes.
  RpcHandler(Engine* engine, WorkerContext* worker, DispatchOptions options,
             const RpcLimits& limits, SeatFeed* feed);

  // The worker's journal (its SaleLog, already set on the WorkerContext) and how replies wait
  // for it; null: memory only, nothing journaled. `reactor` runs the fdatasyncs. Before run().
  void set_journal(::boxoffice::persist::WorkerLog* log, Durability durability, Reactor* reactor);

  static constexpr uint32_t kSubscriptionsPerConnectionMax = 16;

  void on_open(ConnectionId id) override;
  size_t on_data(ConnectionId id, std::span<const uint8_t> input, int64_t received_at_ns,
                 Output& output, bool* close) override;
  void on_close(ConnectionId id) override;
  void on_loop_turn(int64_t now_ms) override;
  void on_datasync(uint64_t cookie, int result) override;
  void on_stop() override;
  bool holds_output(ConnectionId id) const override { return gate_.holds(id); }

  // Read by any thread (see net/request_stats.h).
  const RequestStats& stats() const { return stats_; }

 private:
  Session& session(ConnectionId id);
  void subscribe(const Request& request, ConnectionId id, Output* output);
  void publish_changes();
  void pump_journal(int64_t now_ms);
  uint64_t reply_bound() const;  // replies waiting for records up to this may go

  struct Subscription {
    ConnectionId connection;
    Output* output;
    uint32_t event_index;
    uint64_t missed;  // notifications not sent (backlog or feed overrun), to report as lost
  };

  Engine* engine_;
  WorkerContext* worker_;
  Dispatcher dispatcher_;
  FrameLimits limits_;
  uint32_t requests_per_read_max_;
  uint32_t notification_backlog_bytes_;
  int64_t queue_budget_ns_;        // 0: off
  std::string queue_refusal_;      // the BUSY message of a request queued past the budget
  std::vector<Session> sessions_;  // by connection slot (low 32 bits of the id)
  Request requests_[2];            // on_data: the request running and the next one, decoded ahead
  ReplyBuffer scratch_;            // one response at a time; keeps its capacity
  std::string busy_why_;           // the BUSY message while the journal cannot be written (built
                                   // once per failure; cleared by a successful sync)
  ReplyBuffer notice_;             // a `lost` notice
  SeatFeed* feed_;
  std::vector<Subscription> subscriptions_;  // capacity fixed at construction
  SeatFeedReader reader_;                    // of feed_ (unused without one)
  RequestStats stats_;

  ::boxoffice::persist::WorkerLog* log_ = nullptr;
  Durability durability_ = Durability::kMemory;
  Reactor* reactor_ = nullptr;
  ReplyGate gate_;
  bool sync_in_flight_ = false;
  uint64_t sync_started_ns_ = 0;
  int64_t sync_retry_at_ms_ = 0;
  int64_t sync_error_logged_at_ms_ = 0;
};

}  // namespace boxoffice::net
