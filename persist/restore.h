// restore: what boxofficed does with its journals at start-up, before serving (DESIGN.md
// section 7, "Recovery").
//
//  - open_journals(): opens the control journal and one WorkerLog per worker directory (every
//    `worker-N` found, even beyond --workers, so nothing a larger configuration wrote is left
//    unpersisted), repairing torn tails and journaling what the staging files still held.
//  - A re-attached seat table is ahead of the journals or equal to them (records are staged
//    before a change is acknowledged, and staging survives the process), so only events whose
//    creation was cut by a crash need settling: reconcile_events(). A table that lacks events
//    the control journal has is inconsistent (older than its journal): it must be rebuilt.
//  - A new table (the file was gone: a reboot) is rebuilt by rebuild_table(): every event from
//    the control journal at its original index, then every sale from MariaDB (for journal
//    segments already trimmed) and from the worker journals, then every void. For each seat
//    the highest generation wins, so the order of streams does not matter.
//
// Thread safety: start-up only, one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "persist/control_log.h"
#include "persist/worker_log.h"

namespace boxoffice::persist {

struct JournalSetOptions {
  std::string directory;       // <data-dir>/journal: control/ and worker-N/ below it
  std::string staging_prefix;  // staging files are <prefix>.log-N (beside the seat table)
  uint32_t workers = 1;
  uint64_t staging_bytes = 4u << 20;
  uint64_t segment_bytes_max = 64u << 20;
  uint64_t backlog_records_max = 0;
  uint32_t control_record_bytes_max = 16u << 20;
};

struct JournalSet {
  std::unique_ptr<ControlLog> control;
  // Index = worker index; [0, workers) serve, the rest (from an earlier, larger --workers)
  // are only drained by the persister.
  std::vector<std::unique_ptr<WorkerLog>> workers;
  std::string stream_name(size_t worker) const { return "worker-" + std::to_string(worker); }
};

// Opens every journal; `notes` gets one line per repair. False with *error when one cannot be
// opened (unreadable, or staged records that do not follow the journal).
bool open_journals(const JournalSetOptions& options, JournalSet* set,
                   std::vector<std::string>* notes, std::string* error);

// Settles events of a re-attached table against the control journal (before the engine's event
// log is set): creations cut by a crash are finished as journaled (or closed when never
// journaled), a journaled state change the table missed is applied, and events the journal
// lacks are journaled. *rebuild is set (and nothing changed) when the table lacks events the
// journal has.
bool reconcile_events(Engine& engine, ControlLog& control_log, const ControlEvents& control,
                      int64_t now_ms, bool* rebuild, std::vector<std::string>* notes,
                      std::string* error);

// Sales and voids kept in MariaDB, for a rebuild whose journals were trimmed: calls `sale` for
// every ticket and `voided` for every voided one. False with *error when MariaDB cannot be read.
using TicketSource =
    std::function<bool(const std::function<void(const SaleEntry&)>& sale,
                       const std::function<void(const VoidEntry&)>& voided, std::string* error)>;

struct RebuildReport {
  uint32_t events = 0;
  uint64_t tickets_from_database = 0;
  uint64_t sale_records_from_journal = 0;
  uint64_t void_records = 0;        // read from both; a void in both counts twice
  uint64_t voids_without_sale = 0;  // a void whose sale is in neither place (reported only)
  std::string to_string() const;
};

// Whether a rebuild needs MariaDB: some worker journal no longer starts at sequence 1.
bool rebuild_needs_database(const JournalSet& set);

// Rebuilds a new, empty table. `database` may be null when rebuild_needs_database() is false.
bool rebuild_table(Engine& engine, const ControlEvents& control, const JournalSet& set,
                   const TicketSource* database, RebuildReport* report, std::string* error);

}  // namespace boxoffice::persist
