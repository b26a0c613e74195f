#include "persist/sinks.h"

#include "core/ids.h"

namespace boxoffice::persist {
namespace {

class MariadbSink : public PersistSink {
 public:
  explicit MariadbSink(const MariadbConfig& config) : config_(config) {}
  bool connect(std::string* error) override {
    store_ = MariadbStore::connect(config_, error);
    return store_ != nullptr;
  }
  bool load_progress(std::vector<StreamProgress>* out, std::string* error) override {
    return store_->load_progress(out, error);
  }
  bool write(const PersistBatch& batch, std::string* error) override {
    bool transient = false;
    if (store_->write(batch, error, &transient)) return true;
    // Either way the batch is sent again after a reconnect: a refused progress row or dead
    // letter needs an operator, and retrying (with backoff, logged) is what keeps it visible.
    if (!transient) *error = "not retryable without an operator: " + *error;
    store_.reset();
    return false;
  }

 private:
  MariadbConfig config_;
  std::unique_ptr<MariadbStore> store_;
};

class RedisSink : public PersistSink {
 public:
  explicit RedisSink(const RedisConfig& config) : config_(config) {}
  bool connect(std::string* error) override {
    outbox_ = RedisOutbox::connect(config_, error);
    return outbox_ != nullptr;
  }
  bool load_progress(std::vector<StreamProgress>* out, std::string* error) override {
    return outbox_->load_progress(out, error);
  }
  bool write(const PersistBatch& batch, std::string* error) override {
    if (outbox_->publish(batch, error)) return true;
    outbox_.reset();
    return false;
  }

 private:
  RedisConfig config_;
  std::unique_ptr<RedisOutbox> outbox_;
};

}  // namespace

std::unique_ptr<PersistSink> make_mariadb_sink(const MariadbConfig& config) {
  return std::make_unique<MariadbSink>(config);
}

std::unique_ptr<PersistSink> make_redis_sink(const RedisConfig& config) {
  return std::make_unique<RedisSink>(config);
}

TicketSource mariadb_ticket_source(const MariadbConfig& config, uint32_t events) {
  return [config, events](const std::function<void(const SaleEntry&)>& sale,
                          const std::function<void(const VoidEntry&)>& voided, std::string* error) {
    auto store = MariadbStore::connect(config, error);
    if (!store) return false;
    for (uint32_t e = 0; e < events; ++e) {
      const bool ok = store->read_tickets(
          e,
          [&](const TicketRow& row, int64_t voided_at_ms) {
            uint64_t nonce = row.nonce;
            if (nonce == 0) {
              if (auto id = TicketId::parse(row.ticket_id)) nonce = id->nonce();
            }
            if (row.sold_at_ms != 0 || row.price_cents != 0) {
              const SoldSeat seat{row.seat_index, row.generation, nonce, row.price_cents};
              SaleEntry entry;
              entry.event_index = row.event_index;
              entry.sold_at_ms = row.sold_at_ms;
              entry.idempotency_hash = row.idempotency_hash;
              entry.buyer_ref = row.buyer_ref;
              entry.seats = {&seat, 1};
              sale(entry);
            }
            if (voided_at_ms >= 0) {
              voided({row.event_index, row.seat_index, row.generation, nonce, voided_at_ms});
            }
          },
          error);
      if (!ok) return false;
    }
    return true;
  };
}

}  // namespace boxoffice::persist
