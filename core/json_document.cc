#include "core/json_document.h"

#include <nlohmann/json.hpp>
#include <string>

namespace boxoffice {

Status parse_json_document(std::string_view text, uint32_t bytes_max, uint32_t depth_max,
                           const char* what, nlohmann::json* out) {
  if (text.size() > bytes_max) {
    return Status(ErrorCode::kLimitExceeded, std::string(what) + ": " +
                                                 std::to_string(text.size()) +
                                                 " bytes, more than " + std::to_string(bytes_max));
  }
  // The parser itself is iterative; the depth callback stops hostile nesting early anyway.
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
