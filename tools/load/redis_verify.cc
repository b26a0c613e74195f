#include "tools/load/redis_verify.h"

#include "tools/load/redis_codec.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>

namespace boxoffice::load {
namespace {

constexpr size_t kBatch = 256;  // commands pipelined at once

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

ReplyPtr next_reply(redisContext* c) {
  void* reply = nullptr;
  if (redisGetReply(c, &reply) != REDIS_OK) return nullptr;
  return ReplyPtr(static_cast<redisReply*>(reply));
}

}  // namespace

VerifyResult verify_redis(const std::string& addr, VerifyInput* input_out) {
  const VerifyInput& input = *input_out;
  VerifyResult r;
  check_client_tickets(input_out, &r);
  const std::vector<TicketSeen>& tickets = input.tickets;
  std::string error;
  Context c(redis_connect(addr, &error));
  if (!c) {
    note_mismatch(&r, "verify: " + error);
    r.mismatches = 1;
    return r;
  }

  // Each ticket: GET (the client's token) and PTTL (-1: no expiry) of its seat's key.
  for (size_t begin = 0; begin < tickets.size(); begin += kBatch) {
    const size_t end = std::min(tickets.size(), begin + kBatch);
    for (size_t i = begin; i < end; ++i) {
      const std::string key = redis_seat_key(input.event, tickets[i].seat_index);
      redisAppendCommand(c.get(), "GET %b", key.data(), key.size());
      redisAppendCommand(c.get(), "PTTL %b", key.data(), key.size());
    }
    for (size_t i = begin; i < end; ++i) {
      const TicketSeen& seen = tickets[i];
      const std::string id = ticket_id_text(seen);
      ReplyPtr value = next_reply(c.get());
      ReplyPtr ttl = next_reply(c.get());
      ++r.tickets_checked;
      if (!value || !ttl) {  // the rest cannot be checked: each counts as missing
        note_mismatch(&r, "verify: the connection to " + addr + " failed");
        r.tickets_missing += tickets.size() - i;
        sum_mismatches(&r);
        return r;
      }
      if (value->type != REDIS_REPLY_STRING) {
        ++r.tickets_missing;
        note_mismatch(&r, "seat " + std::to_string(seen.seat_index) + " (ticket " + id +
                              ") has no key in Redis");
      } else if (std::string(value->str, value->len) != id) {
        ++r.tickets_wrong_seat;
        note_mismatch(&r, "seat " + std::to_string(seen.seat_index) + ": the client got " + id +
                              ", Redis holds " + std::string(value->str, value->len));
      } else if (ttl->type != REDIS_REPLY_INTEGER || ttl->integer != -1) {
        ++r.tickets_not_valid;
        note_mismatch(&r, "seat " + std::to_string(seen.seat_index) + " (ticket " + id +
                              ") expires: a hold, not a sale");
      }
    }
  }

  r.unanswered = input.unanswered;
  if (r.unanswered > 0) {
    note_mismatch(&r, std::to_string(r.unanswered) +
                          " requests were never answered: Redis's counts cannot be checked");
  }
  if (input.exclusive && r.unanswered == 0) {
    // Every key of the event: SCAN, then PTTL of each batch.
    int64_t sold = 0, held = 0;
    const std::string pattern = "seat:{" + input.event + "}:*";
    std::string cursor = "0";
    bool scanned = true;
    do {
      ReplyPtr page(static_cast<redisReply*>(redisCommand(
          c.get(), "SCAN %s MATCH %b COUNT 1000", cursor.c_str(), pattern.data(), pattern.size())));
      if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) {
        scanned = false;
        break;
      }
      cursor.assign(page->element[0]->str, page->element[0]->len);
      const redisReply* keys = page->element[1];
      for (size_t k = 0; k < keys->elements; ++k) {
        redisAppendCommand(c.get(), "PTTL %b", keys->element[k]->str, keys->element[k]->len);
      }
      for (size_t k = 0; k < keys->elements; ++k) {
        ReplyPtr ttl = next_reply(c.get());
        if (ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer == -1) ++sold;
        if (ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0) ++held;
      }
    } while (cursor != "0");
    if (scanned) {
      r.counts_checked = true;
      r.server_seats_sold = sold;
      r.server_seats_held = held;
      r.server_seats_free = static_cast<int64_t>(input.seats_total) - sold - held;
      if (sold != static_cast<int64_t>(tickets.size())) {
        ++r.count_mismatches;
        note_mismatch(&r, "Redis has " + std::to_string(sold) + " sold seats, the clients got " +
                              std::to_string(tickets.size()) + " tickets");
      }
      if (held != input.open_hold_seats) {
        ++r.count_mismatches;
        note_mismatch(&r, "Redis has " + std::to_string(held) + " held seats, the clients hold " +
                              std::to_string(input.open_hold_seats));
      }
    } else {
      ++r.count_mismatches;
      note_mismatch(&r, "verify: SCAN of " + pattern + " failed");
    }
  }
  sum_mismatches(&r);
  return r;
}

}  // namespace boxoffice::load
