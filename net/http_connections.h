// HttpConnections: one HTTP thread's open connections, so that their number is capped and each
// must deliver every whole request within a deadline. evhttp (libevent 2.1) has neither: its
// timeout is per read or write, so a client that trickles a request a byte at a time holds a
// connection (and its buffers) forever, and it accepts every connection it is offered.
//
// evhttp asks open() for each new connection's bufferevent (evhttp_set_bevcb). The table keeps a
// reference on each, so it can tell when evhttp has freed the connection (bufferevent_free()
// clears its callbacks; the socket is closed then) and sweep() drops the last reference.
// The server tells the table when a connection's request was read (its clock stops while the
// server works and while its reply waits for the journal) and when the reply was handed over
// (the clock starts again for the next request, which keep-alive idling counts towards).
//
// What sweep() closes, by shutting the socket down (evhttp then sees the end of the stream and
// frees the connection itself):
//   - a connection whose whole request has not arrived request_timeout_ms after its accept or
//     its last reply (a slow or trickling sender, an idle keep-alive connection);
//   - a connection over connections_max (counted with those evhttp freed since the last scan,
//     every kScanIntervalMs, so the cap is reached a little early while connections churn)
//     that has not sent a request, after writing it a canned 503 with Retry-After (one whose
//     request arrived first is answered 503 by the server, told so by request_read()).
// The server calls sweep() every tick (10 ms). Every kScanIntervalMs it walks the table and
// lists the connections past their deadline; each call shuts down at most kShutDownsPerSweepMax
// of them. A cohort of thousands timing out together (idle clients opened in one burst, and
// opened again as soon as they are cut) is thus closed in small slices between the live
// connections' requests instead of in long stretches of close work that they wait behind.
//
// Trickled requests are read on the table's schedule. A request still not whole
// kTrickleGraceMs after its first bytes were seen (by a scan) has its connection's reading
// turned off (bufferevent_disable: evhttp's own reads wait; the kernel keeps the bytes) for
// kTrickleReadIntervalMs; then sweep() turns reading on again, at most kReadsResumedPerSweepMax
// connections a call, and the next scan turns it off again if the request is still not whole.
// Thousands of slowloris clients sending a byte each in step thus cost the HTTP thread a few
// reads per tick, spread out, instead of one wake-up per byte all at once; a legitimate request
// is whole within milliseconds of its first byte and is never paced. A paced connection still
// meets its deadline: shutting it down turns reading on, so evhttp sees the end of the stream.
//
// Thread safety: one table per HTTP thread, used only by that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

struct bufferevent;
struct evbuffer;
struct evbuffer_cb_info;
struct event_base;

namespace boxoffice::net {

class HttpConnections {
 public:
  HttpConnections(event_base* base, uint32_t connections_max, int64_t request_timeout_ms);
  ~HttpConnections();  // drops every reference it holds
  HttpConnections(const HttpConnections&) = delete;
  HttpConnections& operator=(const HttpConnections&) = delete;

  // A new connection's bufferevent (socket not set yet: evhttp sets it), or nullptr when none
  // can be made.
  bufferevent* open(int64_t now_ms);
  // A whole request arrived on `socket`: its deadline stops until reply_given(). Returns whether
  // `socket` was accepted while connections_max were open (answer it 503 and close).
  bool request_read(bufferevent* socket);
  // The reply to its request was handed to evhttp: the deadline for its next request starts.
  void reply_given(bufferevent* socket, int64_t now_ms);
  // Forgets connections evhttp freed, refuses those over the cap that sent no request and
  // lists those past their deadline (every kScanIntervalMs); shuts down at most
  // kShutDownsPerSweepMax of the listed. Returns how many connections evhttp freed.
  size_t sweep(int64_t now_ms);

  uint64_t refused() const { return refused_; }              // over connections_max: told 503
  size_t open_count() const { return connections_.size(); }  // with those freed since the scan

  uint64_t paced() const { return paced_; }  // times a trickled request's reading was paced

  static constexpr int64_t kScanIntervalMs = 100;
  static constexpr size_t kShutDownsPerSweepMax = 16;
  static constexpr int64_t kTrickleGraceMs = 1000;
  static constexpr int64_t kTrickleReadIntervalMs = 500;
  static constexpr size_t kReadsResumedPerSweepMax = 16;

 private:
  enum class State : uint8_t {
    kWaiting,    // for a whole request, since since_ms
    kInRequest,  // read, not yet replied to: no deadline
    kRefused,    // over the cap, told 503 at since_ms; cut after a grace if still open
    kShut,       // shut down; evhttp frees it on its next read
  };
  static constexpr int64_t kNever = INT64_MAX;
  struct Connection {
    int64_t since_ms = 0;
    // Pacing a trickled request (kWaiting only): when a scan first saw its bytes, and until when
    // its reading is off.
    int64_t request_seen_ms = kNever;
    int64_t paused_until_ms = kNever;
    State state = State::kWaiting;
    bool over_cap = false;
    bool bytes_arrived = false;  // since the last reply (set by the input buffer's callback)
  };
  static void on_input(evbuffer* input, const evbuffer_cb_info* info, void* connection);
  static void shut_down(bufferevent* socket, Connection& connection);
  static void resume_reading(bufferevent* socket, Connection& connection);
  bool past_deadline(const Connection& connection, int64_t now_ms) const;
  void pace(bufferevent* socket, Connection& connection, int64_t now_ms);
  size_t scan(int64_t now_ms);

  event_base* base_;
  const uint32_t connections_max_;
  const int64_t request_timeout_ms_;
  std::unordered_map<bufferevent*, Connection> connections_;
  // Past their deadline at the last scan, to shut down, and paused ones whose reading is due
  // again (the table's reference keeps each valid: entries are erased only by the scan, which
  // makes the lists anew).
  std::vector<bufferevent*> due_;
  std::vector<bufferevent*> resume_due_;
  int64_t scanned_at_ms_ = INT64_MIN / 2;
  uint64_t refused_ = 0;
  uint64_t paced_ = 0;
};

}  // namespace boxoffice::net
