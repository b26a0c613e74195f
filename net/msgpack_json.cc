#include "net/msgpack_json.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <vector>

#include "net/http_json.h"
#include "shm/check.h"

namespace boxoffice::net {
namespace {

std::string_view key_text(const msgpack::object& key) {
  BOXOFFICE_ASSERT(key.type == msgpack::type::STR);  // JSON objects have string keys only
  return {key.via.str.ptr, key.via.str.size};
}

// nlohmann's dump with ensure_ascii off: \" \\ and the short escapes, \u00xx for the other
// control characters, every other ASCII byte as is.
void append_string(std::string_view text, std::string* out) {
  if (std::any_of(text.begin(), text.end(), [](char c) { return (c & 0x80) != 0; })) {
    *out += json_text(nlohmann::json(std::string(text)));  // UTF-8 checks, replacements
    return;
  }
  out->push_back('"');
  size_t plain_from = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const char* escaped = nullptr;
    char control[8];
    switch (c) {
      case '"':
        escaped = "\\\"";
        break;
      case '\\':
        escaped = "\\\\";
        break;
      case '\b':
        escaped = "\\b";
        break;
      case '\f':
        escaped = "\\f";
        break;
      case '\n':
        escaped = "\\n";
        break;
      case '\r':
        escaped = "\\r";
        break;
      case '\t':
        escaped = "\\t";
        break;
      default:
        if (c >= 0x20) continue;
        std::snprintf(control, sizeof control, "\\u%04x", c);
        escaped = control;
    }
    out->append(text.data() + plain_from, i - plain_from);
    out->append(escaped);
    plain_from = i + 1;
  }
  out->append(text.data() + plain_from, text.size() - plain_from);
  out->push_back('"');
}

template <typename Integer>
void append_integer(Integer value, std::string* out) {
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  BOXOFFICE_ASSERT(error == std::errc());
  out->append(digits, end);
}

void append_map(const msgpack::object_map& map, std::string* out) {
  // Entries in key order (a stable sort: of equal keys the last one is printed).
  constexpr uint32_t kInlineEntries = 16;
  uint32_t inline_order[kInlineEntries];
  std::vector<uint32_t> heap_order;
  uint32_t* order = inline_order;
  if (map.size > kInlineEntries) {
    heap_order.resize(map.size);
    order = heap_order.data();
  }
  std::iota(order, order + map.size, 0u);
  auto key = [&](uint32_t entry) { return key_text(map.ptr[entry].key); };
  auto before = [&](uint32_t a, uint32_t b) { return key(a) < key(b); };
  if (map.size <= kInlineEntries) {  // insertion sort: stable, and no buffer to allocate
    for (uint32_t i = 1; i < map.size; ++i) {
      for (uint32_t j = i; j > 0 && before(order[j], order[j - 1]); --j) {
        std::swap(order[j], order[j - 1]);
      }
    }
  } else {
    std::stable_sort(order, order + map.size, before);
  }
  out->push_back('{');
  bool first = true;
  for (uint32_t n = 0; n < map.size; ++n) {
    if (n + 1 < map.size && key(order[n]) == key(order[n + 1])) continue;  // a later one wins
    if (!first) out->push_back(',');
    first = false;
    append_string(key(order[n]), out);
    out->push_back(':');
    append_json(map.ptr[order[n]].val, out);
  }
  out->push_back('}');
}

}  // namespace

void append_base64(std::span<const uint8_t> bytes, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const size_t start = out->size();
  out->resize(start + (bytes.size() + 2) / 3 * 4);
  char* text = out->data() + start;
  for (size_t i = 0; i < bytes.size(); i += 3, text += 4) {
    const uint32_t n = uint32_t{bytes[i]} << 16 |
                       (i + 1 < bytes.size() ? uint32_t{bytes[i + 1]} << 8 : 0) |
                       (i + 2 < bytes.size() ? uint32_t{bytes[i + 2]} : 0);
    text[0] = kAlphabet[n >> 18 & 63];
    text[1] = kAlphabet[n >> 12 & 63];
    text[2] = i + 1 < bytes.size() ? kAlphabet[n >> 6 & 63] : '=';
    text[3] = i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
}

void append_json(const msgpack::object& value, std::string* out) {
  switch (value.type) {
    case msgpack::type::NIL:
      out->append("null");
      return;
    case msgpack::type::BOOLEAN:
      out->append(value.via.boolean ? "true" : "false");
      return;
    case msgpack::type::POSITIVE_INTEGER:
      append_integer(value.via.u64, out);
      return;
    case msgpack::type::NEGATIVE_INTEGER:
      append_integer(value.via.i64, out);
      return;
    case msgpack::type::FLOAT32:  // msgpack-c widens it to a double, as nlohmann does
    case msgpack::type::FLOAT64:
      *out += json_text(nlohmann::json(value.via.f64));
      return;
    case msgpack::type::STR:
      append_string({value.via.str.ptr, value.via.str.size}, out);
      return;
    case msgpack::type::BIN:
      out->push_back('"');
      append_base64({reinterpret_cast<const uint8_t*>(value.via.bin.ptr), value.via.bin.size}, out);
      out->push_back('"');
      return;
    case msgpack::type::EXT:  // nlohmann keeps the data (not the type byte) as binary
      out->push_back('"');
      append_base64({reinterpret_cast<const uint8_t*>(value.via.ext.data()), value.via.ext.size},
                    out);
      out->push_back('"');
      return;
    case msgpack::type::ARRAY:
      out->push_back('[');
      for (uint32_t i = 0; i < value.via.array.size; ++i) {
        if (i > 0) out->push_back(',');
        append_json(value.via.array.ptr[i], out);
      }
      out->push_back(']');
      return;
    case msgpack::type::MAP:
      append_map(value.via.map, out);
      return;
  }
  BOXOFFICE_ASSERT(false && "unknown msgpack type");
}

const msgpack::object* map_value(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  const msgpack::object* found = nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    if (key_text(map.via.map.ptr[i].key) == key) found = &map.via.map.ptr[i].val;
  }
  return found;
}

}  // namespace boxoffice::net
