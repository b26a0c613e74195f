// msgpack_json: a msgpack value (a Dispatcher reply) written as JSON text, byte for byte the
// text the HTTP adapter got from nlohmann::json (json::from_msgpack, binary values as base64
// text, dump() without indentation, invalid UTF-8 replaced), without building a tree:
//  - map keys in byte order, and of repeated keys the last one (nlohmann objects are std::maps);
//  - integers in decimal; floats through nlohmann's own number formatting;
//  - strings of ASCII escaped as nlohmann escapes them (\" \\ \b \f \n \r \t, other control
//    characters \u00xx); a string with any byte >= 0x80 goes through nlohmann's serializer (its
//    UTF-8 checks and replacement characters);
//  - bin and ext values as padded base64 text (RFC 4648).
// Map keys must be strings (nlohmann refuses others; the Dispatcher packs no others).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <span>
#include <string>
#include <string_view>

namespace boxoffice::net {

// Appends `value` as JSON text to `out`.
void append_json(const msgpack::object& value, std::string* out);

// The value of `key` in `map` (the last one when repeated, as in the JSON text), or nullptr
// when `map` is not a map or has no such key.
const msgpack::object* map_value(const msgpack::object& map, std::string_view key);

// Appends `bytes` as padded base64 text (no quotes).
void append_base64(std::span<const uint8_t> bytes, std::string* out);

}  // namespace boxoffice::net
