#include "persist/restore.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "persist/records.h"

namespace boxoffice::persist {
namespace {

// The N of every `worker-N` directory under `directory`.
std::vector<uint32_t> worker_directories(const std::string& directory) {
  std::vector<uint32_t> found;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return found;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.rfind("worker-", 0) != 0 || name.size() == 7 || name.size() > 9) continue;
    const std::string digits = name.substr(7);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.push_back(static_cast<uint32_t>(std::stoul(digits)));
  }
  ::closedir(dir);
  return found;
}

}  // namespace

std::string RebuildReport::to_string() const {
  return "events=" + std::to_string(events) +
         " tickets_from_database=" + std::to_string(tickets_from_database) +
         " sale_records_from_journal=" + std::to_string(sale_records_from_journal) +
         " void_records=" + std::to_string(void_records) +
         " voids_without_sale=" + std::to_string(voids_without_sale);
}

bool open_journals(const JournalSetOptions& options, JournalSet* set,
                   std::vector<std::string>* notes, std::string* error) {
  if (::mkdir(options.directory.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = "cannot create " + options.directory + ": " + std::strerror(errno);
    return false;
  }
  JournalTail tail;
  set->control = ControlLog::open(options.directory + "/control", options.control_record_bytes_max,
                                  &tail, error);
  if (!set->control) return false;
  if (tail.truncated_bytes > 0) {
    notes->push_back("control journal: cut " + std::to_string(tail.truncated_bytes) + " bytes (" +
                     tail.reason + ")");
  }
  uint32_t count = options.workers;
  for (uint32_t n : worker_directories(options.directory)) count = std::max(count, n + 1);
  if (count > shm::kWorkersMax) {
    *error = options.directory + " holds a worker journal beyond the " +
             std::to_string(shm::kWorkersMax) + " workers a table can have";
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    WorkerLogOptions worker;
    worker.journal_directory = options.directory + "/" + set->stream_name(i);
    worker.staging_path = options.staging_prefix + ".log-" + std::to_string(i);
    worker.staging_bytes = options.staging_bytes;
    worker.segment_bytes_max = options.segment_bytes_max;
    worker.backlog_records_max = options.backlog_records_max;
    WorkerLogOpenReport report;
    auto log = WorkerLog::open(worker, &report, error);
    if (!log) return false;
    if (report.tail.truncated_bytes > 0) {
      notes->push_back(set->stream_name(i) + " journal: cut " +
                       std::to_string(report.tail.truncated_bytes) + " bytes (" +
                       report.tail.reason + ")");
    }
    if (report.staged_recovered > 0) {
      notes->push_back(set->stream_name(i) +
                       " journal: " + std::to_string(report.staged_recovered) +
                       " records recovered from the staging file");
    }
    set->workers.push_back(std::move(log));
  }
  return true;
}

bool reconcile_events(Engine& engine, ControlLog& control_log, const ControlEvents& control,
                      int64_t now_ms, bool* rebuild, std::vector<std::string>* notes,
                      std::string* error) {
  *rebuild = false;
  const uint32_t in_table = engine.table().events_used();
  if (in_table < control.events.size()) {
    notes->push_back("seat table has " + std::to_string(in_table) + " events, the journal " +
                     std::to_string(control.events.size()) +
                     ": the table is older than its journal");
    *rebuild = true;
    return true;
  }
  const std::vector<uint32_t> unfinished = engine.unfinished_events();
  auto is_unfinished = [&](uint32_t i) {
    return std::find(unfinished.begin(), unfinished.end(), i) != unfinished.end();
  };
  for (uint32_t i = 0; i < in_table; ++i) {
    const shm::EventSlot& slot = engine.table().event(i);
    if (i < control.events.size()) {
      const shm::EventState recorded = control.events[i].state;
      if (is_unfinished(i)) {
        if (Status s = engine.finish_event(i, recorded, slot.created_at_ms, /*log=*/false);
            !s.is_ok()) {
          *error = "event " + std::to_string(i) + ": " + s.to_string();
          return false;
        }
        notes->push_back("event " + std::to_string(i) + ": creation cut by a crash finished (" +
                         std::string(event_state_name(recorded)) + ", as journaled)");
      } else if (engine.event_state(i) != recorded) {
        // A state change is journaled before the table is changed: the journal is ahead.
        if (Status s = engine.set_event_state(i, recorded, now_ms); !s.is_ok()) {
          *error = "event " + std::to_string(i) + ": " + s.to_string();
          return false;
        }
        notes->push_back("event " + std::to_string(i) + ": state " +
                         std::string(event_state_name(recorded)) + " applied from the journal");
      }
      continue;
    }
    // In the table, not in the journal: a creation cut before it was journaled (never
    // acknowledged: closed, so nothing is sold on it), or a journal that lost its records.
    if (is_unfinished(i)) {
      if (Status s = engine.finish_event(i, shm::EventState::kClosed, slot.created_at_ms,
                                         /*log=*/false);
          !s.is_ok()) {
        *error = "event " + std::to_string(i) + ": " + s.to_string();
        return false;
      }
      notes->push_back("event " + std::to_string(i) +
                       ": creation cut by a crash before it was journaled; closed");
    } else {
      notes->push_back("event " + std::to_string(i) + ": missing from the control journal; " +
                       "journaled again");
    }
    if (Status s = control_log.event_created(
            {i, slot.created_at_ms, engine.event_state(i), engine.event_document(i)});
        !s.is_ok()) {
      *error = s.to_string();
      return false;
    }
  }
  return true;
}

bool rebuild_needs_database(const JournalSet& set) {
  for (const auto& log : set.workers) {
    if (first_retained_sequence(log->directory()) > 1) return true;
  }
  return false;
}

bool rebuild_table(Engine& engine, const ControlEvents& control, const JournalSet& set,
                   const TicketSource* database, RebuildReport* report, std::string* error) {
  *report = RebuildReport{};
  for (const ControlEvents::Event& event : control.events) {
    EventEntry entry = event.entry;
    entry.state = event.state;
    if (Status s = engine.restore_event(entry); !s.is_ok()) {
      *error = "event " + std::to_string(entry.event_index) + ": " + s.to_string();
      return false;
    }
    ++report->events;
  }
  std::vector<VoidEntry> voids;  // after every sale: a void applies to its own generation
  bool ok = true;
  auto restore = [&](const SaleEntry& sale, uint64_t* counter) {
    if (!ok) return;
    if (Status s = engine.restore_sale(sale); !s.is_ok()) {
      *error = "sale on event " + std::to_string(sale.event_index) + ": " + s.to_string();
      ok = false;
    }
    ++*counter;
  };
  if (database != nullptr) {
    if (!(*database)([&](const SaleEntry& sale) { restore(sale, &report->tickets_from_database); },
                     [&](const VoidEntry& v) { voids.push_back(v); }, error)) {
      return false;
    }
    if (!ok) return false;
  }
  for (const auto& log : set.workers) {
    std::string read_error;
    const uint64_t first = std::max<uint64_t>(first_retained_sequence(log->directory()), 1);
    read_journal(
        log->directory(), first, UINT64_MAX,
        [&](const JournalRecord& r) {
          if (r.type == static_cast<uint8_t>(RecordType::kSale)) {
            DecodedSale sale;
            if (!decode_sale(r.payload, &sale, error)) return ok = false;
            restore(sale.entry, &report->sale_records_from_journal);
          } else if (r.type == static_cast<uint8_t>(RecordType::kVoid)) {
            VoidEntry v;
            if (!decode_void(r.payload, &v, error)) return ok = false;
            voids.push_back(v);
          }
          return ok;
        },
        &read_error);
    if (!ok) return false;
    if (!read_error.empty()) {
      *error = log->directory() + ": " + read_error;
      return false;
    }
  }
  for (const VoidEntry& v : voids) {
    const Status s = engine.restore_void(v);
    if (s.code() == ErrorCode::kNotFound) {
      ++report->voids_without_sale;
    } else if (!s.is_ok()) {
      *error = "void on event " + std::to_string(v.event_index) + ": " + s.to_string();
      return false;
    }
    ++report->void_records;
  }
  return true;
}

}  // namespace boxoffice::persist
