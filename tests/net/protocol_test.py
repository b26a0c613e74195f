#!/usr/bin/python3
"""End-to-end msgpack-rpc tests against a real boxofficed process, written with Debian's
python3-msgpack (an independent msgpack implementation) speaking raw msgpack-rpc over TCP on
loopback. Usage: protocol_test.py BOXOFFICED LAYOUT_DIR {epoll|uring|auto-denied}

auto-denied: the server runs with --io auto under BOXOFFICE_TEST_LAUNCHER (tests/support/
deny_uring: io_uring refused with EPERM, as in containers); every test must pass on the epoll
fallback, and IoFallbackTest checks the server said so in one log line.

Every socket operation has a timeout; the server is killed at the end whatever happens."""

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import remove_table  # noqa: E402

BOXOFFICED, LAYOUT_DIR, IO_MODE = sys.argv[1], sys.argv[2], sys.argv[3]
IO = "auto" if IO_MODE == "auto-denied" else IO_MODE
LAUNCHER = os.environ.get("BOXOFFICE_TEST_LAUNCHER", "").split()
TIMEOUT_S = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, extra=(), shm=None, port=None):
        self.port = port or free_port()
        self.shm = shm or f"/dev/shm/boxoffice-prototest-{os.getpid()}-{self.port}"
        self.process = subprocess.Popen(
            [*LAUNCHER, BOXOFFICED, "--listen", f"127.0.0.1:{self.port}", "--io", IO,
             "--workers", "2",
             "--shm", self.shm, "--holds-max", "65536", "--idempotency-keys-max", "65536",
             "--arena-bytes", str(256 << 20), "--data-dir", tempfile.mkdtemp(), *extra],
            stderr=subprocess.PIPE, text=True)
        deadline = time.time() + TIMEOUT_S
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("boxofficed exited: " + self.process.stderr.read())
                time.sleep(0.05)
        raise RuntimeError("boxofficed did not start listening")

    def stop(self, keep_table=False):
        self.process.terminate()
        try:
            self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log = self.process.stderr.read()
        self.process.stderr.close()
        if not keep_table:
            remove_table(self.shm)
        return log


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.msgid = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def request_bytes(self, method, params, msgid=None):
        if msgid is None:
            self.msgid += 1
            msgid = self.msgid
        return msgid, msgpack.packb([0, msgid, method, params], use_bin_type=True)

    def read_message(self):
        while True:
            for message in self.unpacker:
                return message
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by server")
            self.unpacker.feed(data)

    def call(self, method, params=None):
        msgid, data = self.request_bytes(method, params or {})
        self.send_raw(data)
        response = self.read_message()
        assert response[0] == 1 and response[1] == msgid, response
        return response[2], response[3]

    def ok(self, method, params=None):
        error, result = self.call(method, params)
        assert error is None, f"{method}: {error}"
        return result

    def closed_by_server(self):
        try:
            self.sock.settimeout(TIMEOUT_S)
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def layout(name):
    with open(os.path.join(LAYOUT_DIR, name)) as f:
        return json.load(f)


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        admin = Client(cls.server.port)
        admin.ok("event.create", {"id": "Cinema", "layout": layout("cinema.json")})
        admin.ok("event.create", {"id": "Stadium", "layout": layout("stadium.json")})
        admin.close()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.client = Client(self.server.port)

    def tearDown(self):
        self.client.close()

    def test_ping(self):
        result = self.client.ok("ping")
        self.assertTrue(result["pong"])
        self.assertAlmostEqual(result["now_ms"] / 1000, time.time(), delta=60)

    def test_hold_confirm_ticket_void(self):
        c = self.client
        hold = c.ok("hold", {"event": "Cinema", "seats": [{"zone": 2, "row": "J", "seat": "1"}]})
        self.assertEqual(hold["seats"][0]["row"], "J")
        sale = c.ok("hold.confirm", {"hold": hold["hold"], "idempotency_key": "py-1", "buyer": "py"})
        ticket_id = sale["tickets"][0]["id"]
        self.assertEqual(c.ok("hold.confirm", {"hold": hold["hold"], "idempotency_key": "py-1"})["tickets"][0]["id"],
                         ticket_id)
        self.assertEqual(c.ok("ticket.get", {"ticket": ticket_id})["buyer"], "py")
        error, _ = c.call("buy", {"event": "Cinema", "seats": [hold["seats"][0]["index"]]})
        self.assertEqual(error["name"], "SEAT_TAKEN")
        self.assertEqual(error["seats"][0]["index"], hold["seats"][0]["index"])
        self.assertEqual(c.ok("ticket.void", {"ticket": ticket_id})["refund_cents"], 1800)

    def test_holds_expire_on_the_server_clock(self):
        c = self.client
        hold = c.ok("hold", {"event": "Cinema", "seats": [{"zone": 1, "row": "H", "seat": "12"}],
                             "ttl_ms": 300})
        index = hold["seats"][0]["index"]
        self.assertEqual(c.ok("seat.get", {"event": "Cinema", "seat": index})["state"], "held")
        time.sleep(0.6)  # nobody touches the hold: the worker's timer wheel frees the seat
        self.assertEqual(c.ok("seat.get", {"event": "Cinema", "seat": index})["state"], "free")
        self.assertEqual(c.call("hold.confirm", {"hold": hold["hold"]})[0]["name"], "HOLD_EXPIRED")

    def test_subscribers_see_every_change_of_their_event(self):
        watcher = Client(self.server.port)
        try:
            self.assertEqual(watcher.ok("subscribe", {"event": "Cinema"}), {"subscribed": True})
            c = self.client
            hold = c.ok("hold", {"event": "Cinema", "seats": [100, 101]})
            c.ok("hold.confirm", {"hold": hold["hold"]})
            sold = c.ok("buy", {"event": "Cinema", "seats": [102]})
            c.ok("ticket.void", {"ticket": sold["tickets"][0]["id"]})
            c.call("hold", {"event": "Stadium", "seats": [59999]})  # another event: not seen
            expected = [([100, 101], "held"), ([100, 101], "sold"), ([102], "sold"), ([102], "free")]
            seen = []
            while len(seen) < len(expected):
                message = watcher.read_message()
                self.assertEqual(message[0], 2, message)
                self.assertEqual(message[1], "seat.changed")
                self.assertEqual(message[2]["event"], "Cinema")
                seen.append((message[2]["seats"], message[2]["state"]))
            self.assertEqual(seen, expected)
            self.assertEqual(watcher.call("subscribe", {"event": "Nope"})[0]["name"], "NOT_FOUND")
        finally:
            watcher.close()

    def test_errors_have_stable_codes(self):
        c = self.client
        self.assertEqual(c.call("event.get", {"event": "Nope"})[0]["code"], 3)
        self.assertEqual(c.call("hold.steal", {})[0]["name"], "BAD_REQUEST")
        self.assertEqual(c.call("hold", {"event": "Cinema", "seats": list(range(40))})[0]["name"], "LIMIT_EXCEEDED")
        self.assertEqual(c.call("hold.confirm", {"hold": "0" * 32})[0]["name"], "HOLD_NOT_FOUND")
        self.assertEqual(c.call("hold", {"event": "Cinema", "seats": "A1"})[0]["name"], "BAD_REQUEST")

    def test_hundreds_pipelined_in_one_write(self):
        c = self.client
        batch, ids = b"", []
        for i in range(300):
            msgid, data = c.request_bytes("seat.get", {"event": "Stadium", "seat": i})
            ids.append(msgid)
            batch += data
        c.send_raw(batch)
        seen = {}
        for _ in ids:
            response = c.read_message()
            seen[response[1]] = response[3]
        self.assertEqual(sorted(seen), sorted(ids))
        for msgid, i in zip(ids, range(300)):
            self.assertEqual(seen[msgid]["seat"]["index"], i)

    def test_partial_frames_at_every_byte(self):
        c = self.client
        msgid, data = c.request_bytes("hold.best", {"event": "Stadium", "zone": 5, "count": 2})
        for byte in data:
            c.send_raw(bytes([byte]))
        response = c.read_message()
        self.assertEqual(response[1], msgid)
        self.assertIsNone(response[2])
        self.assertEqual(len(response[3]["seats"]), 2)

    def test_garbage_closes_the_connection(self):
        c = self.client
        c.send_raw(b"\xc1\xc1\xc1")
        self.assertTrue(c.closed_by_server())
        # The server is still fine.
        other = Client(self.server.port)
        self.assertTrue(other.ok("ping")["pong"])
        other.close()

    def test_a_client_that_half_closes_still_gets_its_replies(self):
        # Replies to sales wait for the journal's fdatasync; the end of the client's stream
        # must not close the connection before they are sent.
        c = self.client
        seat = random.randrange(60000)
        c.send_raw(c.request_bytes("buy", {"event": "Stadium", "seats": [seat]}, msgid=901)[1] +
                   c.request_bytes("ping", {}, msgid=902)[1])
        c.sock.shutdown(socket.SHUT_WR)
        first, second = c.read_message(), c.read_message()
        self.assertEqual((first[1], second[1]), (901, 902))
        self.assertTrue(first[2] is None or first[2]["name"] == "SEAT_TAKEN", first)
        self.assertTrue(c.closed_by_server())

    def test_not_a_request_gets_bad_request(self):
        c = self.client
        c.send_raw(msgpack.packb([0, 7, "ping"]))  # 3 elements
        response = c.read_message()
        self.assertEqual(response[2]["name"], "BAD_REQUEST")
        c.send_raw(msgpack.packb({"hello": "world"}))
        self.assertEqual(c.read_message()[2]["name"], "BAD_REQUEST")
        self.assertTrue(c.ok("ping")["pong"])

    def test_hostile_size_claims_close_the_connection(self):
        c = self.client
        # A params map claiming 2^32-1 pairs, then more bytes than --max-frame-bytes (1 MiB):
        # the frame can never complete within the limit, so the connection is closed.
        try:
            c.send_raw(b"\x94\x00\x01\xa4ping\xdf\xff\xff\xff\xff")
            c.send_raw(b"\x00" * (1100 << 10))
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while we were still sending
        self.assertTrue(c.closed_by_server())

    def test_concurrent_clients_never_double_sell(self):
        sold = {}
        lock = threading.Lock()
        errors = []

        def buyer(worker):
            try:
                client = Client(self.server.port)
                for i in range(300):
                    seats = [(i * 7 + worker) % 200, (i * 7 + worker) % 200 + 1]
                    error, result = client.call("buy", {"event": "Stadium", "seats": seats})
                    if error is None:
                        with lock:
                            for ticket in result["tickets"]:
                                idx = ticket["seat"]["index"]
                                if idx in sold:
                                    errors.append(f"seat {idx} sold twice")
                                sold[idx] = ticket["id"]
                    elif error["name"] != "SEAT_TAKEN":
                        errors.append(str(error))
                client.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=buyer, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertGreater(len(sold), 50)
        c = self.client
        for idx, ticket_id in sold.items():
            info = c.ok("ticket.get", {"ticket": ticket_id})
            self.assertEqual(info["seat"]["index"], idx)
            self.assertEqual(info["status"], "valid")
            self.assertEqual(c.ok("seat.get", {"event": "Stadium", "seat": idx})["state"], "sold")


class HttpOpsTest(unittest.TestCase):
    """The operator's HTTP routes: /health, /ready, /metrics (Prometheus text, parsed
    strictly here), 404 and 405."""

    def test_health_ready_and_metrics(self):
        import http.client
        import re
        http_port = free_port()
        server = Server(extra=["--http", f"127.0.0.1:{http_port}"])
        try:
            c = Client(server.port)
            c.ok("event.create", {"id": "Ops", "layout": layout("cinema.json")})
            c.ok("buy", {"event": "Ops", "seats": [0, 1, 2]})
            c.ok("hold", {"event": "Ops", "seats": [3]})

            def get(path, method="GET"):
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=TIMEOUT_S)
                conn.request(method, path)
                response = conn.getresponse()
                body = response.read().decode()
                conn.close()
                return response.status, response.getheader("Content-Type"), body

            status, _, body = get("/health")
            self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
            status, _, body = get("/ready")
            ready = json.loads(body)
            self.assertEqual((status, ready["status"]), (200, "ok"))
            self.assertTrue(ready["checks"]["journal"])
            self.assertEqual(get("/nowhere")[0], 404)
            self.assertEqual(get("/health", "POST")[0], 405)

            status, content_type, text = get("/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(content_type.startswith("text/plain; version=0.0.4"))
            # Strict exposition format: HELP then TYPE for each family, then its samples
            # (a histogram's as <family>_bucket, _sum and _count).
            samples, family, typed = {}, None, {}
            sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                                r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*)\})? (\S+)$')
            for line in text.splitlines():
                if line.startswith("# HELP "):
                    family = line.split()[2]
                elif line.startswith("# TYPE "):
                    _, _, name, kind = line.split()
                    self.assertEqual(name, family)
                    self.assertIn(kind, ("counter", "gauge", "histogram"))
                    typed[name] = kind
                else:
                    m = sample.match(line)
                    self.assertIsNotNone(m, line)
                    names = [family]
                    if typed[family] == "histogram":
                        names = [family + "_bucket", family + "_sum", family + "_count"]
                    self.assertIn(m.group(1), names, line)
                    samples[(m.group(1), m.group(3) or "")] = float(m.group(5))
            self.assertEqual(samples[("boxoffice_event_seats", 'event="Ops",state="sold"')], 3)
            self.assertEqual(samples[("boxoffice_event_seats", 'event="Ops",state="held"')], 1)
            self.assertEqual(samples[("boxoffice_event_seats", 'event="Ops",state="free"')], 116)
            self.assertGreaterEqual(sum(v for (n, _), v in samples.items()
                                        if n == "boxoffice_journal_durable_records_total"), 1)
            requests = 'interface="rpc",method="{}",code="OK"'
            self.assertEqual(samples[("boxoffice_requests_total", requests.format("buy"))], 1)
            self.assertEqual(samples[("boxoffice_requests_total", requests.format("hold"))], 1)
            # Histogram buckets are cumulative and end at +Inf == _count.
            buy = 'interface="rpc",method="buy"'
            buckets = [v for (n, labels), v in samples.items()
                       if n == "boxoffice_request_duration_seconds_bucket" and labels.startswith(buy + ",")]
            self.assertEqual(buckets, sorted(buckets))
            self.assertEqual(samples[("boxoffice_request_duration_seconds_bucket", buy + ',le="+Inf"')],
                             samples[("boxoffice_request_duration_seconds_count", buy)])
            self.assertEqual(samples[("boxoffice_request_duration_seconds_count", buy)], 1)
            self.assertEqual(samples[("boxoffice_connections", 'interface="rpc"')], 1)
            c.close()
        finally:
            server.stop()


class AuthTest(unittest.TestCase):
    def test_keys(self):
        with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
            f.write("# test keys\nseller-key-0123456789 sell\nadmin-key-0123456789 admin\n")
        server = Server(["--api-keys", f.name])
        try:
            c = Client(server.port)
            self.assertTrue(c.ok("ping")["pong"])
            self.assertEqual(c.call("event.list")[0]["name"], "UNAUTHORIZED")
            self.assertEqual(c.call("auth", {"key": "nope"})[0]["name"], "UNAUTHORIZED")
            self.assertEqual(c.ok("auth", {"key": "seller-key-0123456789"})["role"], "sell")
            self.assertEqual(c.call("event.create", {"id": "E", "layout": layout("cinema.json")})[0]["name"],
                             "UNAUTHORIZED")
            self.assertEqual(c.ok("auth", {"key": "admin-key-0123456789"})["role"], "admin")
            self.assertEqual(c.ok("event.create", {"id": "E", "layout": layout("cinema.json")})["seats_total"], 120)
            c.close()
        finally:
            server.stop()
            os.unlink(f.name)


class ConfigTest(unittest.TestCase):
    def test_toml_file_sets_options_flags_win_and_typos_are_refused(self):
        port = free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(f'listen = "127.0.0.1:{port}"\nworkers = 1\nmax-inflight = 7\n')
        server = Server(["--config", f.name], port=port)  # Server passes --workers 2
        try:
            c = Client(server.port)  # listening where the file said
            self.assertTrue(c.ok("ping")["pong"])
            c.close()
        finally:
            log = server.stop()
        self.assertIn("with 2 ", log)  # the flag won over the file's workers = 1
        with open(f.name, "a") as typo:
            typo.write("workerz = 3\n")
        refused = subprocess.run([BOXOFFICED, "--config", f.name], capture_output=True, text=True,
                                 timeout=TIMEOUT_S)
        os.unlink(f.name)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("workerz", refused.stderr)


class OverloadTest(unittest.TestCase):
    def test_a_flood_in_one_write_is_answered_busy_beyond_the_limit(self):
        server = Server(["--max-inflight", "50"])
        try:
            c = Client(server.port)
            batch, ids = b"", set()
            for _ in range(3000):
                msgid, data = c.request_bytes("ping", {})
                ids.add(msgid)
                batch += data
            c.send_raw(batch)
            ok = busy = 0
            for _ in range(3000):
                response = c.read_message()
                ids.discard(response[1])
                if response[2] is None:
                    ok += 1
                else:
                    self.assertEqual(response[2]["name"], "BUSY")
                    self.assertGreater(response[2]["retry_after_ms"], 0)
                    busy += 1
            self.assertEqual(ids, set())  # every request answered exactly once
            self.assertGreater(busy, 0)
            self.assertGreaterEqual(ok, 50)
            self.assertTrue(c.ok("ping")["pong"])  # and the connection goes on
            c.close()
        finally:
            server.stop()


class ShutdownTest(unittest.TestCase):
    def test_sigterm_drains_and_a_restart_keeps_every_sale(self):
        server = Server()
        c = Client(server.port)
        c.ok("event.create", {"id": "E", "layout": layout("cinema.json")})
        ticket = c.ok("buy", {"event": "E", "seats": [3]})["tickets"][0]["id"]
        hold = c.ok("hold", {"event": "E", "seats": [4]})["hold"]
        log = server.stop(keep_table=True)
        self.assertIn("draining", log)
        self.assertIn("stopped", log)
        self.assertTrue(c.closed_by_server())
        c.close()
        restarted = Server(shm=server.shm)
        try:
            c = Client(restarted.port)
            self.assertEqual(c.ok("ticket.get", {"ticket": ticket})["status"], "valid")
            self.assertEqual(c.ok("seat.get", {"event": "E", "seat": 4})["state"], "held")
            self.assertEqual(len(c.ok("hold.confirm", {"hold": hold})["tickets"]), 1)
            c.close()
        finally:
            log = restarted.stop()
        self.assertIn("re-attached", log)


@unittest.skipUnless(IO_MODE == "auto-denied", "only with io_uring denied")
class IoFallbackTest(unittest.TestCase):
    def test_one_log_line_says_epoll(self):
        server = Server()
        try:
            c = Client(server.port)
            c.ok("ping", {})
            c.close()
        finally:
            log = server.stop()
        about_io = [line for line in log.splitlines() if "io_uring" in line]
        self.assertEqual(len(about_io), 1, log)
        self.assertIn("using epoll", about_io[0])
        self.assertIn("not permitted", about_io[0].lower())  # EPERM, named
        self.assertRegex(log, r"with 2 epoll workers")


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
