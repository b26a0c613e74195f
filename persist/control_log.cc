#include "persist/control_log.h"

#include "persist/records.h"

namespace boxoffice::persist {

std::unique_ptr<ControlLog> ControlLog::open(const std::string& directory,
                                             uint32_t record_bytes_max, JournalTail* tail,
                                             std::string* error) {
  std::unique_ptr<ControlLog> log(new ControlLog());
  log->options_.directory = directory;
  log->options_.record_bytes_max = record_bytes_max;
  log->writer_ = JournalWriter::open(log->options_, tail, error);
  if (!log->writer_) return nullptr;
  log->durable_.store(log->writer_->synced_sequence());
  return log;
}

Status ControlLog::append(RecordType type, std::span<const uint8_t> payload) {
  std::string error;
  if (writer_->append(static_cast<uint8_t>(type), payload, &error) == 0 || !writer_->sync(&error)) {
    // The segment may now end in a torn record, and the writer still buffers this one: open
    // it again, which cuts the tail at the last good record and forgets the buffer. (The
    // record may have reached the disk whole: then the change is applied at the next start.)
    JournalTail tail;
    std::string reopen_error;
    if (auto reopened = JournalWriter::open(options_, &tail, &reopen_error)) {
      writer_ = std::move(reopened);
    }
    return Status(ErrorCode::kInternal, "control journal: " + error);
  }
  durable_.store(writer_->synced_sequence(), std::memory_order_release);
  return Status::ok();
}

Status ControlLog::event_created(const EventEntry& entry) {
  return append(RecordType::kEventCreated, encode_event(entry));
}

Status ControlLog::event_state(const EventStateEntry& entry) {
  return append(RecordType::kEventState, encode_event_state(entry));
}

bool read_control(const std::string& directory, ControlEvents* out, std::string* error) {
  *out = ControlEvents{};
  bool ok = true;
  std::string read_error;
  read_journal(
      directory, 1, UINT64_MAX,
      [&](const JournalRecord& r) {
        if (r.type == static_cast<uint8_t>(RecordType::kEventCreated)) {
          EventEntry entry;
          if (!decode_event(r.payload, &entry, error)) return ok = false;
          if (entry.event_index != out->events.size()) {
            *error = "control journal: event " + std::to_string(entry.event_index) +
                     " recorded where " + std::to_string(out->events.size()) + " was due";
            return ok = false;
          }
          out->documents.emplace_back(entry.document);
          out->events.push_back({entry, entry.state});
        } else if (r.type == static_cast<uint8_t>(RecordType::kEventState)) {
          EventStateEntry entry;
          if (!decode_event_state(r.payload, &entry, error)) return ok = false;
          if (entry.event_index >= out->events.size()) {
            *error = "control journal: state change of unknown event " +
                     std::to_string(entry.event_index);
            return ok = false;
          }
          out->events[entry.event_index].state = entry.state;
        } else {
          *error = "control journal: record of type " + std::to_string(r.type);
          return ok = false;
        }
        return true;
      },
      &read_error);
  if (!ok) return false;
  if (!read_error.empty()) {
    *error = "control journal: " + read_error;
    return false;
  }
  // Documents moved while the vector grew: point the entries at their final strings.
  for (size_t i = 0; i < out->events.size(); ++i) out->events[i].entry.document = out->documents[i];
  return true;
}

}  // namespace boxoffice::persist
