#include "net/admin_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "net/reactor_support.h"
#include "shm/check.h"

namespace boxoffice::net {

namespace {

struct Connection {
  AdminServer::Loop* loop = nullptr;
  bufferevent* events = nullptr;
  bool closing = false;           // a last reply is queued: close once it is sent
  bool peer_done = false;         // the client shut down its side: answer what came, then close
  bool shutdown_pending = false;  // `shutdown` answered: run it once the reply is sent
};

void on_read(bufferevent* events, void* arg);
void on_write(bufferevent* events, void* arg);
void on_event(bufferevent* events, short what, void* arg);

}  // namespace

struct AdminServer::Loop {
  AdminServerOptions options;
  AdminService* service = nullptr;
  event_base* base = nullptr;
  evconnlistener* listener = nullptr;
  // Made active by stop(); its callback breaks the loop from inside. (A loopbreak from stop()
  // itself is lost when the thread has not entered the loop yet: the loop clears the flag as it
  // starts, and nothing wakes it. An active event is run whenever the loop starts.)
  event* stop = nullptr;
  std::unordered_set<Connection*> connections;

  ~Loop() {
    for (Connection* connection : connections) {
      bufferevent_free(connection->events);
      delete connection;
    }
    if (stop != nullptr) event_free(stop);
    if (listener != nullptr) evconnlistener_free(listener);  // closes the listening socket
    if (base != nullptr) event_base_free(base);
  }

  void close(Connection* connection) {
    BOXOFFICE_ASSERT(connections.erase(connection) == 1);
    // `shutdown` was answered, and the client left before the reply went out: still done.
    if (connection->shutdown_pending) service->shutdown();
    bufferevent_free(connection->events);
    delete connection;
  }

  void send(Connection* connection, std::string_view body) {
    BOXOFFICE_ASSERT(!body.empty());
    evbuffer* output = bufferevent_get_output(connection->events);
    evbuffer_add(output, body.data(), body.size());
    evbuffer_add(output, "\n\n", 2);  // the last line, then the empty line that ends a reply
  }

  // Answers the complete lines received, in order, while the client keeps reading.
  void process(Connection* connection) {
    evbuffer* input = bufferevent_get_input(connection->events);
    evbuffer* output = bufferevent_get_output(connection->events);
    while (!connection->closing && evbuffer_get_length(output) < options.output_bytes_max) {
      size_t eol_bytes = 0;
      const evbuffer_ptr eol = evbuffer_search_eol(input, nullptr, &eol_bytes, EVBUFFER_EOL_LF);
      const size_t pending = evbuffer_get_length(input);
      // A line may end in "\r\n": one more byte than the limit.
      const bool too_long = eol.pos < 0 ? pending > options.line_bytes_max + 1
                                        : static_cast<size_t>(eol.pos) > options.line_bytes_max + 1;
      if (too_long) {
        send(connection, "ERR LIMIT_EXCEEDED: line longer than " +
                             std::to_string(options.line_bytes_max) + " bytes");
        evbuffer_drain(input, pending);
        bufferevent_disable(connection->events, EV_READ);
        connection->closing = true;
        break;
      }
      std::string line;
      if (eol.pos >= 0) {
        line.resize(static_cast<size_t>(eol.pos));
        evbuffer_remove(input, line.data(), line.size());
        evbuffer_drain(input, eol_bytes);
      } else if (connection->peer_done && pending > 0) {
        line.resize(pending);  // the last line, sent without its '\n'
        evbuffer_remove(input, line.data(), line.size());
      } else {
        break;
      }
      const AdminReply reply = service->handle_line(line, wall_clock_ms());
      send(connection, reply.body);
      connection->shutdown_pending = connection->shutdown_pending || reply.shutdown;
    }
    close_if_done(connection);
  }

  void close_if_done(Connection* connection) {
    if (evbuffer_get_length(bufferevent_get_output(connection->events)) > 0) return;
    const bool input_left = evbuffer_get_length(bufferevent_get_input(connection->events)) > 0;
    if (connection->closing || (connection->peer_done && !input_left)) close(connection);
  }
};

namespace {

void on_read(bufferevent*, void* arg) {
  auto* connection = static_cast<Connection*>(arg);
  connection->loop->process(connection);
}

// The output drained (the low watermark is 0): what was queued reached the kernel.
void on_write(bufferevent*, void* arg) {
  auto* connection = static_cast<Connection*>(arg);
  AdminServer::Loop* loop = connection->loop;
  if (connection->shutdown_pending) {
    connection->shutdown_pending = false;
    loop->service->shutdown();
  }
  loop->process(connection);  // lines held back while the output was full
}

void on_event(bufferevent*, short what, void* arg) {
  auto* connection = static_cast<Connection*>(arg);
  if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_ERROR) == 0) {
    connection->peer_done = true;
    connection->loop->process(connection);
    return;
  }
  connection->loop->close(connection);  // an error, or idle past the timeout
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
  auto* loop = static_cast<AdminServer::Loop*>(arg);
  if (loop->connections.size() >= loop->options.connections_max) {
    static constexpr char kBusy[] = "ERR BUSY: too many admin connections\n\n";
    (void)::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    return;
  }
  bufferevent* events = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (events == nullptr) {
    ::close(fd);
    return;
  }
  auto* connection = new Connection{loop, events};
  loop->connections.insert(connection);
  bufferevent_setcb(events, on_read, on_write, on_event, connection);
  // Reading stops once a line's worth is buffered: a longer line is refused, never kept.
  bufferevent_setwatermark(events, EV_READ, 0, loop->options.line_bytes_max + 2);
  const timeval idle{loop->options.idle_timeout_s, 0};
  bufferevent_set_timeouts(events, &idle, &idle);
  bufferevent_enable(events, EV_READ | EV_WRITE);
}

// Whether a process accepts connections on the socket at `address` (a full backlog counts).
bool socket_in_use(const sockaddr_un& address) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const bool in_use =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ||
      errno == EAGAIN;
  ::close(fd);
  return in_use;
}

}  // namespace

AdminServer::AdminServer(const AdminServerOptions& options, AdminService* service)
    : options_(options), service_(service) {}

AdminServer::~AdminServer() { stop(); }

std::string AdminServer::start() {
  BOXOFFICE_ASSERT(loop_ == nullptr);
  static std::once_flag threads_on;
  std::call_once(threads_on, [] { evthread_use_pthreads(); });  // event_active from stop()
  const std::string& path = options_.path;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return "admin socket path must be 1.." + std::to_string(sizeof address.sun_path - 1) +
           " bytes: \"" + path + "\"";
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) return path + " exists and is not a socket; not touching it";
    if (socket_in_use(address)) return "another process serves the admin socket " + path;
    ::unlink(path.c_str());  // left by a server that died
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const std::string error = path + ": " + std::strerror(errno);
    ::close(fd);
    return error;
  }
  // The mode is set between bind() and listen(): nobody can connect before it is.
  struct stat made {};
  if (::chmod(path.c_str(), options_.mode) != 0 || ::stat(path.c_str(), &made) != 0 ||
      ::listen(fd, 16) != 0) {
    const std::string error = path + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return error;
  }
  device_ = made.st_dev;
  inode_ = made.st_ino;
  loop_ = std::make_unique<Loop>();
  loop_->options = options_;
  loop_->service = service_;
  loop_->base = event_base_new();
  if (loop_->base != nullptr) {
    loop_->stop = event_new(
        loop_->base, -1, 0,
        [](evutil_socket_t, short, void* base) {
          event_base_loopbreak(static_cast<event_base*>(base));
        },
        loop_->base);
  }
  if (loop_->stop != nullptr) {
    // Backlog 0: the socket is already listening.
    loop_->listener = evconnlistener_new(loop_->base, on_accept, loop_.get(),
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
  }
  if (loop_->listener == nullptr) {
    ::close(fd);
    loop_.reset();
    ::unlink(path.c_str());
    return "cannot start the admin socket's event loop";
  }
  thread_ = std::thread([base = loop_->base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
  return "";
}

void AdminServer::stop() {
  if (loop_ == nullptr) return;
  event_active(loop_->stop, 0, 0);  // thread-safe (evthread_use_pthreads), wakes the loop
  thread_.join();
  loop_.reset();  // closes every connection and the listener
  struct stat current {};
  if (::lstat(options_.path.c_str(), &current) == 0 && current.st_dev == device_ &&
      current.st_ino == inode_) {
    ::unlink(options_.path.c_str());
  }
}

}  // namespace boxoffice::net
