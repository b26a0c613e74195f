// ReplyGate: holds a worker's replies until the journal records they depend on are durable
// (DESIGN.md section 7, `--durability journal|db`). A reply packed after a sale or void was
// logged waits for the group commit that covers it; so does every later reply on the same
// connection, which keeps each connection's replies in request order and means no client
// sees a seat state that a crash could still take back.
//
// Per connection the gate keeps one buffer of held bytes and the highest journal sequence
// they wait for; release() moves every buffer whose sequence is durable into its Output.
//
// Thread safety: one ReplyGate per worker thread, used only by it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "net/reactor.h"

namespace boxoffice::net {

class ReplyGate {
 public:
  // `held_bytes_max` bounds each connection's held replies (a client pipelining more than that
  // while a sync is in flight is closed, as one that does not read its replies).
  ReplyGate(uint32_t connections_max, uint32_t held_bytes_max);

  // Sends `bytes` on `output` now when `needed` <= `durable` and the connection has nothing
  // held; otherwise holds them until release(durable >= needed). False when they fit
  // neither (the caller closes the connection).
  bool send(ConnectionId id, Output& output, std::span<const uint8_t> bytes, uint64_t needed,
            uint64_t durable);
  // Moves held replies whose records are durable to their outputs. Returns how many
  // connections' replies were released.
  uint32_t release(uint64_t durable);
  // Every held reply, durable or not (only when stopping after a final sync).
  void release_all() { release(UINT64_MAX); }
  void forget(ConnectionId id);  // the connection closed: its held replies are dropped
  bool holding() const { return !waiting_.empty(); }
  bool holds(ConnectionId id) const {
    const Held& h = held_[static_cast<uint32_t>(id)];
    return h.waiting && h.id == id;
  }
  uint64_t held_bytes() const { return held_bytes_; }
  // Connections whose released replies overflowed their output (cleared when read).
  bool take_overflowed(ConnectionId id);

 private:
  struct Held {
    ConnectionId id = 0;
    Output* output = nullptr;
    uint64_t needed = 0;
    bool waiting = false;
    bool overflowed = false;
    std::vector<uint8_t> bytes;
  };
  Held& slot(ConnectionId id);

  uint32_t held_bytes_max_;
  std::vector<Held> held_;         // by connection slot (low 32 bits of the id)
  std::vector<uint32_t> waiting_;  // slots with held bytes
  uint64_t held_bytes_ = 0;
};

}  // namespace boxoffice::net
