#include "persist/persister.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "persist/journal.h"
#include "persist/records.h"

namespace boxoffice::persist {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Persister::Stream {
  PersistStream config;
  std::unique_ptr<JournalReader> reader;
  std::atomic<uint64_t> persisted{0};
  std::atomic<uint64_t> settled{0};  // persisted, with on_persisted and the stats done
  bool broken = false;  // a record in range is missing or corrupt: reading stopped, logged
};

Persister::Persister(std::string name, std::unique_ptr<PersistSink> sink,
                     std::vector<PersistStream> streams, const Engine* engine,
                     const PersisterOptions& options,
                     std::function<void(size_t, uint64_t)> on_persisted,
                     std::function<void(const std::string&)> log)
    : name_(std::move(name)),
      sink_(std::move(sink)),
      engine_(engine),
      options_(options),
      on_persisted_(std::move(on_persisted)),
      log_(std::move(log)) {
  for (PersistStream& s : streams) {
    auto stream = std::make_unique<Stream>();
    stream->config = std::move(s);
    streams_.push_back(std::move(stream));
  }
}

Persister::~Persister() { stop(); }

void Persister::start() {
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void Persister::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Persister::wait_caught_up(int64_t timeout_ms) {
  std::vector<uint64_t> targets;
  for (const auto& s : streams_) targets.push_back(s->config.durable());
  const int64_t deadline = steady_ms() + timeout_ms;
  while (true) {
    bool caught_up = true;
    for (size_t i = 0; i < streams_.size(); ++i) {
      caught_up = caught_up && streams_[i]->settled.load() >= targets[i];
    }
    if (caught_up) return true;
    if (steady_ms() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

uint64_t Persister::persisted(size_t stream) const { return streams_[stream]->persisted.load(); }

PersisterStats Persister::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Persister::set_error(const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.errors;
    stats_.last_error = error;
  }
  log_(name_ + ": " + error);
}

bool Persister::resume(std::string* error) {
  if (!sink_->connect(error)) return false;
  std::vector<StreamProgress> progress;
  if (!sink_->load_progress(&progress, error)) return false;
  for (auto& s : streams_) {
    uint64_t done = 0;
    for (const StreamProgress& p : progress) {
      if (p.name == s->config.name) done = p.sequence;
    }
    const uint64_t first = first_retained_sequence(s->config.directory);
    if (first > done + 1) {
      // Only possible when the destination lost data (restored from an old backup): the
      // records in between are gone from the journal too. Say so and go on from what is left.
      log_(name_ + ": stream " + s->config.name + " was persisted up to " + std::to_string(done) +
           " but its journal starts at " + std::to_string(first) +
           "; records in between cannot be sent again");
      done = first - 1;
    }
    if (const uint64_t durable = s->config.durable(); done > durable) {
      log_(name_ + ": stream " + s->config.name + " was persisted up to " + std::to_string(done) +
           " but its journal ends at " + std::to_string(durable) +
           ": records up to there will be skipped. Is this destination shared with another "
           "server, or was the journal replaced?");
    }
    s->reader = std::make_unique<JournalReader>(s->config.directory, done + 1);
    s->persisted.store(done);
    s->settled.store(done);
    s->broken = false;
  }
  // What the destination has counts at once (backlog accounting, db-mode replies), not only
  // after the next batch.
  if (on_persisted_) {
    for (size_t i = 0; i < streams_.size(); ++i) on_persisted_(i, streams_[i]->persisted.load());
  }
  return true;
}

std::string Persister::seat_label(uint32_t event_index, uint32_t seat) const {
  if (!engine_->event_exists(event_index)) return "";
  const Layout& layout = engine_->layout(event_index);
  if (seat >= layout.seat_count()) return "";
  const SeatLocation where = layout.locate(seat);
  return std::to_string(where.zone->id) + "/" + (where.row != nullptr ? where.row->label : "GA") +
         "/" + where.label();
}

bool Persister::add_record(size_t stream, uint8_t type, std::span<const uint8_t> payload,
                           uint64_t sequence, std::string* error) {
  const RecordOrigin origin{static_cast<uint32_t>(stream), sequence};
  auto event_id = [&](uint32_t e) {
    return engine_->event_exists(e) ? std::string(engine_->event_id(e)) : std::string();
  };
  switch (static_cast<RecordType>(type)) {
    case RecordType::kSale: {
      DecodedSale sale;
      if (!decode_sale(payload, &sale, error)) return false;
      const SaleEntry& e = sale.entry;
      const std::string id = event_id(e.event_index);
      for (const SoldSeat& seat : e.seats) {
        TicketRow row;
        row.origin = origin;
        row.ticket_id = TicketId::make(e.event_index, seat.seat, seat.nonce).to_string();
        row.event_index = e.event_index;
        row.event_id = id;
        row.seat_index = seat.seat;
        row.seat_label = seat_label(e.event_index, seat.seat);
        row.generation = seat.generation;
        row.nonce = seat.nonce;
        row.price_cents = seat.price_cents;
        row.sold_at_ms = e.sold_at_ms;
        row.buyer_ref = std::string(e.buyer_ref);
        row.idempotency_hash = e.idempotency_hash;
        batch_.tickets.push_back(std::move(row));
      }
      if (oldest_pending_sale_ms_ == 0) oldest_pending_sale_ms_ = e.sold_at_ms;
      return true;
    }
    case RecordType::kVoid: {
      VoidEntry e;
      if (!decode_void(payload, &e, error)) return false;
      VoidRow row;
      row.origin = origin;
      row.ticket_id = TicketId::make(e.event_index, e.seat, e.nonce).to_string();
      row.event_index = e.event_index;
      row.event_id = event_id(e.event_index);
      row.seat_index = e.seat;
      row.generation = e.generation;
      row.nonce = e.nonce;
      row.voided_at_ms = e.voided_at_ms;
      batch_.voids.push_back(std::move(row));
      return true;
    }
    case RecordType::kEventCreated: {
      EventEntry e;
      if (!decode_event(payload, &e, error)) return false;
      const nlohmann::json doc = nlohmann::json::parse(e.document, nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("id") || !doc["id"].is_string() ||
          !doc.contains("layout") || !doc["layout"].is_object()) {
        *error = "event record: document is not an event";
        return false;
      }
      EventRow row;
      row.origin = origin;
      row.event_index = e.event_index;
      row.event_id = doc["id"].get<std::string>();
      row.venue_id = doc["layout"].value("venue", std::string());
      row.name = doc.value("name", std::string());
      row.state = std::string(event_state_name(e.state));
      row.created_at_ms = e.created_at_ms;
      row.layout_json = doc["layout"].dump();
      batch_.events.push_back(std::move(row));
      return true;
    }
    case RecordType::kFiller:
      return true;
    case RecordType::kEventState: {
      EventStateEntry e;
      if (!decode_event_state(payload, &e, error)) return false;
      batch_.event_states.push_back(
          {origin, e.event_index, std::string(event_state_name(e.state)), e.at_ms});
      return true;
    }
  }
  *error = "record of unknown type " + std::to_string(type);
  return false;
}

void Persister::run() {
  int64_t backoff_ms = options_.backoff_initial_ms;
  bool ready = false;
  size_t first_stream = 0;    // round-robin start, so one busy stream cannot starve the others
  uint64_t durable_seen = 0;  // all streams' durable records at the previous batch
  int64_t window_started_ms = steady_ms();
  uint64_t window_rows = 0;
  auto pause = [&](int64_t ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
  };
  while (!stop_.load()) {
    if (!ready) {
      std::string error;
      if (!resume(&error)) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          stats_.connected = false;
        }
        set_error("cannot reach the destination (retry in " + std::to_string(backoff_ms) +
                  " ms): " + error);
        pause(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, options_.backoff_max_ms);
        continue;
      }
      ready = true;
      backoff_ms = options_.backoff_initial_ms;
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.connected = true;
    }

    batch_.clear();
    oldest_pending_sale_ms_ = 0;
    const int64_t batch_started_ms = steady_ms();
    // Every stream's durable bound first: the backlog and whether sales are coming in.
    durables_.resize(streams_.size());
    uint64_t lag = 0;
    uint64_t durable_total = 0;
    for (size_t i = 0; i < streams_.size(); ++i) {
      durables_[i] = streams_[i]->config.durable();
      durable_total += durables_[i];
      lag += durables_[i] - std::min(durables_[i], streams_[i]->persisted.load());
    }
    for (size_t k = 0; k < streams_.size(); ++k) {
      const size_t i = (first_stream + k) % streams_.size();
      Stream& s = *streams_[i];
      const uint64_t durable = durables_[i];
      if (s.broken || s.reader->next_sequence() > durable) continue;
      const size_t budget =
          options_.batch_rows_max - std::min<size_t>(batch_.rows(), options_.batch_rows_max);
      if (budget == 0) break;
      const size_t index = batch_.streams.size();
      batch_.streams.push_back({s.config.name, 0});
      bool ok = true;
      std::string error;
      const size_t read = s.reader->read(
          durable, budget,
          [&](const JournalRecord& r) {
            std::string bad;
            if (!add_record(index, r.type, r.payload, r.sequence, &bad)) {
              std::lock_guard<std::mutex> lock(mutex_);
              ++stats_.bad_records;
              log_(name_ + ": " + s.config.name + " record " + std::to_string(r.sequence) +
                   " skipped: " + bad);
            }
          },
          &ok, &error, [&] { return batch_.rows() >= options_.batch_rows_max; });
      if (!ok) {
        s.broken = true;
        set_error("stream " + s.config.name + " stopped: " + error);
      }
      if (read == 0) {
        batch_.streams.pop_back();
        continue;
      }
      batch_.streams[index].sequence = s.reader->next_sequence() - 1;
    }
    first_stream = (first_stream + 1) % std::max<size_t>(streams_.size(), 1);

    if (batch_.streams.empty()) {
      durable_seen = durable_total;
      std::unique_lock<std::mutex> lock(mutex_);
      stats_.lag_records = lag;
      stats_.lag_ms = 0;
      if (steady_ms() - window_started_ms >= 1000) {
        stats_.rows_per_s = 1000.0 * static_cast<double>(window_rows) /
                            static_cast<double>(steady_ms() - window_started_ms);
        window_started_ms = steady_ms();
        window_rows = 0;
      }
      wake_.wait_for(lock, std::chrono::milliseconds(options_.idle_wait_ms),
                     [&] { return stop_.load(); });
      continue;
    }

    std::string error;
    if (!sink_->write(batch_, &error)) {
      ready = false;  // reconnect, reload progress, read the same records again
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.connected = false;
      }
      set_error("write failed (retry in " + std::to_string(backoff_ms) + " ms): " + error);
      pause(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, options_.backoff_max_ms);
      continue;
    }
    uint64_t records = 0;
    for (const StreamProgress& p : batch_.streams) {
      for (size_t i = 0; i < streams_.size(); ++i) {
        if (streams_[i]->config.name != p.name) continue;
        records += p.sequence - streams_[i]->persisted.load();
        streams_[i]->persisted.store(p.sequence);
        if (on_persisted_) on_persisted_(i, p.sequence);
      }
    }
    window_rows += batch_.rows();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.records_persisted += records;
      ++stats_.batches;
      stats_.last_batch_rows = batch_.rows();
      stats_.batch_rows_max_seen = std::max<uint64_t>(stats_.batch_rows_max_seen, batch_.rows());
      stats_.lag_records = lag > records ? lag - records : 0;
      // Nothing left behind means no sale waiting, whatever the last batch's oldest one was.
      stats_.lag_ms = stats_.lag_records > 0 && oldest_pending_sale_ms_ > 0
                          ? std::max<int64_t>(0, wall_ms() - oldest_pending_sale_ms_)
                          : 0;
      if (steady_ms() - window_started_ms >= 1000) {
        stats_.rows_per_s = 1000.0 * static_cast<double>(window_rows) /
                            static_cast<double>(steady_ms() - window_started_ms);
        window_started_ms = steady_ms();
        window_rows = 0;
      }
      for (auto& stream : streams_) stream->settled.store(stream->persisted.load());
    }
    const bool selling = durable_total > durable_seen;
    durable_seen = durable_total;
    if (options_.rows_per_s_max > 0 && selling && lag <= options_.pace_lag_records_max) {
      // Paced: this batch's rows take their share of a second before the next one goes.
      const int64_t due_ms = static_cast<int64_t>(batch_.rows() * 1000 / options_.rows_per_s_max) -
                             (steady_ms() - batch_started_ms);
      if (due_ms > 0) pause(due_ms);
    } else if (batch_.rows() * 4 < options_.batch_rows_max && options_.linger_ms > 0) {
      pause(options_.linger_ms);
    }
  }
}

}  // namespace boxoffice::persist
