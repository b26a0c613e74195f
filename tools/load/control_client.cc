#include "tools/load/control_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <msgpack.hpp>

#include "tools/load/http_codec.h"

namespace boxoffice::load {
namespace {

constexpr int kTimeoutS = 10;

std::string http_request(const char* method, const std::string& path, const std::string& body) {
  return std::string(method) + " " + path +
         " HTTP/1.1\r\nHost: boxoffice\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int connect_tcp(const std::string& addr, bool non_blocking, std::string* error) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    *error = addr + ": not HOST:PORT";
    return -1;
  }
  std::string host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = addr.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = addr + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  int connect_errno = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      connect_errno = errno;
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    *error = "connect " + addr + ": " + std::strerror(connect_errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (non_blocking) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  } else {
    const timeval timeout{kTimeoutS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  return fd;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool ControlClient::connect(std::string* error) {
  fd_ = connect_tcp(addr_, false, error);
  return fd_ >= 0;
}

std::string ControlClient::encode(const std::string& method, const nlohmann::json& params,
                                  uint32_t msgid) {
  if (target_ == TargetKind::kBoxoffice) {
    const std::vector<uint8_t> bytes =
        nlohmann::json::to_msgpack(nlohmann::json::array({0, msgid, method, params}));
    return std::string(bytes.begin(), bytes.end());
  }
  const std::string event = params.value("event", "");
  if (method == "event.create") return http_request("POST", "/v1/events", params.dump());
  if (method == "event.stats") return http_request("GET", "/v1/events/" + event + "/stats", "");
  if (method == "ticket.get") {
    return http_request("GET", "/v1/tickets/" + params.value("ticket", ""), "");
  }
  BOXOFFICE_ASSERT(false && "a method ControlClient has no HTTP route for");
  return {};
}

bool ControlClient::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t put = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    done += static_cast<size_t>(put);
  }
  return true;
}

bool ControlClient::read_answer(ControlReply* reply, uint32_t* msgid) {
  for (;;) {
    if (target_ == TargetKind::kBoxoffice && !input_.empty()) {
      size_t offset = 0;
      msgpack::null_visitor visitor;
      if (msgpack::parse(input_.data(), input_.size(), offset, visitor)) {
        const nlohmann::json message = nlohmann::json::from_msgpack(
            input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(offset), true, false);
        input_.erase(0, offset);
        if (!message.is_array() || message.size() != 4 || message[0] != 1) return false;
        *msgid = message[1].get<uint32_t>();
        reply->transport_ok = true;
        reply->error = message[2];
        reply->result = message[3];
        return true;
      }
    }
    if (target_ == TargetKind::kHttp && !input_.empty()) {
      HttpCodec::Response response;
      const ParseStatus status = HttpCodec::parse_response(input_, &response);
      if (status == ParseStatus::kBroken) return false;
      if (status == ParseStatus::kReply) {
        nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
        reply->transport_ok = !body.is_discarded();
        if (response.status_code >= 200 && response.status_code < 300) {
          reply->result = std::move(body);
        } else {
          reply->error = body.is_object() && body.contains("error") ? body["error"] : body;
          if (reply->error.is_null()) reply->error = response.status_code;
        }
        input_.erase(0, response.length_bytes);
        *msgid = 0;
        return reply->transport_ok;
      }
    }
    char buffer[64 << 10];
    const ssize_t got = ::read(fd_, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    input_.append(buffer, static_cast<size_t>(got));
  }
}

ControlReply ControlClient::call(const std::string& method, const nlohmann::json& params) {
  return call_many(method, {params}).front();
}

std::vector<ControlReply> ControlClient::call_many(const std::string& method,
                                                   const std::vector<nlohmann::json>& params) {
  std::vector<ControlReply> replies(params.size());
  if (fd_ < 0) return replies;
  const uint32_t first_msgid = next_msgid_;
  std::string bytes;
  for (const nlohmann::json& p : params) bytes += encode(method, p, next_msgid_++);
  if (!write_all(bytes)) return replies;
  for (size_t i = 0; i < params.size(); ++i) {
    ControlReply reply;
    uint32_t msgid = 0;
    if (!read_answer(&reply, &msgid)) break;
    // msgpack-rpc: by msgid; HTTP: in order.
    const size_t at = target_ == TargetKind::kBoxoffice ? msgid - first_msgid : i;
    if (at >= replies.size()) break;
    replies[at] = std::move(reply);
  }
  return replies;
}

}  // namespace boxoffice::load
