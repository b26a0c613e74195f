#include "net/params_packer.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "shm/check.h"

namespace boxoffice::net {

// nlohmann's SAX events for a body, into the packer. The body object itself is not a map of
// its own: its entries join the params map the packer has open. `depth` counts the body's
// containers open around an event, as parse_json_document counts a value's depth.
class ParamsBodyHandler {
 public:
  ParamsBodyHandler(ParamsPacker* packer, uint32_t depth_max)
      : packer_(packer), depth_max_(depth_max) {}

  bool null() { return scalar() && (packer_->pack_nil(), true); }
  bool boolean(bool value) { return scalar() && (packer_->pack_bool(value), true); }
  bool number_integer(int64_t value) { return scalar() && (packer_->pack_negative(value), true); }
  bool number_unsigned(uint64_t value) { return scalar() && (packer_->pack_unsigned(value), true); }
  bool number_float(double value, const std::string&) {
    return scalar() && (packer_->pack_float(value), true);
  }
  bool string(std::string& value) { return scalar() && (packer_->pack_string(value), true); }
  bool binary(nlohmann::json::binary_t&) { return false; }  // not in JSON text

  bool start_object(size_t) {
    if (depth_ >= depth_max_) return false;
    if (depth_++ > 0) packer_->open(/*is_map=*/true);  // the body's own entries go to params
    return true;
  }
  bool key(std::string& key) {
    if (depth_ >= depth_max_) return false;
    packer_->pack_key(key);
    return true;
  }
  bool end_object() {
    if (--depth_ > 0) packer_->close();
    return true;
  }
  bool start_array(size_t) {
    if (depth_ == 0 || depth_ >= depth_max_) return false;  // the body must be an object
    ++depth_;
    packer_->open(/*is_map=*/false);
    return true;
  }
  bool end_array() {
    --depth_;
    packer_->close();
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  // A value inside the body object, not too deep.
  bool scalar() const { return depth_ > 0 && depth_ < depth_max_; }

  ParamsPacker* packer_;
  uint32_t depth_max_;
  uint32_t depth_ = 0;
};

namespace {

template <typename Number>
void put_big_endian(std::vector<uint8_t>* bytes, Number value) {
  using Bits = std::conditional_t<sizeof(Number) == 8, uint64_t,
                                  std::conditional_t<sizeof(Number) == 4, uint32_t, uint16_t>>;
  const Bits bits = std::bit_cast<Bits>(value);
  for (int shift = 8 * (sizeof(Bits) - 1); shift >= 0; shift -= 8) {
    bytes->push_back(static_cast<uint8_t>(bits >> shift));
  }
}

}  // namespace

void ParamsPacker::begin(std::string_view method) {
  bytes_.clear();
  open_.clear();
  entries_.clear();
  bytes_.insert(bytes_.end(), {0x94, 0x00, 0x00});  // [0, 0, (request, msgid 0)
  pack_string(method);
  open(/*is_map=*/true);  // params
}

void ParamsPacker::add_string(std::string_view key, std::string_view value) {
  pack_key(key);
  pack_string(value);
}

void ParamsPacker::add_json(std::string_view key, const nlohmann::json& value) {
  pack_key(key);
  nlohmann::json::to_msgpack(value, bytes_);
}

bool ParamsPacker::add_body(std::string_view text, uint32_t depth_max) {
  BOXOFFICE_ASSERT(open_.size() == 1);  // the params map
  const size_t bytes_before = bytes_.size();
  const size_t entries_before = entries_.size();
  ParamsBodyHandler handler(this, depth_max);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &handler)) {
    bytes_.resize(bytes_before);  // as if not called
    entries_.resize(entries_before);
    open_.resize(1);
    return false;
  }
  BOXOFFICE_ASSERT(open_.size() == 1);
  return true;
}

std::span<const uint8_t> ParamsPacker::finish() {
  BOXOFFICE_ASSERT(open_.size() == 1);
  close();
  return bytes_;
}

void ParamsPacker::value_added() {
  if (!open_.empty() && !open_.back().is_map) ++open_.back().items;
}

void ParamsPacker::pack_nil() {
  value_added();
  bytes_.push_back(0xc0);
}

void ParamsPacker::pack_bool(bool value) {
  value_added();
  bytes_.push_back(value ? 0xc3 : 0xc2);
}

void ParamsPacker::pack_unsigned(uint64_t value) {
  value_added();
  if (value < 128) {
    bytes_.push_back(static_cast<uint8_t>(value));
  } else if (value <= UINT8_MAX) {
    bytes_.push_back(0xcc);
    bytes_.push_back(static_cast<uint8_t>(value));
  } else if (value <= UINT16_MAX) {
    bytes_.push_back(0xcd);
    put_big_endian(&bytes_, static_cast<uint16_t>(value));
  } else if (value <= UINT32_MAX) {
    bytes_.push_back(0xce);
    put_big_endian(&bytes_, static_cast<uint32_t>(value));
  } else {
    bytes_.push_back(0xcf);
    put_big_endian(&bytes_, value);
  }
}

void ParamsPacker::pack_negative(int64_t value) {
  if (value >= 0) {  // "-0": to_msgpack writes any integer >= 0 as unsigned
    pack_unsigned(static_cast<uint64_t>(value));
    return;
  }
  value_added();
  if (value >= -32) {
    bytes_.push_back(static_cast<uint8_t>(static_cast<int8_t>(value)));
  } else if (value >= INT8_MIN) {
    bytes_.push_back(0xd0);
    bytes_.push_back(static_cast<uint8_t>(static_cast<int8_t>(value)));
  } else if (value >= INT16_MIN) {
    bytes_.push_back(0xd1);
    put_big_endian(&bytes_, static_cast<int16_t>(value));
  } else if (value >= INT32_MIN) {
    bytes_.push_back(0xd2);
    put_big_endian(&bytes_, static_cast<int32_t>(value));
  } else {
    bytes_.push_back(0xd3);
    put_big_endian(&bytes_, value);
  }
}

void ParamsPacker::pack_float(double value) {
  value_added();
  // to_msgpack's write_compact_float: float32 when it holds the value exactly.
  if (value >= static_cast<double>(std::numeric_limits<float>::lowest()) &&
      value <= static_cast<double>(std::numeric_limits<float>::max()) &&
      std::bit_cast<uint64_t>(static_cast<double>(static_cast<float>(value))) ==
          std::bit_cast<uint64_t>(value)) {
    bytes_.push_back(0xca);
    put_big_endian(&bytes_, static_cast<float>(value));
  } else {
    bytes_.push_back(0xcb);
    put_big_endian(&bytes_, value);
  }
}

void ParamsPacker::pack_string(std::string_view text) {
  value_added();
  BOXOFFICE_ASSERT(text.size() <= UINT32_MAX);
  if (text.size() <= 31) {
    bytes_.push_back(static_cast<uint8_t>(0xa0 | text.size()));
  } else if (text.size() <= UINT8_MAX) {
    bytes_.push_back(0xd9);
    bytes_.push_back(static_cast<uint8_t>(text.size()));
  } else if (text.size() <= UINT16_MAX) {
    bytes_.push_back(0xda);
    put_big_endian(&bytes_, static_cast<uint16_t>(text.size()));
  } else {
    bytes_.push_back(0xdb);
    put_big_endian(&bytes_, static_cast<uint32_t>(text.size()));
  }
  bytes_.insert(bytes_.end(), text.begin(), text.end());
}

void ParamsPacker::pack_key(std::string_view key) {
  BOXOFFICE_ASSERT(!open_.empty() && open_.back().is_map);
  BOXOFFICE_ASSERT(key.size() <= UINT32_MAX);
  const size_t at = bytes_.size();
  pack_string(key);
  entries_.push_back({at, bytes_.size() - key.size(), static_cast<uint32_t>(key.size())});
}

void ParamsPacker::open(bool is_map) {
  value_added();
  open_.push_back({bytes_.size(), 0, is_map, entries_.size()});
  bytes_.push_back(0);  // the header, written by close()
}

void ParamsPacker::close() {
  BOXOFFICE_ASSERT(!open_.empty());
  Open container = open_.back();
  open_.pop_back();
  if (container.is_map) {
    sort_entries(container);
    container.items = static_cast<uint32_t>(entries_.size() - container.first_entry);
    entries_.resize(container.first_entry);
  }
  write_header(container);
}

std::string_view ParamsPacker::key_of(const Entry& entry) const {
  return {reinterpret_cast<const char*>(bytes_.data() + entry.key_at), entry.key_bytes};
}

// The map's entries in key order, the last of equal keys kept (std::map's operator[]): moved
// within the buffer only when they are not in order already. Leaves entries_ describing the
// kept entries (by key only: their offsets are not needed again).
void ParamsPacker::sort_entries(const Open& map) {
  Entry* entries = entries_.data() + map.first_entry;
  const size_t count = entries_.size() - map.first_entry;
  bool ordered = true;
  for (size_t i = 1; i < count && ordered; ++i) {
    ordered = key_of(entries[i - 1]) < key_of(entries[i]);
  }
  if (ordered) return;
  order_.resize(count);
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](uint32_t a, uint32_t b) { return key_of(entries[a]) < key_of(entries[b]); });
  scratch_.clear();
  size_t kept = 0;
  for (size_t k = 0; k < count; ++k) {
    const uint32_t i = order_[k];
    if (k + 1 < count && key_of(entries[i]) == key_of(entries[order_[k + 1]])) continue;
    const size_t end = i + 1 < count ? entries[i + 1].at : bytes_.size();
    scratch_.insert(scratch_.end(), bytes_.begin() + static_cast<ptrdiff_t>(entries[i].at),
                    bytes_.begin() + static_cast<ptrdiff_t>(end));
    ++kept;
  }
  BOXOFFICE_ASSERT(entries[0].at == map.header_at + 1);
  bytes_.resize(entries[0].at);
  bytes_.insert(bytes_.end(), scratch_.begin(), scratch_.end());
  entries_.resize(map.first_entry + kept);
}

// The placeholder byte becomes the smallest header for the size (fixmap/fixarray up to 15;
// else 16- or 32-bit sizes, for which the contents move up by 2 or 4 bytes).
void ParamsPacker::write_header(const Open& container) {
  const size_t items = container.items;
  if (items <= 15) {
    bytes_[container.header_at] = static_cast<uint8_t>((container.is_map ? 0x80 : 0x90) | items);
    return;
  }
  std::vector<uint8_t> size;  // big-endian, 2 or 4 bytes
  if (items <= UINT16_MAX) {
    bytes_[container.header_at] = container.is_map ? 0xde : 0xdc;
    put_big_endian(&size, static_cast<uint16_t>(items));
  } else {
    bytes_[container.header_at] = container.is_map ? 0xdf : 0xdd;
    put_big_endian(&size, static_cast<uint32_t>(items));
  }
  bytes_.insert(bytes_.begin() + static_cast<ptrdiff_t>(container.header_at) + 1, size.begin(),
                size.end());
}

}  // namespace boxoffice::net
