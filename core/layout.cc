#include "core/layout.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/json_document.h"
#include "shm/check.h"

namespace boxoffice {
namespace {

using nlohmann::json;

constexpr uint32_t kGeneralAdmission = 0x80000000u;
constexpr int64_t kPriceCentsMax = int64_t{1} << 40;  // ~11 billion units of currency
constexpr int64_t kZoneIdMax = (int64_t{1} << 31) - 1;
constexpr int64_t kCountMax = (int64_t{1} << 31) - 1;  // counts above a limit are LIMIT_EXCEEDED

Status bad(const std::string& path, const std::string& what) {
  return Status(ErrorCode::kBadRequest, "layout " + path + ": " + what);
}
Status too_big(const std::string& path, const std::string& what) {
  return Status(ErrorCode::kLimitExceeded, "layout " + path + ": " + what);
}

// Rejects keys other than `allowed`, so a typo ("price" for "price_cents") is an error and not a
// silently free seat.
Status check_keys(const json& object, const std::string& path,
                  std::initializer_list<std::string_view> allowed) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (std::string_view key : allowed) known = known || item.key() == key;
    if (!known) return bad(path, "unknown key \"" + item.key() + "\"");
  }
  return Status::ok();
}

Status get_string(const json& object, const std::string& path, const char* key, bool required,
                  uint32_t bytes_max, std::string* out) {
  auto it = object.find(key);
  if (it == object.end()) {
    return required ? bad(path, std::string("missing \"") + key + "\"") : Status::ok();
  }
  if (!it->is_string()) return bad(path + "." + key, "must be a string");
  const auto& value = it->get_ref<const std::string&>();
  if (value.empty()) return bad(path + "." + key, "must not be empty");
  if (value.size() > bytes_max) {
    return too_big(path + "." + key, "longer than " + std::to_string(bytes_max) + " bytes");
  }
  *out = value;
  return Status::ok();
}

Status get_integer(const json& object, const std::string& path, const char* key, int64_t min,
                   int64_t max, std::optional<int64_t>* out) {
  auto it = object.find(key);
  if (it == object.end()) return Status::ok();
  if (!it->is_number_integer()) return bad(path + "." + key, "must be an integer");
  const bool is_unsigned = it->is_number_unsigned();
  if (is_unsigned && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return bad(path + "." + key, "must be at most " + std::to_string(max));
  }
  const int64_t value =
      is_unsigned ? static_cast<int64_t>(it->get<uint64_t>()) : it->get<int64_t>();
  if (value < min || value > max) {
    return bad(path + "." + key, "must be in " + std::to_string(min) + ".." + std::to_string(max));
  }
  *out = value;
  return Status::ok();
}

}  // namespace

std::string SeatLocation::label() const {
  if (row == nullptr) return std::to_string(offset + 1);
  if (!row->seat_labels.empty()) return row->seat_labels[offset];
  return std::to_string(row->first_number + offset);
}

Status Layout::parse_json(std::string_view text, const LayoutLimits& limits, Layout* out) {
  json document;
  if (Status s = parse_json_document(text, limits.document_bytes_max, limits.nesting_depth_max,
                                     "layout document", &document);
      !s.is_ok()) {
    return s;
  }
  return from_document(document, limits, out);
}

Status Layout::from_document(const json& document, const LayoutLimits& limits, Layout* out) {
  Layout layout;
  if (!document.is_object()) return bad("document", "must be an object");
  if (Status s = check_keys(document, "document", {"venue", "name", "zones"}); !s.is_ok()) return s;
  if (Status s =
          get_string(document, "document", "venue", true, limits.venue_bytes_max, &layout.venue_);
      !s.is_ok())
    return s;
  if (Status s =
          get_string(document, "document", "name", false, limits.name_bytes_max, &layout.name_);
      !s.is_ok())
    return s;
  auto zones_it = document.find("zones");
  if (zones_it == document.end()) return bad("document", "missing \"zones\"");
  if (!zones_it->is_array() || zones_it->empty()) return bad("zones", "must be a non-empty array");
  if (zones_it->size() > limits.zones_max) {
    return too_big("zones", std::to_string(zones_it->size()) + " zones, more than " +
                                std::to_string(limits.zones_max));
  }

  uint64_t seat_total = 0;
  for (size_t z = 0; z < zones_it->size(); ++z) {
    const json& zone_doc = (*zones_it)[z];
    const std::string path = "zones[" + std::to_string(z) + "]";
    if (!zone_doc.is_object()) return bad(path, "must be an object");
    if (Status s = check_keys(zone_doc, path, {"id", "name", "price_cents", "rows", "capacity"});
        !s.is_ok())
      return s;
    Zone zone;
    std::optional<int64_t> id, price, capacity;
    if (Status s = get_integer(zone_doc, path, "id", 0, kZoneIdMax, &id); !s.is_ok()) return s;
    if (!id) return bad(path, "missing \"id\"");
    zone.id = *id;
    if (!layout.zone_by_id_.emplace(zone.id, static_cast<uint32_t>(z)).second) {
      return bad(path + ".id", "duplicate zone id " + std::to_string(zone.id));
    }
    if (Status s = get_string(zone_doc, path, "name", false, limits.name_bytes_max, &zone.name);
        !s.is_ok())
      return s;
    if (zone.name.empty()) zone.name = "Zone " + std::to_string(zone.id);
    if (Status s = get_integer(zone_doc, path, "price_cents", 0, kPriceCentsMax, &price);
        !s.is_ok())
      return s;
    if (!price) return bad(path, "missing \"price_cents\"");
    zone.price_cents = *price;
    if (Status s = get_integer(zone_doc, path, "capacity", 1, kCountMax, &capacity); !s.is_ok())
      return s;
    if (capacity && *capacity > limits.seats_max) {
      return too_big(path + ".capacity",
                     "more than " + std::to_string(limits.seats_max) + " places in an event");
    }
    const bool has_rows = zone_doc.contains("rows");
    if (has_rows == capacity.has_value()) {
      return bad(path,
                 "needs exactly one of \"rows\" (reserved seating) or \"capacity\" "
                 "(general admission)");
    }
    zone.first_seat = static_cast<uint32_t>(seat_total);
    zone.first_row = static_cast<uint32_t>(layout.rows_.size());
    ZoneIndex index;

    if (capacity) {
      zone.general_admission = true;
      zone.seat_count = static_cast<uint32_t>(*capacity);
    } else {
      const json& rows = zone_doc["rows"];
      if (!rows.is_array() || rows.empty()) return bad(path + ".rows", "must be a non-empty array");
      if (rows.size() > limits.rows_per_zone_max) {
        return too_big(path + ".rows", std::to_string(rows.size()) + " rows, more than " +
                                           std::to_string(limits.rows_per_zone_max));
      }
      for (size_t r = 0; r < rows.size(); ++r) {
        const json& row_doc = rows[r];
        const std::string row_path = path + ".rows[" + std::to_string(r) + "]";
        if (!row_doc.is_object()) return bad(row_path, "must be an object");
        if (Status s = check_keys(row_doc, row_path, {"label", "seats", "first"}); !s.is_ok())
          return s;
        Row row;
        row.zone_index = static_cast<uint32_t>(z);
        if (Status s =
                get_string(row_doc, row_path, "label", true, limits.label_bytes_max, &row.label);
            !s.is_ok())
          return s;
        const uint32_t row_index = static_cast<uint32_t>(layout.rows_.size());
        if (!index.row_by_label.emplace(row.label, row_index).second) {
          return bad(row_path + ".label", "duplicate row label \"" + row.label + "\"");
        }
        auto seats_it = row_doc.find("seats");
        if (seats_it == row_doc.end()) return bad(row_path, "missing \"seats\"");
        std::unordered_map<std::string, uint32_t> labels;
        if (seats_it->is_array()) {
          if (row_doc.contains("first")) {
            return bad(row_path + ".first", "only applies when \"seats\" is a count");
          }
          if (seats_it->empty()) return bad(row_path + ".seats", "must not be empty");
          if (seats_it->size() > limits.seats_per_row_max) {
            return too_big(
                row_path + ".seats",
                "more than " + std::to_string(limits.seats_per_row_max) + " seats in a row");
          }
          for (size_t k = 0; k < seats_it->size(); ++k) {
            const json& label = (*seats_it)[k];
            const std::string seat_path = row_path + ".seats[" + std::to_string(k) + "]";
            if (!label.is_string() || label.get_ref<const std::string&>().empty()) {
              return bad(seat_path, "must be a non-empty string");
            }
            const auto& text = label.get_ref<const std::string&>();
            if (text.size() > limits.label_bytes_max) {
              return too_big(seat_path,
                             "longer than " + std::to_string(limits.label_bytes_max) + " bytes");
            }
            if (!labels.emplace(text, static_cast<uint32_t>(k)).second) {
              return bad(seat_path, "duplicate seat label \"" + text + "\"");
            }
            row.seat_labels.push_back(text);
          }
          row.seat_count = static_cast<uint32_t>(seats_it->size());
        } else {
          std::optional<int64_t> count, first;
          if (Status s = get_integer(row_doc, row_path, "seats", 1, kCountMax, &count); !s.is_ok())
            return s;
          if (!count) return bad(row_path + ".seats", "must be a count or an array of labels");
          if (*count > limits.seats_per_row_max) {
            return too_big(
                row_path + ".seats",
                "more than " + std::to_string(limits.seats_per_row_max) + " seats in a row");
          }
          if (Status s = get_integer(row_doc, row_path, "first", 0, 1'000'000, &first); !s.is_ok())
            return s;
          row.seat_count = static_cast<uint32_t>(*count);
          row.first_number = first.value_or(1);
        }
        row.first_seat = static_cast<uint32_t>(seat_total + zone.seat_count);
        zone.seat_count += row.seat_count;
        if (seat_total + zone.seat_count > limits.seats_max) break;  // reported below
        layout.rows_.push_back(std::move(row));
        layout.seat_by_label_.push_back(std::move(labels));
      }
      zone.row_count = static_cast<uint32_t>(layout.rows_.size()) - zone.first_row;
    }
    seat_total += zone.seat_count;
    if (seat_total > limits.seats_max) {
      return too_big(
          path, "the event would have more than " + std::to_string(limits.seats_max) + " seats");
    }
    layout.zones_.push_back(std::move(zone));
    layout.zone_index_.push_back(std::move(index));
  }

  layout.seat_count_ = static_cast<uint32_t>(seat_total);
  // Segments in seat order: each general-admission zone is one, each row of a seated zone one.
  for (size_t z = 0; z < layout.zones_.size(); ++z) {
    const Zone& zone = layout.zones_[z];
    if (zone.general_admission) {
      BOXOFFICE_ASSERT(zone.seat_count > 0);  // validated: a capacity of at least 1
      layout.segment_first_seat_.push_back(zone.first_seat);
      layout.segment_home_.push_back(kGeneralAdmission | static_cast<uint32_t>(z));
      continue;
    }
    for (uint32_t r = zone.first_row; r < zone.first_row + zone.row_count; ++r) {
      BOXOFFICE_ASSERT(layout.rows_[r].seat_count > 0);  // validated: a row has seats
      layout.segment_first_seat_.push_back(layout.rows_[r].first_seat);
      layout.segment_home_.push_back(r);
    }
  }
  BOXOFFICE_ASSERT(
      std::is_sorted(layout.segment_first_seat_.begin(), layout.segment_first_seat_.end()));
  BOXOFFICE_ASSERT(layout.seat_count_ == 0 || layout.segment_first_seat_.front() == 0);
  layout.build_block_directory();
  layout.canonical_json_ = document.dump();
  *out = std::move(layout);
  return Status::ok();
}

const Zone* Layout::zone_by_id(int64_t id) const {
  auto it = zone_by_id_.find(id);
  return it == zone_by_id_.end() ? nullptr : &zones_[it->second];
}

std::optional<uint32_t> Layout::seat_index(int64_t zone_id, std::string_view row_label,
                                           std::string_view seat_label) const {
  auto zone_it = zone_by_id_.find(zone_id);
  if (zone_it == zone_by_id_.end()) return std::nullopt;
  const Zone& zone = zones_[zone_it->second];
  auto parse_number = [](std::string_view text) -> std::optional<int64_t> {
    int64_t value = 0;
    if (text.size() > 1 && text[0] == '0') return std::nullopt;  // "05" is not seat 5's label
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
  };
  if (zone.general_admission) {
    if (!row_label.empty()) return std::nullopt;
    auto number = parse_number(seat_label);
    if (!number || *number < 1 || *number > zone.seat_count) return std::nullopt;
    return zone.first_seat + static_cast<uint32_t>(*number - 1);
  }
  const auto& rows = zone_index_[zone_it->second].row_by_label;
  auto row_it = rows.find(std::string(row_label));
  if (row_it == rows.end()) return std::nullopt;
  const Row& row = rows_[row_it->second];
  if (!row.seat_labels.empty()) {
    const auto& labels = seat_by_label_[row_it->second];
    auto it = labels.find(std::string(seat_label));
    if (it == labels.end()) return std::nullopt;
    return row.first_seat + it->second;
  }
  auto number = parse_number(seat_label);
  if (!number || *number < row.first_number || *number - row.first_number >= row.seat_count) {
    return std::nullopt;
  }
  return row.first_seat + static_cast<uint32_t>(*number - row.first_number);
}

void Layout::build_block_directory() {
  const uint64_t segments = segment_first_seat_.size();
  block_shift_ = 0;
  while ((uint64_t{seat_count_} >> (block_shift_ + 1)) >= 4 * segments) ++block_shift_;
  const uint64_t blocks =
      (uint64_t{seat_count_} + (uint64_t{1} << block_shift_) - 1) >> block_shift_;
  block_segment_.assign(blocks + 1, static_cast<uint32_t>(segments));
  uint32_t segment = 0;
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t first_seat = b << block_shift_;
    while (segment + 1 < segments && segment_first_seat_[segment + 1] <= first_seat) ++segment;
    block_segment_[b] = segment;
  }
}

SeatLocation Layout::locate(uint32_t seat_index) const {
  BOXOFFICE_ASSERT(seat_index < seat_count_);
  // The last segment starting at or before the seat. Its block's directory entry is that
  // segment or an earlier one; segments starting later in the block are searched from there
  // (a few KB that stay in cache, where a per-seat table of a large venue would miss it on
  // every random seat).
  const uint32_t block = seat_index >> block_shift_;
  const auto first = segment_first_seat_.begin() + block_segment_[block];
  // The seat's segment is at most the one holding the next block's first seat.
  const auto last =
      segment_first_seat_.begin() +
      std::min<size_t>(block_segment_[block + 1] + size_t{1}, segment_first_seat_.size());
  const auto after = first + 1 >= last || first[1] > seat_index
                         ? first + 1
                         : std::upper_bound(first + 1, last, seat_index);
  BOXOFFICE_ASSERT(after != segment_first_seat_.begin() && after[-1] <= seat_index);
  const uint32_t home = segment_home_[static_cast<size_t>(after - segment_first_seat_.begin()) - 1];
  SeatLocation location;
  if (home & kGeneralAdmission) {
    location.zone = &zones_[home & ~kGeneralAdmission];
    location.offset = seat_index - location.zone->first_seat;
  } else {
    location.row = &rows_[home];
    location.zone = &zones_[location.row->zone_index];
    location.offset = seat_index - location.row->first_seat;
  }
  return location;
}

}  // namespace boxoffice
