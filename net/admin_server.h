// AdminServer: the admin Unix socket (DESIGN.md section 5) on a thread of its own, a libevent
// loop serving the line protocol of net/admin_commands.h to operators (`boxoffice-ctl`,
// `socat`): one command per line, one reply per command ending with an empty line, several
// commands per connection, answered in order.
//
// The socket file is created at start() with mode 0660 (set before listen(), so no client can
// connect while it is wider); a stale socket left by a dead server is replaced, a live one or
// any other kind of file is refused. stop() closes every connection and unlinks the socket if
// it is still ours. Everything is bounded: connections (more are told ERR BUSY and closed),
// line length (a longer line is answered ERR LIMIT_EXCEEDED and the connection closed), unsent
// output per connection (commands wait until the client reads), idle time.
//
// The process must ignore SIGPIPE (boxofficed does): a client may close before its reply is
// written.
//
// Thread safety: start() and stop() from one owner thread. The AdminService is used only by
// the server's thread, which also runs its shutdown() once the reply to `shutdown` is sent.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "net/admin_commands.h"

namespace boxoffice::net {

struct AdminServerOptions {
  std::string path;               // the socket file
  uint32_t mode = 0660;           // owner and group may connect
  uint32_t connections_max = 64;  // at once
  size_t line_bytes_max = kAdminLineBytesMax;
  size_t output_bytes_max = 16u << 20;  // unsent replies per connection before reading pauses
  int idle_timeout_s = 60;              // no command (or no reading by the client) this long
};

class AdminServer {
 public:
  AdminServer(const AdminServerOptions& options, AdminService* service);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Creates the socket and starts the thread; an error message on failure.
  std::string start();
  void stop();  // closes the connections, joins the thread, unlinks the socket
  const std::string& path() const { return options_.path; }

  struct Loop;  // the thread's libevent state (internal)

 private:
  AdminServerOptions options_;
  AdminService* service_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  // The socket file we made: unlinked at stop() only if the path still names it.
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace boxoffice::net
