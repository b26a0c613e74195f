// rpc_load measures requests/s and latency (p50/p99) of a msgpack-rpc server (net/PROTOCOL.md)
// under a closed loop: N connections, each keeping exactly D requests in flight.
//
// Each of --threads T threads owns a share of the connections and one epoll set. A connection
// sends D requests when the run starts and one more for each response, so the offered load
// adapts to the server (and to this client: it shares the machine with the server, so its own
// CPU time is reported too). Responses are parsed with msgpack-c's visitor API straight from the
// receive buffer (no object tree; msgpack::parse allocates only its small container stack, once
// per message, as it does in the server's decoder) and matched by msgid, not by order: the msgid
// names the slot (one of D per connection) and a generation, so a response the connection did
// not ask for, or asked for long ago, is caught. Responses that arrive during --warmup are not
// counted; the window is [warmup, warmup + duration). Latency runs from queueing a request to
// reading its response and goes into a log-linear histogram (64 sub-buckets per power of two,
// under 1.6% error).
//
// Methods: `ping` sends {}; `hold` sends {"event": ID, "seats": [i], "ttl_ms": 600000}; `buy`
// sends {"event": ID, "seats": [i], "buyer": "rpc_load"} (hold and confirm in one step: a sale).
// The seat i is uniform in [0, --seats), or with --seat-order sequential the next one of
// 0, 1, 2, ... (mod --seats) shared by all threads, so buys of a fresh event never conflict.
// SEAT_TAKEN answers are completed requests, counted as conflicts; any other error answer counts
// as an error. --requests N stops after N requests (all threads together) have been answered,
// or at the end of the window, whichever comes first; requests_per_s is then taken over the time
// they took. Output: one summary line on stdout and, with --json FILE, {"method",
// "connections", "pipeline", "requests_per_s", "ok", "conflicts", "errors", "p50_us", "p99_us",
// "elapsed_s", ...}. Exit status 1 when a connection was lost, a response could not be matched
// or framed, or nothing completed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kSeatTakenCode = 4;              // net/PROTOCOL.md, "Errors"
constexpr uint32_t kTtlMs = 600'000;               // hold TTL: longer than any run
constexpr uint32_t kPipelineMax = 1u << 16;        // the msgid's low 16 bits name the slot
constexpr size_t kRequestBytesMax = 192;           // [0, id, "hold", {event(<=64), seats, ttl}]
constexpr size_t kReadBytes = 64 << 10;            // one read() per readable connection per turn
constexpr size_t kInputBytesMax = 4 * kReadBytes;  // a response larger than this is an error
constexpr int kErrorCodesMax = 16;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Log-linear latency histogram in nanoseconds: values below 128 exactly, then 64 buckets per
// power of two.
class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void record(int64_t value_ns) {
    const uint64_t v = value_ns < 0 ? 0 : static_cast<uint64_t>(value_ns);
    ++counts_[index(v)];
    ++total_;
  }
  void merge(const Histogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
  }
  // The value at quantile q (0..1): the middle of the bucket holding the ceil(q * total)-th value.
  double quantile_ns(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * total_ + 0.999999));
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return midpoint(i);
    }
    return midpoint(kBuckets - 1);
  }

 private:
  static int index(uint64_t v) {
    if (v < 2 * kSub) return static_cast<int>(v);
    const int shift = (63 - std::countl_zero(v)) - kSubBits;  // >= 1
    return (shift + 1) * kSub + static_cast<int>((v >> shift) - kSub);
  }
  static double midpoint(int i) {
    if (i < 2 * kSub) return i;
    const int shift = i / kSub - 1;
    const uint64_t low = static_cast<uint64_t>(i % kSub + kSub) << shift;
    return static_cast<double>(low) + static_cast<double>(uint64_t{1} << shift) / 2;
  }
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

// splitmix64: fast, and good enough to spread seats uniformly.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) (Lemire's multiply-shift; the bias is below 2^-32 for bound < 2^32).
  uint32_t below(uint32_t bound) {
    return static_cast<uint32_t>(((next() >> 32) * static_cast<uint64_t>(bound)) >> 32);
  }

 private:
  uint64_t state_;
};

// What a visit of one response found. The visitor walks every byte of the message (so the whole
// response is checked to be well-formed MessagePack) and keeps only these fields.
struct Response {
  uint32_t array_size = 0;
  int top_index = -1;  // index of the current element of the top array
  uint64_t type = ~0ull;
  uint64_t msgid = ~0ull;
  bool msgid_set = false;
  bool error_nil = false;
  bool error_map = false;
  int64_t error_code = -1;
};

class ResponseVisitor : public msgpack::null_visitor {
 public:
  explicit ResponseVisitor(Response* r) : r_(r) {}

  bool start_array(uint32_t num_elements) {
    if (depth_ == 0) r_->array_size = num_elements;
    ++depth_;
    return true;
  }
  bool start_array_item() {
    if (depth_ == 1) ++r_->top_index;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t) {
    if (depth_ == 1 && r_->top_index == 2) r_->error_map = true;
    ++depth_;
    return true;
  }
  bool start_map_key() {
    in_error_key_ = in_error_map();
    return true;
  }
  bool end_map_key() {
    in_error_key_ = false;
    return true;
  }
  bool end_map_value() {
    if (in_error_map()) code_value_next_ = false;
    return true;
  }
  bool end_map() {
    --depth_;
    return true;
  }
  bool visit_str(const char* v, uint32_t size) {
    if (in_error_key_) code_value_next_ = std::string_view(v, size) == "code";
    return true;
  }
  bool visit_nil() {
    if (depth_ == 1 && r_->top_index == 2) r_->error_nil = true;
    return true;
  }
  bool visit_positive_integer(uint64_t v) {
    if (depth_ == 1 && r_->top_index == 0) r_->type = v;
    if (depth_ == 1 && r_->top_index == 1) {
      r_->msgid = v;
      r_->msgid_set = true;
    }
    if (in_error_map() && code_value_next_) r_->error_code = static_cast<int64_t>(v);
    return true;
  }
  void parse_error(size_t, size_t) { failed_ = true; }
  void insufficient_bytes(size_t, size_t) {}
  bool failed() const { return failed_; }

 private:
  bool in_error_map() const { return depth_ == 2 && r_->top_index == 2 && r_->error_map; }

  Response* r_;
  int depth_ = 0;
  bool in_error_key_ = false;
  bool code_value_next_ = false;
  bool failed_ = false;
};

// A fixed buffer msgpack::packer writes requests into; sized for every request a connection may
// have queued (at most D), so it never grows.
class OutBuffer {
 public:
  explicit OutBuffer(size_t capacity) : data_(capacity) {}
  void write(const char* bytes, size_t size) {
    if (size > data_.size() - end_) {
      std::fprintf(stderr, "rpc_load: output buffer overflow (bug)\n");
      std::abort();
    }
    std::memcpy(data_.data() + end_, bytes, size);
    end_ += size;
  }
  const char* pending() const { return data_.data() + begin_; }
  size_t pending_bytes() const { return end_ - begin_; }
  void consume(size_t size) {
    begin_ += size;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Moves pending bytes to the front so a full D requests always fit after them.
  void compact() {
    if (begin_ == 0) return;
    std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

struct Options {
  std::string addr = "127.0.0.1:7700";
  uint32_t connections = 50;
  uint32_t pipeline = 1;
  uint32_t threads = 1;
  double duration_s = 5;
  double warmup_s = 1;
  std::string method = "ping";
  std::string event;
  uint32_t seats = 0;
  std::string seat_order = "random";
  uint64_t requests_max = 0;  // 0: no limit, the window alone ends the run
  std::string json_path;
};

// Shared by the worker threads: how many requests were queued, which also names the next seat
// of --seat-order sequential.
struct SharedCounters {
  std::atomic<uint64_t> requests_queued{0};
};

struct Counts {
  uint64_t ok = 0;
  uint64_t conflicts = 0;
  uint64_t errors = 0;
  std::array<uint64_t, kErrorCodesMax> errors_by_code{};  // index 0: code out of range
  uint64_t protocol_errors = 0;   // unmatched msgid, not a response, bad MessagePack
  uint64_t connections_lost = 0;  // closed by the server or reset
  Histogram latency;

  void merge(const Counts& o) {
    ok += o.ok;
    conflicts += o.conflicts;
    errors += o.errors;
    for (int i = 0; i < kErrorCodesMax; ++i) errors_by_code[i] += o.errors_by_code[i];
    protocol_errors += o.protocol_errors;
    connections_lost += o.connections_lost;
    latency.merge(o.latency);
  }
};

struct Slot {
  uint32_t generation = 0;
  bool in_flight = false;
  int64_t sent_ns = 0;
};

struct Connection {
  int fd = -1;
  bool open = true;
  bool want_write = false;  // EPOLLOUT registered
  std::vector<char> input = std::vector<char>(kInputBytesMax);
  size_t input_bytes = 0;
  OutBuffer output;
  std::vector<Slot> slots;
  explicit Connection(uint32_t pipeline)
      : output(static_cast<size_t>(pipeline) * 2 * kRequestBytesMax), slots(pipeline) {}
};

// One thread's share of the connections, driven by its own epoll set.
class Worker {
 public:
  Worker(const Options& options, SharedCounters* shared, std::vector<int> fds, uint64_t seed)
      : options_(options),
        shared_(shared),
        random_(seed),
        hold_(options.method == "hold"),
        buy_(options.method == "buy"),
        sequential_(options.seat_order == "sequential") {
    for (int fd : fds) {
      connections_.emplace_back(options.pipeline);
      connections_.back().fd = fd;
    }
  }

  void run(int64_t start_ns, int64_t window_begin_ns, int64_t window_end_ns) {
    window_begin_ns_ = window_begin_ns;
    window_end_ns_ = window_end_ns;
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < connections_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connections_[i].fd, &ev);
    }
    for (size_t i = 0; i < connections_.size(); ++i) {
      Connection& c = connections_[i];
      for (uint32_t slot = 0; slot < options_.pipeline; ++slot) queue_request(c, slot, start_ns);
      flush(i);
    }
    std::vector<epoll_event> events(256);
    size_t open = connections_.size();
    while (open > 0) {
      const int64_t now = now_ns();
      if (now >= window_end_ns_) break;
      if (requests_exhausted_ && in_flight_ == 0) break;  // --requests reached
      const int timeout_ms =
          static_cast<int>(std::min<int64_t>(100, (window_end_ns_ - now) / 1'000'000 + 1));
      const int n =
          epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0 && errno != EINTR) {
        std::perror("rpc_load: epoll_wait");
        break;
      }
      for (int e = 0; e < n; ++e) {
        const size_t i = events[e].data.u64;
        Connection& c = connections_[i];
        if (!c.open) continue;
        if (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive(i);
        if (c.open) flush(i);
        if (!c.open) {
          close_connection(c);
          --open;
        }
      }
    }
    for (Connection& c : connections_) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
    ::close(epoll_fd_);
  }

  const Counts& counts() const { return counts_; }
  int64_t last_response_ns() const { return last_response_ns_; }

 private:
  void close_connection(Connection& c) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }

  // The seat of the next hold or buy; `queued` counts the requests queued before it.
  uint32_t next_seat(uint64_t queued) {
    if (sequential_) return static_cast<uint32_t>(queued % options_.seats);
    return hold_ || buy_ ? random_.below(options_.seats) : 0;
  }

  void queue_request(Connection& c, uint32_t slot_index, int64_t now) {
    // The shared counter only when it is needed: it is a cache line the threads fight over.
    uint64_t queued = 0;
    if (options_.requests_max > 0 || sequential_) {
      queued = shared_->requests_queued.fetch_add(1, std::memory_order_relaxed);
      if (options_.requests_max > 0 && queued >= options_.requests_max) {
        requests_exhausted_ = true;
        return;
      }
    }
    ++in_flight_;
    Slot& slot = c.slots[slot_index];
    slot.generation = (slot.generation + 1) & 0xffff;
    if (slot.generation == 0) slot.generation = 1;  // msgid 0 is what unreadable requests get
    slot.in_flight = true;
    slot.sent_ns = now;
    const uint32_t msgid = (slot.generation << 16) | slot_index;
    msgpack::packer<OutBuffer> pk(c.output);
    pk.pack_array(4);
    pk.pack_uint8(0);
    pk.pack_uint32(msgid);
    const uint32_t seat = next_seat(queued);
    if (hold_) {
      pk.pack("hold");
      pk.pack_map(3);
      pk.pack("event");
      pk.pack(options_.event);
      pk.pack("seats");
      pk.pack_array(1);
      pk.pack_uint32(seat);
      pk.pack("ttl_ms");
      pk.pack_uint32(kTtlMs);
    } else if (buy_) {
      pk.pack("buy");
      pk.pack_map(3);
      pk.pack("event");
      pk.pack(options_.event);
      pk.pack("seats");
      pk.pack_array(1);
      pk.pack_uint32(seat);
      pk.pack("buyer");
      pk.pack("rpc_load");
    } else {
      pk.pack("ping");
      pk.pack_map(0);
    }
  }

  void receive(size_t i) {
    Connection& c = connections_[i];
    const size_t room = std::min(kReadBytes, c.input.size() - c.input_bytes);
    const ssize_t got = ::read(c.fd, c.input.data() + c.input_bytes, room);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
      if (now_ns() < window_end_ns_) {
        if (counts_.connections_lost < 3) {
          std::fprintf(stderr, "rpc_load: connection %zu %s\n", i,
                       got == 0 ? "closed by the server" : std::strerror(errno));
        }
        ++counts_.connections_lost;
      }
      c.open = false;
      return;
    }
    if (got < 0) return;
    c.input_bytes += static_cast<size_t>(got);
    const int64_t now = now_ns();
    size_t offset = 0;
    while (offset < c.input_bytes) {
      Response r;
      ResponseVisitor visitor(&r);
      size_t next = offset;
      const bool complete = msgpack::parse(c.input.data(), c.input_bytes, next, visitor);
      if (!complete) {
        if (visitor.failed()) {
          std::fprintf(stderr, "rpc_load: connection %zu: bytes that are not MessagePack\n", i);
          ++counts_.protocol_errors;
          c.open = false;
          return;
        }
        break;  // a partial response: keep it for the next read (re-parsed from its start)
      }
      offset = next;
      if (!on_response(c, r, now)) {
        c.open = false;
        return;
      }
    }
    std::memmove(c.input.data(), c.input.data() + offset, c.input_bytes - offset);
    c.input_bytes -= offset;
    if (c.input_bytes == c.input.size()) {
      std::fprintf(stderr, "rpc_load: connection %zu: response over %zu bytes\n", i,
                   c.input.size());
      ++counts_.protocol_errors;
      c.open = false;
    }
  }

  // Accounts for one response and sends the next request in its slot. False: the connection
  // can no longer be trusted.
  bool on_response(Connection& c, const Response& r, int64_t now) {
    const bool shaped = r.array_size == 4 && r.type == 1 && r.msgid_set && r.msgid <= 0xffffffff &&
                        (r.error_nil || r.error_map);
    const uint32_t slot_index = static_cast<uint32_t>(r.msgid & 0xffff);
    const uint32_t generation = static_cast<uint32_t>(r.msgid >> 16);
    if (!shaped || slot_index >= c.slots.size() || !c.slots[slot_index].in_flight ||
        c.slots[slot_index].generation != generation) {
      std::fprintf(stderr, "rpc_load: a response that matches no request (msgid %llu)\n",
                   static_cast<unsigned long long>(r.msgid));
      ++counts_.protocol_errors;
      return false;
    }
    Slot& slot = c.slots[slot_index];
    slot.in_flight = false;
    --in_flight_;
    if (now >= window_begin_ns_ && now < window_end_ns_) {
      last_response_ns_ = now;
      if (r.error_nil) {
        ++counts_.ok;
      } else if (r.error_code == kSeatTakenCode) {
        ++counts_.conflicts;
      } else {
        ++counts_.errors;
        const int64_t code = r.error_code;
        ++counts_.errors_by_code[code > 0 && code < kErrorCodesMax ? code : 0];
      }
      counts_.latency.record(now - slot.sent_ns);
    }
    if (now < window_end_ns_) queue_request(c, slot_index, now);
    return true;
  }

  void flush(size_t i) {
    Connection& c = connections_[i];
    while (c.output.pending_bytes() > 0) {
      const ssize_t put = ::write(c.fd, c.output.pending(), c.output.pending_bytes());
      if (put < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        if (now_ns() < window_end_ns_) {
          std::fprintf(stderr, "rpc_load: connection %zu: write: %s\n", i, std::strerror(errno));
          ++counts_.connections_lost;
        }
        c.open = false;
        return;
      }
      c.output.consume(static_cast<size_t>(put));
    }
    c.output.compact();
    const bool want_write = c.output.pending_bytes() > 0;
    if (want_write != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
      ev.data.u64 = i;
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want_write;
    }
  }

  const Options& options_;
  SharedCounters* shared_;
  Random random_;
  const bool hold_;
  const bool buy_;
  const bool sequential_;
  uint64_t in_flight_ = 0;
  bool requests_exhausted_ = false;
  int64_t last_response_ns_ = 0;
  std::vector<Connection> connections_;
  int epoll_fd_ = -1;
  int64_t window_begin_ns_ = 0;
  int64_t window_end_ns_ = 0;
  Counts counts_;
};

int connect_to(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "rpc_load: %s:%s: %s\n", host.c_str(), port.c_str(), gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    std::fprintf(stderr, "rpc_load: connect %s:%s: %s\n", host.c_str(), port.c_str(),
                 std::strerror(errno));
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

const char* error_name(int code) {
  static constexpr const char* kNames[] = {
      "OTHER",          "BAD_REQUEST",  "UNAUTHORIZED",   "NOT_FOUND", "SEAT_TAKEN", "HOLD_EXPIRED",
      "HOLD_NOT_FOUND", "EVENT_CLOSED", "LIMIT_EXCEEDED", "BUSY",      "INTERNAL"};
  return code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "OTHER";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"rpc_load: closed-loop msgpack-rpc load (requests/s, p50/p99 latency)"};
  app.add_option("--addr", options.addr, "server HOST:PORT")->capture_default_str();
  app.add_option("--connections", options.connections, "connections")
      ->check(CLI::Range(1u, 100'000u))
      ->capture_default_str();
  app.add_option("--pipeline", options.pipeline, "requests in flight per connection")
      ->check(CLI::Range(1u, kPipelineMax))
      ->capture_default_str();
  app.add_option("--threads", options.threads, "client threads")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--duration", options.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_s, "seconds run before measuring (excluded)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--method", options.method, "request to send")
      ->check(CLI::IsMember({"ping", "hold", "buy"}))
      ->capture_default_str();
  app.add_option("--event", options.event, "hold, buy: event id");
  app.add_option("--seats", options.seats, "hold, buy: seat index drawn in [0, N)");
  app.add_option("--seat-order", options.seat_order,
                 "hold, buy: seats drawn uniformly, or 0, 1, 2, ... across all threads")
      ->check(CLI::IsMember({"random", "sequential"}))
      ->capture_default_str();
  app.add_option("--requests", options.requests_max,
                 "stop after this many requests are answered (0: run the whole window)")
      ->capture_default_str();
  app.add_option("--json", options.json_path, "also write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);
  if ((options.method == "hold" || options.method == "buy") &&
      (options.event.empty() || options.event.size() > 64 || options.seats == 0)) {
    std::fprintf(stderr, "rpc_load: --method %s needs --event ID (1-64 chars) and --seats N\n",
                 options.method.c_str());
    return 2;
  }
  if (options.requests_max > 0 && options.warmup_s > 0) {
    std::fprintf(stderr, "rpc_load: --requests counts every answer: give --warmup 0 with it\n");
    return 2;
  }
  const size_t colon = options.addr.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "rpc_load: --addr must be HOST:PORT\n");
    return 2;
  }
  std::string host = options.addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = options.addr.substr(colon + 1);
  options.threads = std::min(options.threads, options.connections);

  std::vector<std::vector<int>> fds(options.threads);
  for (uint32_t i = 0; i < options.connections; ++i) {
    const int fd = connect_to(host, port);
    if (fd < 0) return 1;
    fds[i % options.threads].push_back(fd);
  }
  std::vector<std::unique_ptr<Worker>> workers;
  SharedCounters shared;
  const uint64_t seed = static_cast<uint64_t>(now_ns());
  for (uint32_t t = 0; t < options.threads; ++t) {
    workers.push_back(
        std::make_unique<Worker>(options, &shared, std::move(fds[t]), seed + 7919 * t));
  }

  const double cpu_before_s = cpu_seconds();
  const int64_t start_ns = now_ns();
  const int64_t window_begin_ns = start_ns + static_cast<int64_t>(options.warmup_s * 1e9);
  const int64_t window_end_ns = window_begin_ns + static_cast<int64_t>(options.duration_s * 1e9);
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back(
        [&, worker = w.get()] { worker->run(start_ns, window_begin_ns, window_end_ns); });
  }
  for (auto& t : threads) t.join();
  const int64_t stop_ns = now_ns();
  const double cpu_used_s = cpu_seconds() - cpu_before_s;

  Counts total;
  int64_t last_response_ns = window_begin_ns;
  for (auto& w : workers) {
    total.merge(w->counts());
    last_response_ns = std::max(last_response_ns, w->last_response_ns());
  }
  const uint64_t completed = total.ok + total.conflicts + total.errors;
  // The window, or with --requests the part of it until the last answer.
  const double elapsed_s = options.requests_max > 0 && completed >= options.requests_max
                               ? static_cast<double>(last_response_ns - window_begin_ns) / 1e9
                               : options.duration_s;
  const double requests_per_s = elapsed_s > 0 ? static_cast<double>(completed) / elapsed_s : 0;
  const double p50_us = total.latency.quantile_ns(0.50) / 1e3;
  const double p99_us = total.latency.quantile_ns(0.99) / 1e3;
  // The client's CPU use over the whole run (warm-up included), in cores.
  const double client_cpu = cpu_used_s / (static_cast<double>(stop_ns - start_ns) / 1e9);

  std::string error_detail;
  std::string error_json;
  for (int code = 0; code < kErrorCodesMax; ++code) {
    if (total.errors_by_code[code] == 0) continue;
    const std::string count = std::to_string(total.errors_by_code[code]);
    error_detail +=
        std::string(error_detail.empty() ? " (" : ", ") + error_name(code) + " " + count;
    error_json +=
        std::string(error_json.empty() ? "" : ", ") + "\"" + error_name(code) + "\": " + count;
  }
  if (!error_detail.empty()) error_detail += ")";
  std::printf(
      "rpc_load %s: %u connections x pipeline %u, %u thread(s), %.2f s: %.0f requests/s, "
      "ok %llu, conflicts %llu, errors %llu%s, p50 %.1f us, p99 %.1f us, client CPU %.2f "
      "cores\n",
      options.method.c_str(), options.connections, options.pipeline, options.threads, elapsed_s,
      requests_per_s, static_cast<unsigned long long>(total.ok),
      static_cast<unsigned long long>(total.conflicts),
      static_cast<unsigned long long>(total.errors), error_detail.c_str(), p50_us, p99_us,
      client_cpu);
  if (total.protocol_errors > 0 || total.connections_lost > 0) {
    std::fprintf(stderr, "rpc_load: %llu unmatched or malformed responses, %llu connections lost\n",
                 static_cast<unsigned long long>(total.protocol_errors),
                 static_cast<unsigned long long>(total.connections_lost));
  }

  if (!options.json_path.empty()) {
    FILE* f = std::fopen(options.json_path.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "rpc_load: %s: %s\n", options.json_path.c_str(), std::strerror(errno));
      return 1;
    }
    std::fprintf(f,
                 "{\"method\": \"%s\", \"connections\": %u, \"pipeline\": %u, \"threads\": %u, "
                 "\"duration_s\": %g, \"requests_per_s\": %.1f, \"ok\": %llu, \"conflicts\": %llu, "
                 "\"errors\": %llu, \"errors_by_name\": {%s}, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                 "\"client_cpu_cores\": %.3f, \"protocol_errors\": %llu, "
                 "\"connections_lost\": %llu, \"elapsed_s\": %.3f}\n",
                 json_escape(options.method).c_str(), options.connections, options.pipeline,
                 options.threads, options.duration_s, requests_per_s,
                 static_cast<unsigned long long>(total.ok),
                 static_cast<unsigned long long>(total.conflicts),
                 static_cast<unsigned long long>(total.errors), error_json.c_str(), p50_us, p99_us,
                 client_cpu, static_cast<unsigned long long>(total.protocol_errors),
                 static_cast<unsigned long long>(total.connections_lost), elapsed_s);
    std::fclose(f);
  }
  return total.protocol_errors > 0 || total.connections_lost > 0 || completed == 0 ? 1 : 0;
}
