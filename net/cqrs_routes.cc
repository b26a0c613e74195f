#include "net/cqrs_routes.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/json_document.h"
#include "net/http_json.h"
#include "net/http_query.h"
#include "net/reactor_support.h"

namespace boxoffice::net {
namespace {

using nlohmann::json;

constexpr uint32_t kPurchaseBodyDepthMax = 4;

HttpResponse text(int status, std::string body) {
  return {status, "text/plain;charset=UTF-8", std::move(body)};
}

// ISO-8601 UTC with milliseconds, as Jackson writes an Instant.
std::string iso_time(int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", stamp, static_cast<int>(ms % 1000));
  return out;
}

// Spring Boot's default error body, which the platform's clients get for anything but a 409.
HttpResponse spring_error(int status, const char* error, const std::string& message,
                          const std::string& path) {
  const json body = {{"timestamp", iso_time(wall_clock_ms())},
                     {"status", status},
                     {"error", error},
                     {"message", message},
                     {"path", path}};
  return json_response(status, body);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// The platform matched ids case-insensitively (MySQL's collation): exact first, then any case.
std::optional<uint32_t> find_event(const Engine& engine, std::string_view id) {
  uint32_t index = 0;
  if (engine.find_event(id, &index)) return index;
  for (uint32_t e = 0; e < engine.event_count(); ++e) {
    if (engine.event_exists(e) && equal_ignoring_case(engine.event_id(e), id)) return e;
  }
  return std::nullopt;
}

// The platform's view of a ticket (its TicketInfoDTO).
json ticket_json(const Engine& engine, uint32_t event_index, const SeatLocation& where,
                 const std::string& ticket_id, bool voided, int64_t sold_at_ms) {
  return {{"ticketId", ticket_id},
          {"venueId", std::string(engine.event_venue(event_index))},
          {"eventId", std::string(engine.event_id(event_index))},
          {"zoneId", where.zone->id},
          {"row", where.row != nullptr ? json(std::string(where.row->label)) : json(nullptr)},
          {"column", std::string(where.label())},
          {"status", voided ? "CANCELLED" : "PAID"},
          {"createdOn", iso_time(sold_at_ms)}};
}

HttpResponse purchase(const HttpRequest& request, const Engine& engine, MethodCaller& caller) {
  json body;
  Status parsed = parse_json_document(request.body, static_cast<uint32_t>(request.body.size()),
                                      kPurchaseBodyDepthMax, "request body", &body);
  if (!parsed.is_ok()) {
    return spring_error(400, "Bad Request", std::string(parsed.message()), request.path);
  }
  auto string_field = [&](const char* name, std::string* out) {
    if (!body.is_object() || !body.contains(name)) return false;
    const json& v = body[name];
    if (v.is_string())
      *out = v.get<std::string>();
    else if (v.is_number_integer())
      *out = std::to_string(v.get<int64_t>());
    else
      return false;
    return !out->empty();
  };
  std::string venue, event_id, zone_text, row, column;
  int64_t zone = 0;
  if (!string_field("venueId", &venue) || !string_field("eventId", &event_id) ||
      !string_field("zoneId", &zone_text) || !parse_int(zone_text, &zone) ||
      !string_field("row", &row) || !string_field("column", &column)) {
    return spring_error(400, "Bad Request",
                        "body must be {\"venueId\": string, \"eventId\": string, \"zoneId\": "
                        "integer, \"row\": string, \"column\": string}",
                        request.path);
  }
  const std::optional<uint32_t> event = find_event(engine, event_id);
  if (!event || !equal_ignoring_case(engine.event_venue(*event), venue)) {
    return spring_error(404, "Not Found", "no event " + event_id + " at venue " + venue,
                        request.path);
  }
  const Layout& layout = engine.layout(*event);
  std::optional<uint32_t> seat = layout.seat_index(zone, row, column);
  if (!seat) seat = layout.seat_index(zone, upper(row), column);  // rows were case-insensitive
  if (!seat) {
    return spring_error(404, "Not Found",
                        "no seat in zone " + zone_text + ", row " + row + ", column " + column,
                        request.path);
  }
  json params = {{"event", std::string(engine.event_id(*event))}, {"seats", {*seat}}};
  if (!request.idempotency_key.empty()) params["idempotency_key"] = request.idempotency_key;
  const MethodCall sale = caller.call(Method::kBuy, std::move(params));
  switch (sale.code) {
    case ErrorCode::kOk: {
      const std::string id = sale.value["tickets"][0]["id"].get<std::string>();
      // The sale's own time (a replayed request gets the first one's).
      const std::optional<TicketId> ticket = TicketId::parse(id);
      const TicketInfo info = engine.ticket(*ticket);
      HttpResponse response = json_response(201, {{"ticketId", id},
                                                  {"zoneId", zone},
                                                  {"row", row},
                                                  {"column", column},
                                                  {"createdOn", iso_time(info.sold_at_ms)}});
      response.headers.emplace_back("Location", "/purchase/" + id);
      return response;
    }
    case ErrorCode::kSeatTaken:
      return text(409, "Seat Occupied: Seat already occupied.");
    case ErrorCode::kEventClosed:
      return text(409, "Event Closed: Event is not on sale.");
    case ErrorCode::kBusy: {
      HttpResponse response =
          spring_error(503, "Service Unavailable", sale.value.value("message", ""), request.path);
      response.retry_after_s = 1;
      return response;
    }
    default: {
      const int status = http_status(sale, 201, true);
      return spring_error(status, status == 500 ? "Internal Server Error" : "Error",
                          sale.value.value("message", ""), request.path);
    }
  }
}

HttpResponse list_tickets(const HttpRequest& request, const Engine& engine) {
  const Query query(request.query);
  if (!query.valid())
    return spring_error(400, "Bad Request", "malformed query string", request.path);
  int64_t page = 0, size = kCqrsPageSizeDefault;
  if (const char* p = query.get("page"); p != nullptr && (!parse_int(p, &page) || page < 0)) {
    return spring_error(400, "Bad Request", "page must be an integer >= 0", request.path);
  }
  if (const char* s = query.get("size");
      s != nullptr && (!parse_int(s, &size) || size < 1 || size > kCqrsPageSizeMax)) {
    return spring_error(400, "Bad Request",
                        "size must be in 1.." + std::to_string(kCqrsPageSizeMax), request.path);
  }
  // Not a snapshot: sales made while paging may shift later pages. No table holds 2^40
  // tickets: a page past that is simply beyond the end (and page * size cannot overflow).
  constexpr int64_t kPageMax = (int64_t{1} << 40) / kCqrsPageSizeMax;
  page = std::min(page, kPageMax);
  uint64_t skip = static_cast<uint64_t>(page) * static_cast<uint64_t>(size);
  int64_t total = 0;
  json tickets = json::array();
  std::vector<uint32_t> seats;
  for (uint32_t e = 0; e < engine.event_count(); ++e) {
    if (!engine.event_exists(e)) continue;
    const int64_t sold = engine.counts(e).seats_sold;
    total += sold;
    const auto wanted = static_cast<uint32_t>(size - static_cast<int64_t>(tickets.size()));
    if (wanted == 0 || sold <= 0) continue;
    if (skip >= static_cast<uint64_t>(sold)) {
      skip -= static_cast<uint64_t>(sold);
      continue;
    }
    engine.sold_seats(e, skip, wanted, &seats);
    skip = 0;
    for (uint32_t seat : seats) {
      const SeatInfo info = engine.seat(e, seat);
      if (info.state != SeatState::kSold) continue;  // voided since
      const TicketInfo ticket = engine.ticket(info.ticket);
      if (!ticket.status.is_ok()) continue;
      char id[TicketId::kTextBytes];
      info.ticket.format(id);
      tickets.push_back(ticket_json(engine, e, info.location, std::string(id, sizeof id),
                                    ticket.voided, ticket.sold_at_ms));
    }
  }
  HttpResponse response = json_response(200, tickets);
  response.headers.emplace_back("X-Total-Count", std::to_string(total));
  if ((page + 1) * size < total) {
    response.headers.emplace_back("Link",
                                  "</query/api/v1/tickets?page=" + std::to_string(page + 1) +
                                      "&size=" + std::to_string(size) + ">; rel=\"next\"");
  }
  return response;
}

HttpResponse get_ticket(const std::string& id, const Engine& engine, MethodCaller& caller) {
  const MethodCall found = caller.call(Method::kTicketGet, {{"ticket", id}});
  if (found.code == ErrorCode::kNotFound || found.code == ErrorCode::kBadRequest) {
    return json_response(404, {{"messages", "TicketID not found: " + id}});
  }
  if (found.code != ErrorCode::kOk) {
    HttpResponse response = json_response(http_status(found, 200, true),
                                          {{"messages", found.value.value("message", "")}});
    if (found.code == ErrorCode::kBusy) response.retry_after_s = 1;
    return response;
  }
  const json& t = found.value;
  uint32_t event = 0;
  if (!engine.find_event(t["event"].get<std::string>(), &event)) {
    return json_response(404, {{"messages", "TicketID not found: " + id}});
  }
  const SeatLocation where = engine.layout(event).locate(t["seat"]["index"].get<uint32_t>());
  return json_response(200, ticket_json(engine, event, where, id, t["status"] == "voided",
                                        t["sold_at_ms"].get<int64_t>()));
}

}  // namespace

bool handle_cqrs(const HttpRequest& request, const std::vector<std::string>& parts,
                 const Engine& engine, MethodCaller& caller, HttpResponse* response) {
  const size_t n = parts.size();
  if (n < 2 || (parts[0] != "purchase" && parts[0] != "query" && parts[0] != "events")) {
    return false;
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto only = [&](bool allowed, const char* allow) {
    if (allowed) return true;
    *response =
        spring_error(405, "Method Not Allowed", request.method + " is not supported", request.path);
    response->headers.emplace_back("Allow", allow);
    return false;
  };
  const bool api = n >= 4 && parts[1] == "api" && parts[2] == "v1";
  if (n == 2 && parts[1] == "health") {
    if (only(get, "GET")) {
      *response = text(200, parts[0] == "purchase" ? "Purchase Healthy"
                            : parts[0] == "query"  ? "Query Healthy"
                                                   : "Consumer Healthy");
    }
    return true;
  }
  if (parts[0] == "purchase" && api && n == 4 && parts[3] == "tickets") {
    if (only(request.method == "POST", "POST")) *response = purchase(request, engine, caller);
    return true;
  }
  if (parts[0] == "purchase" && n == 2) {  // a purchase's Location: the ticket, as queried
    if (only(get, "GET")) *response = get_ticket(parts[1], engine, caller);
    return true;
  }
  if (parts[0] != "query" || !api) return false;
  if (n == 4 && parts[3] == "health") {
    if (only(get, "GET")) {
      *response = text(200,
                       "Query Service is healthy! Available endpoints: /tickets/{id}, /tickets, "
                       "/tickets/count/{eventId}");
    }
    return true;
  }
  if (parts[3] != "tickets") return false;
  if (n == 4) {
    if (only(get, "GET")) *response = list_tickets(request, engine);
  } else if (n == 5) {
    if (only(get, "GET")) *response = get_ticket(parts[4], engine, caller);
  } else if (n == 6 && parts[4] == "count") {
    if (only(get, "GET")) {
      const std::optional<uint32_t> event = find_event(engine, parts[5]);
      const int64_t sold = event ? engine.counts(*event).seats_sold : 0;
      *response = text(200, "Tickets sold for event " + parts[5] + " is " + std::to_string(sold));
    }
  } else if (n == 7 && parts[4] == "revenue") {
    if (only(get, "GET")) {
      const std::optional<uint32_t> event = find_event(engine, parts[6]);
      int64_t cents = 0;
      if (event && equal_ignoring_case(engine.event_venue(*event), parts[5])) {
        cents = engine.counts(*event).revenue_cents;
      }
      char amount[48];
      std::snprintf(amount, sizeof amount, "$%lld.%02lld", static_cast<long long>(cents / 100),
                    static_cast<long long>(cents % 100));
      *response =
          text(200, "Revenue for event " + parts[6] + " in venue " + parts[5] + ": " + amount);
    }
  } else {
    return false;
  }
  return true;
}

}  // namespace boxoffice::net
