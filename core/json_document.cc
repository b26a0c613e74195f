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

}  // namespace

Status parse_json_document(std::string_view text, uint32_t bytes_max, uint32_t depth_max,
                           const char* what, nlohmann::json* out) {
  if (text.size() > bytes_max) {
    return Status(ErrorCode::kLimitExceeded, std::string(what) + ": " +
                                                 std::to_string(text.size()) +
                                                 " bytes, more than " + std::to_string(bytes_max));
  }
  // The parser's depth callback only discards what is too deep: the parser still walks (and
  // stacks) every level of the rest of the text, ~150 ms under ASan for a 1 MiB body of '['.
  // So hostile nesting is refused by a scan first. Top-level values are at depth 0 for the
  // callback, so brackets nested depth_max + 2 deep are a value the callback would refuse.
  if (bracket_depth(text, depth_max + 2) >= depth_max + 2) {
    return Status(ErrorCode::kLimitExceeded,
                  std::string(what) + ": nested deeper than " + std::to_string(depth_max));
  }
  bool too_deep = false;
  *out = nlohmann::json::parse(
      text.begin(), text.end(),
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        too_deep = too_deep || depth > static_cast<int>(depth_max);
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    return Status(ErrorCode::kLimitExceeded,
                  std::string(what) + ": nested deeper than " + std::to_string(depth_max));
  }
  if (out->is_discarded())
    return Status(ErrorCode::kBadRequest, std::string(what) + ": is not valid JSON");
  return Status::ok();
}

}  // namespace boxoffice
