#include "core/json_document.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

namespace boxoffice {
namespace {

// The deepest bracket nesting of `text` ('[' and '{' outside strings), counting no further than
// `stop_at`. For valid JSON this is the nesting depth of its values; for anything else it is
// at least a bound the parser would reach before failing or not at all.
uint32_t bracket_depth(std::string_view text, uint32_t stop_at) {
  uint32_t depth = 0;
  uint32_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest >= stop_at) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// The depth of the deepest value in `value` (itself at `depth`), counting no further than
// stop_after + 1. The recursion is bounded: bracket_depth() has refused deeper nesting.
uint32_t value_depth(const nlohmann::json& value, uint32_t depth, uint32_t stop_after) {
  if (!value.is_structured() || value.empty() || depth > stop_after) return depth;
  uint32_t deepest = depth + 1;  // its elements
  for (const nlohmann::json& element : value) {
    deepest = std::max(deepest, value_depth(element, depth + 1, stop_after));
    if (deepest > stop_after) break;
  }
  return deepest;
}

}  // namespace

Status parse_json_document(std::string_view text, uint32_t bytes_max, uint32_t depth_max,
                           const char* what, nlohmann::json* out) {
  if (text.size() > bytes_max) {
    return Status(ErrorCode::kLimitExceeded, std::string(what) + ": " +
                                                 std::to_string(text.size()) +
                                                 " bytes, more than " + std::to_string(bytes_max));
  }
  // The parser walks (and stacks) every level of the text, ~150 ms under ASan for a 1 MiB body
  // of '['. So hostile nesting is refused by a scan first. Top-level values are at depth 0, so
  // brackets nested depth_max + 2 deep hold a value deeper than depth_max.
  if (bracket_depth(text, depth_max + 2) >= depth_max + 2) {
    return Status(ErrorCode::kLimitExceeded,
                  std::string(what) + ": nested deeper than " + std::to_string(depth_max));
  }
  // Parsed without a callback: nlohmann's callback parser scans a container's elements each
  // time one of them that is an object or an array ends (to drop a discarded one), quadratic
  // in the elements: a zone of 1,881 rows took over 100 ms under ASan (layout_fuzz). The depth
  // is checked on the result instead, by the rule the callback applied: no value (nor key)
  // deeper than depth_max.
  *out = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!out->is_discarded() && value_depth(*out, 0, depth_max) > depth_max) {
    *out = nlohmann::json();
    return Status(ErrorCode::kLimitExceeded,
                  std::string(what) + ": nested deeper than " + std::to_string(depth_max));
  }
  if (out->is_discarded())
    return Status(ErrorCode::kBadRequest, std::string(what) + ": is not valid JSON");
  return Status::ok();
}

}  // namespace boxoffice
