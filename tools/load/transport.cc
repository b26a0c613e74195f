#include "tools/load/transport.h"

#include "tools/load/epoll_transport.h"
#include "tools/load/uring_transport.h"

namespace boxoffice::load {

std::unique_ptr<Transport> make_transport(IoChoice choice, uint32_t connections_max,
                                          std::string* why) {
  if (choice != IoChoice::kEpoll) {
    std::unique_ptr<Transport> uring = UringTransport::create(connections_max, why);
    if (uring || choice == IoChoice::kUring) return uring;
  }
  return std::make_unique<EpollTransport>(connections_max);
}

}  // namespace boxoffice::load
