// SeatStreams: one HTTP thread's server-sent-event streams of seat changes, the HTTP form of the
// binary `subscribe` (GET /v1/events/{event}/changes, net/HTTP_API.md). Each stream follows one
// event through the SeatFeed, read with this thread's own cursor per watched event, and poll()
// (once per loop turn) writes every change recorded since the last turn to each stream of its
// event, as the binary notification's params:
//
//   event: seat.changed
//   data: {"event":"E1","seats":[17,18],"state":"held"}
//
// A write the server refuses (its client has more than the backlog limit unread) is a change
// that stream missed; at its next accepted write it first gets
// `data: {"event":"E1","lost":N}` (changes the feed overwrote before this thread read them
// count too). A stream that was sent nothing for keep_alive_ms gets a comment line, which keeps
// proxies from closing it and lets the server find clients that went.
//
// Thread safety: one per HTTP thread, used only by it.
#pragma once

#include <cstdint>
#include <functional>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "net/dispatcher.h"
#include "net/seat_feed.h"

namespace boxoffice::net {

class SeatStreams {
 public:
  static constexpr uint32_t kStreamsMax = 4096;  // open at once, per HTTP thread

  // `dispatcher` packs the notifications (as the binary workers do); `feed` carries the changes.
  SeatStreams(SeatFeed* feed, Dispatcher* dispatcher, uint32_t events_max, int64_t keep_alive_ms);

  // A new stream of `event_index`; 0 when kStreamsMax are open.
  uint64_t open(uint32_t event_index, int64_t now_ms);
  // Its client went, or the server stops: nothing more is written to it. May be called from
  // within poll() (by a write that found the client gone).
  void close(uint64_t stream_id);
  size_t open_count() const { return streams_.size(); }

  // Writes `bytes` to the stream; false when refused (the bytes dropped).
  using Writer = std::function<bool(uint64_t stream_id, std::string_view bytes)>;
  void poll(int64_t now_ms, const Writer& write);

  // What a new stream is sent first: the client knows it is connected.
  static constexpr std::string_view kGreeting = ": subscribed\nretry: 1000\n\n";

 private:
  struct Stream {
    uint64_t id;
    uint32_t event_index;
    uint64_t missed;     // changes not written, to report as lost before the next one
    int64_t written_ms;  // last write accepted (the keep-alive clock)
  };
  // Writes `event` (SSE text) to `stream`, preceded by its lost count if any.
  void deliver(Stream& stream, const std::string& event, int64_t now_ms, const Writer& write);
  // A packed seat.changed notification (net/PROTOCOL.md) as SSE text: its params as data.
  static std::string event_text(const ReplyBuffer& notification);

  Dispatcher* dispatcher_;
  const int64_t keep_alive_ms_;
  uint64_t next_id_ = 1;
  bool polling_ = false;         // close() marks (id 0) instead of removing meanwhile
  std::vector<Stream> streams_;  // capacity kStreamsMax
  SeatFeedReader reader_;
  ReplyBuffer packed_;  // one notification at a time
};

}  // namespace boxoffice::net
