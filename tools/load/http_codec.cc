#include "tools/load/http_codec.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace boxoffice::load {
namespace {

constexpr size_t kResponseBytesMax = 64 << 10;  // a 32-ticket answer is ~6 KiB
constexpr size_t kBodyBytesMax = 512;

// The value after `"key"` and its colon, from `from` on; npos when absent.
size_t find_value(std::string_view body, std::string_view key, size_t from) {
  while (from < body.size()) {
    const size_t at = body.find(key, from);
    if (at == std::string_view::npos) return at;
    size_t i = at + key.size();
    if (at > 0 && body[at - 1] == '"' && i < body.size() && body[i] == '"') {
      ++i;
      while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
      if (i < body.size() && body[i] == ':') {
        ++i;
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
        return i;
      }
    }
    from = at + key.size();
  }
  return std::string_view::npos;
}

bool read_int(std::string_view body, size_t at, int64_t* value) {
  if (at >= body.size()) return false;
  const auto [end, ec] = std::from_chars(body.data() + at, body.data() + body.size(), *value);
  return ec == std::errc{};
}

bool read_string(std::string_view body, size_t at, size_t length, char* out) {
  if (at + length + 2 > body.size() || body[at] != '"' || body[at + 1 + length] != '"') {
    return false;
  }
  std::memcpy(out, body.data() + at + 1, length);
  return true;
}

}  // namespace

HttpCodec::HttpCodec(const TargetOptions& options)
    : options_(options),
      input_(kResponseBytesMax + options.pipeline_depth * 1024),
      sent_(options.pipeline_depth + 1) {}

void HttpCodec::encode(const Operation& op, uint32_t tag, OutputBuffer* out) {
  BOXOFFICE_ASSERT(out->free_bytes() >= request_bytes_max());
  char body[kBodyBytesMax];
  int body_bytes = 0;
  auto add = [&](const char* format, auto... args) {
    const int n = std::snprintf(body + body_bytes, sizeof body - body_bytes, format, args...);
    BOXOFFICE_ASSERT(n >= 0 && body_bytes + n < static_cast<int>(sizeof body));
    body_bytes += n;
  };
  auto add_seats = [&] {
    add("{\"seats\":[");
    for (int i = 0; i < op.seat_count; ++i) add(i == 0 ? "%u" : ",%u", op.seats[i]);
    add("]");
  };
  const char* method = "POST";
  char path[256];
  const char* event = options_.event.c_str();
  const int token_chars = kHoldTokenChars;
  switch (op.kind) {
    case OperationKind::kHold:
      std::snprintf(path, sizeof path, "/v1/events/%s/holds", event);
      add_seats();
      add(",\"ttl_ms\":%u}", options_.hold_ttl_ms);
      break;
    case OperationKind::kHoldBest:
      std::snprintf(path, sizeof path, "/v1/events/%s/holds/best", event);
      add("{\"zone\":%u,\"count\":%u,\"ttl_ms\":%u}", op.zone, unsigned{op.best_count},
          options_.hold_ttl_ms);
      break;
    case OperationKind::kBuy:
      std::snprintf(path, sizeof path, "/v1/events/%s/tickets", event);
      add_seats();
      add(",\"buyer\":\"boxoffice-load\"}");
      break;
    case OperationKind::kConfirm:
      std::snprintf(path, sizeof path, "/v1/holds/%.*s/confirm", token_chars, op.hold_token.data());
      add("{\"buyer\":\"boxoffice-load\"}");
      break;
    case OperationKind::kRelease:
      method = "DELETE";
      std::snprintf(path, sizeof path, "/v1/holds/%.*s", token_chars, op.hold_token.data());
      break;
  }
  char head[512];
  const int head_bytes =
      std::snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: boxoffice\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n",
                    method, path, body_bytes);
  BOXOFFICE_ASSERT(head_bytes > 0 && head_bytes < static_cast<int>(sizeof head));
  out->write(head, static_cast<size_t>(head_bytes));
  out->write(body, static_cast<size_t>(body_bytes));
  sent_.push() = Sent{tag, op.kind};
}

ParseStatus HttpCodec::parse_response(std::string_view bytes, Response* response) {
  const size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return bytes.size() > kResponseBytesMax ? ParseStatus::kBroken : ParseStatus::kNeedMore;
  }
  const std::string_view head = bytes.substr(0, head_end + 2);
  // "HTTP/1.x NNN ..."
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
    return ParseStatus::kBroken;
  }
  int status = 0;
  if (std::from_chars(head.data() + 9, head.data() + 12, status).ec != std::errc{}) {
    return ParseStatus::kBroken;
  }
  int64_t content_length = -1;
  int64_t retry_after_s = -1;
  size_t line = head.find("\r\n") + 2;
  while (line < head.size()) {
    const size_t line_end = head.find("\r\n", line);
    const std::string_view header = head.substr(line, line_end - line);
    const size_t colon = header.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = header.substr(0, colon);
      size_t v = colon + 1;
      while (v < header.size() && header[v] == ' ') ++v;
      const std::string_view value = header.substr(v);
      if (name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) {
        if (std::from_chars(value.data(), value.data() + value.size(), content_length).ec !=
            std::errc{}) {
          return ParseStatus::kBroken;
        }
      } else if (name.size() == 11 && strncasecmp(name.data(), "retry-after", 11) == 0) {
        int64_t seconds = -1;  // the delay form; an HTTP date (never sent by boxofficed) is ignored
        if (std::from_chars(value.data(), value.data() + value.size(), seconds).ec == std::errc{} &&
            seconds >= 0) {
          retry_after_s = seconds;
        }
      } else if (name.size() == 17 && strncasecmp(name.data(), "transfer-encoding", 17) == 0) {
        return ParseStatus::kBroken;  // chunked: not produced by boxofficed
      }
    }
    line = line_end + 2;
  }
  if (content_length < 0 || static_cast<size_t>(content_length) > kResponseBytesMax) {
    return ParseStatus::kBroken;
  }
  const size_t total = head_end + 4 + static_cast<size_t>(content_length);
  if (bytes.size() < total) return ParseStatus::kNeedMore;
  response->status_code = status;
  response->retry_after_s = retry_after_s;
  response->body = bytes.substr(head_end + 4, static_cast<size_t>(content_length));
  response->length_bytes = total;
  return ParseStatus::kReply;
}

void HttpCodec::interpret(const Response& response, OperationKind kind, Reply* reply) {
  const std::string_view body = response.body;
  if (response.status_code < 200 || response.status_code >= 300) {
    int64_t code = kErrorOther;
    if (!read_int(body, find_value(body, "code", 0), &code) || code <= 0 ||
        code >= kErrorCodesMax) {
      code = kErrorOther;
    }
    reply->error_code = static_cast<int>(code);
    reply->status = code == kErrorSeatTaken ? ReplyStatus::kConflict : ReplyStatus::kError;
    if (response.retry_after_s >= 0) {
      reply->retry_after_ms = std::min(response.retry_after_s, kRetryAfterMsMax / 1000) * 1000;
    }
    return;
  }
  reply->status = ReplyStatus::kOk;
  reply->error_code = 0;
  switch (kind) {
    case OperationKind::kHold:
    case OperationKind::kHoldBest: {
      reply->has_hold_token =
          read_string(body, find_value(body, "hold", 0), kHoldTokenChars, reply->hold_token.data());
      size_t at = 0;
      int64_t index = 0;
      while (reply->seat_count < kOperationSeatsMax &&
             (at = find_value(body, "index", at)) != std::string_view::npos) {
        if (read_int(body, at, &index))
          reply->seats[reply->seat_count++] = static_cast<uint32_t>(index);
      }
      break;
    }
    case OperationKind::kBuy:
    case OperationKind::kConfirm: {
      size_t at = find_value(body, "tickets", 0);
      while (at != std::string_view::npos && reply->ticket_count < kOperationSeatsMax &&
             (at = find_value(body, "id", at)) != std::string_view::npos) {
        TicketSeen& ticket = reply->tickets[reply->ticket_count];
        if (!read_string(body, at, kTicketIdChars, ticket.id.data())) break;
        int64_t index = -1;
        at = find_value(body, "index", at);
        if (!read_int(body, at, &index)) break;
        ticket.seat_index = static_cast<uint32_t>(index);
        ++reply->ticket_count;
      }
      break;
    }
    case OperationKind::kRelease:
      break;
  }
}

ParseStatus HttpCodec::next(Reply* reply) {
  Response response;
  const ParseStatus status =
      parse_response(std::string_view(input_.data(), input_.size()), &response);
  if (status != ParseStatus::kReply) return status;
  if (sent_.empty()) return ParseStatus::kBroken;  // an answer nobody asked for
  *reply = Reply{};
  reply->tag = sent_.front().tag;
  interpret(response, sent_.front().kind, reply);
  sent_.pop();
  input_.consume(response.length_bytes);
  return ParseStatus::kReply;
}

}  // namespace boxoffice::load
