#!/usr/bin/python3
"""End-to-end tests of boxofficed's HTTP interface (net/HTTP_API.md): the /v1 JSON API, the
CQRS ticketing platform's routes, /health, /ready and /metrics, authentication, hostile and
slow clients, and durability of HTTP sales across kill -9. Standard library only (http.client
and raw sockets), against real boxofficed processes started here with `--http` on a free port
and a fresh --data-dir and --shm each.

Usage: http_api_test.py BOXOFFICED LAYOUT_DIR {epoll|uring|auto}

The HTTP threads are the same whatever --io says (libevent on threads of their own), so one
backend is enough. Every socket operation has a timeout; every server is killed at the end
whatever happens, and its seat table and staging files (<shm>.log-*) are removed."""

import base64
import calendar
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import remove_table  # noqa: E402

BOXOFFICED, LAYOUT_DIR, IO = sys.argv[1], sys.argv[2], sys.argv[3]
TIMEOUT_S = 10
START_TIMEOUT_S = 20
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Server:
    """One boxofficed with an HTTP listener. Its stderr goes to a file (never a pipe a chatty
    server could fill). restart() keeps the ports, --shm and --data-dir."""

    def __init__(self, extra=()):
        self.port = free_port()
        self.http_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bx-httptest-")
        self.shm = f"/dev/shm/boxoffice-httptest-{os.getpid()}-{self.port}"
        self.extra = list(extra)
        self.process = None
        self.starts = 0
        self.log_path = None
        self.start()

    @property
    def argv(self):
        return [BOXOFFICED, "--listen", f"127.0.0.1:{self.port}",
                "--http", f"127.0.0.1:{self.http_port}", "--io", IO, "--workers", "1",
                "--shm", self.shm, "--data-dir", os.path.join(self.dir, "data"),
                "--holds-max", "65536", "--idempotency-keys-max", "65536",
                "--arena-bytes", str(256 << 20), *self.extra]

    def start(self):
        deadline = time.monotonic() + TIMEOUT_S
        while (port_accepts(self.port) or port_accepts(self.http_port)) and \
                time.monotonic() < deadline:
            time.sleep(0.01)  # a killed predecessor's sockets may linger a moment
        self.starts += 1
        self.log_path = os.path.join(self.dir, f"boxofficed-{self.starts}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"boxofficed exited {self.process.returncode}:\n{self.log()}")
            if "boxofficed listening on" in self.log() and port_accepts(self.http_port):
                return
            time.sleep(0.01)
        self.kill9()
        raise RuntimeError(f"boxofficed not listening after {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self):
        if self.log_path is None:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill9(self):
        if self.alive():
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=TIMEOUT_S)

    def stop(self):
        """SIGTERM (SIGKILL after TIMEOUT_S); removes the table, staging files and data dir.
        Returns the last log."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT_S)
        log = self.log()
        self.remove_table()
        shutil.rmtree(self.dir, ignore_errors=True)
        return log

    def remove_table(self):
        remove_table(self.shm)

    # --- HTTP -----------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, raw=None):
        """One request on a fresh connection. `body` is sent as JSON, `raw` as bytes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=TIMEOUT_S)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body))
            hdrs = dict(headers or {})
            if data is not None:
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            return Response(response.status, response.getheaders(), response.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def ok(self, method, path, body=None, status=200, headers=None):
        r = self.request(method, path, body=body, headers=headers)
        assert r.status == status, f"{method} {path}: {r.status} {r.body!r}"
        return r.json()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode()

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def venue_layout(venue="Venue1"):
    """45 seats: zone 1 (10000 cents) rows A-C x 10 = indices 0-29, zone 2 (15000 cents) rows
    A-B x 5 = 30-39, zone 3 general admission (5000 cents) x 5 = 40-44."""
    return {"venue": venue, "name": "Hall",
            "zones": [{"id": 1, "name": "Stalls", "price_cents": 10000,
                       "rows": [{"label": "A", "seats": 10}, {"label": "B", "seats": 10},
                                {"label": "C", "seats": 10}]},
                      {"id": 2, "name": "Circle", "price_cents": 15000,
                       "rows": [{"label": "A", "seats": 5}, {"label": "B", "seats": 5}]},
                      {"id": 3, "name": "Floor", "price_cents": 5000, "capacity": 5}]}


SEATS_TOTAL = 45


def raw_exchange(port, data, read_timeout=3.0, half_close=False):
    """Sends `data` on a new connection (then shuts down the sending side if `half_close`),
    then reads until EOF or `read_timeout` of silence. Returns (bytes received, how it ended:
    "eof", "reset" or "timeout")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it read everything
        return read_all(s, read_timeout)
    finally:
        s.close()


def read_all(sock, read_timeout):
    sock.settimeout(read_timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return out, "timeout"
        except ConnectionResetError:
            return out, "reset"
        if not chunk:
            return out, "eof"
        out += chunk


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


class ServerTestCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.server_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def assertError(self, response, status, name, code=None):
        self.assertEqual(response.status, status, response)
        error = response.json()["error"]
        self.assertIsInstance(error, dict, f"not the error map: {response}")
        self.assertEqual(error["name"], name, response)
        if code is not None:
            self.assertEqual(error["code"], code, response)
        self.assertIsInstance(error["message"], str)
        return error

    def create_event(self, event_id, state=None, venue="Venue1"):
        body = {"id": event_id, "name": f"Show {event_id}", "layout": venue_layout(venue)}
        if state is not None:
            body["state"] = state
        r = self.server.post("/v1/events", body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json(), {"event": event_id, "seats_total": SEATS_TOTAL})
        return event_id

    def seat_state(self, event, index):
        return self.server.ok("GET", f"/v1/events/{event}/seats/{index}")["state"]


# ---------------------------------------------------------------------------------------------
# 1. The /v1 routes


class V1Test(ServerTestCase):
    def test_ping(self):
        result = self.server.ok("GET", "/v1/ping")
        self.assertIs(result["pong"], True)
        self.assertAlmostEqual(result["now_ms"] / 1000, time.time(), delta=60)

    def test_event_create_list_get_stats(self):
        s = self.server
        self.create_event("Show-1")
        # The same id again is refused and the first event is untouched.
        self.assertError(s.post("/v1/events", {"id": "Show-1", "layout": venue_layout()}), 400,
                         "BAD_REQUEST", 1)
        events = {e["event"]: e for e in s.ok("GET", "/v1/events")["events"]}
        self.assertEqual(events["Show-1"], {"event": "Show-1", "venue": "Venue1", "state": "open",
                                            "seats_total": SEATS_TOTAL, "seats_sold": 0,
                                            "seats_held": 0})
        event = s.ok("GET", "/v1/events/Show-1")
        self.assertNotIn("layout", event)
        self.assertEqual((event["event"], event["name"], event["venue"], event["state"],
                          event["seats_total"]), ("Show-1", "Show Show-1", "Venue1", "open", 45))
        self.assertAlmostEqual(event["created_at_ms"] / 1000, time.time(), delta=60)
        self.assertEqual(event["zones"], [
            {"zone": 1, "name": "Stalls", "price_cents": 10000, "general_admission": False,
             "first_index": 0, "seats_total": 30},
            {"zone": 2, "name": "Circle", "price_cents": 15000, "general_admission": False,
             "first_index": 30, "seats_total": 10},
            {"zone": 3, "name": "Floor", "price_cents": 5000, "general_admission": True,
             "first_index": 40, "seats_total": 5}])
        with_layout = s.ok("GET", "/v1/events/Show-1?layout=true")
        layout = with_layout["layout"]
        self.assertEqual(layout["venue"], "Venue1")
        self.assertEqual([z["id"] for z in layout["zones"]], [1, 2, 3])
        self.assertEqual(layout["zones"][2]["capacity"], 5)
        self.assertEqual([r["label"] for r in layout["zones"][0]["rows"]], ["A", "B", "C"])
        self.assertNotIn("layout", s.ok("GET", "/v1/events/Show-1?layout=false"))

        stats = s.ok("GET", "/v1/events/Show-1/stats")
        self.assertEqual(stats, {"seats_total": 45, "seats_free": 45, "seats_held": 0,
                                 "seats_sold": 0, "revenue_cents": 0, "holds_created": 0,
                                 "holds_expired": 0, "holds_released": 0, "tickets_voided": 0})
        s.ok("POST", "/v1/events/Show-1/tickets", {"seats": [0, 30]}, status=201)
        hold = s.ok("POST", "/v1/events/Show-1/holds", {"seats": [1]}, status=201)
        s.ok("DELETE", f"/v1/holds/{hold['hold']}")
        s.ok("POST", "/v1/events/Show-1/holds", {"seats": [2]}, status=201)
        stats = s.ok("GET", "/v1/events/Show-1/stats")
        self.assertEqual(stats, {"seats_total": 45, "seats_free": 42, "seats_held": 1,
                                 "seats_sold": 2, "revenue_cents": 25000, "holds_created": 2,
                                 "holds_expired": 0, "holds_released": 1, "tickets_voided": 0})
        listed = {e["event"]: e for e in s.ok("GET", "/v1/events")["events"]}["Show-1"]
        self.assertEqual((listed["seats_sold"], listed["seats_held"]), (2, 1))

    def test_availability_and_free_bitmap(self):
        s = self.server
        e = self.create_event("Avail")
        s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [3, 4, 29]}, status=201)
        s.ok("POST", f"/v1/events/{e}/holds", {"seats": [1, 31]}, status=201)
        s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [{"zone": 3, "seat": "5"}]}, status=201)
        zones = s.ok("GET", f"/v1/events/{e}/availability")["zones"]
        self.assertEqual(zones, [
            {"zone": 1, "seats_total": 30, "seats_free": 26, "seats_held": 1, "seats_sold": 3},
            {"zone": 2, "seats_total": 10, "seats_free": 9, "seats_held": 1, "seats_sold": 0},
            {"zone": 3, "seats_total": 5, "seats_free": 4, "seats_held": 0, "seats_sold": 1}])
        one = s.ok("GET", f"/v1/events/{e}/availability?zone=2")["zones"]
        self.assertEqual([z["zone"] for z in one], [2])
        self.assertNotIn("free_bitmap", one[0])

        taken = {1: {1, 3, 4, 29}, 2: {1}, 3: {4}}  # per zone, counted from its first_index
        totals = {1: 30, 2: 10, 3: 5}
        for zone in s.ok("GET", f"/v1/events/{e}/availability?bitmap=true")["zones"]:
            bitmap = base64.b64decode(zone["free_bitmap"], validate=True)
            n = totals[zone["zone"]]
            self.assertGreaterEqual(len(bitmap) * 8, n)
            free = [bool(bitmap[i // 8] >> (i % 8) & 1) for i in range(n)]
            self.assertEqual([i for i in range(n) if not free[i]], sorted(taken[zone["zone"]]),
                             zone)
            self.assertEqual(sum(free), zone["seats_free"])
        z3 = s.ok("GET", f"/v1/events/{e}/availability?zone=3&bitmap=1")["zones"]
        self.assertEqual(base64.b64decode(z3[0]["free_bitmap"])[0] & 0x1F, 0b01111)
        self.assertError(s.get(f"/v1/events/{e}/availability?zone=99"), 404, "NOT_FOUND", 3)

    def test_seats_by_index_and_by_label(self):
        s = self.server
        e = self.create_event("Seats")
        r = s.ok("GET", f"/v1/events/{e}/seats/12")
        self.assertEqual(r, {"seat": {"index": 12, "zone": 1, "row": "B", "seat": "3",
                                      "price_cents": 10000}, "state": "free"})
        self.assertEqual(s.ok("GET", f"/v1/events/{e}/seats?zone=2&row=B&seat=4"),
                         {"seat": {"index": 38, "zone": 2, "row": "B", "seat": "4",
                                   "price_cents": 15000}, "state": "free"})
        ga = s.ok("GET", f"/v1/events/{e}/seats?zone=3&seat=2")
        self.assertEqual(ga["seat"], {"index": 41, "zone": 3, "seat": "2", "price_cents": 5000})
        s.ok("POST", f"/v1/events/{e}/holds", {"seats": [12]}, status=201)
        s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [38]}, status=201)
        self.assertEqual(self.seat_state(e, 12), "held")
        self.assertEqual(s.ok("GET", f"/v1/events/{e}/seats?zone=2&row=B&seat=4")["state"],
                         "sold")
        self.assertEqual(self.seat_state(e, 13), "free")

    def test_hold_by_index_and_label_extend_release(self):
        s = self.server
        e = self.create_event("Holds")
        before = time.time() * 1000
        hold = s.ok("POST", f"/v1/events/{e}/holds",
                    {"seats": [0, {"zone": 2, "row": "A", "seat": "2"}], "ttl_ms": 60000},
                    status=201)
        self.assertRegex(hold["hold"], TOKEN_RE)
        self.assertEqual([x["index"] for x in hold["seats"]], [0, 31])
        self.assertEqual(hold["seats"][1], {"index": 31, "zone": 2, "row": "A", "seat": "2",
                                            "price_cents": 15000})
        self.assertEqual(hold["total_cents"], 25000)
        self.assertAlmostEqual(hold["expires_at_ms"], before + 60000, delta=5000)
        self.assertEqual((self.seat_state(e, 0), self.seat_state(e, 31)), ("held", "held"))

        extended = s.ok("POST", f"/v1/holds/{hold['hold']}/extend", {"ttl_ms": 120000})
        self.assertEqual(extended["hold"], hold["hold"])
        self.assertEqual([x["index"] for x in extended["seats"]], [0, 31])
        self.assertGreater(extended["expires_at_ms"], hold["expires_at_ms"] + 50000)
        self.assertEqual(extended["total_cents"], 25000)

        self.assertEqual(s.ok("DELETE", f"/v1/holds/{hold['hold']}"), {"released": True})
        self.assertEqual((self.seat_state(e, 0), self.seat_state(e, 31)), ("free", "free"))
        self.assertError(s.request("DELETE", f"/v1/holds/{hold['hold']}"), 404, "HOLD_NOT_FOUND", 6)
        self.assertError(s.post(f"/v1/holds/{hold['hold']}/confirm"), 404, "HOLD_NOT_FOUND", 6)
        self.assertEqual(s.ok("GET", f"/v1/events/{e}/stats")["holds_released"], 1)

    def test_hold_best(self):
        s = self.server
        e = self.create_event("Best")
        best = s.ok("POST", f"/v1/events/{e}/holds/best", {"zone": 1, "count": 4}, status=201)
        self.assertRegex(best["hold"], TOKEN_RE)
        indices = [x["index"] for x in best["seats"]]
        self.assertEqual(len(indices), 4)
        self.assertEqual(indices, list(range(indices[0], indices[0] + 4)))  # adjacent
        self.assertEqual({x["row"] for x in best["seats"]}, {"A"})  # the front row
        self.assertEqual(best["total_cents"], 40000)
        for i in indices:
            self.assertEqual(self.seat_state(e, i), "held")
        ga = s.ok("POST", f"/v1/events/{e}/holds/best", {"zone": 3, "count": 2, "ttl_ms": 5000},
                  status=201)
        self.assertTrue(all(x["zone"] == 3 and 40 <= x["index"] <= 44 for x in ga["seats"]))

    def test_confirm_and_replay(self):
        s = self.server
        e = self.create_event("Confirm")
        hold = s.ok("POST", f"/v1/events/{e}/holds", {"seats": [5, 6]}, status=201)
        first = s.post(f"/v1/holds/{hold['hold']}/confirm",
                       {"idempotency_key": "confirm-1", "buyer": "customer-42"})
        self.assertEqual(first.status, 201, first)
        sale = first.json()
        self.assertIs(sale["replayed"], False)
        self.assertEqual(sale["total_cents"], 20000)
        ids = [t["id"] for t in sale["tickets"]]
        self.assertEqual([t["seat"]["index"] for t in sale["tickets"]], [5, 6])
        for ticket_id in ids:
            self.assertRegex(ticket_id, UUID_RE)
        again = s.post(f"/v1/holds/{hold['hold']}/confirm", {"idempotency_key": "confirm-1"})
        self.assertEqual(again.status, 200, again)
        self.assertIs(again.json()["replayed"], True)
        self.assertEqual([t["id"] for t in again.json()["tickets"]], ids)
        self.assertEqual(s.ok("GET", f"/v1/events/{e}/stats")["seats_sold"], 2)
        ticket = s.ok("GET", f"/v1/tickets/{ids[0]}")
        self.assertEqual(ticket["buyer"], "customer-42")
        # Without the key a second confirm of the same hold is refused.
        self.assertError(s.post(f"/v1/holds/{hold['hold']}/confirm"), 404, "HOLD_NOT_FOUND", 6)
        # The Idempotency-Key header works for confirm too (no body at all).
        hold = s.ok("POST", f"/v1/events/{e}/holds", {"seats": [7]}, status=201)
        r = s.post(f"/v1/holds/{hold['hold']}/confirm", headers={"Idempotency-Key": "confirm-2"})
        self.assertEqual(r.status, 201, r)
        r2 = s.post(f"/v1/holds/{hold['hold']}/confirm", headers={"Idempotency-Key": "confirm-2"})
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual((r2.json()["replayed"], r2.json()["tickets"]),
                         (True, r.json()["tickets"]))

    def test_buy_with_body_key_and_header_key(self):
        s = self.server
        e = self.create_event("Buy")
        r = s.post(f"/v1/events/{e}/tickets",
                   {"seats": [{"zone": 1, "row": "C", "seat": "10"}], "idempotency_key": "b-1",
                    "buyer": "web"})
        self.assertEqual(r.status, 201, r)
        first = r.json()
        self.assertIs(first["replayed"], False)
        self.assertEqual(first["tickets"][0]["seat"], {"index": 29, "zone": 1, "row": "C",
                                                       "seat": "10", "price_cents": 10000})
        # The same key in the body: the first outcome, never a second ticket.
        r = s.post(f"/v1/events/{e}/tickets", {"seats": [29], "idempotency_key": "b-1"})
        self.assertIn(r.status, (200, 201), r)
        self.assertIs(r.json()["replayed"], True)
        self.assertEqual(r.json()["tickets"], first["tickets"])

        # The Idempotency-Key header, retried three times.
        r = s.post(f"/v1/events/{e}/tickets", {"seats": [30, 31]},
                   headers={"Idempotency-Key": "h-1"})
        self.assertEqual(r.status, 201, r)
        by_header = r.json()
        self.assertIs(by_header["replayed"], False)
        self.assertEqual(by_header["total_cents"], 30000)
        for _ in range(3):
            r = s.post(f"/v1/events/{e}/tickets", {"seats": [30, 31]},
                       headers={"Idempotency-Key": "h-1"})
            self.assertIn(r.status, (200, 201), r)
            self.assertIs(r.json()["replayed"], True)
            self.assertEqual(r.json()["tickets"], by_header["tickets"])
        # A retry with another key is a new purchase of taken seats: refused.
        self.assertError(s.post(f"/v1/events/{e}/tickets", {"seats": [30]},
                                headers={"Idempotency-Key": "h-2"}), 409, "SEAT_TAKEN", 4)
        # The body wins over the header: header h-1 with body key b-1 replays b-1's sale.
        r = s.post(f"/v1/events/{e}/tickets", {"seats": [29], "idempotency_key": "b-1"},
                   headers={"Idempotency-Key": "h-1"})
        self.assertEqual(r.json()["tickets"], first["tickets"], r)
        stats = s.ok("GET", f"/v1/events/{e}/stats")
        self.assertEqual((stats["seats_sold"], stats["revenue_cents"]), (3, 40000))
        self.assertEqual(s.ok("GET", f"/v1/tickets/{first['tickets'][0]['id']}")["buyer"], "web")
        # Over-long keys and buyer references are refused, nothing sold.
        self.assertError(s.post(f"/v1/events/{e}/tickets", {"seats": [0]},
                                headers={"Idempotency-Key": "k" * 65}), 400, "BAD_REQUEST", 1)
        self.assertError(s.post(f"/v1/events/{e}/tickets", {"seats": [0], "buyer": "b" * 57}),
                         400, "BAD_REQUEST", 1)
        self.assertEqual(self.seat_state(e, 0), "free")
        # The path names the event: an "event" in the body does not move the sale.
        other = self.create_event("BuyOther")
        r = s.post(f"/v1/events/{e}/tickets", {"seats": [0], "event": other})
        self.assertEqual(r.status, 201, r)
        self.assertEqual((self.seat_state(e, 0), self.seat_state(other, 0)), ("sold", "free"))

    def test_buy_replay_answers_200_like_confirm(self):
        # HTTP_API.md: buy answers "201, as hold.confirm", and hold.confirm answers 200 when
        # replayed (nothing new was created). A replayed buy should be 200 too.
        s = self.server
        e = self.create_event("BuyReplay")
        self.assertEqual(s.post(f"/v1/events/{e}/tickets", {"seats": [0]},
                                headers={"Idempotency-Key": "r-1"}).status, 201)
        r = s.post(f"/v1/events/{e}/tickets", {"seats": [0]}, headers={"Idempotency-Key": "r-1"})
        self.assertIs(r.json()["replayed"], True)
        self.assertEqual(r.status, 200, "a replayed buy created nothing: 200 as for "
                                        "hold.confirm, not 201")

    def test_ticket_get_and_void(self):
        s = self.server
        e = self.create_event("Void")
        sale = s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [32], "buyer": "b-7"},
                    status=201)
        ticket_id = sale["tickets"][0]["id"]
        ticket = s.ok("GET", f"/v1/tickets/{ticket_id}")
        self.assertEqual(ticket["ticket"], ticket_id)
        self.assertEqual(ticket["event"], e)
        self.assertEqual(ticket["seat"], {"index": 32, "zone": 2, "row": "A", "seat": "3",
                                          "price_cents": 15000})
        self.assertEqual((ticket["status"], ticket["price_cents"], ticket["buyer"],
                          ticket["generation"]), ("valid", 15000, "b-7", 1))
        self.assertNotIn("voided_at_ms", ticket)
        self.assertAlmostEqual(ticket["sold_at_ms"] / 1000, time.time(), delta=60)

        self.assertEqual(s.ok("POST", f"/v1/tickets/{ticket_id}/void"),
                         {"voided": True, "refund_cents": 15000, "already_voided": False})
        self.assertEqual(s.ok("POST", f"/v1/tickets/{ticket_id}/void"),
                         {"voided": True, "refund_cents": 0, "already_voided": True})
        voided = s.ok("GET", f"/v1/tickets/{ticket_id}")
        self.assertEqual(voided["status"], "voided")
        self.assertGreaterEqual(voided["voided_at_ms"], voided["sold_at_ms"])
        self.assertEqual(self.seat_state(e, 32), "free")
        stats = s.ok("GET", f"/v1/events/{e}/stats")
        self.assertEqual((stats["seats_sold"], stats["revenue_cents"], stats["tickets_voided"]),
                         (0, 0, 1))
        # The seat is on sale again: a second generation.
        resale = s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [32]}, status=201)
        self.assertNotEqual(resale["tickets"][0]["id"], ticket_id)
        self.assertEqual(s.ok("GET", f"/v1/tickets/{resale['tickets'][0]['id']}")["generation"], 2)

    def test_head_is_answered_without_a_body(self):
        # RFC 9110: a response to HEAD has no content. A body there is read by a keep-alive
        # client as the start of the next response.
        raw, _ = raw_exchange(self.server.http_port,
                              b"HEAD /v1/ping HTTP/1.1\r\nHost: t\r\n\r\n"
                              b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n\r\n", read_timeout=1.0)
        self.assertEqual(status_of(raw), 200, raw)
        head_end = raw.index(b"\r\n\r\n") + 4
        self.assertTrue(raw[head_end:].startswith(b"HTTP/1.1 200"),
                        f"the HEAD response carried a body: {raw!r}")


# ---------------------------------------------------------------------------------------------
# 2. Status codes


class StatusCodeTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.ok("POST", "/v1/events",
                      {"id": "Errs", "layout": venue_layout()}, status=201)

    def test_400(self):
        s = self.server
        before = s.ok("GET", "/v1/events/Errs/stats")
        self.assertError(s.post("/v1/events/Errs/holds", raw=b'{"seats": [1,'), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds", raw=b"not json at all"), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds", raw=b"[1, 2]"), 400, "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/tickets", raw=b'"x"'), 400, "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds", {"seats": "x"}), 400, "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/tickets", {"seats": [{"zone": "1", "row": "A",
                                                                       "seat": "1"}]}),
                         400, "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds/best", {"zone": "1", "count": 2}), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds/best", {"zone": 1}), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds", {"seats": [1], "ttl_ms": "long"}), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.post("/v1/events/Errs/holds", {}), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/seats/abc"), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/seats/-1"), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/seats/1.5"), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/seats?zone=x&row=A&seat=1"), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/seats?row=A"), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/availability?bitmap=maybe"), 400,
                         "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs/availability?zone=one"), 400, "BAD_REQUEST", 1)
        self.assertError(s.get("/v1/events/Errs?layout=yes"), 400, "BAD_REQUEST", 1)
        for bad in ("xyz", "0" * 31, "g" * 32):
            self.assertError(s.post(f"/v1/holds/{bad}/confirm"), 400, "BAD_REQUEST", 1)
            self.assertError(s.post(f"/v1/holds/{bad}/extend"), 400, "BAD_REQUEST", 1)
            self.assertError(s.request("DELETE", f"/v1/holds/{bad}"), 400, "BAD_REQUEST", 1)
        for bad in ("nope", "00000000-0005-8bd7-8000-d836c88f2d6"):
            self.assertError(s.get(f"/v1/tickets/{bad}"), 400, "BAD_REQUEST", 1)
            self.assertError(s.post(f"/v1/tickets/{bad}/void"), 400, "BAD_REQUEST", 1)
        # A bad layout names the bad value.
        error = self.assertError(s.post("/v1/events", {"id": "Bad", "layout": {"venue": "V"}}),
                                 400, "BAD_REQUEST", 1)
        self.assertIn("zones", error["message"])
        self.assertEqual(s.get("/v1/events/Bad").status, 404)
        # Nothing of that was sold or held.
        self.assertEqual(s.ok("GET", "/v1/events/Errs/stats"), before)

    def test_404(self):
        s = self.server
        self.assertError(s.get("/v1/nothing"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Errs/nothing"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/nothing/at/all"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Nope"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Nope/stats"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Nope/availability"), 404, "NOT_FOUND", 3)
        self.assertError(s.post("/v1/events/Nope/tickets", {"seats": [0]}), 404, "NOT_FOUND", 3)
        self.assertError(s.post("/v1/events/Nope/holds", {"seats": [0]}), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Errs/seats/45"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Errs/seats/99999"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Errs/seats?zone=1&row=Z&seat=1"), 404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/events/Errs/seats?zone=9&row=A&seat=1"), 404, "NOT_FOUND", 3)
        self.assertError(s.post("/v1/events/Errs/tickets",
                                {"seats": [{"zone": 1, "row": "A", "seat": "11"}]}),
                         404, "NOT_FOUND", 3)
        self.assertError(s.get("/v1/tickets/00000000-0005-8bd7-8000-d836c88f2d65"), 404,
                         "NOT_FOUND", 3)
        self.assertError(s.post("/v1/tickets/00000000-0005-8bd7-8000-d836c88f2d65/void"), 404,
                         "NOT_FOUND", 3)
        self.assertError(s.post("/v1/holds/" + "0" * 32 + "/confirm"), 404, "HOLD_NOT_FOUND", 6)
        self.assertError(s.post("/v1/holds/" + "0" * 32 + "/extend"), 404, "HOLD_NOT_FOUND", 6)
        self.assertError(s.request("DELETE", "/v1/holds/" + "0" * 32), 404, "HOLD_NOT_FOUND", 6)

    def test_405_with_allow(self):
        s = self.server
        cases = [("DELETE", "/v1/events", "GET, POST"), ("PUT", "/v1/ping", "GET"),
                 ("POST", "/v1/events/Errs", "GET"), ("GET", "/v1/events/Errs/holds", "POST"),
                 ("GET", "/v1/events/Errs/tickets", "POST"),
                 ("PATCH", "/v1/events/Errs/stats", "GET"),
                 ("GET", "/v1/holds/" + "0" * 32, "DELETE"),
                 ("GET", "/v1/holds/" + "0" * 32 + "/confirm", "POST"),
                 ("DELETE", "/v1/tickets/00000000-0005-8bd7-8000-d836c88f2d65", "GET"),
                 ("GET", "/v1/tickets/00000000-0005-8bd7-8000-d836c88f2d65/void", "POST")]
        for method, path, allow in cases:
            r = s.request(method, path)
            self.assertEqual(r.status, 405, (method, path, r))
            self.assertEqual(r.header("Allow"), allow, (method, path, r))
            self.assertEqual(r.json()["error"]["code"], 1, r)
        # The CQRS routes: Spring's error body, with Allow.
        r = s.request("GET", "/purchase/api/v1/tickets")
        self.assertEqual((r.status, r.header("Allow")), (405, "POST"), r)
        self.assertEqual(r.json()["status"], 405)
        r = s.request("POST", "/query/health")
        self.assertEqual((r.status, r.header("Allow")), (405, "GET"), r)
        r = s.request("DELETE", "/query/api/v1/tickets")
        self.assertEqual((r.status, r.header("Allow")), (405, "GET"), r)

    def test_405_on_operations_routes_has_allow(self):
        # HTTP_API.md, 405: "the route exists but not with this method (an Allow header lists
        # the methods)"; and an error is the msgpack error map under "error".
        for path in ("/health", "/ready", "/metrics"):
            r = self.server.request("POST", path)
            self.assertEqual(r.status, 405, (path, r))
            self.assertEqual(r.header("Allow"), "GET", (path, r))
            self.assertIsInstance(r.json()["error"], dict, (path, r))
            self.assertEqual(r.json()["error"]["code"], 1, (path, r))

    def test_409_seat_taken_lists_the_taken_seats(self):
        s = self.server
        s.ok("POST", "/v1/events/Errs/tickets", {"seats": [10, 11]}, status=201)
        s.ok("POST", "/v1/events/Errs/holds", {"seats": [13]}, status=201)
        error = self.assertError(s.post("/v1/events/Errs/holds", {"seats": [11, 12, 13, 14]}),
                                 409, "SEAT_TAKEN", 4)
        self.assertEqual(error["seats"], [
            {"index": 11, "zone": 1, "row": "B", "seat": "2", "price_cents": 10000},
            {"index": 13, "zone": 1, "row": "B", "seat": "4", "price_cents": 10000}])
        # All or nothing: 12 and 14 were not held.
        self.assertEqual((self.seat_state("Errs", 12), self.seat_state("Errs", 14)),
                         ("free", "free"))
        error = self.assertError(s.post("/v1/events/Errs/tickets",
                                        {"seats": [{"zone": 1, "row": "B", "seat": "1"}]}),
                                 409, "SEAT_TAKEN", 4)
        self.assertEqual([x["index"] for x in error["seats"]], [10])

    def test_409_event_closed(self):
        s = self.server
        self.create_event("Paused", state="paused")
        self.assertEqual(s.ok("GET", "/v1/events/Paused")["state"], "paused")
        self.assertError(s.post("/v1/events/Paused/tickets", {"seats": [0]}), 409,
                         "EVENT_CLOSED", 7)
        self.assertError(s.post("/v1/events/Paused/holds", {"seats": [0]}), 409,
                         "EVENT_CLOSED", 7)
        self.assertError(s.post("/v1/events/Paused/holds/best", {"zone": 1, "count": 2}), 409,
                         "EVENT_CLOSED", 7)
        self.create_event("Closed", state="closed")
        self.assertError(s.post("/v1/events/Closed/tickets", {"seats": [1]}), 409,
                         "EVENT_CLOSED", 7)
        self.assertEqual(self.seat_state("Paused", 0), "free")

    def test_410_hold_expired(self):
        s = self.server
        hold = s.ok("POST", "/v1/events/Errs/holds", {"seats": [20, 21], "ttl_ms": 200},
                    status=201)
        self.assertEqual(self.seat_state("Errs", 20), "held")
        time.sleep(0.6)
        self.assertError(s.post(f"/v1/holds/{hold['hold']}/confirm"), 410, "HOLD_EXPIRED", 5)
        self.assertError(s.post(f"/v1/holds/{hold['hold']}/extend"), 410, "HOLD_EXPIRED", 5)
        self.assertEqual((self.seat_state("Errs", 20), self.seat_state("Errs", 21)),
                         ("free", "free"))
        self.assertGreaterEqual(s.ok("GET", "/v1/events/Errs/stats")["holds_expired"], 1)

    def test_413_body_over_1_mib(self):
        s = self.server
        port = s.http_port
        # The Content-Length alone is enough: answered 413 before the body, connection closed.
        raw, end = raw_exchange(port, b"POST /v1/events/Errs/tickets HTTP/1.1\r\nHost: t\r\n"
                                      b"Content-Type: application/json\r\n"
                                      b"Content-Length: 1100000\r\n\r\n")
        self.assertEqual(status_of(raw), 413, raw)
        self.assertIn(end, ("eof", "reset"))
        # The whole body sent.
        body = b'{"seats": [22], "pad": "' + b"a" * (1100 << 10) + b'"}'
        raw, _ = raw_exchange(port, b"POST /v1/events/Errs/tickets HTTP/1.1\r\nHost: t\r\n"
                                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertIn(status_of(raw), (413, None), raw)  # 413, or closed before we read it
        # Chunked, growing past the limit.
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        raw, _ = raw_exchange(port, b"POST /v1/events/Errs/tickets HTTP/1.1\r\nHost: t\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 18 +
                              b"0\r\n\r\n")
        self.assertIn(status_of(raw), (413, None), raw)
        self.assertEqual(self.seat_state("Errs", 22), "free")  # nothing ran
        # Just under the limit is served (unknown fields are ignored).
        body = json.dumps({"seats": [23], "pad": "a" * (1000 << 10)})
        self.assertLess(len(body), 1 << 20)
        r = s.post("/v1/events/Errs/tickets", raw=body.encode())
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["tickets"][0]["seat"]["index"], 23)
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])

    def test_422_limit_exceeded(self):
        s = self.server
        self.assertError(s.post("/v1/events/Errs/holds", {"seats": list(range(33))}), 422,
                         "LIMIT_EXCEEDED", 8)
        self.assertError(s.post("/v1/events/Errs/tickets", {"seats": list(range(33))}), 422,
                         "LIMIT_EXCEEDED", 8)
        self.assertError(s.post("/v1/events/Errs/holds", {"seats": [24], "ttl_ms": 16 * 60000}),
                         422, "LIMIT_EXCEEDED", 8)
        hold = s.ok("POST", "/v1/events/Errs/holds", {"seats": [24]}, status=201)
        self.assertError(s.post(f"/v1/holds/{hold['hold']}/extend", {"ttl_ms": 16 * 60000}),
                         422, "LIMIT_EXCEEDED", 8)
        self.assertEqual(s.ok("DELETE", f"/v1/holds/{hold['hold']}"), {"released": True})
        # 32 seats is the limit, not beyond.
        self.create_event("Errs32")
        r = s.post("/v1/events/Errs32/holds", {"seats": list(range(32))})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(len(r.json()["seats"]), 32)


# ---------------------------------------------------------------------------------------------
# Authentication


class AuthTest(unittest.TestCase):
    SELL = "seller-key-0123456789"
    ADMIN = "admin-key-0123456789abc"

    @classmethod
    def setUpClass(cls):
        fd, cls.keys_path = tempfile.mkstemp(suffix=".keys")
        with os.fdopen(fd, "w") as f:
            f.write(f"# test keys\n{cls.SELL} sell\n{cls.ADMIN} admin\n")
        cls.server = Server(["--api-keys", cls.keys_path])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        os.unlink(cls.keys_path)

    def auth(self, key):
        return {"Authorization": f"Bearer {key}"}

    def test_keys_and_roles(self):
        s = self.server
        r = s.get("/v1/events")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        self.assertEqual(r.json()["error"]["name"], "UNAUTHORIZED")
        self.assertEqual(r.json()["error"]["code"], 2)
        r = s.get("/v1/ping")
        self.assertEqual((r.status, r.header("WWW-Authenticate")), (401, "Bearer"), r)
        for wrong in ("Bearer nope", f"Bearer {self.SELL}x", f"Basic {self.ADMIN}", self.ADMIN):
            r = s.get("/v1/events", headers={"Authorization": wrong})
            self.assertEqual(r.status, 401, (wrong, r))
            self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        body = {"id": "Keyed", "layout": venue_layout()}
        r = s.post("/v1/events", body, headers=self.auth(self.SELL))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["name"], "UNAUTHORIZED")
        self.assertEqual(s.get("/v1/events/Keyed", headers=self.auth(self.SELL)).status, 404)
        r = s.post("/v1/events", body, headers=self.auth(self.ADMIN))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["seats_total"], SEATS_TOTAL)
        # A sell key sells; the scheme is case-insensitive.
        r = s.post("/v1/events/Keyed/tickets", {"seats": [0]},
                   headers={"Authorization": f"bearer {self.SELL}"})
        self.assertEqual(r.status, 201, r)
        events = s.get("/v1/events", headers=self.auth(self.SELL))
        self.assertEqual(events.status, 200)
        self.assertEqual([e["seats_sold"] for e in events.json()["events"]], [1])
        # No key, no sale, no ticket list.
        self.assertEqual(s.post("/v1/events/Keyed/tickets", {"seats": [2]}).status, 401)
        purchase = {"venueId": "Venue1", "eventId": "Keyed", "zoneId": 1, "row": "A",
                    "column": "2"}
        self.assertEqual(s.post("/purchase/api/v1/tickets", purchase).status, 401)
        self.assertEqual(s.get("/query/api/v1/tickets").status, 401)
        r = s.post("/purchase/api/v1/tickets", purchase, headers=self.auth(self.SELL))
        self.assertEqual(r.status, 201, r)
        r = s.get("/query/api/v1/tickets", headers=self.auth(self.SELL))
        self.assertEqual(len(r.json()), 2)
        self.assertEqual(s.get("/v1/events/Keyed/seats/1", headers=self.auth(self.ADMIN))
                         .json()["state"], "sold")  # the purchase's A2
        self.assertEqual(s.get("/v1/events/Keyed/seats/2", headers=self.auth(self.ADMIN))
                         .json()["state"], "free")  # the refused /v1 buy

    def test_health_routes_need_no_key(self):
        s = self.server
        self.assertEqual(s.get("/health").json()["status"], "ok")
        self.assertEqual(s.get("/ready").status, 200)
        self.assertEqual(s.get("/metrics").status, 200)
        self.assertEqual(s.get("/purchase/health").text(), "Purchase Healthy")
        self.assertEqual(s.get("/query/health").text(), "Query Healthy")
        self.assertEqual(s.get("/events/health").text(), "Consumer Healthy")


# ---------------------------------------------------------------------------------------------
# 3. Hostile and slow clients


class HostileClientTest(ServerTestCase):
    def test_slow_headers_byte_by_byte_do_not_block_others(self):
        s = self.server
        result = {}

        def slow():
            try:
                sock = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
                for byte in b"GET /v1/ping HTTP/1.1\r\nHost: slow.example\r\n\r\n":
                    sock.sendall(bytes([byte]))
                    time.sleep(0.03)
                result["raw"] = read_all(sock, 2.0)[0]
                sock.close()
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = repr(e)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.1)
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            self.assertTrue(s.ok("GET", "/v1/ping")["pong"])
            latencies.append(time.monotonic() - started)
        self.assertTrue(thread.is_alive(), "the slow client finished before the others ran")
        self.assertLess(max(latencies), 0.5, latencies)
        thread.join(timeout=TIMEOUT_S * 2)
        self.assertFalse(thread.is_alive())
        self.assertNotIn("error", result, result)
        self.assertEqual(status_of(result["raw"]), 200, result)
        self.assertIn(b'"pong":true', result["raw"])

    def test_a_silent_connection_does_not_block_others(self):
        s = self.server
        silent = [socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
                  for _ in range(5)]
        try:
            for _ in range(5):
                started = time.monotonic()
                self.assertTrue(s.ok("GET", "/v1/ping")["pong"])
                self.assertLess(time.monotonic() - started, 0.5)
        finally:
            for sock in silent:
                sock.close()

    def test_headers_over_16_kib(self):
        s = self.server
        raw, end = raw_exchange(s.http_port, b"GET /v1/ping HTTP/1.1\r\nHost: t\r\nX-Big: " +
                                b"a" * (20 << 10) + b"\r\n\r\n")
        # libevent answers 400 (HTTP_API.md says so). Either way: refused and
        # closed, never run.
        self.assertIn(status_of(raw), (400, 413, 431, None), raw)
        self.assertNotIn(b"pong", raw)
        self.assertIn(end, ("eof", "reset"))
        # Many headers adding up to more than 16 KiB, and a huge request line.
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(200))
        raw, _ = raw_exchange(s.http_port, b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n" + many +
                              b"\r\n")
        self.assertIn(status_of(raw), (400, 413, 431, None), raw)
        raw, _ = raw_exchange(s.http_port, b"GET /v1/ping?" + b"q" * (20 << 10) +
                              b" HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertIn(status_of(raw), (400, 413, 414, 431, None), raw)
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])
        # Just under the limit is fine.
        r = s.get("/v1/ping", headers={"X-Big": "a" * (12 << 10)})
        self.assertEqual(r.status, 200, r)

    def test_lying_content_length(self):
        s = self.server
        s.ok("POST", "/v1/events", {"id": "Liar", "layout": venue_layout()}, status=201)
        head = b"POST /v1/events/Liar/tickets HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
        # Claims 1000 bytes, sends 14, closes.
        sock = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
        sock.sendall(head + b'{"seats": [0]}')
        sock.close()
        # Claims 1000, sends 14, half-closes: no request ran, the connection is closed.
        raw, end = raw_exchange(s.http_port, head + b'{"seats": [1]}', read_timeout=5,
                                half_close=True)
        self.assertNotIn(b"tickets", raw)
        self.assertIn(end, ("eof", "reset"))
        # Claims less than it sends: the rest is read as the next request, which is garbage.
        body = b'{"seats": [2]}'
        raw, _ = raw_exchange(s.http_port, b"POST /v1/events/Liar/tickets HTTP/1.1\r\nHost: t\r\n"
                                           b"Content-Length: 5\r\n\r\n" + body, read_timeout=2)
        self.assertEqual(status_of(raw), 400, raw)
        for seat in (0, 1, 2):
            self.assertEqual(self.seat_state("Liar", seat), "free")
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])

    def test_garbage_and_pipelining(self):
        s = self.server
        raw, end = raw_exchange(s.http_port, b"\x00\xff\x16\x03\x01 garbage\r\n\r\n")
        self.assertIn(status_of(raw), (400, None), raw)
        self.assertIn(end, ("eof", "reset"))
        # Three pipelined requests on one connection: three answers in order.
        raw, _ = raw_exchange(s.http_port, b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n\r\n"
                                           b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
                                           b"GET /v1/events/Nope HTTP/1.1\r\nHost: t\r\n"
                                           b"Connection: close\r\n\r\n", read_timeout=3)
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
        self.assertEqual(statuses, [200, 200, 404], raw)
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])


class HttpTimeoutTest(ServerTestCase):
    server_args = ("--http-timeout-s", "2")

    def test_idle_and_stalled_connections_are_closed(self):
        s = self.server
        started = time.monotonic()
        idle = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
        stalled = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
        stalled.sendall(b"POST /v1/events/X/tickets HTTP/1.1\r\nHost: t\r\n"
                        b"Content-Length: 100\r\n\r\n{")
        half_headers = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
        half_headers.sendall(b"GET /v1/ping HTTP/1.1\r\nHo")
        # Meanwhile others are served at once.
        for _ in range(3):
            self.assertTrue(s.ok("GET", "/v1/ping")["pong"])
        self.assertLess(time.monotonic() - started, 1.5)
        for name, sock in (("idle", idle), ("stalled body", stalled),
                           ("half headers", half_headers)):
            raw, end = read_all(sock, 8)
            elapsed = time.monotonic() - started
            self.assertIn(end, ("eof", "reset"), (name, raw))
            self.assertNotIn(b"pong", raw, name)
            self.assertGreater(elapsed, 1.5, name)
            self.assertLess(elapsed, 8, name)
            sock.close()
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])

    def test_a_trickled_request_is_cut_at_the_deadline(self):
        # libevent's own timeout is per read: a byte every 300 ms would keep it alive for ever.
        # The whole request must arrive within --http-timeout-s of the accept.
        sock = socket.create_connection(("127.0.0.1", self.server.http_port), timeout=TIMEOUT_S)
        started = time.monotonic()
        request = b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: 1\r\n" * 100 + b"\r\n"
        cut_after_s = None
        for byte in request:
            try:
                sock.send(bytes([byte]))
            except OSError:  # EPIPE / ECONNRESET: the server closed it
                cut_after_s = time.monotonic() - started
                break
            time.sleep(0.3)
        sock.close()
        self.assertIsNotNone(cut_after_s, "a request trickled over 100 s was never cut")
        self.assertGreater(cut_after_s, 1.5)
        self.assertLess(cut_after_s, 5)

    def test_keep_alive_requests_each_get_the_deadline(self):
        # Requests on one keep-alive connection, each sent whole, 1.2 s apart (3.6 s in all):
        # every one is within its own deadline, so the connection lives.
        sock = socket.create_connection(("127.0.0.1", self.server.http_port), timeout=TIMEOUT_S)
        for _ in range(3):
            sock.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n\r\n")
            reply = b""
            while b"pong" not in reply:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "closed within its deadline")
                reply += chunk
            self.assertEqual(status_of(reply), 200)
            time.sleep(1.2)
        sock.close()


class HttpConnectionCapTest(ServerTestCase):
    server_args = ("--http-connections-max", "4")

    def connections_open(self):
        text = self.server.request("GET", "/metrics").body.decode()
        return int(float(re.search(r'^boxoffice_connections\{interface="http"\} (\S+)$', text,
                                   re.M).group(1)))

    def test_connections_over_the_cap_are_refused_with_503(self):
        s = self.server
        deadline = time.monotonic() + 5
        while (open_now := self.connections_open()) > 1 and time.monotonic() < deadline:
            # Closed connections leave the count at the next sweep (every 100 ms); each poll's
            # own connection is closed right after it.
            time.sleep(0.3)
        self.assertEqual(open_now, 1)  # the /metrics request's own
        time.sleep(0.3)  # and it is gone
        held = [socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
                for _ in range(4)]
        try:
            # The fifth, silent: told 503 (the JSON error map, Retry-After) and closed.
            over = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
            raw, end = read_all(over, 3)
            over.close()
            self.assertEqual(status_of(raw), 503, raw)
            self.assertIn(b"Retry-After: 1", raw)
            self.assertEqual(end, "eof", raw)
            body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(body["error"]["name"], "BUSY")
            # The sixth, with a request at once: the same 503, and its request did not run.
            over = socket.create_connection(("127.0.0.1", s.http_port), timeout=TIMEOUT_S)
            over.sendall(b'POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}')
            raw, end = read_all(over, 3)
            over.close()
            self.assertEqual(status_of(raw), 503, raw)
            self.assertIn(b"Connection: close", raw)
            # The four under the cap are served.
            for sock in held:
                sock.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(status_of(sock.recv(65536)), 200)
        finally:
            for sock in held:
                sock.close()
        # Once they close, new connections are served again.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if s.request("GET", "/v1/ping").status == 200:
                break
            time.sleep(0.1)
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])
        metrics = s.request("GET", "/metrics").body.decode()
        self.assertRegex(metrics, r'boxoffice_busy_rejections_total\{interface="http"\} [2-9]')


# ---------------------------------------------------------------------------------------------
# 4. The CQRS ticketing platform's routes, as its users run them


class EventStream:
    """A GET /v1/events/{event}/changes stream read from a raw socket: the status line and
    headers, then the chunked body split into server-sent events."""

    def __init__(self, port, event):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.sock.sendall(f"GET /v1/events/{event}/changes HTTP/1.1\r\nHost: t\r\n"
                          f"Accept: text/event-stream\r\n\r\n".encode())
        self.raw = b""
        self.text = ""    # the body's chunks so far, joined
        self.ended = False  # the terminating chunk arrived
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the stream")
        self.raw += data

    def _unchunk(self):
        while True:
            size_end = self.raw.find(b"\r\n")
            if size_end < 0:
                return
            size = int(self.raw[:size_end], 16)
            if len(self.raw) < size_end + 2 + size + 2:
                return
            if size == 0:
                self.ended = True
            self.text += self.raw[size_end + 2:size_end + 2 + size].decode()
            self.raw = self.raw[size_end + 2 + size + 2:]

    def next_event(self, timeout_s=TIMEOUT_S):
        """The next event as (name, data as JSON) or ("comment", text); waits for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._unchunk()
            if "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.split("\n")
                              if not line.startswith(":"))
                if "data" not in fields:
                    return "comment", block
                return fields.get("event", "message"), json.loads(fields["data"])
            if self.ended or time.monotonic() > deadline:
                raise AssertionError(f"no event (ended: {self.ended}): {self.text!r}")
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            self._recv()

    def close(self):
        self.sock.close()


class ChangeStreamTest(ServerTestCase):
    """GET /v1/events/{event}/changes: the seat.changed notifications of `subscribe` as
    server-sent events."""
    server_args = ("--http-timeout-s", "2")

    def test_seat_changes_arrive_as_server_sent_events(self):
        s = self.server
        e = self.create_event("Live-1")
        stream = EventStream(s.http_port, e)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.headers["content-type"], "text/event-stream")
        self.assertEqual(stream.headers["cache-control"], "no-cache")
        self.assertEqual(stream.headers["transfer-encoding"], "chunked")
        self.assertEqual(stream.next_event()[0], "comment")  # the greeting

        hold = s.ok("POST", f"/v1/events/{e}/holds", {"seats": [0, 1]}, status=201)
        self.assertEqual(stream.next_event(),
                         ("seat.changed", {"event": e, "seats": [0, 1], "state": "held"}))
        s.ok("DELETE", f"/v1/holds/{hold['hold']}")
        self.assertEqual(stream.next_event(),
                         ("seat.changed", {"event": e, "seats": [0, 1], "state": "free"}))
        s.ok("POST", f"/v1/events/{e}/tickets", {"seats": [2], "buyer": "b"}, status=201)
        event = stream.next_event()
        self.assertEqual(event, ("seat.changed", {"event": e, "seats": [2], "state": "sold"}))

        # Quiet for longer than --http-timeout-s (2 s, and evhttp's own 3 s): still open.
        time.sleep(3.5)
        s.ok("POST", f"/v1/events/{e}/holds", {"seats": [3]}, status=201)
        self.assertEqual(stream.next_event(),
                         ("seat.changed", {"event": e, "seats": [3], "state": "held"}))

    def test_streams_of_other_events_and_closed_streams(self):
        s = self.server
        a, b = self.create_event("Live-A"), self.create_event("Live-B")
        of_a, gone, of_b = (EventStream(s.http_port, a), EventStream(s.http_port, a),
                            EventStream(s.http_port, b))
        self.addCleanup(of_a.close)
        self.addCleanup(of_b.close)
        for stream in (of_a, gone, of_b):
            self.assertEqual(stream.next_event()[0], "comment")
        gone.close()  # the server forgets it; the others go on
        s.ok("POST", f"/v1/events/{b}/holds", {"seats": [5]}, status=201)
        s.ok("POST", f"/v1/events/{a}/holds", {"seats": [6]}, status=201)
        self.assertEqual(of_a.next_event()[1], {"event": a, "seats": [6], "state": "held"})
        self.assertEqual(of_b.next_event()[1], {"event": b, "seats": [5], "state": "held"})
        self.assertTrue(s.ok("GET", "/v1/ping")["pong"])

    def test_errors(self):
        s = self.server
        self.assertError(s.get("/v1/events/Nope/changes"), 404, "NOT_FOUND", 3)
        e = self.create_event("Live-E")
        r = s.post(f"/v1/events/{e}/changes")
        self.assertError(r, 405, "BAD_REQUEST", 1)
        self.assertEqual(r.header("Allow"), "GET")

    def test_stopping_the_server_ends_the_stream(self):
        server = Server(("--http-timeout-s", "2"))
        try:
            server.ok("POST", "/v1/events", {"id": "Live-S", "layout": venue_layout()},
                      status=201)
            stream = EventStream(server.http_port, "Live-S")
            self.assertEqual(stream.next_event()[0], "comment")
            server.process.send_signal(signal.SIGTERM)
            stream.sock.settimeout(TIMEOUT_S)
            while not stream.ended:
                stream._recv()
                stream._unchunk()
            stream.close()
            self.assertEqual(server.process.wait(timeout=TIMEOUT_S), 0, server.log())
        finally:
            server.stop()


class CqrsTest(ServerTestCase):
    def purchase(self, zone, row, column, event="Event1", venue="Venue1", headers=None):
        return self.server.post("/purchase/api/v1/tickets",
                                {"venueId": venue, "eventId": event, "zoneId": zone, "row": row,
                                 "column": column}, headers=headers)

    def assertSpringError(self, r, status, path):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(set(body), {"timestamp", "status", "error", "message", "path"}, body)
        self.assertEqual((body["status"], body["path"]), (status, path))
        self.assertRegex(body["timestamp"], ISO_RE)

    def test_health_routes(self):
        s = self.server
        for path, text in (("/purchase/health", "Purchase Healthy"),
                           ("/query/health", "Query Healthy"),
                           ("/events/health", "Consumer Healthy")):
            r = s.get(path)
            self.assertEqual((r.status, r.text()), (200, text))
            self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        r = s.get("/query/api/v1/health")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.text().startswith("Query Service is healthy! "), r)

    def test_platform_flow(self):
        s = self.server
        # The operator creates the event (and a second one, later in creation order).
        s.ok("POST", "/v1/events", {"id": "Event1", "layout": venue_layout("Venue1")},
             status=201)
        s.ok("POST", "/v1/events", {"id": "Event2", "layout": venue_layout("Venue2")},
             status=201)
        s.ok("POST", "/v1/events", {"id": "Shut", "state": "paused",
                                    "layout": venue_layout("Venue1")}, status=201)

        # Purchases as the platform's client sends them.
        bought = {}  # ticketId -> (event, venue, zone, row, column, index)
        started = time.time()
        for zone, row, column, index in ((1, "A", "1", 0), (1, "A", "2", 1), (2, "B", "3", 37)):
            r = self.purchase(zone, row, column)
            self.assertEqual(r.status, 201, r)
            body = r.json()
            self.assertEqual(set(body), {"ticketId", "zoneId", "row", "column", "createdOn"})
            self.assertRegex(body["ticketId"], UUID_RE)
            self.assertEqual((body["zoneId"], body["row"], body["column"]), (zone, row, column))
            self.assertRegex(body["createdOn"], ISO_RE)
            created = calendar.timegm(time.strptime(body["createdOn"][:19], "%Y-%m-%dT%H:%M:%S"))
            self.assertAlmostEqual(created, started, delta=60)
            self.assertEqual(r.header("Location"), "/purchase/" + body["ticketId"])
            # The Location leads to the ticket, as the query service shows it.
            located = self.server.get(r.header("Location"))
            self.assertEqual(located.status, 200, located)
            self.assertEqual(located.json(),
                             self.server.get("/query/api/v1/tickets/" + body["ticketId"]).json())
            self.assertEqual(located.json()["status"], "PAID")
            bought[body["ticketId"]] = ("Event1", "Venue1", zone, row, column, index)
        # The same seat again: 409 with the platform's exact text.
        r = self.purchase(1, "A", "2")
        self.assertEqual((r.status, r.text()), (409, "Seat Occupied: Seat already occupied."))
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r)
        # Lower-case row, zoneId as a numeric string, ids in another case.
        r = self.purchase("1", "b", "7", event="event1", venue="VENUE1")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["zoneId"], 1)
        bought[r.json()["ticketId"]] = ("Event1", "Venue1", 1, "B", "7", 16)
        self.assertEqual(s.ok("GET", "/v1/events/Event1/seats/16")["state"], "sold")
        # A retry with an Idempotency-Key header: the same ticket, never a second one.
        r = self.purchase(2, "A", "5", headers={"Idempotency-Key": "cqrs-1"})
        self.assertEqual(r.status, 201, r)
        keyed = r.json()["ticketId"]
        bought[keyed] = ("Event1", "Venue1", 2, "A", "5", 34)
        r = self.purchase(2, "A", "5", headers={"Idempotency-Key": "cqrs-1"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["ticketId"], keyed)
        # Event2, at Venue2.
        r = self.purchase(1, "C", "10", event="Event2", venue="Venue2")
        self.assertEqual(r.status, 201, r)
        bought[r.json()["ticketId"]] = ("Event2", "Venue2", 1, "C", "10", 29)
        # A general-admission place (no row), bought through /v1.
        ga = s.ok("POST", "/v1/events/Event1/tickets", {"seats": [{"zone": 3, "seat": "2"}]},
                  status=201)["tickets"][0]["id"]
        bought[ga] = ("Event1", "Venue1", 3, None, "2", 41)

        # What the platform refuses.
        path = "/purchase/api/v1/tickets"
        self.assertSpringError(s.post(path, raw=b"{not json"), 400, path)
        self.assertSpringError(s.post(path, {"venueId": "Venue1", "eventId": "Event1",
                                             "zoneId": 1, "row": "A"}), 400, path)
        self.assertSpringError(s.post(path, {"venueId": "Venue1", "eventId": "Event1",
                                             "zoneId": "one", "row": "A", "column": "3"}),
                               400, path)
        self.assertSpringError(s.post(path, raw=b"[]"), 400, path)
        self.assertSpringError(self.purchase(1, "A", "3", venue="Venue2"), 404, path)
        self.assertSpringError(self.purchase(1, "A", "3", event="Event9"), 404, path)
        self.assertSpringError(self.purchase(9, "A", "3"), 404, path)
        self.assertSpringError(self.purchase(1, "Q", "3"), 404, path)
        self.assertSpringError(self.purchase(1, "A", "11"), 404, path)
        r = self.purchase(1, "A", "3", event="Shut")
        self.assertEqual((r.status, r.text()), (409, "Event Closed: Event is not on sale."))

        # The query side sees every purchase at once.
        expected = sorted(bought.items(), key=lambda kv: (kv[1][0], kv[1][5]))
        r = s.get("/query/api/v1/tickets")
        self.assertEqual(r.status, 200, r)
        tickets = r.json()
        self.assertIsInstance(tickets, list)
        self.assertEqual(r.header("X-Total-Count"), str(len(bought)))
        self.assertIsNone(r.header("Link"))
        self.assertEqual([t["ticketId"] for t in tickets], [k for k, _ in expected])
        for t in tickets:
            event, venue, zone, row, column, _ = bought[t["ticketId"]]
            self.assertEqual(set(t), {"ticketId", "venueId", "eventId", "zoneId", "row", "column",
                                      "status", "createdOn"})
            self.assertEqual((t["eventId"], t["venueId"], t["zoneId"], t["row"], t["column"],
                              t["status"]), (event, venue, zone, row, column, "PAID"), t)
            self.assertRegex(t["createdOn"], ISO_RE)
            self.assertEqual(s.ok("GET", f"/query/api/v1/tickets/{t['ticketId']}"), t)

        # Counts and revenue, as text.
        def count(event):
            r = s.get(f"/query/api/v1/tickets/count/{event}")
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("Content-Type").startswith("text/plain"))
            return r.text()

        def revenue(venue, event):
            r = s.get(f"/query/api/v1/tickets/revenue/{venue}/{event}")
            self.assertEqual(r.status, 200, r)
            return r.text()

        self.assertEqual(count("Event1"), "Tickets sold for event Event1 is 6")
        self.assertEqual(count("Event2"), "Tickets sold for event Event2 is 1")
        self.assertEqual(count("Nope"), "Tickets sold for event Nope is 0")
        self.assertEqual(count("EVENT1"), "Tickets sold for event EVENT1 is 6")  # any case
        # Event1: zone 1 x3 (100.00), zone 2 x2 (150.00), zone 3 x1 (50.00).
        self.assertEqual(revenue("Venue1", "Event1"),
                         "Revenue for event Event1 in venue Venue1: $650.00")
        self.assertEqual(revenue("Venue2", "Event2"),
                         "Revenue for event Event2 in venue Venue2: $100.00")
        self.assertEqual(revenue("Venue2", "Event1"),
                         "Revenue for event Event1 in venue Venue2: $0.00")
        self.assertEqual(revenue("Venue1", "Nope"),
                         "Revenue for event Nope in venue Venue1: $0.00")
        self.assertEqual(revenue("venue1", "event1"),
                         "Revenue for event event1 in venue venue1: $650.00")

        # Unknown tickets.
        for unknown in ("00000000-0005-8bd7-8000-d836c88f2d65", "not-a-ticket"):
            for path in (f"/query/api/v1/tickets/{unknown}", f"/purchase/{unknown}"):
                r = s.get(path)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.json(), {"messages": f"TicketID not found: {unknown}"})

        # Pagination.
        all_ids = [t["ticketId"] for t in tickets]
        paged, page = [], 0
        while True:
            r = s.get(f"/query/api/v1/tickets?page={page}&size=2")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Total-Count"), str(len(all_ids)))
            items = r.json()
            paged += [t["ticketId"] for t in items]
            if (page + 1) * 2 < len(all_ids):
                self.assertEqual(len(items), 2)
                self.assertEqual(r.header("Link"),
                                 f'</query/api/v1/tickets?page={page + 1}&size=2>; rel="next"')
            else:
                self.assertIsNone(r.header("Link"), r)
                break
            page += 1
            self.assertLess(page, 10)
        self.assertEqual(paged, all_ids)
        r = s.get("/query/api/v1/tickets?page=100&size=5")
        self.assertEqual((r.status, r.json(), r.header("X-Total-Count")),
                         (200, [], str(len(all_ids))))
        for bad in ("size=0", "size=10001", "page=-1", "size=abc", "page=1.5"):
            self.assertSpringError(s.get(f"/query/api/v1/tickets?{bad}"), 400,
                                   "/query/api/v1/tickets")
        self.assertEqual(len(s.ok("GET", "/query/api/v1/tickets?size=10000")), len(all_ids))

        # A /v1 void: the ticket shows CANCELLED, leaves the list, counts and revenue.
        voided = next(k for k, v in bought.items() if v[2] == 2 and v[0] == "Event1")
        self.assertEqual(s.ok("POST", f"/v1/tickets/{voided}/void")["refund_cents"], 15000)
        t = s.ok("GET", f"/query/api/v1/tickets/{voided}")
        self.assertEqual((t["ticketId"], t["status"]), (voided, "CANCELLED"))
        r = s.get("/query/api/v1/tickets")
        self.assertNotIn(voided, [x["ticketId"] for x in r.json()])
        self.assertEqual(r.header("X-Total-Count"), str(len(all_ids) - 1))
        self.assertEqual(count("Event1"), "Tickets sold for event Event1 is 5")
        self.assertEqual(revenue("Venue1", "Event1"),
                         "Revenue for event Event1 in venue Venue1: $500.00")
        # The seat is for sale again on the platform's route.
        _, _, zone, row, column, _ = bought[voided]
        self.assertEqual(self.purchase(zone, row, column).status, 201)


class CqrsPagingTest(ServerTestCase):
    def test_pages_far_beyond_the_end_are_empty(self):
        # page * size overflows 64 bits in list_tickets (net/cqrs_routes.cc): page 2^62 with
        # size 4 wraps to an offset of 0 and serves the first page again; page 2^63-1 makes
        # (page + 1) * size overflow and links a negative "next" page.
        s = self.server
        s.ok("POST", "/v1/events", {"id": "Paged", "layout": venue_layout()}, status=201)
        s.ok("POST", "/v1/events/Paged/tickets", {"seats": [0, 1, 2]}, status=201)
        for page, size in ((2 ** 62, 4), (2 ** 61, 8), (2 ** 63 - 1, 2)):
            r = s.get(f"/query/api/v1/tickets?page={page}&size={size}")
            if r.status == 400:
                continue  # refusing an absurd page is fine too
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Total-Count"), "3")
            self.assertEqual(r.json(), [], f"page {page} of size {size} is past the end: {r}")
            self.assertIsNone(r.header("Link"), f"page {page}: no next page: {r}")


class BusyTest(ServerTestCase):
    """503 BUSY with Retry-After, provoked deterministically: MariaDB unreachable and
    --persist-backlog-max 1000 (its minimum): the HTTP thread's 1001st sale finds 1000 journal
    records not yet in MariaDB."""
    server_args = ("--mariadb", f"mariadb://u:p@127.0.0.1:{free_port()}/db",
                   "--persist-backlog-max", "1000", "--durability", "memory")

    def test_503_when_the_journal_is_behind(self):
        s = self.server
        layout = {"venue": "V", "zones": [{"id": 1, "price_cents": 100,
                                           "rows": [{"label": "A", "seats": 1000},
                                                    {"label": "B", "seats": 1000}]}]}
        s.ok("POST", "/v1/events", {"id": "Busy", "layout": layout}, status=201)
        conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=TIMEOUT_S)
        try:
            busy_at = None
            for i in range(1100):
                conn.request("POST", "/v1/events/Busy/tickets", body=json.dumps({"seats": [i]}))
                r = conn.getresponse()
                body = r.read()
                if r.status != 201:
                    busy_at = i
                    self.assertEqual(r.status, 503, body)
                    self.assertGreaterEqual(int(r.getheader("Retry-After")), 1)
                    error = json.loads(body)["error"]
                    self.assertEqual((error["name"], error["code"]), ("BUSY", 9))
                    self.assertGreater(error["retry_after_ms"], 0)
                    break
        finally:
            conn.close()
        self.assertEqual(busy_at, 1000)
        self.assertEqual(self.seat_state("Busy", 1000), "free")  # refused before it ran
        r = s.post("/purchase/api/v1/tickets", {"venueId": "V", "eventId": "Busy", "zoneId": 1,
                                                 "row": "B", "column": "500"})
        self.assertEqual(r.status, 503, r)
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(r.json()["status"], 503)
        # Reads go on; /ready reports MariaDB down but stays in rotation.
        self.assertEqual(s.ok("GET", "/v1/events/Busy/stats")["seats_sold"], 1000)
        ready = s.get("/ready")
        self.assertEqual((ready.status, ready.json()["checks"]["mariadb"]), (200, False))
        metrics = s.get("/metrics").text()
        m = re.search(r'^boxoffice_busy_rejections_total\{interface="http"\} (\S+)$', metrics,
                      re.M)
        self.assertIsNotNone(m)
        self.assertGreaterEqual(float(m.group(1)), 2)


# ---------------------------------------------------------------------------------------------
# 5. /health, /ready and /metrics


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                       r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*)\})? (\S+)$')


def parse_prometheus(test, text):
    """Strict text exposition format: per family `# HELP name text`, `# TYPE name type`, then
    its samples (a histogram's as name_bucket, name_sum, name_count). Returns
    {(name, labels): value} and {family: type}."""
    samples, types, family, kind = {}, {}, None, None
    test.assertTrue(text.endswith("\n"))
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(" ", 3)
            test.assertIn(parts[1], ("HELP", "TYPE"), line)
            if parts[1] == "HELP":
                test.assertEqual(len(parts), 4, line)
                test.assertRegex(parts[2], r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
                test.assertTrue(parts[3].strip(), line)
                test.assertNotIn(parts[2], types, f"family {parts[2]} twice")
                family, kind = parts[2], None
            else:
                test.assertEqual(len(parts), 4, line)
                test.assertEqual(parts[2], family, f"TYPE without its HELP: {line}")
                test.assertIn(parts[3], ("counter", "gauge", "histogram", "summary", "untyped"))
                kind = types[family] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        test.assertIsNotNone(m, f"not a sample: {line!r}")
        test.assertIsNotNone(kind, f"sample before its TYPE: {line}")
        name, labels = m.group(1), m.group(3) or ""
        allowed = {family} if kind != "histogram" else \
            {family + "_bucket", family + "_sum", family + "_count"}
        test.assertIn(name, allowed, line)
        test.assertNotIn((name, labels), samples, f"duplicate series: {line}")
        samples[(name, labels)] = float(m.group(5))  # ValueError: not a float
    return samples, types


def without_le(labels):
    return ",".join(p for p in labels.split(",") if not p.startswith("le="))


class CorsTest(ServerTestCase):
    """--http-cors-origin: a browser page of that origin may call the API."""
    ORIGIN = "https://shop.example"
    server_args = ("--http-cors-origin", ORIGIN)

    def assertCors(self, r):
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.ORIGIN, r)
        exposed = [h.strip() for h in r.header("Access-Control-Expose-Headers").split(",")]
        self.assertEqual(set(exposed), {"Location", "Retry-After", "X-Total-Count", "Link"})

    def test_a_preflight_is_answered_without_a_route_running(self):
        s = self.server
        r = s.request("OPTIONS", "/v1/events/Anything/holds",
                      headers={"Origin": self.ORIGIN, "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual((r.status, r.body), (204, b""), r)
        self.assertCors(r)
        methods = {m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")}
        self.assertEqual(methods, {"GET", "HEAD", "POST", "DELETE"})
        headers = {h.strip() for h in r.header("Access-Control-Allow-Headers").split(",")}
        self.assertEqual(headers, {"Authorization", "Content-Type", "Idempotency-Key"})
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")
        self.assertIsNone(r.header("Content-Type"))

    def test_every_reply_carries_the_origin(self):
        s = self.server
        e = self.create_event("Cors-1")
        self.assertCors(s.get("/health"))
        r = s.post(f"/v1/events/{e}/holds", {"seats": [0]}, headers={"Origin": self.ORIGIN})
        self.assertEqual(r.status, 201, r)
        self.assertCors(r)
        r = s.post(f"/v1/events/{e}/holds", {"seats": [0]})  # taken: errors are readable too
        self.assertEqual(r.status, 409, r)
        self.assertCors(r)
        self.assertCors(s.get("/nowhere"))
        self.assertCors(s.get("/query/api/v1/tickets"))
        # A change stream (what a browser's EventSource opens).
        stream = EventStream(s.http_port, e)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.headers["access-control-allow-origin"], self.ORIGIN)

    def test_without_the_flag_there_is_no_cors(self):
        plain = Server(())
        try:
            r = plain.get("/health")
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            r = plain.request("OPTIONS", "/v1/ping", headers={"Origin": self.ORIGIN})
            self.assertEqual(r.status, 405, r)
            self.assertEqual(r.header("Allow"), "GET")
        finally:
            plain.stop()


class OperationsTest(ServerTestCase):
    def test_health_and_ready(self):
        s = self.server
        # Both probes carry the same checks; this server has no MariaDB or Redis.
        r = s.get("/health")
        self.assertEqual((r.status, r.json()),
                         (200, {"status": "ok", "checks": {"journal": True, "serving": True}}))
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        r = s.get("/ready")
        self.assertEqual((r.status, r.json()),
                         (200, {"status": "ok", "checks": {"journal": True, "serving": True}}))
        self.assertIsNone(r.header("Retry-After"))

    def test_unknown_operations_path_uses_the_error_map(self):
        # HTTP_API.md, Errors: an error is the msgpack error map under "error".
        r = self.server.get("/health/")
        if r.status == 200:
            self.assertEqual(r.json()["status"], "ok")
        else:
            self.assertError(r, 404, "NOT_FOUND", 3)

    def test_metrics_count_every_request(self):
        s = self.server
        s.ok("POST", "/v1/events", {"id": "Metered", "layout": venue_layout()}, status=201)
        ok_buys = seat_taken = sold = sales = 0
        revenue = 0
        for seats in ([0], [1, 2], [30]):
            r = s.post("/v1/events/Metered/tickets", {"seats": seats})
            self.assertEqual(r.status, 201, r)
            ok_buys += 1
            sales += 1
            sold += len(seats)
            revenue += r.json()["total_cents"]
        r = s.post("/v1/events/Metered/tickets", {"seats": [2, 3]})
        self.assertEqual(r.status, 409, r)
        seat_taken += 1
        for _ in range(2):  # the second is a replay: OK again, nothing sold
            r = s.post("/v1/events/Metered/tickets", {"seats": [3]},
                       headers={"Idempotency-Key": "m-1"})
            self.assertIn(r.status, (200, 201), r)
            ok_buys += 1
        sold += 1
        sales += 1
        revenue += 10000
        purchase = {"venueId": "Venue1", "eventId": "Metered", "zoneId": 1, "row": "A",
                    "column": "5"}
        self.assertEqual(s.post("/purchase/api/v1/tickets", purchase).status, 201)
        ok_buys += 1
        sales += 1
        sold += 1
        revenue += 10000
        self.assertEqual(s.post("/purchase/api/v1/tickets", purchase).status, 409)
        seat_taken += 1
        s.ok("POST", "/v1/events/Metered/holds", {"seats": [40, 41]}, status=201)
        # A hold left to expire, in an event of its own.
        s.ok("POST", "/v1/events", {"id": "Lapsing", "layout": venue_layout()}, status=201)
        s.ok("POST", "/v1/events/Lapsing/holds", {"seats": [0, 1], "ttl_ms": 50}, status=201)
        deadline = time.monotonic() + TIMEOUT_S
        while s.ok("GET", "/v1/events/Lapsing/stats")["seats_held"] != 0:
            self.assertLess(time.monotonic(), deadline, "the 50 ms hold did not expire")
            time.sleep(0.02)
        for _ in range(3):
            s.ok("GET", "/v1/ping")
        self.assertEqual(s.post("/v1/events/Metered/tickets", {"seats": 7}).status, 400)
        # One msgpack-rpc ping, hand-packed: [0, 1, "ping", {}].
        with socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT_S) as rpc:
            rpc.sendall(b"\x94\x00\x01\xa4ping\x80")
            self.assertTrue(rpc.recv(100).startswith(b"\x94\x01\x01\xc0"))

        r = s.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r)
        samples, types = parse_prometheus(self, r.text())

        def value(name, labels):
            self.assertIn((name, labels), samples, f"no sample {name}{{{labels}}}")
            return samples[(name, labels)]

        req = "boxoffice_requests_total"
        self.assertEqual(types[req], "counter")
        self.assertEqual(value(req, 'interface="http",method="buy",code="OK"'), ok_buys)
        self.assertEqual(value(req, 'interface="http",method="buy",code="SEAT_TAKEN"'),
                         seat_taken)
        self.assertEqual(value(req, 'interface="http",method="buy",code="BAD_REQUEST"'), 1)
        self.assertEqual(value(req, 'interface="http",method="hold",code="OK"'), 2)
        self.assertEqual(value(req, 'interface="http",method="event.create",code="OK"'), 2)
        self.assertEqual(value(req, 'interface="http",method="ping",code="OK"'), 3)
        self.assertEqual(value(req, 'interface="rpc",method="ping",code="OK"'), 1)
        self.assertNotIn((req, 'interface="rpc",method="buy",code="OK"'), samples)

        seats = "boxoffice_event_seats"
        self.assertEqual(types[seats], "gauge")
        self.assertEqual(value(seats, 'event="Metered",state="sold"'), sold)
        self.assertEqual(value(seats, 'event="Metered",state="held"'), 2)
        self.assertEqual(value(seats, 'event="Metered",state="free"'), SEATS_TOTAL - sold - 2)
        self.assertEqual(value("boxoffice_event_revenue_cents", 'event="Metered"'), revenue)
        self.assertEqual(value("boxoffice_holds_expired_total", 'event="Lapsing"'), 1)
        self.assertEqual(value("boxoffice_holds_expired_total", 'event="Metered"'), 0)
        self.assertEqual(types["boxoffice_holds_expired_total"], "counter")
        self.assertGreaterEqual(value("boxoffice_hold_expiry_lateness_seconds_count", ""), 1)
        info = [labels for (name, labels), v in samples.items() if name == "boxoffice_info"]
        self.assertEqual(len(info), 1, info)
        self.assertEqual(samples[("boxoffice_info", info[0])], 1)
        self.assertRegex(info[0], r'^io="(io_uring|epoll)",durability="journal"$')
        if IO == "epoll":
            self.assertIn('io="epoll"', info[0])
        self.assertEqual(s.ok("GET", "/v1/events/Metered/stats")["seats_sold"], sold)
        self.assertGreaterEqual(value("boxoffice_journal_syncs_total", 'interface="http"'), 1)
        # One journal record per sale (not per ticket), all of them durable.
        self.assertGreaterEqual(sum(v for (n, _), v in samples.items()
                                    if n == "boxoffice_journal_durable_records_total"), sales)

        # Histograms: cumulative buckets in increasing le, ending at +Inf == _count.
        hist = "boxoffice_request_duration_seconds"
        self.assertEqual(types[hist], "histogram")
        series = {}
        for (name, labels), v in samples.items():
            if name == hist + "_bucket":
                le = re.search(r'(?:^|,)le="([^"]*)"', labels).group(1)
                series.setdefault(without_le(labels), []).append((le, v))
        self.assertIn('interface="http",method="buy"', series)
        for labels, buckets in series.items():
            bounds = [float(le) for le, _ in buckets]
            self.assertEqual(bounds, sorted(bounds), labels)
            self.assertEqual(buckets[-1][0], "+Inf", labels)
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), f"not cumulative: {labels}")
            self.assertEqual(counts[-1], value(hist + "_count", labels), labels)
            self.assertGreaterEqual(value(hist + "_sum", labels), 0)
            method_total = sum(v for (n, l), v in samples.items() if n == req and
                               l.startswith(labels + ",code="))
            self.assertEqual(counts[-1], method_total, labels)
        self.assertEqual(value(hist + "_count", 'interface="http",method="buy"'),
                         ok_buys + seat_taken + 1)


# ---------------------------------------------------------------------------------------------
# 6. Durability of HTTP sales across kill -9


class DurabilityTest(unittest.TestCase):
    def test_http_sales_survive_kill9_and_a_lost_table(self):
        server = Server(["--durability", "journal"])
        try:
            server.ok("POST", "/v1/events", {"id": "Durable", "layout": venue_layout()},
                      status=201)
            sale = server.ok("POST", "/v1/events/Durable/tickets", {"seats": [7, 8]}, status=201)
            ids = [t["id"] for t in sale["tickets"]]
            r = server.post("/purchase/api/v1/tickets",
                            {"venueId": "Venue1", "eventId": "Durable", "zoneId": 2, "row": "B",
                             "column": "1"})
            self.assertEqual(r.status, 201, r)
            cqrs_id = r.json()["ticketId"]
            voided = server.ok("POST", "/v1/events/Durable/tickets", {"seats": [9]},
                               status=201)["tickets"][0]["id"]
            server.ok("POST", f"/v1/tickets/{voided}/void")
            # The replies above were sent after their journal records were on disk: crash now.
            server.kill9()

            def check():
                for ticket_id, index in zip(ids + [cqrs_id], (7, 8, 35)):
                    t = server.ok("GET", f"/v1/tickets/{ticket_id}")
                    self.assertEqual((t["status"], t["seat"]["index"]), ("valid", index))
                    self.assertEqual(server.ok("GET", f"/query/api/v1/tickets/{ticket_id}")
                                     ["status"], "PAID")
                self.assertEqual(server.ok("GET", "/v1/events/Durable/seats/9")["state"], "free")
                stats = server.ok("GET", "/v1/events/Durable/stats")
                self.assertEqual((stats["seats_sold"], stats["revenue_cents"]), (3, 35000))

            server.start()  # the same table, re-attached
            check()
            # A reboot: the table and its staging files are gone; rebuilt from the journal,
            # which must hold the HTTP thread's own stream.
            server.kill9()
            server.remove_table()
            server.start()
            self.assertIn("rebuilt", server.log())
            check()
        finally:
            server.stop()


if __name__ == "__main__":
    if IO == "uring":
        try:
            Server().stop()
        except RuntimeError as e:
            if "cannot start a reactor" in str(e):
                print("io_uring is not available here: skipped")
                sys.exit(77)
            raise
    unittest.main(argv=[sys.argv[0], "-v"])
