#include "net/seat_streams.h"

#include <algorithm>

#include "net/msgpack_json.h"
#include "shm/check.h"

namespace boxoffice::net {

SeatStreams::SeatStreams(SeatFeed* feed, Dispatcher* dispatcher, uint32_t events_max,
                         int64_t keep_alive_ms)
    : dispatcher_(dispatcher), keep_alive_ms_(keep_alive_ms), reader_(feed, events_max) {
  BOXOFFICE_ASSERT(feed != nullptr && dispatcher_ != nullptr && keep_alive_ms_ > 0);
  streams_.reserve(kStreamsMax);
}

uint64_t SeatStreams::open(uint32_t event_index, int64_t now_ms) {
  if (streams_.size() >= kStreamsMax) return 0;
  reader_.watch(event_index);
  streams_.push_back({next_id_, event_index, 0, now_ms});
  return next_id_++;
}

void SeatStreams::close(uint64_t stream_id) {
  auto it = std::find_if(streams_.begin(), streams_.end(),
                         [&](const Stream& s) { return s.id == stream_id; });
  if (it == streams_.end()) return;
  if (polling_) {
    it->id = 0;  // removed at the end of poll(); written no more
    return;
  }
  *it = streams_.back();  // order does not matter
  streams_.pop_back();
}

std::string SeatStreams::event_text(const ReplyBuffer& notification) {
  // [2, "seat.changed", params]
  const msgpack::object_handle handle = msgpack::unpack(notification.data(), notification.size());
  const msgpack::object& message = handle.get();
  BOXOFFICE_ASSERT(message.type == msgpack::type::ARRAY && message.via.array.size == 3);
  std::string text = "event: seat.changed\ndata: ";
  append_json(message.via.array.ptr[2], &text);  // one line: JSON text escapes newlines
  text += "\n\n";
  return text;
}

void SeatStreams::deliver(Stream& stream, const std::string& event, int64_t now_ms,
                          const Writer& write) {
  if (stream.missed > 0) {
    packed_.clear();
    dispatcher_->pack_seats_lost(stream.event_index, stream.missed, &packed_);
    if (!write(stream.id, event_text(packed_))) {
      stream.missed++;
      return;
    }
    stream.missed = 0;
  }
  if (write(stream.id, event)) {
    stream.written_ms = now_ms;
  } else {
    stream.missed++;
  }
}

void SeatStreams::poll(int64_t now_ms, const Writer& write) {
  polling_ = true;
  reader_.read(streams_, [&](uint32_t event_index, const SeatFeed::Change& change) {
    packed_.clear();
    dispatcher_->pack_seat_changed(event_index, {change.seats, change.count}, change.state,
                                   &packed_);
    const std::string event = event_text(packed_);
    for (Stream& s : streams_) {
      if (s.id != 0 && s.event_index == event_index) deliver(s, event, now_ms, write);
    }
  });
  for (Stream& s : streams_) {
    if (s.id != 0 && now_ms - s.written_ms >= keep_alive_ms_ && write(s.id, ": keep-alive\n\n")) {
      s.written_ms = now_ms;
    }
  }
  polling_ = false;
  std::erase_if(streams_, [](const Stream& s) { return s.id == 0; });
}

}  // namespace boxoffice::net
