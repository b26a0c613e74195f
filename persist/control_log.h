// ControlLog: the journal of event creations and state changes (the engine's EventLog), kept
// in its own stream `control` and never trimmed: it is small, and a table rebuilt after a
// reboot needs every event back at its original index (ticket ids embed it).
//
// Each record is appended and fdatasynced before the engine publishes the change, so an event
// is durable before anyone can sell a seat of it.
//
// Thread safety: called under the engine's event mutex (one caller at a time); read_control()
// is a free function for start-up.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/sale_log.h"
#include "persist/journal.h"
#include "persist/records.h"

namespace boxoffice::persist {

class ControlLog : public EventLog {
 public:
  // `record_bytes_max` must hold the largest event document the engine accepts.
  static std::unique_ptr<ControlLog> open(const std::string& directory, uint32_t record_bytes_max,
                                          JournalTail* tail, std::string* error);
  Status event_created(const EventEntry& entry) override;
  Status event_state(const EventStateEntry& entry) override;
  uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
  const std::string& directory() const { return options_.directory; }

 private:
  ControlLog() = default;
  Status append(RecordType type, std::span<const uint8_t> payload);
  JournalOptions options_;
  std::unique_ptr<JournalWriter> writer_;
  std::atomic<uint64_t> durable_{0};
};

// What the control journal says about events, replayed in order.
struct ControlEvents {
  struct Event {
    EventEntry entry;                                // document points into `documents`
    shm::EventState state = shm::EventState::kOpen;  // after every state change
  };
  std::vector<Event> events;  // by index
  std::vector<std::string> documents;
};

// Reads the whole control journal; false with *error when a record does not decode or an
// event index comes out of order.
bool read_control(const std::string& directory, ControlEvents* out, std::string* error);

}  // namespace boxoffice::persist
