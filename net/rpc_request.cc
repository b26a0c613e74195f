#include "net/rpc_request.h"

#include <array>
#include <memory>
#include <msgpack.hpp>
#include <new>

namespace boxoffice::net {
namespace {

constexpr std::array<std::pair<std::string_view, Method>, 17> kMethods = {{
    {"ping", Method::kPing},
    {"auth", Method::kAuth},
    {"event.create", Method::kEventCreate},
    {"event.get", Method::kEventGet},
    {"event.list", Method::kEventList},
    {"event.stats", Method::kEventStats},
    {"hold", Method::kHold},
    {"hold.best", Method::kHoldBest},
    {"hold.extend", Method::kHoldExtend},
    {"hold.release", Method::kHoldRelease},
    {"hold.confirm", Method::kHoldConfirm},
    {"buy", Method::kBuy},
    {"ticket.get", Method::kTicketGet},
    {"ticket.void", Method::kTicketVoid},
    {"seat.get", Method::kSeatGet},
    {"availability", Method::kAvailability},
    {"subscribe", Method::kSubscribe},
}};

// The params the protocol knows; anything else is ignored.
enum class Key : uint8_t {
  kOther,
  kEvent,
  kHold,
  kTicket,
  kIdempotencyKey,
  kBuyer,
  kKey,
  kId,
  kName,
  kState,
  kZone,
  kCount,
  kTtlMs,
  kLayout,
  kBitmap,
  kSeats,
  kSeat,
  kRow,
};

Key key_from_name(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, Key>, 17> kKeys = {{
      {"event", Key::kEvent},
      {"hold", Key::kHold},
      {"ticket", Key::kTicket},
      {"idempotency_key", Key::kIdempotencyKey},
      {"buyer", Key::kBuyer},
      {"key", Key::kKey},
      {"id", Key::kId},
      {"name", Key::kName},
      {"state", Key::kState},
      {"zone", Key::kZone},
      {"count", Key::kCount},
      {"ttl_ms", Key::kTtlMs},
      {"layout", Key::kLayout},
      {"bitmap", Key::kBitmap},
      {"seats", Key::kSeats},
      {"seat", Key::kSeat},
      {"row", Key::kRow},
  }};
  for (const auto& [text, key] : kKeys) {
    if (text == name) return key;
  }
  return Key::kOther;
}

// What the innermost open container is, for the visitor's callbacks.
enum class Role : uint8_t { kOther, kTop, kParams, kSeats, kSeatMap };

// Walks one msgpack object and fills a Request (see the header). Every callback returns true
// to go on; false stops the parser (only for nesting beyond the limit).
class RequestVisitor : public msgpack::null_visitor {
 public:
  RequestVisitor(Request* request, uint32_t depth_max) : r_(request), depth_max_(depth_max) {}

  bool insufficient() const { return insufficient_; }
  bool malformed() const { return malformed_; }
  bool too_deep() const { return too_deep_; }
  bool top_is_request() const { return top_items_ == 4 && saw_params_map_; }
  const char* method_end() const { return method_end_; }

  bool visit_nil() { return scalar(Scalar{}); }
  bool visit_boolean(bool v) { return scalar(Scalar{.type = Scalar::kBool, .boolean = v}); }
  bool visit_positive_integer(uint64_t v) {
    return scalar(Scalar{.type = Scalar::kUnsigned, .unsigned_value = v});
  }
  bool visit_negative_integer(int64_t v) {
    return scalar(Scalar{.type = Scalar::kSigned, .signed_value = v});
  }
  bool visit_float32(float) { return scalar(Scalar{.type = Scalar::kOther}); }
  bool visit_float64(double) { return scalar(Scalar{.type = Scalar::kOther}); }
  bool visit_str(const char* v, uint32_t size) {
    return scalar(Scalar{.type = Scalar::kString, .text = {v, size}});
  }
  bool visit_bin(const char*, uint32_t) { return scalar(Scalar{.type = Scalar::kOther}); }
  bool visit_ext(const char*, uint32_t) { return scalar(Scalar{.type = Scalar::kOther}); }

  bool start_array(uint32_t items) { return open(/*is_map=*/false, items); }
  bool start_map(uint32_t pairs) { return open(/*is_map=*/true, pairs); }
  bool end_array() { return close(); }
  bool end_map() { return close(); }
  bool end_array_item() {
    Frame& f = frames_[depth_];
    ++f.item;
    return true;
  }
  bool start_map_key() {
    frames_[depth_].in_key = true;
    frames_[depth_].key = Key::kOther;  // a non-string key (even a container) names nothing
    return true;
  }
  bool end_map_key() {
    frames_[depth_].in_key = false;
    return true;
  }
  void parse_error(size_t, size_t) { malformed_ = true; }
  void insufficient_bytes(size_t, size_t) { insufficient_ = true; }

 private:
  struct Scalar {
    enum Type { kNil, kBool, kUnsigned, kSigned, kString, kOther } type = kNil;
    bool boolean = false;
    uint64_t unsigned_value = 0;
    int64_t signed_value = 0;
    std::string_view text;
    bool as_int64(int64_t* out) const {
      if (type == kSigned) *out = signed_value;
      if (type == kUnsigned && unsigned_value <= static_cast<uint64_t>(INT64_MAX)) {
        *out = static_cast<int64_t>(unsigned_value);
      }
      return type == kSigned || (type == kUnsigned && unsigned_value <= INT64_MAX);
    }
  };
  struct Frame {
    Role role = Role::kOther;
    uint32_t item = 0;        // index of the current array item
    bool in_key = false;      // maps: the callbacks are for a key
    Key key = Key::kOther;    // maps: the key of the current value
    SeatRef* seat = nullptr;  // kSeatMap: the seat being filled
  };

  void fail(const char* why) {
    if (r_->error == nullptr) r_->error = why;
  }

  SeatRef* seat_slot(uint32_t item) {
    if (item >= shm::kSeatsPerHoldMax) {
      r_->too_many_seats = true;
      return nullptr;
    }
    r_->seat_count = std::max(r_->seat_count, item + 1);
    return &r_->seats[item];
  }

  bool open(bool is_map, uint32_t size) {
    if (depth_ + 1 >= kDepthCeiling || depth_ + 1 > depth_max_) {
      too_deep_ = true;
      return false;
    }
    const Frame& parent = frames_[depth_];
    Frame child;
    if (depth_ == 0) {
      if (!is_map && size == 4) {
        child.role = Role::kTop;
        top_items_ = 4;
      } else {
        fail("a request is [0, msgid, method, params]");
      }
    } else if (parent.role == Role::kTop) {
      if (parent.item == 3 && is_map) {
        child.role = Role::kParams;
        saw_params_map_ = true;
      } else {
        fail(parent.item == 3 ? "params must be a map" : "a request is [0, msgid, method, params]");
      }
    } else if (parent.role == Role::kParams && !parent.in_key) {
      if (parent.key == Key::kSeats) {
        if (is_map) {
          fail("seats must be an array");
        } else {
          child.role = Role::kSeats;
          r_->has_seats = true;
          if (size > shm::kSeatsPerHoldMax) r_->too_many_seats = true;
        }
      } else if (parent.key == Key::kSeat) {
        if (is_map) {
          child.role = Role::kSeatMap;
          child.seat = &r_->seat;
          r_->seat = SeatRef{.by_label = true};
          r_->has_seat = true;
        } else {
          fail("seat must be an index or {zone, row, seat}");
        }
      } else if (parent.key == Key::kLayout) {
        r_->has_layout = is_map;
        if (!is_map) fail("layout must be a map");
      } else if (parent.key != Key::kOther) {
        fail("a param has the wrong type");
      }
    } else if (parent.role == Role::kSeats) {
      if (is_map) {
        child.role = Role::kSeatMap;
        child.seat = seat_slot(parent.item);
        if (child.seat != nullptr) *child.seat = SeatRef{.by_label = true};
      } else {
        fail("a seat is an index or {zone, row, seat}");
      }
    } else if (parent.role == Role::kSeatMap && !parent.in_key && parent.key != Key::kOther) {
      fail("a seat field has the wrong type");
    }
    ++depth_;
    frames_[depth_] = child;
    return true;
  }

  bool close() {
    --depth_;
    return true;
  }

  bool scalar(const Scalar& value) {
    Frame& f = frames_[depth_];
    switch (f.role) {
      case Role::kTop:
        top_item(f.item, value);
        break;
      case Role::kParams:
        if (f.in_key) {
          f.key = value.type == Scalar::kString ? key_from_name(value.text) : Key::kOther;
        } else {
          param(f.key, value);
        }
        break;
      case Role::kSeats: {
        int64_t index = 0;
        if (!value.as_int64(&index) || index < 0 || index > UINT32_MAX) {
          fail("a seat is an index or {zone, row, seat}");
        } else if (SeatRef* seat = seat_slot(f.item)) {
          *seat = SeatRef{.index = static_cast<uint32_t>(index)};
        }
        break;
      }
      case Role::kSeatMap:
        if (f.in_key) {
          f.key = value.type == Scalar::kString ? key_from_name(value.text) : Key::kOther;
        } else if (f.seat != nullptr) {
          seat_field(f.key, value, f.seat);
        }
        break;
      case Role::kOther:
        if (depth_ == 0) fail("a request is [0, msgid, method, params]");
        break;
    }
    return true;
  }

  void top_item(uint32_t item, const Scalar& value) {
    switch (item) {
      case 0:
        if (value.type != Scalar::kUnsigned || value.unsigned_value != 0) {
          fail("only requests (type 0) are accepted");
        }
        break;
      case 1:
        if (value.type != Scalar::kUnsigned || value.unsigned_value > UINT32_MAX) {
          fail("msgid must be an unsigned 32-bit integer");
        } else {
          r_->msgid = static_cast<uint32_t>(value.unsigned_value);
        }
        break;
      case 2:
        if (value.type != Scalar::kString) {
          fail("method must be a string");
        } else {
          method_end_ = value.text.data() + value.text.size();  // params follow
          r_->method = method_from_name(value.text);
          if (r_->method == Method::kUnknown) fail("unknown method");
        }
        break;
      default:
        fail("params must be a map");
    }
  }

  void param(Key key, const Scalar& value) {
    auto text = [&](std::string_view* out) {
      if (value.type == Scalar::kString) {
        *out = value.text;
      } else {
        fail("a param must be a string");
      }
    };
    auto integer = [&](int64_t* out, bool* present) {
      if (value.as_int64(out)) {
        if (present != nullptr) *present = true;
      } else {
        fail("a param must be an integer");
      }
    };
    auto flag = [&](bool* out) {
      if (value.type == Scalar::kBool) {
        *out = value.boolean;
      } else {
        fail("a param must be true or false");
      }
    };
    switch (key) {
      case Key::kEvent:
        text(&r_->event);
        break;
      case Key::kHold:
        text(&r_->hold);
        break;
      case Key::kTicket:
        text(&r_->ticket);
        break;
      case Key::kIdempotencyKey:
        text(&r_->idempotency_key);
        break;
      case Key::kBuyer:
        text(&r_->buyer);
        break;
      case Key::kKey:
        text(&r_->key);
        break;
      case Key::kId:
        text(&r_->id);
        break;
      case Key::kName:
        text(&r_->name);
        break;
      case Key::kState:
        text(&r_->state);
        break;
      case Key::kZone:
        integer(&r_->zone, &r_->has_zone);
        break;
      case Key::kCount:
        integer(&r_->count, &r_->has_count);
        break;
      case Key::kTtlMs:
        integer(&r_->ttl_ms, nullptr);
        break;
      case Key::kLayout:
        flag(&r_->want_layout);
        break;  // event.get's {"layout": true}
      case Key::kBitmap:
        flag(&r_->want_bitmap);
        break;
      case Key::kSeats:
        fail("seats must be an array");
        break;
      case Key::kSeat: {
        int64_t index = 0;
        if (!value.as_int64(&index) || index < 0 || index > UINT32_MAX) {
          fail("seat must be an index or {zone, row, seat}");
        } else {
          r_->seat = SeatRef{.index = static_cast<uint32_t>(index)};
          r_->has_seat = true;
        }
        break;
      }
      case Key::kRow:
      case Key::kOther:
        break;
    }
  }

  void seat_field(Key key, const Scalar& value, SeatRef* seat) {
    switch (key) {
      case Key::kZone:
        if (!value.as_int64(&seat->zone)) fail("a seat's zone must be an integer");
        break;
      case Key::kRow:
        if (value.type != Scalar::kString) fail("a seat's row must be a string");
        seat->row = value.text;
        break;
      case Key::kSeat:
        if (value.type == Scalar::kString) {
          seat->seat = value.text;
        } else {
          fail("a seat's label must be a string");
        }
        break;
      default:
        break;
    }
  }

  static constexpr uint32_t kDepthCeiling = 64;
  Request* r_;
  uint32_t depth_max_;
  uint32_t depth_ = 0;
  Frame frames_[kDepthCeiling];
  uint32_t top_items_ = 0;
  bool saw_params_map_ = false;
  bool insufficient_ = false;
  bool malformed_ = false;
  bool too_deep_ = false;
  const char* method_end_ = nullptr;
};

}  // namespace

std::string_view method_name(Method method) {
  for (const auto& [name, m] : kMethods) {
    if (m == method) return name;
  }
  return "unknown";
}

Method method_from_name(std::string_view name) {
  for (const auto& [text, m] : kMethods) {
    if (text == name) return m;
  }
  return Method::kUnknown;
}

FrameResult decode_request(std::span<const uint8_t> input, const FrameLimits& limits,
                           Request* request, size_t* frame_bytes) {
  // Default-initialized in place: every field back to its default but the seats (SeatRefs).
  std::destroy_at(request);
  ::new (static_cast<void*>(request)) Request;
  if (input.empty()) return FrameResult::kNeedMore;
  const size_t window = std::min<size_t>(input.size(), limits.frame_bytes_max);
  const char* data = reinterpret_cast<const char*>(input.data());
  RequestVisitor visitor(request, limits.depth_max);
  size_t offset = 0;
  const bool parsed = msgpack::parse(data, window, offset, visitor);
  if (!parsed) {
    if (visitor.insufficient() && !visitor.malformed() && !visitor.too_deep()) {
      // A frame may still complete, unless the window is already the whole allowance.
      return window < limits.frame_bytes_max ? FrameResult::kNeedMore : FrameResult::kUnframeable;
    }
    return FrameResult::kUnframeable;
  }
  *frame_bytes = offset;
  if (request->error == nullptr && !visitor.top_is_request()) {
    request->error = "a request is [0, msgid, method, params]";
  }
  if (request->error == nullptr && visitor.method_end() != nullptr) {
    // The params map is the frame's last element, right after the method string.
    const size_t at = static_cast<size_t>(visitor.method_end() - data);
    if (at <= offset) request->params = input.subspan(at, offset - at);
  }
  return FrameResult::kFrame;
}

}  // namespace boxoffice::net
