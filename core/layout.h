// Layout: a venue's seating plan (zones -> rows -> seats) and the dense seat numbering of an
// event made from it. The same document is accepted as JSON text and as a msgpack map
// (README.md, "Layout documents", shows the format with examples).
//
// Seats get indices 0..seat_count()-1 in document order: zone by zone, row by row (first row =
// front), seat by seat. A general-admission zone is `capacity` anonymous places with indices
// too. Lookups both ways are O(1): label -> index through per-zone/per-row hash maps (or
// arithmetic for numbered rows), index -> location through one array.
//
// Thread safety: immutable after parse(); any number of threads may read it.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace boxoffice {

// Bounds on layout documents, fixed at start-up.
struct LayoutLimits {
  uint32_t document_bytes_max = 4u << 20;
  uint32_t zones_max = 256;
  uint32_t rows_per_zone_max = 1000;
  uint32_t seats_per_row_max = 1000;
  uint32_t seats_max = 1u << 20;  // per event, reserved and general admission together
  uint32_t label_bytes_max = 16;  // row and seat labels
  uint32_t name_bytes_max = 128;  // zone and layout names
  uint32_t venue_bytes_max = 64;  // the venue id (at most shm::kVenueIdBytesMax)
  uint32_t nesting_depth_max = 8;
};

struct Zone {
  int64_t id = 0;
  std::string name;
  int64_t price_cents = 0;
  bool general_admission = false;
  uint32_t first_seat = 0;
  uint32_t seat_count = 0;
  uint32_t first_row = 0;  // rows [first_row, first_row + row_count) of the layout
  uint32_t row_count = 0;
};

struct Row {
  uint32_t zone_index = 0;
  std::string label;
  uint32_t first_seat = 0;
  uint32_t seat_count = 0;
  int64_t first_number = 1;  // numbered rows: seat labels first_number, first_number+1..
  std::vector<std::string> seat_labels;  // explicit labels; empty for a numbered row
};

// Where a seat index is. `row` is null in a general-admission zone.
struct SeatLocation {
  const Zone* zone = nullptr;
  const Row* row = nullptr;
  uint32_t offset = 0;        // position in its row (or in its GA zone)
  std::string label() const;  // "12", "2A"; the 1-based place number in GA
};

class Layout {
 public:
  // Parses and validates a layout document. On error returns BAD_REQUEST or LIMIT_EXCEEDED with
  // the JSON path of the offending value.
  static Status parse_json(std::string_view text, const LayoutLimits& limits, Layout* out);
  static Status from_document(const nlohmann::json& document, const LayoutLimits& limits,
                              Layout* out);

  const std::string& venue() const { return venue_; }
  const std::string& name() const { return name_; }
  uint32_t seat_count() const { return seat_count_; }
  const std::vector<Zone>& zones() const { return zones_; }
  const std::vector<Row>& rows() const { return rows_; }

  const Zone* zone_by_id(int64_t id) const;
  // Index of zone `zone_id`, row `row_label`, seat `seat_label` (reserved seating), or of place
  // `seat_label` (1-based number) in a general-admission zone when `row_label` is empty.
  std::optional<uint32_t> seat_index(int64_t zone_id, std::string_view row_label,
                                     std::string_view seat_label) const;
  SeatLocation locate(uint32_t seat_index) const;

  // The document in canonical form (stored with the event, returned by event.get).
  const std::string& canonical_json() const { return canonical_json_; }

 private:
  struct ZoneIndex {
    std::unordered_map<std::string, uint32_t> row_by_label;
  };
  void build_block_directory();

  std::string venue_;
  std::string name_;
  uint32_t seat_count_ = 0;
  std::vector<Zone> zones_;
  std::vector<Row> rows_;
  std::vector<ZoneIndex> zone_index_;
  std::unordered_map<int64_t, uint32_t> zone_by_id_;
  std::vector<std::unordered_map<std::string, uint32_t>> seat_by_label_;  // per explicit row
  // Seat-ordered segments (a row, or a whole general-admission zone): where each starts, and its
  // row index or kGeneralAdmission | zone index.
  std::vector<uint32_t> segment_first_seat_;
  std::vector<uint32_t> segment_home_;
  // A directory over the segments: seats are cut into blocks of 2^block_shift_ (about four
  // blocks per segment), and block_segment_[b] is the segment holding block b's first seat, so
  // locate() searches only the segments that start inside one block (usually none or one)
  // instead of all of them. block_segment_ has one more entry, the segment count.
  uint32_t block_shift_ = 0;
  std::vector<uint32_t> block_segment_;
  std::string canonical_json_;
};

}  // namespace boxoffice
