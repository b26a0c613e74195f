// redis_verify: boxoffice-load --verify for --target redis. After the run it checks Redis against
// what the clients saw, over its own hiredis connection:
//   - the client-side checks of verify.h (no seat twice, no token handed out twice);
//   - every ticket a client got is a key seat:{E}:{i} that still holds the client's token and has
//     no expiry (PTTL -1: sold, not a hold that will lapse);
//   - when the run was the event's only writer (the event name is fresh): the keys of the event,
//     found by SCAN, split into sold (no expiry) and held (with one), equal the clients' tickets
//     and their open holds' seats.
// Thread safety: none; the main thread runs it after the workers have been joined.
#pragma once

#include <string>

#include "tools/load/verify.h"

namespace boxoffice::load {

VerifyResult verify_redis(const std::string& addr, VerifyInput* input);

}  // namespace boxoffice::load
