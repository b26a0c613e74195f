#include "core/msgpack_document.h"

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

namespace boxoffice {
namespace {

using nlohmann::json;

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. JSON text is
// checked by its parser; msgpack strings are raw bytes and must be checked here.
bool valid_utf8(const char* p, size_t size) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  for (size_t i = 0; i < size;) {
    const unsigned char c = s[i];
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;  // continuation byte first, overlong lead C0/C1, or beyond F4
    }
    if (i + extra >= size) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (extra == 3 && (code < 0x10000 || code > 0x10FFFF))) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Status convert(const msgpack::object& object, json* out) {
  switch (object.type) {
    case msgpack::type::NIL:
      *out = nullptr;
      return Status::ok();
    case msgpack::type::BOOLEAN:
      *out = object.via.boolean;
      return Status::ok();
    case msgpack::type::POSITIVE_INTEGER:
      *out = object.via.u64;
      return Status::ok();
    case msgpack::type::NEGATIVE_INTEGER:
      *out = object.via.i64;
      return Status::ok();
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      *out = object.via.f64;
      return Status::ok();
    case msgpack::type::STR:
      if (!valid_utf8(object.via.str.ptr, object.via.str.size)) {
        return Status(ErrorCode::kBadRequest, "document strings must be UTF-8");
      }
      *out = std::string(object.via.str.ptr, object.via.str.size);
      return Status::ok();
    case msgpack::type::ARRAY: {
      *out = json::array();
      for (uint32_t i = 0; i < object.via.array.size; ++i) {
        json item;
        if (Status s = convert(object.via.array.ptr[i], &item); !s.is_ok()) return s;
        out->push_back(std::move(item));
      }
      return Status::ok();
    }
    case msgpack::type::MAP: {
      *out = json::object();
      for (uint32_t i = 0; i < object.via.map.size; ++i) {
        const msgpack::object_kv& kv = object.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR ||
            !valid_utf8(kv.key.via.str.ptr, kv.key.via.str.size)) {
          return Status(ErrorCode::kBadRequest, "document map keys must be UTF-8 strings");
        }
        json value;
        if (Status s = convert(kv.val, &value); !s.is_ok()) return s;
        (*out)[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = std::move(value);
      }
      return Status::ok();
    }
    case msgpack::type::BIN:
    case msgpack::type::EXT:
      return Status(ErrorCode::kBadRequest, "documents hold no binary or extension values");
  }
  return Status(ErrorCode::kBadRequest, "unknown msgpack type");
}

}  // namespace

Status msgpack_to_json(std::span<const uint8_t> bytes, const DocumentLimits& limits, json* out) {
  if (bytes.size() > limits.document_bytes_max) {
    return Status(ErrorCode::kLimitExceeded,
                  "document larger than " + std::to_string(limits.document_bytes_max) + " bytes");
  }
  const msgpack::unpack_limit limit(limits.array_items_max, limits.map_entries_max,
                                    limits.string_bytes_max, /*bin=*/0, /*ext=*/0,
                                    limits.depth_max);
  size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                             nullptr, nullptr, limit);
  } catch (const msgpack::size_overflow& e) {
    return Status(ErrorCode::kLimitExceeded,
                  std::string("document exceeds a size limit (") + e.what() + ")");
  } catch (const msgpack::insufficient_bytes&) {
    return Status(ErrorCode::kBadRequest, "document is truncated");
  } catch (const std::exception& e) {
    return Status(ErrorCode::kBadRequest,
                  std::string("document is not valid msgpack (") + e.what() + ")");
  }
  if (offset != bytes.size()) return Status(ErrorCode::kBadRequest, "bytes after the document");
  return convert(handle.get(), out);
}

}  // namespace boxoffice
