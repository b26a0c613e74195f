// Tests for core/layout.h: parsing the shipped venue layouts, the dense seat numbering both ways
// (every seat of a document, in document order, maps to the next index and back), lookups that
// must miss, every way a layout document is rejected (error code and the JSON path in the
// message), the configured limits at and just past their bounds, and canonical_json().
//
// Expected seat orders are rebuilt here from the document itself with nlohmann::json, not read
// back from Layout, so a numbering bug cannot agree with itself.
#include "core/layout.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace boxoffice {
namespace {

using nlohmann::json;

std::string read_layout_file(const std::string& name) {
  std::ifstream in(std::string(BOXOFFICE_LAYOUT_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << "cannot open " << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Layout load_shipped(const std::string& name) {
  Layout layout;
  const Status status = Layout::parse_json(read_layout_file(name), LayoutLimits{}, &layout);
  EXPECT_TRUE(status.is_ok()) << name << ": " << status.to_string();
  return layout;
}

// One seat as a client names it.
struct SeatName {
  int64_t zone_id;
  std::string row_label;   // empty in general admission
  std::string seat_label;  // 1-based place number in general admission
};

// Every seat of a layout document in document order, read straight from the JSON.
std::vector<SeatName> seats_in_document_order(const json& document) {
  std::vector<SeatName> seats;
  for (const json& zone : document.at("zones")) {
    const int64_t zone_id = zone.at("id").get<int64_t>();
    if (zone.contains("capacity")) {
      const int64_t capacity = zone.at("capacity").get<int64_t>();
      for (int64_t n = 1; n <= capacity; ++n) seats.push_back({zone_id, "", std::to_string(n)});
      continue;
    }
    for (const json& row : zone.at("rows")) {
      const std::string row_label = row.at("label").get<std::string>();
      const json& row_seats = row.at("seats");
      if (row_seats.is_array()) {
        for (const json& label : row_seats) {
          seats.push_back({zone_id, row_label, label.get<std::string>()});
        }
      } else {
        const int64_t first = row.value("first", int64_t{1});
        for (int64_t k = 0; k < row_seats.get<int64_t>(); ++k) {
          seats.push_back({zone_id, row_label, std::to_string(first + k)});
        }
      }
    }
  }
  return seats;
}

// Checks that seat k of the document has index k, and that locate(k) names it back.
void expect_numbering_matches_document(const std::string& file) {
  const Layout layout = load_shipped(file);
  const std::vector<SeatName> expected =
      seats_in_document_order(json::parse(read_layout_file(file)));
  ASSERT_EQ(layout.seat_count(), expected.size());
  for (uint32_t k = 0; k < expected.size(); ++k) {
    const SeatName& seat = expected[k];
    const std::optional<uint32_t> index =
        layout.seat_index(seat.zone_id, seat.row_label, seat.seat_label);
    ASSERT_TRUE(index.has_value()) << file << " zone " << seat.zone_id << " row '" << seat.row_label
                                   << "' seat " << seat.seat_label;
    ASSERT_EQ(*index, k) << file << " zone " << seat.zone_id << " row '" << seat.row_label
                         << "' seat " << seat.seat_label;
    const SeatLocation location = layout.locate(k);
    ASSERT_NE(location.zone, nullptr);
    EXPECT_EQ(location.zone->id, seat.zone_id) << file << " seat " << k;
    EXPECT_EQ(location.row == nullptr ? std::string() : location.row->label, seat.row_label)
        << file << " seat " << k;
    EXPECT_EQ(location.label(), seat.seat_label) << file << " seat " << k;
  }
}

// Checks index -> location -> index for every seat of a layout.
void expect_every_seat_round_trips(const Layout& layout) {
  for (uint32_t i = 0; i < layout.seat_count(); ++i) {
    const SeatLocation location = layout.locate(i);
    ASSERT_NE(location.zone, nullptr) << "seat " << i;
    const std::string row_label = location.row == nullptr ? std::string() : location.row->label;
    EXPECT_EQ(layout.seat_index(location.zone->id, row_label, location.label()), i)
        << "seat " << i << " zone " << location.zone->id << " row '" << row_label << "' label "
        << location.label();
  }
}

// A small valid document that the rejection tests break one piece at a time.
json valid_document() {
  return json{
      {"venue", "Test-Hall"},
      {"name", "Main"},
      {"zones", json::array({json{{"id", 1},
                                  {"name", "Stalls"},
                                  {"price_cents", 1000},
                                  {"rows", json::array({json{{"label", "A"}, {"seats", 3}},
                                                        json{{"label", "B"}, {"seats", 3}}})}}})}};
}

Status parse(const std::string& text, const LayoutLimits& limits = {}) {
  Layout layout;
  return Layout::parse_json(text, limits, &layout);
}
Status parse(const json& document, const LayoutLimits& limits = {}) {
  return parse(document.dump(), limits);
}

// The error must carry `code` and name the offending JSON path.
void expect_rejected(const Status& status, ErrorCode code, const std::string& path) {
  ASSERT_FALSE(status.is_ok()) << "expected a rejection at " << path;
  EXPECT_EQ(error_name(status.code()), error_name(code)) << status.to_string();
  EXPECT_NE(std::string(status.message()).find(path), std::string::npos)
      << "message does not name \"" << path << "\": " << status.to_string();
}

// ---- the shipped layouts -------------------------------------------------------------------

TEST(LayoutShipped, CinemaHas120SeatsInThreeReservedZones) {
  const Layout layout = load_shipped("cinema.json");
  EXPECT_EQ(layout.venue(), "Odeon-Leicester");
  EXPECT_EQ(layout.seat_count(), 120u);
  ASSERT_EQ(layout.zones().size(), 3u);
  for (const Zone& zone : layout.zones()) EXPECT_FALSE(zone.general_admission) << zone.id;
  EXPECT_EQ(layout.zone_by_id(3)->price_cents, 3000);
}

TEST(LayoutShipped, ArenaHasGeneralAdmissionFloorAndTwoTiers) {
  const Layout layout = load_shipped("arena.json");
  EXPECT_EQ(layout.seat_count(), 4000u + 20 * 40 + 20 * 50);
  ASSERT_EQ(layout.zones().size(), 3u);
  const Zone* floor = layout.zone_by_id(100);
  ASSERT_NE(floor, nullptr);
  EXPECT_TRUE(floor->general_admission);
  EXPECT_EQ(floor->seat_count, 4000u);
  EXPECT_FALSE(layout.zone_by_id(101)->general_admission);
  EXPECT_FALSE(layout.zone_by_id(102)->general_admission);
  EXPECT_EQ(layout.zone_by_id(101)->row_count, 20u);
  EXPECT_EQ(layout.zone_by_id(102)->row_count, 20u);
}

TEST(LayoutShipped, StadiumHas60000Seats) {
  const Layout layout = load_shipped("stadium.json");
  EXPECT_EQ(layout.seat_count(), 60000u);
  EXPECT_EQ(layout.zones().size(), 40u);
  for (const Zone& zone : layout.zones()) EXPECT_FALSE(zone.general_admission) << zone.id;
}

TEST(LayoutShipped, ZonesAndRowsTileTheSeatIndicesWithoutGaps) {
  for (const char* file : {"cinema.json", "arena.json", "stadium.json"}) {
    const Layout layout = load_shipped(file);
    uint32_t next_seat = 0;
    for (const Zone& zone : layout.zones()) {
      EXPECT_EQ(zone.first_seat, next_seat) << file << " zone " << zone.id;
      uint32_t row_seat = zone.first_seat;
      for (uint32_t r = zone.first_row; r < zone.first_row + zone.row_count; ++r) {
        EXPECT_EQ(layout.rows()[r].first_seat, row_seat) << file << " row " << r;
        row_seat += layout.rows()[r].seat_count;
      }
      if (!zone.general_admission) {
        EXPECT_EQ(row_seat, zone.first_seat + zone.seat_count) << file << " zone " << zone.id;
      }
      next_seat += zone.seat_count;
    }
    EXPECT_EQ(next_seat, layout.seat_count()) << file;
  }
}

// ---- numbering, both ways -------------------------------------------------------------------

TEST(LayoutNumbering, CinemaSeatsAreNumberedInDocumentOrder) {
  expect_numbering_matches_document("cinema.json");
}

TEST(LayoutNumbering, ArenaSeatsAreNumberedInDocumentOrder) {
  expect_numbering_matches_document("arena.json");
}

TEST(LayoutNumbering, StadiumSeatsAreNumberedInDocumentOrder) {
  expect_numbering_matches_document("stadium.json");
}

TEST(LayoutNumbering, EveryCinemaSeatRoundTripsThroughItsLabel) {
  expect_every_seat_round_trips(load_shipped("cinema.json"));
}

TEST(LayoutNumbering, EveryArenaSeatRoundTripsThroughItsLabel) {
  expect_every_seat_round_trips(load_shipped("arena.json"));
}

TEST(LayoutNumbering, GeneralAdmissionPlacesUseEmptyRowAndOneBasedNumber) {
  const Layout layout = load_shipped("arena.json");
  const Zone* floor = layout.zone_by_id(100);
  ASSERT_NE(floor, nullptr);
  EXPECT_EQ(layout.seat_index(100, "", "1"), floor->first_seat);
  EXPECT_EQ(layout.seat_index(100, "", "4000"), floor->first_seat + 3999);
  const SeatLocation first = layout.locate(floor->first_seat);
  EXPECT_EQ(first.row, nullptr);
  EXPECT_EQ(first.zone, floor);
  EXPECT_EQ(first.label(), "1");
}

TEST(LayoutNumbering, ExplicitSeatLabelsAreLookedUpByName) {
  const Layout layout = load_shipped("cinema.json");
  // Zones 1 (8 rows x 12) and 2 (2 rows x 8) come first: row L starts at 112.
  EXPECT_EQ(layout.seat_index(3, "L", "1A"), 112u);
  EXPECT_EQ(layout.seat_index(3, "L", "1B"), 113u);
  EXPECT_EQ(layout.seat_index(3, "L", "4B"), 119u);
  EXPECT_EQ(layout.locate(112).label(), "1A");
  EXPECT_EQ(layout.locate(119).label(), "4B");
}

TEST(LayoutNumbering, NumberedRowsStartAtFirst) {
  const Layout layout = load_shipped("arena.json");
  // Upper tier rows are {"seats": 50, "first": 101}: seats 101..150, after 4000 + 20*40 seats.
  const uint32_t row_21_first = 4000 + 20 * 40;
  EXPECT_EQ(layout.seat_index(102, "21", "101"), row_21_first);
  EXPECT_EQ(layout.seat_index(102, "21", "150"), row_21_first + 49);
  EXPECT_EQ(layout.seat_index(102, "22", "101"), row_21_first + 50);
  EXPECT_EQ(layout.locate(row_21_first).label(), "101");
  EXPECT_EQ(layout.seat_index(102, "21", "100"), std::nullopt);
  EXPECT_EQ(layout.seat_index(102, "21", "151"), std::nullopt);
  EXPECT_EQ(layout.seat_index(102, "21", "1"), std::nullopt);
}

TEST(LayoutNumbering, FirstZeroIsAllowed) {
  json document = valid_document();
  document["zones"][0]["rows"][0]["first"] = 0;
  Layout layout;
  ASSERT_TRUE(Layout::parse_json(document.dump(), {}, &layout).is_ok());
  EXPECT_EQ(layout.seat_index(1, "A", "0"), 0u);
  EXPECT_EQ(layout.seat_index(1, "A", "2"), 2u);
  EXPECT_EQ(layout.seat_index(1, "A", "3"), std::nullopt);
  EXPECT_EQ(layout.locate(0).label(), "0");
}

// ---- lookups that must miss ------------------------------------------------------------------

// locate() searches a directory of seat blocks: uneven layouts put many segments in one block
// (300 one-seat rows next to a 20,000-place floor) or one segment across many blocks. Every
// seat must still come back as the row or zone it was numbered in.
TEST(LayoutLookup, EverySeatOfAnUnevenLayoutIsLocatedInItsOwnRow) {
  json rows = json::array(), long_rows = json::array();
  for (int r = 0; r < 300; ++r) rows.push_back({{"label", "S" + std::to_string(r)}, {"seats", 1}});
  for (int r = 0; r < 7; ++r) {
    long_rows.push_back({{"label", "L" + std::to_string(r)}, {"seats", 1 + r * 150}});
  }
  const json document = {{"venue", "Uneven"},
                         {"zones",
                          {{{"id", 1}, {"price_cents", 100}, {"rows", rows}},
                           {{"id", 2}, {"price_cents", 200}, {"capacity", 20'000}},
                           {{"id", 3}, {"price_cents", 300}, {"rows", long_rows}},
                           {{"id", 4}, {"price_cents", 400}, {"capacity", 1}}}}};
  Layout layout;
  ASSERT_TRUE(Layout::parse_json(document.dump(), {}, &layout).is_ok());
  expect_every_seat_round_trips(layout);
  EXPECT_EQ(layout.locate(0).row->label, "S0");
  EXPECT_EQ(layout.locate(299).row->label, "S299");
  EXPECT_EQ(layout.locate(300).zone->id, 2);
  EXPECT_EQ(layout.locate(300).label(), "1");
  EXPECT_EQ(layout.locate(20'299).label(), "20000");
  EXPECT_EQ(layout.locate(20'300).row->label, "L0");
  EXPECT_EQ(layout.locate(layout.seat_count() - 1).zone->id, 4);
}

TEST(LayoutLookup, UnknownZoneMisses) {
  const Layout layout = load_shipped("cinema.json");
  EXPECT_EQ(layout.zone_by_id(99), nullptr);
  EXPECT_EQ(layout.seat_index(99, "A", "1"), std::nullopt);
}

TEST(LayoutLookup, UnknownRowMisses) {
  const Layout layout = load_shipped("cinema.json");
  EXPECT_EQ(layout.seat_index(1, "Z", "1"), std::nullopt);
  EXPECT_EQ(layout.seat_index(1, "", "1"), std::nullopt);
  EXPECT_EQ(layout.seat_index(1, "a", "1"), std::nullopt);
  // Row J exists, but in zone 2: a row label belongs to its zone.
  EXPECT_EQ(layout.seat_index(1, "J", "1"), std::nullopt);
  EXPECT_TRUE(layout.seat_index(2, "J", "1").has_value());
}

TEST(LayoutLookup, UnknownSeatLabelMisses) {
  const Layout layout = load_shipped("cinema.json");
  EXPECT_EQ(layout.seat_index(3, "L", "5A"), std::nullopt);
  EXPECT_EQ(layout.seat_index(3, "L", "1"), std::nullopt);
  EXPECT_EQ(layout.seat_index(3, "L", ""), std::nullopt);
  EXPECT_EQ(layout.seat_index(1, "A", "0"), std::nullopt);
  EXPECT_EQ(layout.seat_index(1, "A", "13"), std::nullopt);
}

TEST(LayoutLookup, NonNumericSeatInNumberedRowMisses) {
  const Layout layout = load_shipped("cinema.json");
  for (const char* label :
       {"", "x", "1x", "x1", " 1", "1 ", "-1", "1.0", "+1", "99999999999999999999999"}) {
    EXPECT_EQ(layout.seat_index(1, "A", label), std::nullopt) << "'" << label << "'";
  }
}

TEST(LayoutLookup, GeneralAdmissionOutOfRangeOrNonNumericMisses) {
  const Layout layout = load_shipped("arena.json");
  EXPECT_EQ(layout.seat_index(100, "", "0"), std::nullopt);
  EXPECT_EQ(layout.seat_index(100, "", "4001"), std::nullopt);
  EXPECT_EQ(layout.seat_index(100, "", "-1"), std::nullopt);
  EXPECT_EQ(layout.seat_index(100, "", "abc"), std::nullopt);
  EXPECT_EQ(layout.seat_index(100, "", ""), std::nullopt);
  // A general-admission place has no row.
  EXPECT_EQ(layout.seat_index(100, "1", "1"), std::nullopt);
}

// ---- rejections --------------------------------------------------------------------------------

TEST(LayoutRejects, TextThatIsNotJson) {
  expect_rejected(parse(std::string("{\"venue\": ")), ErrorCode::kBadRequest, "document");
  expect_rejected(parse(std::string("")), ErrorCode::kBadRequest, "document");
  expect_rejected(parse(std::string("venue")), ErrorCode::kBadRequest, "document");
}

TEST(LayoutRejects, DocumentThatIsNotAnObject) {
  expect_rejected(parse(std::string("[]")), ErrorCode::kBadRequest, "document");
  expect_rejected(parse(std::string("\"cinema\"")), ErrorCode::kBadRequest, "document");
  expect_rejected(parse(std::string("42")), ErrorCode::kBadRequest, "document");
  expect_rejected(parse(std::string("null")), ErrorCode::kBadRequest, "document");
}

TEST(LayoutRejects, MissingVenue) {
  json document = valid_document();
  document.erase("venue");
  expect_rejected(parse(document), ErrorCode::kBadRequest, "venue");
}

TEST(LayoutRejects, MissingZones) {
  json document = valid_document();
  document.erase("zones");
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones");
}

TEST(LayoutRejects, EmptyZones) {
  json document = valid_document();
  document["zones"] = json::array();
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones");
}

TEST(LayoutRejects, DuplicateZoneId) {
  json document = valid_document();
  json second = document["zones"][0];
  document["zones"].push_back(second);
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[1].id");
}

TEST(LayoutRejects, DuplicateRowLabelInAZone) {
  json document = valid_document();
  document["zones"][0]["rows"][1]["label"] = "A";
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].rows[1].label");
}

TEST(LayoutRejects, DuplicateSeatLabelInARow) {
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = json::array({"1A", "1B", "1A"});
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].rows[0].seats[2]");
}

TEST(LayoutRejects, ZoneWithBothRowsAndCapacity) {
  json document = valid_document();
  document["zones"][0]["capacity"] = 100;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0]");
}

TEST(LayoutRejects, ZoneWithNeitherRowsNorCapacity) {
  json document = valid_document();
  document["zones"][0].erase("rows");
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0]");
}

TEST(LayoutRejects, NegativePrice) {
  json document = valid_document();
  document["zones"][0]["price_cents"] = -1;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].price_cents");
}

TEST(LayoutRejects, MissingPrice) {
  json document = valid_document();
  document["zones"][0].erase("price_cents");
  expect_rejected(parse(document), ErrorCode::kBadRequest, "price_cents");
}

TEST(LayoutRejects, PriceGivenAsString) {
  json document = valid_document();
  document["zones"][0]["price_cents"] = "1000";
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].price_cents");
}

TEST(LayoutRejects, ZoneIdGivenAsFloat) {
  json document = valid_document();
  document["zones"][0]["id"] = 1.5;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].id");
}

TEST(LayoutRejects, VenueGivenAsNumber) {
  json document = valid_document();
  document["venue"] = 7;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "venue");
}

TEST(LayoutRejects, UnknownKeys) {
  // "price" for "price_cents" must not silently make the seats free.
  json zone_typo = valid_document();
  zone_typo["zones"][0].erase("price_cents");
  zone_typo["zones"][0]["price"] = 1000;
  expect_rejected(parse(zone_typo), ErrorCode::kBadRequest, "zones[0]");
  EXPECT_NE(std::string(parse(zone_typo).message()).find("price"), std::string::npos);

  json top_level = valid_document();
  top_level["capacity"] = 10;
  expect_rejected(parse(top_level), ErrorCode::kBadRequest, "capacity");

  json row_level = valid_document();
  row_level["zones"][0]["rows"][0]["count"] = 3;
  expect_rejected(parse(row_level), ErrorCode::kBadRequest, "zones[0].rows[0]");
}

TEST(LayoutRejects, EmptyRowLabel) {
  json document = valid_document();
  document["zones"][0]["rows"][0]["label"] = "";
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].rows[0].label");
}

TEST(LayoutRejects, EmptySeatLabel) {
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = json::array({"1", ""});
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].rows[0].seats[1]");
}

TEST(LayoutRejects, RowWithoutSeats) {
  json zero = valid_document();
  zero["zones"][0]["rows"][0]["seats"] = 0;
  expect_rejected(parse(zero), ErrorCode::kBadRequest, "zones[0].rows[0].seats");

  json empty = valid_document();
  empty["zones"][0]["rows"][0]["seats"] = json::array();
  expect_rejected(parse(empty), ErrorCode::kBadRequest, "zones[0].rows[0].seats");

  json missing = valid_document();
  missing["zones"][0]["rows"][0].erase("seats");
  expect_rejected(parse(missing), ErrorCode::kBadRequest, "zones[0].rows[0]");
}

TEST(LayoutRejects, FirstWithExplicitSeatLabels) {
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = json::array({"1A", "1B"});
  document["zones"][0]["rows"][0]["first"] = 5;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].rows[0].first");
}

TEST(LayoutRejects, GeneralAdmissionCapacityZero) {
  json document = valid_document();
  document["zones"][0].erase("rows");
  document["zones"][0]["capacity"] = 0;
  expect_rejected(parse(document), ErrorCode::kBadRequest, "zones[0].capacity");
}

// ---- limits
// --------------------------------------------------------------------------------------

json document_with_zones(int zone_count) {
  json document = valid_document();
  json zone = document["zones"][0];
  document["zones"] = json::array();
  for (int z = 0; z < zone_count; ++z) {
    zone["id"] = z + 1;
    document["zones"].push_back(zone);
  }
  return document;
}

json document_with_rows(int row_count) {
  json document = valid_document();
  document["zones"][0]["rows"] = json::array();
  for (int r = 0; r < row_count; ++r) {
    document["zones"][0]["rows"].push_back(json{{"label", "R" + std::to_string(r)}, {"seats", 2}});
  }
  return document;
}

json labels(int count) {
  json seats = json::array();
  for (int k = 0; k < count; ++k) seats.push_back("S" + std::to_string(k));
  return seats;
}

TEST(LayoutBounds, ZoneCountAtLimitAcceptedAndOneMoreRejected) {
  LayoutLimits limits;
  limits.zones_max = 3;
  EXPECT_TRUE(parse(document_with_zones(3), limits).is_ok());
  expect_rejected(parse(document_with_zones(4), limits), ErrorCode::kLimitExceeded, "zones");
}

TEST(LayoutBounds, RowsPerZoneAtLimitAcceptedAndOneMoreRejected) {
  LayoutLimits limits;
  limits.rows_per_zone_max = 4;
  EXPECT_TRUE(parse(document_with_rows(4), limits).is_ok());
  expect_rejected(parse(document_with_rows(5), limits), ErrorCode::kLimitExceeded, "zones[0].rows");
}

TEST(LayoutBounds, LabelledSeatsPerRowAtLimitAcceptedAndOneMoreRejected) {
  LayoutLimits limits;
  limits.seats_per_row_max = 5;
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = labels(5);
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["rows"][0]["seats"] = labels(6);
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0].rows[0].seats");
}

// The same limit as above, written as a seat count instead of a list of labels: a row of more
// than seats_per_row_max seats is over a configured limit either way.
TEST(LayoutBounds, NumberedSeatsPerRowOverLimitIsLimitExceeded) {
  LayoutLimits limits;
  limits.seats_per_row_max = 5;
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = 5;
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["rows"][0]["seats"] = 6;
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0].rows[0].seats");
}

TEST(LayoutBounds, TotalSeatsAtLimitAcceptedAndOneMoreRejected) {
  LayoutLimits limits;
  limits.seats_max = 10;
  json document = valid_document();  // zone 1: rows A and B
  document["zones"][0]["rows"][0]["seats"] = 5;
  document["zones"][0]["rows"][1]["seats"] = 5;
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["rows"][1]["seats"] = 6;
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0]");
}

TEST(LayoutBounds, TotalSeatsCountsEveryZoneIncludingGeneralAdmission) {
  LayoutLimits limits;
  limits.seats_max = 10;
  json document = valid_document();  // 6 reserved seats
  document["zones"].push_back(json{{"id", 2}, {"price_cents", 500}, {"capacity", 4}});
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][1]["capacity"] = 5;
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[1]");
}

TEST(LayoutBounds, GeneralAdmissionCapacityOverSeatsMaxIsLimitExceeded) {
  LayoutLimits limits;
  limits.seats_max = 10;
  json document = valid_document();
  document["zones"][0].erase("rows");
  document["zones"][0]["capacity"] = 10;
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["capacity"] = 11;
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0]");
}

TEST(LayoutBounds, RowLabelLongerThanLimitRejected) {
  LayoutLimits limits;
  limits.label_bytes_max = 4;
  json document = valid_document();
  document["zones"][0]["rows"][0]["label"] = "ABCD";
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["rows"][0]["label"] = "ABCDE";
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0].rows[0].label");
}

TEST(LayoutBounds, SeatLabelLongerThanLimitRejected) {
  LayoutLimits limits;
  limits.label_bytes_max = 4;
  json document = valid_document();
  document["zones"][0]["rows"][0]["seats"] = json::array({"1", "1234"});
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["rows"][0]["seats"] = json::array({"1", "12345"});
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0].rows[0].seats[1]");
}

TEST(LayoutBounds, ZoneNameLongerThanLimitRejected) {
  LayoutLimits limits;
  limits.name_bytes_max = 6;
  json document = valid_document();
  document["zones"][0]["name"] = "Stalls";
  EXPECT_TRUE(parse(document, limits).is_ok());
  document["zones"][0]["name"] = "Stalls!";
  expect_rejected(parse(document, limits), ErrorCode::kLimitExceeded, "zones[0].name");
}

TEST(LayoutBounds, NestingDeeperThanLimitRejected) {
  // An unknown deeply nested value must hit the depth limit before anything else looks at it.
  std::string nested = "{\"venue\":\"V\",\"zones\":";
  for (int i = 0; i < 20; ++i) nested += "[";
  for (int i = 0; i < 20; ++i) nested += "]";
  nested += "}";
  expect_rejected(parse(nested), ErrorCode::kLimitExceeded, "document");

  // The shipped cinema (labelled seats, the deepest real shape) fits the default but not 3.
  LayoutLimits shallow;
  shallow.nesting_depth_max = 3;
  expect_rejected(parse(read_layout_file("cinema.json"), shallow), ErrorCode::kLimitExceeded,
                  "document");
}

TEST(LayoutBounds, HostileNestingFailsFastWithoutCrashing) {
  const auto start = std::chrono::steady_clock::now();
  const std::string open_only(100000, '[');
  expect_rejected(parse(open_only), ErrorCode::kLimitExceeded, "document");
  // Balanced, so it is valid JSON: only the depth limit stops it.
  const std::string balanced = open_only + std::string(100000, ']');
  expect_rejected(parse(balanced), ErrorCode::kLimitExceeded, "document");
  const std::string objects = [] {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += "{\"a\":";
    return text;
  }();
  expect_rejected(parse(objects), ErrorCode::kLimitExceeded, "document");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous enough for a sanitizer build on a loaded machine; a quadratic parse would not fit.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(LayoutBounds, DocumentAtByteLimitAcceptedAndOneByteMoreRejected) {
  std::string text = valid_document().dump();
  LayoutLimits limits;
  limits.document_bytes_max = static_cast<uint32_t>(text.size()) + 10;
  text.append(10, ' ');  // trailing whitespace: still the same valid document
  EXPECT_TRUE(parse(text, limits).is_ok());
  text.push_back(' ');
  expect_rejected(parse(text, limits), ErrorCode::kLimitExceeded, "document");
}

TEST(LayoutBounds, ShippedLayoutsFitTheDefaults) {
  // A default that rejected the real venues would be a configuration bug.
  for (const char* file : {"cinema.json", "arena.json", "stadium.json"}) {
    EXPECT_TRUE(parse(read_layout_file(file)).is_ok()) << file;
  }
}

// ---- canonical form
// -------------------------------------------------------------------------------

void expect_same_layout(const Layout& a, const Layout& b) {
  EXPECT_EQ(a.venue(), b.venue());
  EXPECT_EQ(a.name(), b.name());
  EXPECT_EQ(a.seat_count(), b.seat_count());
  ASSERT_EQ(a.zones().size(), b.zones().size());
  for (size_t z = 0; z < a.zones().size(); ++z) {
    const Zone& x = a.zones()[z];
    const Zone& y = b.zones()[z];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.price_cents, y.price_cents);
    EXPECT_EQ(x.general_admission, y.general_admission);
    EXPECT_EQ(x.first_seat, y.first_seat);
    EXPECT_EQ(x.seat_count, y.seat_count);
    EXPECT_EQ(x.first_row, y.first_row);
    EXPECT_EQ(x.row_count, y.row_count);
  }
  ASSERT_EQ(a.rows().size(), b.rows().size());
  for (size_t r = 0; r < a.rows().size(); ++r) {
    const Row& x = a.rows()[r];
    const Row& y = b.rows()[r];
    EXPECT_EQ(x.zone_index, y.zone_index);
    EXPECT_EQ(x.label, y.label);
    EXPECT_EQ(x.first_seat, y.first_seat);
    EXPECT_EQ(x.seat_count, y.seat_count);
    EXPECT_EQ(x.first_number, y.first_number);
    EXPECT_EQ(x.seat_labels, y.seat_labels);
  }
}

TEST(LayoutCanonical, CanonicalJsonReparsesToTheSameLayout) {
  for (const char* file : {"cinema.json", "arena.json", "stadium.json"}) {
    SCOPED_TRACE(file);
    const Layout original = load_shipped(file);
    Layout reparsed;
    const Status status = Layout::parse_json(original.canonical_json(), {}, &reparsed);
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    expect_same_layout(original, reparsed);
    // Canonical means a fixed point: the canonical form of the canonical form is itself.
    EXPECT_EQ(reparsed.canonical_json(), original.canonical_json());
  }
}

TEST(LayoutCanonical, FormattingDoesNotChangeTheCanonicalForm) {
  const json document = valid_document();
  Layout compact, pretty;
  ASSERT_TRUE(Layout::parse_json(document.dump(), {}, &compact).is_ok());
  ASSERT_TRUE(Layout::parse_json(document.dump(4), {}, &pretty).is_ok());
  EXPECT_EQ(compact.canonical_json(), pretty.canonical_json());
}

}  // namespace
}  // namespace boxoffice
