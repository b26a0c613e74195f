#include "net/reply_gate.h"

#include <algorithm>

#include "shm/check.h"

namespace boxoffice::net {

ReplyGate::ReplyGate(uint32_t connections_max, uint32_t held_bytes_max)
    : held_bytes_max_(held_bytes_max), held_(connections_max) {
  waiting_.reserve(connections_max);
}

ReplyGate::Held& ReplyGate::slot(ConnectionId id) {
  const auto index = static_cast<uint32_t>(id);
  BOXOFFICE_ASSERT(index < held_.size());
  return held_[index];
}

bool ReplyGate::send(ConnectionId id, Output& output, std::span<const uint8_t> bytes,
                     uint64_t needed, uint64_t durable) {
  Held& h = slot(id);
  if (!h.waiting && needed <= durable) return output.append(bytes);
  if (h.bytes.size() + bytes.size() > held_bytes_max_) return false;
  if (!h.waiting) {
    h.waiting = true;
    h.id = id;
    h.output = &output;
    h.needed = 0;
    waiting_.push_back(static_cast<uint32_t>(id));
  }
  BOXOFFICE_ASSERT(h.id == id);
  h.needed = std::max(h.needed, needed);
  h.bytes.insert(h.bytes.end(), bytes.begin(), bytes.end());
  held_bytes_ += bytes.size();
  return true;
}

uint32_t ReplyGate::release(uint64_t durable) {
  uint32_t released = 0;
  std::erase_if(waiting_, [&](uint32_t index) {
    Held& h = held_[index];
    if (h.needed > durable) return false;
    if (!h.output->append(h.bytes)) h.overflowed = true;
    held_bytes_ -= h.bytes.size();
    h.bytes.clear();  // keeps its capacity for the next batch
    h.waiting = false;
    ++released;
    return true;
  });
  return released;
}

void ReplyGate::forget(ConnectionId id) {
  Held& h = slot(id);
  if (h.waiting) {
    const auto index = static_cast<uint32_t>(id);
    std::erase(waiting_, index);
    held_bytes_ -= h.bytes.size();
  }
  h = Held{};
}

bool ReplyGate::take_overflowed(ConnectionId id) {
  Held& h = slot(id);
  const bool overflowed = h.overflowed;
  h.overflowed = false;
  return overflowed;
}

}  // namespace boxoffice::net
