// layout_fuzz: the layout document parser (core/layout.h) over both of its forms: the input
// is tried as JSON text (Layout::parse_json) and as a msgpack map (core/msgpack_document.h,
// then Layout::from_document), with the limits the engine uses by default.
//
// Checked on every layout accepted: its canonical JSON parses again to the same canonical JSON
// and seat count, and seats map both ways: for seats spread over the whole range,
// seat_index(locate(i)) == i.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "core/layout.h"
#include "core/msgpack_document.h"
#include "tests/fuzz/input_deadline.h"

namespace boxoffice::fuzz {
namespace {

constexpr uint32_t kSeatsCheckedMax = 256;

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "layout_fuzz: %s\n", what.c_str());
  std::abort();
}

void check(const Layout& layout, const LayoutLimits& limits) {
  Layout again;
  if (Status s = Layout::parse_json(layout.canonical_json(), limits, &again); !s.is_ok()) {
    broken("canonical JSON refused: " + s.to_string() + "\n" + layout.canonical_json());
  }
  if (again.canonical_json() != layout.canonical_json() ||
      again.seat_count() != layout.seat_count()) {
    broken("canonical JSON does not round-trip:\n" + layout.canonical_json());
  }
  const uint32_t seats = layout.seat_count();
  const uint32_t step = seats / kSeatsCheckedMax + 1;
  for (uint64_t i = 0; i < seats; i += step) {
    const auto seat = static_cast<uint32_t>(i);
    const SeatLocation where = layout.locate(seat);
    if (where.zone == nullptr) broken("seat " + std::to_string(seat) + " has no zone");
    const std::string row = where.row != nullptr ? where.row->label : "";
    const std::optional<uint32_t> found = layout.seat_index(where.zone->id, row, where.label());
    if (found != seat) {
      broken("seat " + std::to_string(seat) + " (" + std::to_string(where.zone->id) + "/" + row +
             "/" + where.label() + ") maps back to " +
             (found ? std::to_string(*found) : std::string("nothing")));
    }
  }
}

}  // namespace
}  // namespace boxoffice::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace boxoffice;
  fuzz::run_within_deadline("layout_fuzz", [&] {
    const LayoutLimits limits;
    Layout from_text;
    if (Layout::parse_json({reinterpret_cast<const char*>(data), size}, limits, &from_text)
            .is_ok()) {
      fuzz::check(from_text, limits);
    }
    nlohmann::json document;
    if (msgpack_to_json({data, size}, DocumentLimits{}, &document).is_ok()) {
      Layout from_msgpack;
      if (Layout::from_document(document, limits, &from_msgpack).is_ok()) {
        fuzz::check(from_msgpack, limits);
      }
    }
  });
  return 0;
}
