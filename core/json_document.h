// json_document: parses a JSON text document (a layout, an event) under a size and a nesting
// limit, so hostile input is refused before anything walks it. The msgpack twin is
// core/msgpack_document.h.
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "core/status.h"

namespace boxoffice {

// `what` names the document in errors ("layout document"). LIMIT_EXCEEDED over a limit,
// BAD_REQUEST when the text is not JSON.
Status parse_json_document(std::string_view text, uint32_t bytes_max, uint32_t depth_max,
                           const char* what, nlohmann::json* out);

}  // namespace boxoffice
