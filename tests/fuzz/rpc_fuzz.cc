// rpc_fuzz: the msgpack-rpc frame decoder (net/rpc_request.h) and the Dispatcher
// (net/dispatcher.h) over a real engine, as a worker runs them for one connection.
//
// Input: one options byte, then the bytes a client sends on a connection.
//   options bit 0: API keys are configured ("sell-key" may sell, "admin-key" may also create
//                  events), so requests before an `auth` are refused.
// The bytes are framed with the server's default limits and each frame is run in turn (at most
// kFramesMax), until they end, need more bytes, or cannot be framed (the server closes the
// connection there). The clock moves 250 ms per frame and due holds expire, as a worker's loop
// would do.
//
// So that sequences of requests reach confirm, extend, release and voids without guessing a
// 128-bit token, the hold param "$hold" stands for the last hold token a reply gave, and the
// ticket param "$ticket" for the last ticket id.
//
// Checked on every frame: msgpack-c's unpacker reads it as one object of the same length, and
// the frame less its last byte needs more bytes. Every response is one msgpack object
// [1, msgid, error, result] with exactly one of error and result nil, matching the code
// handle() returned, and never INTERNAL (which net/PROTOCOL.md reserves for bugs).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <msgpack.hpp>
#include <span>
#include <string>

#include "net/dispatcher.h"
#include "net/rpc_request.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/fuzz/input_deadline.h"

namespace boxoffice::fuzz {
namespace {

using namespace ::boxoffice::net;

constexpr uint32_t kFramesMax = 64;
constexpr int64_t kStepMs = 250;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "rpc_fuzz: %s\n", what);
  std::abort();
}

// The string value of `key` in a msgpack map object, or null.
const msgpack::object* find(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object_kv& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
      return &kv.val;
    }
  }
  return nullptr;
}

void remember_string(const msgpack::object* value, std::string* out) {
  if (value != nullptr && value->type == msgpack::type::STR) {
    out->assign(value->via.str.ptr, value->via.str.size);
  }
}

class Connection {
 public:
  explicit Connection(bool with_keys)
      : dispatcher_(&engine_.engine(), &engine_.worker(), options(with_keys)) {}

  void run(std::span<const uint8_t> input) {
    for (uint32_t frames = 0; frames < kFramesMax && !input.empty(); ++frames) {
      Request request;
      size_t used = 0;
      const FrameResult result = decode_request(input, FrameLimits{}, &request, &used);
      if (result != FrameResult::kFrame) return;
      if (used == 0 || used > input.size()) broken("a frame of impossible length");
      check_frame(input.first(used));
      substitute(&request);
      now_ms_ += kStepMs;
      engine_.engine().expire_due(engine_.worker(), now_ms_);
      if (request.method != Method::kSubscribe) {  // RpcHandler's, it needs a connection
        out_.clear();
        const ErrorCode code = dispatcher_.handle(request, &session_, now_ms_, &out_);
        check_response(request, code);
      }
      input = input.subspan(used);
    }
  }

 private:
  static DispatchOptions options(bool with_keys) {
    DispatchOptions options;
    if (with_keys) {
      options.api_keys = {{"sell-key", ClientRole::kSell}, {"admin-key", ClientRole::kAdmin}};
    }
    return options;
  }

  // A frame is exactly one msgpack object to msgpack-c's own unpacker too, and the frame less
  // its last byte is an incomplete frame (msgpack is prefix-free).
  static void check_frame(std::span<const uint8_t> frame) {
    size_t offset = 0;
    try {
      msgpack::unpack(reinterpret_cast<const char*>(frame.data()), frame.size(), offset);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "rpc_fuzz: msgpack-c does not unpack a frame: %s\n", error.what());
      std::abort();
    }
    if (offset != frame.size()) broken("msgpack-c reads a frame's object as shorter");
    Request request;
    size_t used = 0;
    const FrameResult result =
        decode_request(frame.first(frame.size() - 1), FrameLimits{}, &request, &used);
    if (result != FrameResult::kNeedMore) broken("a frame's prefix did not need more bytes");
  }

  void substitute(Request* request) const {
    if (request->hold == "$hold") request->hold = last_hold_;
    if (request->ticket == "$ticket") request->ticket = last_ticket_;
  }

  void check_response(const Request& request, ErrorCode code) {
    size_t offset = 0;
    msgpack::object_handle handle;
    try {
      handle = msgpack::unpack(out_.data(), out_.size(), offset);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "rpc_fuzz: response does not unpack: %s\n", error.what());
      std::abort();
    }
    if (offset != out_.size()) broken("bytes after the response");
    const msgpack::object& response = handle.get();
    if (response.type != msgpack::type::ARRAY || response.via.array.size != 4) {
      broken("a response is not an array of 4");
    }
    const msgpack::object* items = response.via.array.ptr;
    if (items[0].type != msgpack::type::POSITIVE_INTEGER || items[0].via.u64 != 1) {
      broken("a response's type is not 1");
    }
    if (items[1].type != msgpack::type::POSITIVE_INTEGER || items[1].via.u64 != request.msgid) {
      broken("a response's msgid differs from the request's");
    }
    const bool error_nil = items[2].type == msgpack::type::NIL;
    const bool result_nil = items[3].type == msgpack::type::NIL;
    if (error_nil == result_nil) broken("not exactly one of error and result is nil");
    if (error_nil != (code == ErrorCode::kOk)) broken("the returned code and the response differ");
    if (code == ErrorCode::kInternal) broken("INTERNAL (a bug, by net/PROTOCOL.md)");
    if (!error_nil) {
      const msgpack::object* number = find(items[2], "code");
      if (number == nullptr || number->type != msgpack::type::POSITIVE_INTEGER ||
          number->via.u64 != static_cast<uint64_t>(code)) {
        broken("the error map's code differs from the returned code");
      }
      return;
    }
    remember_string(find(items[3], "hold"), &last_hold_);
    if (const msgpack::object* tickets = find(items[3], "tickets");
        tickets != nullptr && tickets->type == msgpack::type::ARRAY &&
        tickets->via.array.size > 0) {
      remember_string(find(tickets->via.array.ptr[0], "id"), &last_ticket_);
    }
  }

  FuzzEngine engine_;
  Dispatcher dispatcher_;
  Session session_;
  int64_t now_ms_ = kStartMs;
  ReplyBuffer out_;
  std::string last_hold_;
  std::string last_ticket_;
};

}  // namespace
}  // namespace boxoffice::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace boxoffice::fuzz;
  if (size == 0) return 0;
  run_within_deadline("rpc_fuzz", [&] {
    Connection connection(/*with_keys=*/(data[0] & 1) != 0);
    connection.run({data + 1, size - 1});
  });
  return 0;
}
