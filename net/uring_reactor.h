// UringReactor: the io_uring backend of Reactor (net/reactor.h): multishot accept, multishot
// recv into a provided buffer ring, batched submit-and-wait, one ring per worker thread.
// Thread safety: as Reactor.
#pragma once

#include <memory>
#include <string>

#include "net/reactor.h"

namespace boxoffice::net {

// True when this kernel and sandbox let us set up a ring with the features we use; otherwise
// false with the reason (EPERM from a seccomp filter, io_uring_disabled, too old a kernel).
bool uring_supported(std::string* why);

// Null with *error when io_uring cannot be used.
std::unique_ptr<Reactor> make_uring_reactor(const ReactorOptions& options,
                                            ConnectionHandler* handler, std::string* error);

}  // namespace boxoffice::net
