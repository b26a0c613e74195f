#include "tools/load/verify.h"

#include <algorithm>
#include <cstring>

namespace boxoffice::load {
namespace {

constexpr size_t kBatch = 256;  // ticket.get requests pipelined at once
constexpr size_t kDetailsMax = 10;

}  // namespace

void note_mismatch(VerifyResult* r, std::string detail) {
  if (r->details.size() < kDetailsMax) r->details.push_back(std::move(detail));
}

std::string ticket_id_text(const TicketSeen& t) {
  return std::string(t.id.data(), strnlen(t.id.data(), t.id.size()));
}

void check_client_tickets(VerifyInput* input, VerifyResult* r_out) {
  VerifyResult& r = *r_out;
  std::vector<TicketSeen>& tickets = input->tickets;
  std::sort(tickets.begin(), tickets.end(), [](const TicketSeen& a, const TicketSeen& b) {
    return a.seat_index != b.seat_index ? a.seat_index < b.seat_index : a.id < b.id;
  });
  for (size_t i = 1; i < tickets.size(); ++i) {
    if (tickets[i].seat_index != tickets[i - 1].seat_index) continue;
    if (tickets[i].id == tickets[i - 1].id) {
      ++r.ticket_ids_repeated;
      note_mismatch(&r, "ticket " + ticket_id_text(tickets[i]) + " was handed out twice");
    } else {
      ++r.seats_double_sold;
      note_mismatch(&r, "seat " + std::to_string(tickets[i].seat_index) +
                   " has two tickets: " + ticket_id_text(tickets[i - 1]) + " and " + ticket_id_text(tickets[i]));
    }
  }
}

void sum_mismatches(VerifyResult* r) {
  r->mismatches = r->tickets_missing + r->tickets_not_valid + r->tickets_wrong_seat +
                  r->seats_double_sold + r->ticket_ids_repeated + r->count_mismatches +
                  r->unanswered;
}

VerifyResult verify(ControlClient* client, VerifyInput* input_out) {
  VerifyInput& input = *input_out;
  VerifyResult r;
  check_client_tickets(&input, &r);
  const std::vector<TicketSeen>& tickets = input.tickets;

  for (size_t begin = 0; begin < tickets.size(); begin += kBatch) {
    const size_t end = std::min(tickets.size(), begin + kBatch);
    std::vector<nlohmann::json> params;
    for (size_t i = begin; i < end; ++i) params.push_back({{"ticket", ticket_id_text(tickets[i])}});
    const std::vector<ControlReply> replies = client->call_many("ticket.get", params);
    for (size_t i = begin; i < end; ++i) {
      const ControlReply& reply = replies[i - begin];
      const TicketSeen& seen = tickets[i];
      ++r.tickets_checked;
      if (!reply.transport_ok || !reply.error.is_null() || !reply.result.is_object()) {
        ++r.tickets_missing;
        note_mismatch(&r, "ticket " + ticket_id_text(seen) + " (seat " + std::to_string(seen.seat_index) +
                     "): " + (reply.transport_ok ? reply.error.dump() : "no answer"));
        continue;
      }
      const nlohmann::json& t = reply.result;
      if (t.value("status", "") != "valid" || t.value("event", "") != input.event) {
        ++r.tickets_not_valid;
        note_mismatch(&r, "ticket " + ticket_id_text(seen) + " is " + t.value("status", "?") + " for event " +
                     t.value("event", "?"));
      }
      const int64_t index =
          t.contains("seat") && t["seat"].is_object() ? t["seat"].value("index", int64_t{-1}) : -1;
      if (index != static_cast<int64_t>(seen.seat_index)) {
        ++r.tickets_wrong_seat;
        note_mismatch(&r, "ticket " + ticket_id_text(seen) + ": the client saw seat " +
                     std::to_string(seen.seat_index) + ", the server says " +
                     std::to_string(index));
      }
    }
  }

  const ControlReply stats = client->call("event.stats", {{"event", input.event}});
  if (stats.transport_ok && stats.error.is_null() && stats.result.is_object()) {
    r.server_seats_sold = stats.result.value("seats_sold", int64_t{-1});
    r.server_seats_held = stats.result.value("seats_held", int64_t{-1});
    r.server_seats_free = stats.result.value("seats_free", int64_t{-1});
  }
  r.unanswered = input.unanswered;
  if (r.unanswered > 0) {
    note_mismatch(&r, std::to_string(r.unanswered) +
                 " requests were never answered: the server's counts cannot be checked");
  }
  if (input.exclusive && r.unanswered == 0) {
    r.counts_checked = true;
    if (r.server_seats_sold != static_cast<int64_t>(tickets.size())) {
      ++r.count_mismatches;
      note_mismatch(&r, "event.stats seats_sold " + std::to_string(r.server_seats_sold) +
                   ", the clients got " + std::to_string(tickets.size()) + " tickets");
    }
    if (r.server_seats_held != input.open_hold_seats) {
      ++r.count_mismatches;
      note_mismatch(&r, "event.stats seats_held " + std::to_string(r.server_seats_held) +
                   ", the clients hold " + std::to_string(input.open_hold_seats) + " seats");
    }
  }
  sum_mismatches(&r);
  return r;
}

}  // namespace boxoffice::load
