// Status: the stable error codes shared by every interface (DESIGN.md section 6), and the
// result type of engine operations. Codes are part of the wire contract: never renumber.
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace boxoffice {

enum class ErrorCode : uint32_t {
  kOk = 0,
  kBadRequest = 1,
  kUnauthorized = 2,
  kNotFound = 3,
  kSeatTaken = 4,
  kHoldExpired = 5,
  kHoldNotFound = 6,
  kEventClosed = 7,
  kLimitExceeded = 8,
  kBusy = 9,
  kInternal = 10,
};

// "OK", "BAD_REQUEST", ... as they appear on every interface.
std::string_view error_name(ErrorCode code);

// An error code with a human message. The message is only built on error paths; OK carries none.
// Errors on the booking path (SEAT_TAKEN during an on-sale is common) use a static message and
// allocate nothing; errors with details (a layout path) carry a heap string. Moving a Status is
// three word copies, so results can be passed around freely on the hot path.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, const char* static_message) : code_(code), static_(static_message) {}
  Status(ErrorCode code, std::string message)
      : code_(code), dynamic_(std::make_unique<std::string>(std::move(message))) {}
  Status(const Status& other) { *this = other; }
  Status& operator=(const Status& other) {
    code_ = other.code_;
    static_ = other.static_;
    dynamic_ = other.dynamic_ ? std::make_unique<std::string>(*other.dynamic_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  std::string_view message() const { return dynamic_ ? std::string_view(*dynamic_) : static_; }
  std::string to_string() const;  // "SEAT_TAKEN: seat 12 is taken"

 private:
  ErrorCode code_ = ErrorCode::kOk;
  const char* static_ = "";
  std::unique_ptr<std::string> dynamic_;
};

}  // namespace boxoffice
