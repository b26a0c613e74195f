-- bench/wrk/hold.lua: POST /v1/events/{event}/holds of one seat per request, each request a
-- different seat, so that no two requests conflict (a 409 SEAT_TAKEN would mean a bug here, or
-- that the event ran out of seats). Used by bench/http.sh:
--
--   wrk -t T -c N -d 10s --latency -s bench/wrk/hold.lua \
--     http://127.0.0.1:PORT/v1/events/EVENT/holds -- SEATS T [split|own]
--
-- SEATS: the seat count of each event (indices 0..SEATS-1); T: wrk's thread count (-t), which the
-- script cannot see. split (the default): all threads hold seats of EVENT, thread i the seats
-- i*(SEATS/T), i*(SEATS/T)+1, ... in order. own: thread i holds seats 0, 1, ... of the event
-- EVENT-i (which must exist), so a run can take T times as many holds. A thread that used up its
-- seats starts over at its first seat; those holds are then refused (409) and counted as non-2xx,
-- so a run that is too long for its events shows it.
-- The request text is built once up to Content-Length, so each request costs wrk two string
-- concatenations (wrk.format walks the header table on every call: ~15% more wrk CPU per request).
-- Pointed at nginx (bench/http.sh does), the same requests measure what this script costs wrk.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")  -- done(): the WRK_JSON line

local threads_seen = 0
function setup(thread)
  thread:set("id", threads_seen)
  threads_seen = threads_seen + 1
end

local first, share, n, head
function init(args)
  local seats = tonumber(args[1])
  local threads = tonumber(args[2])
  local mode = args[3] or "split"
  if not seats or not threads or threads < 1 or id >= threads or
     (mode ~= "split" and mode ~= "own") then
    error("hold.lua: give the event's seat count, wrk's -t and split or own after --, " ..
          "e.g. -- 1000000 2 own")
  end
  local path = wrk.path
  if mode == "own" then
    share = seats
    first = 0
    path = (path:gsub("^/v1/events/([^/]+)/holds", "/v1/events/%1-" .. id .. "/holds"))
  else
    share = math.floor(seats / threads)
    first = id * share
  end
  n = 0
  local host = wrk.headers["Host"] or (wrk.host .. (wrk.port and (":" .. wrk.port) or ""))
  head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. host ..
         "\r\nContent-Type: application/json\r\nContent-Length: "
end

function request()
  local body = '{"seats":[' .. (first + n) .. ']}'
  n = n + 1
  if n == share then n = 0 end
  return head .. #body .. "\r\n\r\n" .. body
end
