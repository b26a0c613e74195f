// ParamsPacker: builds the MessagePack-RPC request `[0, 0, method, params]` that an HTTP /v1
// route runs, from the route's JSON body and its path and query parameters, without a JSON
// tree: the body goes through nlohmann's SAX parser straight into msgpack.
//
// The bytes are those nlohmann::json::to_msgpack gives for the same params built as a json
// object (what the adapter did before), so the Dispatcher sees the same request, including
// which error it reports first: every map's keys in byte order, of repeated keys the last one
// (nlohmann objects are std::maps), integers and strings and containers in their smallest
// encoding, a float as float32 when that is exact, else float64.
//
// Use: begin(method); add_*() the entries the body may override; add_body(); add_*() the
// entries that override the body; finish(). add_body() refuses (false, adding nothing) what
// the caller must answer with parse_json_document's error: text that is not JSON, not an
// object, or nested `depth_max` levels or more (one level short of parse_json_document's limit:
// a body at the very limit gets its exact answer from there).
//
// Thread safety: one per thread (its buffers are reused from request to request).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string_view>
#include <vector>

namespace boxoffice::net {

class ParamsBodyHandler;  // add_body()'s SAX handler (params_packer.cc)

class ParamsPacker {
 public:
  void begin(std::string_view method);
  void add_string(std::string_view key, std::string_view value);
  void add_json(std::string_view key, const nlohmann::json& value);
  // The entries of the JSON object `text` (see above; false: refused, nothing added).
  bool add_body(std::string_view text, uint32_t depth_max);
  // The request; valid until the next begin().
  std::span<const uint8_t> finish();

 private:
  friend class ParamsBodyHandler;
  // Encoding and map order, for add_json() and the SAX handler (see the .cc).
  void pack_nil();
  void pack_bool(bool value);
  void pack_unsigned(uint64_t value);
  void pack_negative(int64_t value);
  void pack_float(double value);
  void pack_string(std::string_view text);
  void pack_key(std::string_view key);
  void open(bool is_map);
  void close();

  struct Open {
    size_t header_at;  // one placeholder byte; close() widens it when needed
    uint32_t items;    // array items or map entries so far
    bool is_map;
    size_t first_entry;  // maps: its first element of entries_
  };
  struct Entry {
    size_t at;      // the key's first byte; the value runs to the next entry or the end
    size_t key_at;  // the key's text
    uint32_t key_bytes;
  };
  void value_added();
  void sort_entries(const Open& map);
  void write_header(const Open& container);
  std::string_view key_of(const Entry& entry) const;

  std::vector<uint8_t> bytes_;
  std::vector<Open> open_;
  std::vector<Entry> entries_;    // of every open map, innermost last
  std::vector<uint8_t> scratch_;  // sort_entries()
  std::vector<uint32_t> order_;   // sort_entries()
};

}  // namespace boxoffice::net
