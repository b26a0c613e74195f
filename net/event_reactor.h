// EventReactor: the epoll backend of Reactor (net/reactor.h), on libevent's event_base, for
// kernels or containers where io_uring is unavailable. Same loop shape and limits.
// Thread safety: as Reactor.
#pragma once

#include <memory>

#include "net/reactor.h"

namespace boxoffice::net {

std::unique_ptr<Reactor> make_event_reactor(const ReactorOptions& options,
                                            ConnectionHandler* handler);

}  // namespace boxoffice::net
