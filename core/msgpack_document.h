// msgpack_document: turns a msgpack map (a layout or event document sent over the binary
// protocol) into the same JSON value the JSON text form parses to, so one validator serves both.
//
// Decoding uses msgpack-c with limits on every size a hostile peer controls (array and map
// lengths, string/bin/ext bytes, nesting depth): a header claiming 2^32-1 items is refused
// before anything is allocated for them.
//
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>

#include "core/status.h"

namespace boxoffice {

struct DocumentLimits {
  uint32_t array_items_max = 100'000;
  uint32_t map_entries_max = 1'000;
  uint32_t string_bytes_max = 4096;
  uint32_t depth_max = 8;
  uint32_t document_bytes_max = 4u << 20;
};

// Decodes exactly one msgpack value filling `bytes`. Binary and extension values are refused
// (a document has none); map keys must be strings.
Status msgpack_to_json(std::span<const uint8_t> bytes, const DocumentLimits& limits,
                       nlohmann::json* out);

}  // namespace boxoffice
