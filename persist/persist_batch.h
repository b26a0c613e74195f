// PersistBatch: what the persister (persist/persister.h) hands to a sink in one transaction: the
// rows decoded from a run of journal records, and how far each journal stream got. A sink
// (MariaDB, the Redis outbox) applies the rows and records the progress atomically with them,
// so a crash between batches neither skips nor repeats a row.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace boxoffice::persist {

// Where a row came from, for progress and the dead-letter table.
struct RecordOrigin {
  uint32_t stream = 0;    // index into PersistBatch::streams
  uint64_t sequence = 0;  // journal sequence within that stream
};

struct EventRow {
  RecordOrigin origin;
  uint32_t event_index = 0;
  std::string event_id;
  std::string venue_id;
  std::string name;
  std::string state;  // "open" | "paused" | "closed"
  int64_t created_at_ms = 0;
  std::string layout_json;  // the stored event document's layout
};

struct EventStateRow {
  RecordOrigin origin;
  uint32_t event_index = 0;
  std::string state;
  int64_t at_ms = 0;
};

struct TicketRow {
  RecordOrigin origin;
  std::string ticket_id;  // 36-character UUID text
  uint32_t event_index = 0;
  std::string event_id;
  uint32_t seat_index = 0;
  std::string seat_label;  // "section/row/number" or the GA zone and place
  uint32_t generation = 0;
  uint64_t nonce = 0;
  int64_t price_cents = 0;
  int64_t sold_at_ms = 0;
  std::string buyer_ref;
  uint64_t idempotency_hash = 0;
};

struct VoidRow {
  RecordOrigin origin;
  std::string ticket_id;
  uint32_t event_index = 0;
  std::string event_id;
  uint32_t seat_index = 0;
  uint32_t generation = 0;
  uint64_t nonce = 0;
  int64_t voided_at_ms = 0;
};

struct StreamProgress {
  std::string name;       // "control", "worker-0", ...
  uint64_t sequence = 0;  // every record <= sequence is in this batch or an earlier one
};

struct PersistBatch {
  std::vector<EventRow> events;
  std::vector<EventStateRow> event_states;
  std::vector<TicketRow> tickets;
  std::vector<VoidRow> voids;
  std::vector<StreamProgress> streams;
  size_t rows() const {
    return events.size() + event_states.size() + tickets.size() + voids.size();
  }
  void clear() {
    events.clear();
    event_states.clear();
    tickets.clear();
    voids.clear();
    streams.clear();
  }
};

}  // namespace boxoffice::persist
