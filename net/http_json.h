// http_json: the JSON bodies every HTTP route shares: a value as text (bytes that are not
// UTF-8 replaced, never an exception escaping into libevent) and the error map that mirrors
// a msgpack error, {"error": {"code", "name", "message"}}.
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "net/http_server.h"

namespace boxoffice::net {

inline std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline nlohmann::json error_map(ErrorCode code, const std::string& message) {
  return {{"code", static_cast<uint32_t>(code)},
          {"name", std::string(error_name(code))},
          {"message", message}};
}

inline HttpResponse json_response(int status, const nlohmann::json& body) {
  return {status, "application/json", json_text(body)};
}

inline HttpResponse error_response(int status, ErrorCode code, const std::string& message) {
  return json_response(status, {{"error", error_map(code, message)}});
}

}  // namespace boxoffice::net
