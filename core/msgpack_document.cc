#include "core/msgpack_document.h"

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

namespace boxoffice {
namespace {

using nlohmann::json;

Status convert(const msgpack::object& object, json* out) {
  switch (object.type) {
    case msgpack::type::NIL: *out = nullptr; return Status::ok();
    case msgpack::type::BOOLEAN: *out = object.via.boolean; return Status::ok();
    case msgpack::type::POSITIVE_INTEGER: *out = object.via.u64; return Status::ok();
    case msgpack::type::NEGATIVE_INTEGER: *out = object.via.i64; return Status::ok();
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: *out = object.via.f64; return Status::ok();
    case msgpack::type::STR: *out = std::string(object.via.str.ptr, object.via.str.size); return Status::ok();
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
        if (kv.key.type != msgpack::type::STR) {
          return Status(ErrorCode::kBadRequest, "document map keys must be strings");
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
    return Status(ErrorCode::kLimitExceeded, "document larger than " +
                                                 std::to_string(limits.document_bytes_max) + " bytes");
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
    return Status(ErrorCode::kLimitExceeded, std::string("document exceeds a size limit (") + e.what() + ")");
  } catch (const msgpack::insufficient_bytes&) {
    return Status(ErrorCode::kBadRequest, "document is truncated");
  } catch (const std::exception& e) {
    return Status(ErrorCode::kBadRequest, std::string("document is not valid msgpack (") + e.what() + ")");
  }
  if (offset != bytes.size()) return Status(ErrorCode::kBadRequest, "bytes after the document");
  return convert(handle.get(), out);
}

}  // namespace boxoffice
