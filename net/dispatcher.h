// Dispatcher: runs decoded MessagePack-RPC requests (net/rpc_request.h) against the engine and
// packs their responses (net/PROTOCOL.md). One per worker thread; it owns no sockets, so every
// method and error can be tested without a network.
//
// Thread safety: one Dispatcher per worker thread, used only by it (it holds the worker's
// WorkerContext and a scratch buffer). The Engine is shared and thread-safe.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine.h"
#include "net/reply_buffer.h"
#include "net/reply_packer.h"
#include "net/request_stats.h"
#include "net/rpc_request.h"

namespace boxoffice::net {

enum class ClientRole : uint8_t { kNone, kSell, kAdmin };

struct ApiKey {
  std::string key;
  ClientRole role = ClientRole::kSell;
};

struct DispatchOptions {
  // Empty: no authentication, every connection may do everything.
  std::vector<ApiKey> api_keys;
};

// Per-connection protocol state.
struct Session {
  ClientRole role = ClientRole::kNone;
};

class Dispatcher {
 public:
  Dispatcher(Engine* engine, WorkerContext* worker, DispatchOptions options);

  // Runs `request` (already framed: its `error`, if any, becomes a BAD_REQUEST response) and
  // appends the packed response to `out`. Returns the response's code (OK or the error's).
  // The latency counted in the stats runs from *clock_ns (a monotonic_ns() reading the caller
  // took when it started on the request), which is then set to when the reply was packed: a
  // worker running a batch of requests reads the clock once per request, not twice. Null: the
  // latency is handle()'s own.
  ErrorCode handle(const Request& request, Session* session, int64_t now_ms, ReplyBuffer* out,
                   uint64_t* clock_ns = nullptr);

  // Where handle() counts requests and their latency (none: not counted). Before any call.
  void set_stats(RequestStats* stats) { stats_ = stats; }

  // Packs an error response / the result of a successful subscribe (handled by RpcHandler,
  // which owns the connections).
  static void pack_error(uint32_t msgid, const Status& status, ReplyBuffer* out);
  static void pack_subscribed(uint32_t msgid, ReplyBuffer* out);
  // Packs [2, "seat.changed", {event, seats, state}] or, for lost changes, {event, lost}.
  void pack_seat_changed(uint32_t event_index, std::span<const uint32_t> seats, SeatState state,
                         ReplyBuffer* out);
  void pack_seats_lost(uint32_t event_index, uint64_t lost, ReplyBuffer* out);

  // Packs a BUSY response with retry_after_ms (overload: the request was not run); 0: the
  // usual 10 ms.
  static void pack_busy(uint32_t msgid, const char* why, ReplyBuffer* out,
                        uint32_t retry_after_ms = 0);

  // Starts fetching what running `request` will touch in the seat table (a hold's or a buy's
  // seats given by index): called for the next request of a batch while this one runs.
  void prefetch(const Request& request);

  // UNAUTHORIZED when API keys are configured and `session` has not authenticated (ping and
  // auth excepted); OK otherwise.
  Status admit(const Request& request, const Session& session) const;

  // Constant-time lookup of an API key (every configured key is compared in full).
  ClientRole role_of(std::string_view key) const;

 private:
  using Packer = ReplyPacker;
  struct Reply;

  void run(const Request& r, Session* session, int64_t now_ms, Reply* reply);
  // Engine::find_event through a one-entry memo: a connection's requests name the same event.
  bool find_event(std::string_view id, uint32_t* event_index);
  bool resolve_event(const Request& r, uint32_t* event_index, Reply* reply);
  bool resolve_seats(const Request& r, uint32_t event_index, SeatList* seats, Reply* reply);
  bool resolve_seat(const SeatRef& ref, uint32_t event_index, uint32_t* seat, Reply* reply);

  void pack_seat(Packer& pk, uint32_t event_index, uint32_t seat);
  // Answers a failed hold/confirm/buy: SEAT_TAKEN lists the taken seats, the rest as fail().
  void fail_booking(const Status& status, uint32_t event_index, const SeatList& taken,
                    Reply* reply);
  void pack_hold(Packer& pk, const HoldOutcome& hold);
  void pack_sale(Packer& pk, const SaleOutcome& sale);

  void do_ping(int64_t now_ms, Reply* reply);
  void do_auth(const Request& r, Session* session, Reply* reply);
  void do_event_create(const Request& r, int64_t now_ms, Reply* reply);
  void do_event_get(const Request& r, Reply* reply);
  void do_event_list(Reply* reply);
  void do_event_stats(const Request& r, Reply* reply);
  void do_hold(const Request& r, int64_t now_ms, Reply* reply);
  void do_hold_best(const Request& r, int64_t now_ms, Reply* reply);
  void do_hold_extend(const Request& r, int64_t now_ms, Reply* reply);
  void do_hold_release(const Request& r, int64_t now_ms, Reply* reply);
  void do_hold_confirm(const Request& r, int64_t now_ms, Reply* reply);
  void do_buy(const Request& r, int64_t now_ms, Reply* reply);
  void do_ticket_get(const Request& r, Reply* reply);
  void do_ticket_void(const Request& r, int64_t now_ms, Reply* reply);
  void do_seat_get(const Request& r, Reply* reply);
  void do_availability(const Request& r, Reply* reply);

  Engine* engine_;
  WorkerContext* worker_;
  DispatchOptions options_;
  RequestStats* stats_ = nullptr;
  std::vector<uint8_t> bitmap_scratch_;
  std::string memo_event_id_;      // the last event found, and its index (events are never removed
  uint32_t memo_event_index_ = 0;  // or renumbered, so an id keeps its index)
};

}  // namespace boxoffice::net
