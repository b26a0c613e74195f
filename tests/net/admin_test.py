#!/usr/bin/python3
"""End-to-end tests of the admin socket: a real boxofficed started with --admin, driven through
boxoffice-ctl (table and --json output) and raw over the Unix socket as socat would, with seats
held and bought over msgpack-rpc (tests/support/boxoffice_client.py).
Usage: admin_test.py BOXOFFICED BOXOFFICE_CTL SOURCE_DIR

Every socket operation and wait has a timeout; servers are killed at the end whatever happens."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BOXOFFICED, CTL, SOURCE_DIR = (os.path.abspath(arg) for arg in sys.argv[1:4])
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "support"))

from boxoffice_client import Client, RpcError, Server, free_port, remove_table  # noqa: E402

TIMEOUT_S = 10
LINE_BYTES_MAX = 1 << 20
CONNECTIONS_MAX = 64


def layout(name):
    with open(os.path.join(SOURCE_DIR, "layouts", name)) as f:
        return json.load(f)


def start_server(directory, extra=(), name="a"):
    """A boxofficed with its log under `directory` and its data in `directory`/data-NAME (kept
    short: a Unix socket path is at most 107 bytes). Returns the started Server; its --shm file
    is removed by remove_table()."""
    shm = f"/dev/shm/boxoffice-admintest-{os.getpid()}-{name}"
    args = ["--io", "epoll", "--workers", "2", "--shm", shm, "--holds-max", "65536",
            "--idempotency-keys-max", "65536", "--arena-bytes", str(256 << 20),
            "--data-dir", os.path.join(directory, f"data-{name}"), *extra]
    server = Server(BOXOFFICED, directory, args)
    server.shm = shm
    try:
        return server.start()
    except RuntimeError:
        remove_table(server.shm)  # it may have made its table before giving up
        raise




class AdminConnection:
    """One raw connection to the admin socket, as socat would hold it."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """The next reply: its lines up to (without) the empty line that ends it."""
        while b"\n\n" not in self.buffer:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError(f"closed by the server; got {self.buffer[:200]!r}")
            self.buffer += data
        reply, self.buffer = self.buffer.split(b"\n\n", 1)
        return reply.decode()

    def command(self, line):
        self.send(line.encode() + b"\n")
        return self.reply()

    def closed_by_server(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bx-adm-")
        cls.socket_path = os.path.join(cls.tmp, "admin.sock")
        cls.http_port = free_port()
        cls.server = start_server(cls.tmp, ["--http", f"127.0.0.1:{cls.http_port}",
                                            "--admin", cls.socket_path])
        with Client(cls.server.port) as c:
            c.ok("event.create", {"id": "Cinema", "name": "Premiere",
                                  "layout": layout("cinema.json")})
            c.ok("event.create", {"id": "Arena", "layout": layout("arena.json")})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.close()
            remove_table(cls.server.shm)
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctl(self, *words, json_output=False, socket_path=None, cwd=None):
        argv = [CTL, "--socket", socket_path or self.socket_path]
        if json_output:
            argv.append("--json")
        return subprocess.run([*argv, *words], capture_output=True, text=True, timeout=TIMEOUT_S,
                              cwd=cwd)

    def ctl_ok(self, *words):
        """The table output of a command that must succeed."""
        done = self.ctl(*words)
        self.assertEqual(done.returncode, 0, f"{words}: {done.stderr}")
        self.assertEqual(done.stderr, "")
        self.assertTrue(done.stdout.endswith("\n") and len(done.stdout) > 1, done.stdout)
        self.assertNotIn("\n\n", done.stdout)
        return done.stdout

    def ctl_json(self, *words):
        done = self.ctl(*words, json_output=True)
        self.assertEqual(done.returncode, 0, f"{words}: {done.stderr}")
        self.assertEqual(done.stdout.count("\n"), 1, done.stdout)
        return json.loads(done.stdout)

    def ctl_err(self, *words, code):
        done = self.ctl(*words)
        self.assertEqual(done.returncode, 1, f"{words}: {done.stdout}")
        self.assertEqual(done.stdout, "")
        self.assertTrue(done.stderr.startswith(f"ERR {code}: "), done.stderr)
        return done.stderr

    def ready_status(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ready",
                                        timeout=TIMEOUT_S) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def health(self):
        """(status, body) of GET /health."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health",
                                    timeout=TIMEOUT_S) as response:
            return response.status, json.loads(response.read())

    def test_socket_is_a_socket_with_mode_0660(self):
        mode = os.lstat(self.socket_path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)

    def test_every_read_command_in_both_forms(self):
        commands = [["help"], ["info"], ["info", "server"], ["info", "workers"],
                    ["info", "memory"], ["info", "persistence"], ["info", "stats"], ["events"],
                    ["event", "Cinema"], ["seat", "Cinema", "1/A/1"], ["seat", "Arena", "4"],
                    ["holds", "Cinema"], ["persister"], ["workers"], ["loglevel", "info"]]
        for words in commands:
            with self.subTest(command=words):
                self.ctl_ok(*words)
                self.assertIsInstance(self.ctl_json(*words), dict)
        help_text = self.ctl_ok("help")
        for usage in ["info [SECTION]", "event create JSON", "event load FILE", "seat EVENT SEAT",
                      "holds EVENT", "loglevel LEVEL", "drain", "resume", "shutdown"]:
            self.assertIn(usage, help_text)
        info = self.ctl_json("info")
        self.assertEqual(list(info), ["server", "workers", "memory", "persistence", "stats"])
        self.assertEqual(info["server"]["admin"], self.socket_path)
        self.assertEqual(info["server"]["io_backend"], "epoll")
        self.assertEqual(info["server"]["listen"], f"127.0.0.1:{self.server.port}")
        self.assertEqual(info["workers"]["workers"], 3)  # 2 msgpack-rpc + 1 HTTP thread
        self.assertGreater(info["memory"]["rss_bytes"], 0)
        self.assertGreaterEqual(info["stats"]["events"], 2)
        text = self.ctl_ok("info")
        for line in ["# Server\n", "# Workers\n", "# Memory\n", "# Persistence\n", "# Stats\n",
                     f"pid:{self.server.process.pid}\n", "serving:1\n"]:
            self.assertIn(line, text)
        workers = self.ctl_json("workers")["workers"]
        self.assertEqual([w["worker"] for w in workers], [0, 1, 2])
        self.assertEqual(workers[0]["kind"], "msgpack-rpc")
        self.assertEqual(workers[2]["kind"], "http")
        # HTTP connections are counted too: one kept open after its request. (Closed ones
        # leave the count at the HTTP thread's next sweep, every 100 ms: wait for it.)
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=TIMEOUT_S) as http:
            http.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertTrue(http.recv(4096).startswith(b"HTTP/1.1 200"))
            deadline = time.monotonic() + TIMEOUT_S
            while self.ctl_json("workers")["workers"][2]["connections"] != 1:
                self.assertLess(time.monotonic(), deadline, self.ctl_ok("workers"))
                time.sleep(0.05)
        self.assertTrue(self.ctl_ok("workers").startswith("WORKER  KIND"))
        self.assertEqual(self.ctl_json("persister")["persisters"], [])
        self.assertEqual(len(self.ctl_json("persister")["journals"]), 3)
        cinema = self.ctl_json("event", "Cinema")
        self.assertEqual((cinema["name"], cinema["seats_total"]), ("Premiere", 120))
        self.assertEqual([z["zone"] for z in cinema["zones"]], [1, 2, 3])
        self.assertEqual(self.ctl_json("seat", "Arena", "100/GA/5")["index"], 4)

    def test_raw_socket_several_commands_per_connection(self):
        conn = AdminConnection(self.socket_path)
        try:
            # Pipelined in one write, with both line ends: answered in order.
            conn.send(b"events\r\njson events\nbogus\n\nhelp\n")
            self.assertTrue(conn.reply().startswith("EVENT "))
            events = json.loads(conn.reply())["events"]
            self.assertIn("Cinema", [e["event"] for e in events])
            self.assertEqual(conn.reply(), 'ERR BAD_REQUEST: unknown command "bogus"; try help')
            self.assertEqual(conn.reply(), "ERR BAD_REQUEST: empty line; try help")
            self.assertIn("shutdown", conn.reply())
            # Byte by byte, then the connection is still good.
            for byte in b"info stats\n":
                conn.send(bytes([byte]))
            self.assertTrue(conn.reply().startswith("# Stats\nevents:"))
            self.assertEqual(conn.command("seat Cinema\x00 1"),
                             "ERR BAD_REQUEST: control byte 0x00 in the line")
            self.assertIn("state: free", conn.command("seat Cinema 2/J/1"))
            # The last command may come without '\n' when the client then shuts its side.
            conn.send(b"json seat Cinema 0")
            conn.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(json.loads(conn.reply())["label"], "1/A/1")
            self.assertTrue(conn.closed_by_server())
        finally:
            conn.close()

    @unittest.skipUnless(shutil.which("socat"), "socat is not installed")
    def test_works_with_socat(self):
        done = subprocess.run(["socat", "-", f"UNIX-CONNECT:{self.socket_path}"],
                              input="info server\njson events\n", capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        self.assertEqual(done.returncode, 0, done.stderr)
        info, events, rest = done.stdout.split("\n\n")
        self.assertTrue(info.startswith("# Server\nversion:"), info)
        self.assertIn("Cinema", [e["event"] for e in json.loads(events)["events"]])
        self.assertEqual(rest, "")

    def test_bad_commands(self):
        self.ctl_err("frobnicate", code="BAD_REQUEST")
        self.assertIn("usage: seat EVENT SEAT", self.ctl_err("seat", "Cinema", code="BAD_REQUEST"))
        self.ctl_err("seat", "Cinema", "1/Z/1", code="NOT_FOUND")
        self.ctl_err("event", "Nope", code="NOT_FOUND")
        self.ctl_err("holds", "Nope", code="NOT_FOUND")
        self.ctl_err("info", "everything", code="BAD_REQUEST")
        self.ctl_err("loglevel", "loud", code="BAD_REQUEST")
        self.ctl_err("event", "create", "{not json", code="BAD_REQUEST")
        self.ctl_err("event", "load", "/nonexistent.json", code="NOT_FOUND")
        self.ctl_err("drain", "now", code="BAD_REQUEST")
        done = self.ctl("frobnicate", json_output=True)  # errors are ERR lines in both forms
        self.assertEqual(done.returncode, 1)
        self.assertTrue(done.stderr.startswith("ERR BAD_REQUEST: "), done.stderr)

    def test_ctl_without_a_server(self):
        done = self.ctl("info", socket_path=os.path.join(self.tmp, "nothing.sock"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("cannot connect", done.stderr)

    def test_long_lines(self):
        conn = AdminConnection(self.socket_path)
        try:
            # At the limit: parsed (and refused as JSON), the connection stays.
            head = b"event create "
            conn.send(head + b"x" * (LINE_BYTES_MAX - len(head)) + b"\r\n")
            self.assertTrue(conn.reply().startswith("ERR BAD_REQUEST: "))
            self.assertTrue(conn.command("events").startswith("EVENT "))
            # Over it (no line end within the limit and a '\r'): refused, connection closed.
            conn.send(head + b"x" * (LINE_BYTES_MAX - len(head) + 2))
            self.assertEqual(conn.reply(),
                             f"ERR LIMIT_EXCEEDED: line longer than {LINE_BYTES_MAX} bytes")
            self.assertTrue(conn.closed_by_server())
        finally:
            conn.close()
        self.ctl_ok("events")

    def test_connections_are_bounded(self):
        held = []
        try:
            # Connections other tests just closed may not have been reaped yet: retry those.
            deadline = time.monotonic() + TIMEOUT_S
            while len(held) < CONNECTIONS_MAX:
                self.assertLess(time.monotonic(), deadline)
                conn = AdminConnection(self.socket_path)
                if conn.command("events").startswith("ERR BUSY"):
                    conn.close()
                    time.sleep(0.05)
                    continue
                held.append(conn)
            extra = AdminConnection(self.socket_path)
            self.assertEqual(extra.reply(), "ERR BUSY: too many admin connections")
            self.assertTrue(extra.closed_by_server())
            extra.close()
            held.pop().close()
            deadline = time.monotonic() + TIMEOUT_S
            while True:  # the freed place is taken again
                done = self.ctl("events")
                if done.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(done.returncode, 0, done.stderr)
        finally:
            for conn in held:
                conn.close()

    def test_event_create_load_pause_open_close(self):
        # A multi-line document as one argument: boxoffice-ctl puts it on one line.
        document = json.dumps({"id": "AdminMade", "layout": layout("cinema.json")}, indent=2)
        self.assertEqual(self.ctl_ok("event", "create", document).strip().split(":")[0],
                         "OK event AdminMade created")
        # A relative file name is the client's: boxoffice-ctl makes it absolute.
        with open(os.path.join(self.tmp, "stadium-event.json"), "w") as f:
            json.dump({"id": "AdminLoaded", "state": "paused",
                       "layout": layout("stadium.json")}, f)
        loaded = self.ctl("--json", "event", "load", "stadium-event.json", cwd=self.tmp)
        self.assertEqual(loaded.returncode, 0, loaded.stderr)  # "--json" after the socket
        self.assertEqual(json.loads(loaded.stdout)["seats_total"], 60000)

        def state(event):
            events = {e["event"]: e for e in self.ctl_json("events")["events"]}
            return events[event]["state"]

        self.assertEqual(state("AdminMade"), "open")
        self.assertEqual(state("AdminLoaded"), "paused")
        self.assertIn("AdminLoaded", self.ctl_ok("events"))
        self.ctl_err("event", "create", document, code="BAD_REQUEST")  # the id is taken
        self.assertEqual(self.ctl_ok("event", "pause", "AdminMade"), "OK event AdminMade paused\n")
        self.assertEqual(state("AdminMade"), "paused")
        with Client(self.server.port) as c:  # sales stop
            with self.assertRaises(RpcError) as refused:
                c.ok("buy", {"event": "AdminMade", "seats": [0]})
            self.assertEqual(refused.exception.error["name"], "EVENT_CLOSED")
        self.assertEqual(self.ctl_json("event", "open", "AdminMade")["state"], "open")
        self.assertEqual(state("AdminMade"), "open")
        self.ctl_ok("event", "close", "AdminMade")
        self.assertEqual(state("AdminMade"), "closed")
        self.ctl_err("event", "open", "AdminMade", code="EVENT_CLOSED")
        self.assertIn("admin: event AdminMade created", self.server.log())

    def test_seat_and_holds_show_prefixes_only(self):
        with Client(self.server.port) as c:
            hold = c.ok("hold", {"event": "Cinema", "seats": [{"zone": 1, "row": "C", "seat": "5"},
                                                                {"zone": 1, "row": "C", "seat": "6"}]})
            sale = c.ok("buy", {"event": "Cinema", "seats": [{"zone": 1, "row": "D", "seat": "1"}],
                                "buyer": "adm-test"})
        token, ticket = hold["hold"], sale["tickets"][0]["id"]
        self.assertIn("state: held", self.ctl_ok("seat", "Cinema", "1/C/5"))
        self.assertEqual(self.ctl_json("seat", "Cinema", str(hold["seats"][1]["index"]))["state"],
                         "held")
        sold_text = self.ctl_ok("seat", "Cinema", "1/D/1")
        self.assertIn("state: sold", sold_text)
        self.assertIn(f"ticket.ticket_prefix: {ticket[:18]}", sold_text)
        sold = self.ctl_json("seat", "Cinema", "1/D/1")
        self.assertEqual(sold["ticket"]["buyer"], "adm-test")
        holds_text = self.ctl_ok("holds", "Cinema")
        self.assertIn(token[:11], holds_text)
        self.assertIn("1/C/5 1/C/6", holds_text)
        holds = self.ctl_json("holds", "Cinema")
        mine = [h for h in holds["holds"] if h["hold"] == token[:11]]
        self.assertEqual(len(mine), 1, holds)
        self.assertEqual(mine[0]["seats"], ["1/C/5", "1/C/6"])
        self.assertEqual(mine[0]["total_cents"], 2500)
        # Bearer credentials never appear whole.
        for text in [holds_text, json.dumps(holds), sold_text, json.dumps(sold)]:
            self.assertNotIn(token, text)
            self.assertNotIn(token[11:], text)
            self.assertNotIn(ticket, text)
        with Client(self.server.port) as c:
            c.ok("hold.release", {"hold": token})
        self.assertNotIn(token[:11], self.ctl_ok("holds", "Cinema"))
        self.assertIn("state: free", self.ctl_ok("seat", "Cinema", "1/C/5"))

    def test_drain_and_resume(self):
        self.assertEqual(self.ready_status(), 200)
        self.assertIn("503", self.ctl_ok("drain"))
        try:
            self.assertEqual(self.ready_status(), 503)
            # Still alive: liveness stays 200 and tells why it is not ready.
            status, health = self.health()
            self.assertEqual((status, health["status"]), (200, "degraded"), health)
            self.assertEqual((health["checks"]["serving"], health["checks"]["journal"]),
                             (False, True), health)
            self.assertIn("serving:0", self.ctl_ok("info", "server"))
            with Client(self.server.port) as c:  # requests are still served
                self.assertTrue(c.ok("ping")["pong"])
        finally:
            self.assertEqual(self.ctl_json("resume"), {"ok": True, "serving": True})
        self.assertEqual(self.ready_status(), 200)
        self.assertEqual(self.health()[1]["status"], "ok")
        self.assertIn("admin: drain", self.server.log())

    def test_loglevel(self):
        try:
            self.assertEqual(self.ctl_ok("loglevel", "debug"), "OK log level debug\n")
            self.assertEqual(self.ctl_json("info", "server")["server"]["log_level"], "debug")
            self.assertIn("admin: log level info -> debug", self.server.log())
        finally:
            self.ctl_ok("loglevel", "info")
        self.ctl_ok("loglevel", "warn")  # its own line is at INFO: not written
        self.ctl_ok("loglevel", "info")
        self.assertNotIn("admin: log level info -> warn", self.server.log())
        self.assertIn("admin: log level warn -> info", self.server.log())


class AdminLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bx-adm-")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.close()
            remove_table(server.shm)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, extra=(), name="a"):
        server = start_server(self.tmp, extra, name)
        self.servers.append(server)
        return server

    def ctl(self, path, *words):
        return subprocess.run([CTL, "--socket", path, *words], capture_output=True, text=True,
                              timeout=TIMEOUT_S)

    def test_shutdown_stops_the_process(self):
        path = os.path.join(self.tmp, "admin.sock")
        server = self.start(["--http", "off", "--admin", path])
        done = self.ctl(path, "shutdown")
        self.assertEqual((done.returncode, done.stdout), (0, "OK shutting down\n"), done.stderr)
        self.assertEqual(server.process.wait(timeout=30), 0, server.log())
        self.assertFalse(os.path.exists(path))
        self.assertIn("admin: shutdown", server.log())

    def test_default_path_off_and_refusals(self):
        server = self.start(["--http", "off"])  # default: <data-dir>/admin.sock
        default = os.path.join(self.tmp, "data-a", "admin.sock")
        self.assertTrue(stat.S_ISSOCK(os.lstat(default).st_mode))
        self.assertEqual(self.ctl(default, "events").stdout, "no events\n")
        # Another server may not take a live socket...
        with self.assertRaises(RuntimeError) as refused:
            self.start(["--http", "off", "--admin", default], name="b")
        self.assertIn("another process serves the admin socket", str(refused.exception))
        # ...but takes over one a killed server left behind.
        server.kill9()
        self.assertTrue(os.path.exists(default))
        self.start(["--http", "off"])
        self.assertEqual(self.ctl(default, "events").returncode, 0)
        # Never a file that is not a socket.
        regular = os.path.join(self.tmp, "not-a-socket")
        with open(regular, "w") as f:
            f.write("keep me\n")
        with self.assertRaises(RuntimeError) as refused:
            self.start(["--http", "off", "--admin", regular], name="c")
        self.assertIn("exists and is not a socket", str(refused.exception))
        with open(regular) as f:
            self.assertEqual(f.read(), "keep me\n")
        # off: no socket at all.
        self.start(["--http", "off", "--admin", "off"], name="d")
        self.assertNotIn("admin.sock", os.listdir(os.path.join(self.tmp, "data-d")))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
