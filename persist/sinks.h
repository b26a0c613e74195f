// sinks: the persister's destinations (persist/persister.h) over the stores that speak to them:
// MariaDB (persist/mariadb_store.h) and the Redis outbox (persist/redis_outbox.h). Each sink
// owns one connection and drops it on failure; the persister reconnects with backoff.
//
// Thread safety: a sink is used by its persister's thread only.
#pragma once

#include <memory>

#include "persist/mariadb_store.h"
#include "persist/persister.h"
#include "persist/redis_outbox.h"
#include "persist/restore.h"

namespace boxoffice::persist {

std::unique_ptr<PersistSink> make_mariadb_sink(const MariadbConfig& config);
std::unique_ptr<PersistSink> make_redis_sink(const RedisConfig& config);

// Every ticket MariaDB holds, for rebuilding a table (persist/restore.h), over its own
// connection; `events` is how many events the rebuilt table has.
TicketSource mariadb_ticket_source(const MariadbConfig& config, uint32_t events);

}  // namespace boxoffice::persist
