// ControlClient: one blocking connection for boxoffice-load's own requests outside the measured
// load: creating the event, reading event.stats once a second (the on-sale's end), and the
// --verify pass (ticket.get for every ticket). Speaks msgpack-rpc (--target boxoffice) or the
// /v1 HTTP routes (--target http) and returns results as nlohmann::json, so the verify code is
// the same for both. Every call has a timeout (a socket timeout on each read and write).
//
// call() sends one request and waits for its answer; call_many() pipelines a batch (answers in
// order for HTTP; matched by msgid for msgpack-rpc).
//
// Thread safety: none; used by the main thread only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/load/codec.h"

namespace boxoffice::load {

struct ControlReply {
  bool transport_ok = false;  // false: no answer (connection lost, timeout, unparseable)
  nlohmann::json error;       // null when the call succeeded
  nlohmann::json result;
};

class ControlClient {
 public:
  ControlClient(TargetKind target, std::string addr) : target_(target), addr_(std::move(addr)) {}
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  bool connect(std::string* error);
  // method: a net/PROTOCOL.md method name (event.create, event.stats, ticket.get).
  ControlReply call(const std::string& method, const nlohmann::json& params);
  std::vector<ControlReply> call_many(const std::string& method,
                                      const std::vector<nlohmann::json>& params);

 private:
  std::string encode(const std::string& method, const nlohmann::json& params, uint32_t msgid);
  bool write_all(const std::string& bytes);
  // Reads until one answer is complete; false on a lost connection or bad bytes.
  bool read_answer(ControlReply* reply, uint32_t* msgid);

  TargetKind target_;
  std::string addr_;
  int fd_ = -1;
  std::string input_;
  uint32_t next_msgid_ = 1;
};

// A connected, non-blocking, TCP_NODELAY socket to HOST:PORT; -1 and *error on failure.
int connect_tcp(const std::string& addr, bool non_blocking, std::string* error);

}  // namespace boxoffice::load
