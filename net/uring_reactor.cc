#include "net/uring_reactor.h"

namespace boxoffice::net {

// Placeholder until the io_uring backend lands.
bool uring_supported(std::string* why) {
  *why = "not built yet";
  return false;
}

std::unique_ptr<Reactor> make_uring_reactor(const ReactorOptions&, ConnectionHandler*,
                                            std::string* error) {
  *error = "not built yet";
  return nullptr;
}

}  // namespace boxoffice::net
