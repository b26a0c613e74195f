// mariadb_verify: boxoffice-load --verify-mariadb URL. After the run (and the server checks of
// verify.h), it waits for boxofficed's persister to bring the sales to MariaDB, then checks that
// MariaDB agrees with what the clients saw:
//   - every ticket a client got is a row of `tickets` with that ticket_id, the event, the seat the
//     client was told, and no voided_at_ms;
//   - when the run was the event's only writer: no other valid ticket row for the event.
// It polls `SELECT COUNT(*)` of the event's valid tickets every 100 ms until it reaches the
// clients' tickets (then reads the rows; if some are still missing, it keeps polling) or
// `wait_s` passes, then compares row by row.
// The result goes into the VerifyResult's mariadb_* fields and its mismatch total.
//
// Thread safety: none; the main thread runs it after the workers have been joined.
#pragma once

#include <string>

#include "tools/load/verify.h"

namespace boxoffice::load {

// `input` as verify() got it (tickets sorted or not); adds to *r.
void verify_mariadb(const std::string& url, const VerifyInput& input, double wait_s,
                    VerifyResult* r);

}  // namespace boxoffice::load
