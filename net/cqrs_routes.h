// cqrs_routes: the HTTP routes of the CQRS ticketing platform (a purchase service, a query
// service and an event consumer behind one load balancer) that boxoffice replaces, so its
// clients work unchanged (net/HTTP_API.md lists them with their exact bodies):
//
//   POST /purchase/api/v1/tickets                          buy one seat: 201 {ticketId, ...}
//   GET  /query/api/v1/tickets[?page=&size=]               tickets, as a JSON array
//   GET  /query/api/v1/tickets/{ticketId}                  one ticket
//   GET  /query/api/v1/tickets/count/{eventId}             "Tickets sold for event E is N"
//   GET  /query/api/v1/tickets/revenue/{venueId}/{eventId} "Revenue for event E in venue V: $X"
//   GET  /purchase/health, /query/health, /events/health, /query/api/v1/health
//
// The shapes follow that platform's code (plain-text counts and health, Spring's error body,
// `{"messages": ...}` for an unknown ticket). What boxoffice does differently, on purpose:
// reads are served from the seat table, so a purchase is visible to the query routes the
// moment it is acknowledged (no projection lag); an unknown event, venue, zone or seat is a
// 404 instead of a misleading 409 "Zone Full"; the ticket list is paginated.
//
// Thread safety: called on an HTTP thread with that thread's MethodCaller; reads the engine
// (thread-safe).
#pragma once

#include <string>
#include <vector>

#include "core/engine.h"
#include "net/api_routes.h"
#include "net/http_server.h"

namespace boxoffice::net {

inline constexpr uint32_t kCqrsPageSizeDefault = 1000;
inline constexpr uint32_t kCqrsPageSizeMax = 10'000;

// Answers `request` when `parts` (its decoded path segments) is one of the routes above;
// false otherwise.
bool handle_cqrs(const HttpRequest& request, const std::vector<std::string>& parts,
                 const Engine& engine, MethodCaller& caller, HttpResponse* response);

}  // namespace boxoffice::net
