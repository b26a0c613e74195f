#include "net/event_reactor.h"

namespace boxoffice::net {

// Placeholder until the libevent backend lands.
std::unique_ptr<Reactor> make_event_reactor(const ReactorOptions&, ConnectionHandler*) {
  return nullptr;
}

}  // namespace boxoffice::net
