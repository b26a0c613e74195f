#include "core/status.h"

namespace boxoffice {

std::string_view error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kBadRequest:
      return "BAD_REQUEST";
    case ErrorCode::kUnauthorized:
      return "UNAUTHORIZED";
    case ErrorCode::kNotFound:
      return "NOT_FOUND";
    case ErrorCode::kSeatTaken:
      return "SEAT_TAKEN";
    case ErrorCode::kHoldExpired:
      return "HOLD_EXPIRED";
    case ErrorCode::kHoldNotFound:
      return "HOLD_NOT_FOUND";
    case ErrorCode::kEventClosed:
      return "EVENT_CLOSED";
    case ErrorCode::kLimitExceeded:
      return "LIMIT_EXCEEDED";
    case ErrorCode::kBusy:
      return "BUSY";
    case ErrorCode::kInternal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

std::string Status::to_string() const {
  std::string text(error_name(code_));
  if (!message().empty()) text.append(": ").append(message());
  return text;
}

}  // namespace boxoffice
