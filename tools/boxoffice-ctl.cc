// boxoffice-ctl: the client of boxofficed's admin socket (net/admin_commands.h, README "Admin
// socket and boxoffice-ctl"). Sends one command, prints the reply: the server's text, or with
// --json its one line of JSON. Exit status: 0 done, 1 the server answered ERR, 2 no answer
// (cannot connect, connection lost, timeout).
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kExitError = 1;    // the server answered ERR
constexpr int kExitNoReply = 2;  // no server, or no whole reply

// The command line as one protocol line: words joined by spaces. Line breaks and tabs become
// spaces (JSON allows them only between tokens, where a space means the same), and the file
// of `event load` is made absolute: the server resolves it, from its own directory.
std::string command_line(const std::vector<std::string>& words) {
  std::vector<std::string> parts = words;
  if (parts.size() >= 3 && parts[0] == "event" && parts[1] == "load" && !parts[2].empty() &&
      parts[2][0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) parts[2] = std::string(cwd) + "/" + parts[2];
  }
  std::string line;
  for (const std::string& part : parts) {
    if (!line.empty()) line += ' ';
    line += part;
  }
  for (char& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return line;
}

int fail(int status, const std::string& message) {
  std::fprintf(stderr, "boxoffice-ctl: %s\n", message.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = "./var/admin.sock";
  bool json = false;
  int64_t timeout_ms = 30'000;
  CLI::App app{
      "boxoffice-ctl [OPTIONS] COMMAND [ARGS...]: runs one command on boxofficed's admin socket\n"
      "and prints the reply.\n"
      "`boxoffice-ctl help` lists the commands (e.g. info, events, event ID, seat EVENT SEAT,\n"
      "holds EVENT, event create JSON, event load FILE, drain, shutdown)."};
  app.add_option("--socket,-s", socket_path, "the admin socket (boxofficed --admin)")
      ->envname("BOXOFFICE_ADMIN_SOCKET")
      ->capture_default_str();
  app.add_flag("--json,-j", json, "print the reply as one line of JSON");
  app.add_option("--timeout-ms", timeout_ms, "give up waiting for the reply after this long")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}))
      ->capture_default_str();
  app.set_version_flag("--version", BOXOFFICE_VERSION);
  app.prefix_command();  // options come first; everything from the command on is the command
  app.footer("Exit status: 0 done, 1 the server answered ERR, 2 no reply (cannot connect...).");
  CLI11_PARSE(app, argc, argv);
  std::vector<std::string> words = app.remaining();
  if (words.empty()) words = {"help"};
  std::string line = command_line(words);
  if (json) line = "json " + line;
  line += '\n';

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    return fail(kExitNoReply, "socket path too long: " + socket_path);
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(kExitNoReply, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail(kExitNoReply, "cannot connect to " + socket_path + ": " + std::strerror(errno) +
                                  " (is boxofficed running? its --admin path goes in --socket)");
  }
  const timeval timeout{static_cast<time_t>(timeout_ms / 1000),
                        static_cast<suseconds_t>(timeout_ms % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  for (size_t sent = 0; sent < line.size();) {
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(kExitNoReply, std::string("sending: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);  // one command: the server closes once it has answered

  // A reply is non-empty lines ended by an empty one: it ends at the first "\n\n".
  std::string reply;
  size_t end = std::string::npos;
  while (end == std::string::npos) {
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail(kExitNoReply, "no reply within " + std::to_string(timeout_ms) + " ms");
    }
    if (n < 0) return fail(kExitNoReply, std::string("receiving: ") + std::strerror(errno));
    if (n == 0) return fail(kExitNoReply, "the server closed the connection before replying");
    reply.append(buffer, static_cast<size_t>(n));
    end = reply.find("\n\n");
  }
  ::close(fd);
  reply.resize(end);
  if (reply.rfind("ERR ", 0) == 0) {
    std::fprintf(stderr, "%s\n", reply.c_str());
    return kExitError;
  }
  std::fwrite(reply.data(), 1, reply.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}
