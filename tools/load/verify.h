// verify: boxoffice-load --verify, after the run, checks the server's state against what the
// clients saw, over a fresh ControlClient connection:
//   - every ticket a client got exists (ticket.get), is "valid", belongs to the event and is for
//     the seat the client was told;
//   - no seat got two tickets and no ticket id came twice (client side, tickets sorted by seat);
//   - when the run was the only writer on the event (exclusive: it created the event, or
//     --verify-exclusive): event.stats seats_sold equals the tickets the clients got and
//     seats_held the seats of the holds they still have open.
// Requests left without an answer (a lost connection, a drain that timed out) make the counts
// unknowable: they count as a mismatch. Memory: one TicketSeen (40 bytes) per ticket.
//
// Thread safety: none; the main thread runs it after the workers have been joined.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/load/control_client.h"
#include "tools/load/operation.h"

namespace boxoffice::load {

struct VerifyInput {
  std::string event;
  uint32_t seats_total = 0;
  std::vector<TicketSeen> tickets;
  int64_t open_hold_seats = 0;
  bool exclusive = false;
  uint64_t unanswered = 0;
};

struct VerifyResult {
  uint64_t tickets_checked = 0;
  uint64_t tickets_missing = 0;     // ticket.get: NOT_FOUND or no answer
  uint64_t tickets_not_valid = 0;   // voided, or another event
  uint64_t tickets_wrong_seat = 0;  // the server's seat is not the one the client saw
  uint64_t seats_double_sold = 0;   // two tickets for one seat among the clients' tickets
  uint64_t ticket_ids_repeated = 0;
  bool counts_checked = false;
  int64_t server_seats_sold = -1;
  int64_t server_seats_held = -1;
  int64_t server_seats_free = -1;
  uint64_t count_mismatches = 0;
  uint64_t unanswered = 0;
  bool mariadb_checked = false;  // --verify-mariadb (tools/load/mariadb_verify.h)
  uint64_t mariadb_rows = 0;     // the event's valid ticket rows found
  uint64_t mariadb_missing = 0;
  uint64_t mariadb_wrong_seat = 0;
  uint64_t mariadb_extra = 0;
  uint64_t mariadb_mismatches = 0;   // the three above, or 1 when MariaDB could not be read
  uint64_t mismatches = 0;           // the sum of everything above that is wrong
  std::vector<std::string> details;  // the first few mismatches, for humans
};

// Sorts input->tickets by seat (check_client_tickets) and leaves them so for further checks.
VerifyResult verify(ControlClient* client, VerifyInput* input);

// The client-side checks (both targets): sorts input->tickets by seat and counts seats with two
// tickets and ticket ids handed out twice into *r.
void check_client_tickets(VerifyInput* input, VerifyResult* r);
// Adds one mismatch description to r->details (the first few only).
void note_mismatch(VerifyResult* r, std::string detail);
// A ticket id as text (a NUL-padded short id without its padding).
std::string ticket_id_text(const TicketSeen& ticket);
// Sets r->mismatches to the sum of every count of something wrong (the MariaDB ones excluded:
// verify_mariadb adds its own).
void sum_mismatches(VerifyResult* r);

}  // namespace boxoffice::load
