#include "net/reactor.h"

#include "net/event_reactor.h"
#include "net/uring_reactor.h"

namespace boxoffice::net {

std::unique_ptr<Reactor> make_reactor(IoBackend backend, const ReactorOptions& options,
                                      ConnectionHandler* handler, std::string* why_fallback) {
  if (backend == IoBackend::kEpoll) return make_event_reactor(options, handler);
  std::string error;
  if (auto reactor = make_uring_reactor(options, handler, &error)) return reactor;
  if (backend == IoBackend::kUring) return nullptr;  // asked for io_uring explicitly
  if (why_fallback != nullptr) *why_fallback = "io_uring unavailable (" + error + "); using epoll";
  return make_event_reactor(options, handler);
}

}  // namespace boxoffice::net
