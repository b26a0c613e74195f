// Durability: when a reply that shows a sale or a void may be sent (DESIGN.md section 7,
// `--durability`): at once (memory), once its journal record is fdatasynced (journal), or once
// MariaDB has committed it (db). Shared by the msgpack-rpc workers and the HTTP threads.
// Thread safety: plain values.
#pragma once

namespace boxoffice::net {

enum class Durability { kMemory, kJournal, kDb };
const char* durability_name(Durability durability);

}  // namespace boxoffice::net
