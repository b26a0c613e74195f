// HttpCodec: boxoffice-load's HTTP/1.1 wire format, the /v1 routes of net/HTTP_API.md over one
// keep-alive connection, requests pipelined and answered in order:
//   hold       POST /v1/events/{event}/holds        {"seats": [...], "ttl_ms": T}
//   hold.best  POST /v1/events/{event}/holds/best   {"zone": Z, "count": N, "ttl_ms": T}
//   buy        POST /v1/events/{event}/tickets      {"seats": [...], "buyer": "boxoffice-load"}
//   confirm    POST /v1/holds/{hold}/confirm        {"buyer": "boxoffice-load"}
//   release    DELETE /v1/holds/{hold}
// A 2xx answer is ok, a 409 whose body's error code is 4 (SEAT_TAKEN) a conflict, anything else
// an error with the body's "code" (0 when it has none). Answers must carry Content-Length
// (boxofficed's do); a chunked answer breaks the connection. The JSON body is scanned for the
// fields boxoffice-load keeps (hold token, seat indices, ticket ids), not fully parsed.
//
// Thread safety: none (one connection, one thread).
#pragma once

#include <string_view>

#include "tools/load/codec.h"
#include "tools/load/in_order_queue.h"
#include "tools/load/input_buffer.h"

namespace boxoffice::load {

class HttpCodec : public Codec {
 public:
  explicit HttpCodec(const TargetOptions& options);

  size_t request_bytes_max() const override { return 1024; }
  void encode(const Operation& operation, uint32_t tag, OutputBuffer* out) override;
  std::span<char> input_space() override { return input_.space(); }
  void input_added(size_t bytes) override { input_.added(bytes); }
  ParseStatus next(Reply* reply) override;

  // One HTTP response from the front of `bytes`: kReply with its status code, body and total
  // length, kNeedMore, or kBroken.
  struct Response {
    int status_code = 0;
    int64_t retry_after_s = -1;  // the Retry-After header (seconds), -1 when absent
    std::string_view body;
    size_t length_bytes = 0;
  };
  static ParseStatus parse_response(std::string_view bytes, Response* response);
  // Fills reply's status, error code and kept fields from a response to `kind`.
  static void interpret(const Response& response, OperationKind kind, Reply* reply);

 private:
  TargetOptions options_;
  InputBuffer input_;
  struct Sent {
    uint32_t tag;
    OperationKind kind;
  };
  InOrderQueue<Sent> sent_;
};

}  // namespace boxoffice::load
