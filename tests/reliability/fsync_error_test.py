#!/usr/bin/python3
"""The journal's fdatasync fails with EIO, against a real boxofficed.
Usage: fsync_error_test.py BOXOFFICED FAIL_FSYNC_SO [--cycles N]

boxofficed runs with LD_PRELOAD=FAIL_FSYNC_SO (tests/support/fail_fsync.cc): while a control
file exists, fdatasync() and fsync() fail with EIO. The shim only sees libc calls, so the server
runs with --io epoll, whose journal fdatasync is a plain fdatasync() on the worker thread; the
io_uring reactor's IORING_OP_FSYNC goes straight to the kernel and would bypass it. One worker,
--durability journal. Each of N inject/recover cycles (default 3) checks:
  - a few sales are acknowledged; then fdatasync fails: the next sale's reply is held (never an
    acknowledgement of a record that is not on disk), every new sale is refused at once with
    BUSY and a message naming the journal and the error, and the log names it (Input/output
    error) while the server retries;
  - when fdatasync works again the held sale is acknowledged within seconds and new sales go
    through, without a restart.
Then: after kill -9 and a restart, after a crash while fdatasync is failing (the held sale's
outcome is unknown: it may be sold or free, but the same after a later reboot), and after a
reboot (kill -9, the seat table and its staging files deleted), every ticket ever acknowledged
is sold with the same id and seat, no refused sale is sold, and nothing else is."""

import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import BUSY, Client, Server, remove_table  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("boxofficed")
parser.add_argument("fail_fsync_so")
parser.add_argument("--cycles", type=int, default=3)
ARGS = parser.parse_args()

SEATS = 10_000
SHIM_LINE = "fail_fsync: "       # the shim's stderr report of injected failures
ERROR_TEXT = "Input/output error"  # strerror(EIO)
INJECT_WAIT_S = 10               # the held sale's fdatasync must have failed by then
BUSY_WAIT_S = 3                  # refusals while failing arrive within this
RECOVERY_WAIT_S = 10             # the held sale is acknowledged within this of the fault ending
FAILING_HOLD_S = 0.5             # the fault lasts at least this (several 100 ms retries)


def poll_response(client, timeout_s):
    """The next response within timeout_s, or None."""
    client.sock.settimeout(timeout_s)
    try:
        return client.read_response()
    except (TimeoutError, BlockingIOError):  # timeout_s 0: a non-blocking look
        return None


class FsyncErrorTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.control = os.path.join(self.dir, "fail-fsync")
        self.shm = f"/dev/shm/boxoffice-fsyncerror-{os.getpid()}"
        self.addCleanup(remove_table, self.shm)
        asan = ":".join(o for o in [os.environ.get("ASAN_OPTIONS", ""),
                                    "verify_asan_link_order=0"] if o)
        preload = ":".join(p for p in [os.path.abspath(ARGS.fail_fsync_so),
                                       os.environ.get("LD_PRELOAD", "")] if p)
        self.server = Server(ARGS.boxofficed, os.path.join(self.dir, "logs"),
                             ["--io", "epoll", "--workers", "1", "--http", "off", "--admin", "off",
                              "--durability", "journal", "--shm", self.shm,
                              "--data-dir", os.path.join(self.dir, "data"),
                              "--arena-bytes", str(64 << 20), "--holds-max", "65536"],
                             env={"LD_PRELOAD": preload, "ASAN_OPTIONS": asan,
                                  "BOXOFFICE_FAIL_FSYNC_FILE": self.control})
        self.addCleanup(self.server.close)
        self.addCleanup(self.fault, False)
        self.next_seat = 0
        self.acknowledged = {}  # seat -> ticket id
        self.refused = set()    # seats whose sale was refused (never sold)
        self.timings = []

    def fault(self, on):
        if on:
            open(self.control, "w").close()
        elif os.path.exists(self.control):
            os.unlink(self.control)

    def seats(self, n):
        first = self.next_seat
        self.next_seat += n
        self.assertLessEqual(self.next_seat, SEATS)
        return list(range(first, first + n))

    def shim_lines(self):
        return self.server.log().count(SHIM_LINE)

    def buy_request(self, client, seat):
        return client.request_bytes("buy", {"event": "E", "seats": [seat]})

    def sell_ok(self, client, n):
        """n sales, one at a time, each acknowledged."""
        for seat in self.seats(n):
            error, result = client.call("buy", {"event": "E", "seats": [seat]})
            self.assertIsNone(error, f"seat {seat}")
            self.acknowledged[seat] = result["tickets"][0]["id"]

    def start_failing(self, held_client):
        """Switches the fault on and sends one sale on held_client; returns (seat, msgid) once
        its fdatasync has failed, checking that no reply came meanwhile."""
        shim_lines = self.shim_lines()
        self.fault(True)
        seat = self.seats(1)[0]
        msgid, data = self.buy_request(held_client, seat)
        held_client.send_raw(data)
        deadline = time.monotonic() + INJECT_WAIT_S
        while self.shim_lines() == shim_lines:
            self.assertLess(time.monotonic(), deadline,
                            "no injected fdatasync failure reported (is the shim preloaded, is the "
                            f"journal's fdatasync a libc call?):\n{self.server.log()}")
            self.assert_held(held_client, seat, 0.02,
                             " (no injected failure reported yet: is the shim in effect?)")
        return seat, msgid

    def assert_held(self, client, seat, timeout_s, note=""):
        response = poll_response(client, timeout_s)
        if response is not None:
            self.assertIsNotNone(response[2], f"seat {seat}: acknowledged while its journal "
                                 f"record could not be fdatasynced{note}: {response}")
            self.fail(f"seat {seat}: refused, not held, after its fdatasync failed: {response}")

    def assert_refusing(self, client, n):
        """n new sales, pipelined: each refused at once with BUSY naming the journal."""
        seats = self.seats(n)
        started = time.monotonic()
        client.sock.settimeout(BUSY_WAIT_S)
        replies = client.pipeline([("buy", {"event": "E", "seats": [s]}) for s in seats])
        elapsed = time.monotonic() - started
        for seat, (error, result) in zip(seats, replies):
            self.assertIsNotNone(error, f"seat {seat} acknowledged while fdatasync fails: "
                                 f"{result}")
            self.assertEqual(error["code"], BUSY, error)
            self.assertIn("journal", error["message"])
            self.assertIn(ERROR_TEXT, error["message"])
            self.refused.add(seat)
        self.assertLess(elapsed, BUSY_WAIT_S)
        return elapsed, replies[0][0]["message"]

    def verify(self, unknown=None):
        """Every acknowledged ticket sold, same id and seat; refused seats free; nothing else
        sold except possibly `unknown` (a sale whose reply never came). Returns unknown's state."""
        with Client(self.server.port) as client:
            acknowledged = list(self.acknowledged.items())
            replies = client.pipeline([("ticket.get", {"ticket": t}) for _, t in acknowledged])
            for (seat, ticket), (error, result) in zip(acknowledged, replies):
                self.assertIsNone(error, f"acknowledged ticket {ticket} (seat {seat}) lost")
                self.assertEqual(result["ticket"], ticket)
                self.assertEqual(result["status"], "valid")
                self.assertEqual(result["seat"]["index"], seat)
            refused = sorted(self.refused)
            replies = client.pipeline([("seat.get", {"event": "E", "seat": s}) for s in refused])
            for seat, (error, result) in zip(refused, replies):
                self.assertIsNone(error)
                self.assertEqual(result["state"], "free", f"seat {seat} refused BUSY, yet sold")
            unknown_state = None
            extra = 0
            if unknown is not None:
                unknown_state = client.ok("seat.get", {"event": "E", "seat": unknown})["state"]
                self.assertIn(unknown_state, ("free", "sold"))
                extra = unknown_state == "sold"
            stats = client.ok("event.stats", {"event": "E"})
            self.assertEqual(stats["seats_sold"], len(self.acknowledged) + extra, stats)
            self.assertEqual(stats["seats_held"], 0, stats)
        return unknown_state

    def cycle(self, number):
        self.sell_ok(self.client, 3)
        held = Client(self.server.port)
        self.addCleanup(held.close)
        injected_at = time.monotonic()
        seat, msgid = self.start_failing(held)
        busy_s, message = self.assert_refusing(self.client, 20)
        # The server retries (a rewrite every 100 ms, each failing): the sale stays held, and
        # the log names the error.
        deadline = time.monotonic() + INJECT_WAIT_S
        while not any(ERROR_TEXT in line and SHIM_LINE not in line
                      for line in self.server.log().splitlines()):
            self.assertLess(time.monotonic(), deadline,
                            f"the log does not name the error:\n{self.server.log()}")
            self.assert_held(held, seat, 0.05)
        while time.monotonic() < injected_at + FAILING_HOLD_S:
            self.assert_held(held, seat, 0.05)
        self.assert_refusing(self.client, 5)
        self.assert_held(held, seat, 0)

        self.fault(False)
        recovered_at = time.monotonic()
        response = poll_response(held, RECOVERY_WAIT_S)
        held_s = time.monotonic() - recovered_at
        self.assertIsNotNone(response, f"seat {seat}: still held {RECOVERY_WAIT_S} s after "
                             f"fdatasync works again:\n{self.server.log()}")
        self.assertEqual(response[1], msgid)
        self.assertIsNone(response[2], f"seat {seat}: {response}")
        self.acknowledged[seat] = response[3]["tickets"][0]["id"]
        held.close()
        started = time.monotonic()
        self.sell_ok(self.client, 5)  # at once: no BUSY left over
        self.timings.append((busy_s, held_s, time.monotonic() - started))
        if number == 0:
            sys.stderr.write(f"refusal while failing: {message!r}\n")

    def test_fsync_errors_hold_refuse_then_recover(self):
        self.server.start()
        self.client = Client(self.server.port)
        self.addCleanup(lambda: self.client.close())
        self.client.ok("event.create", {"id": "E", "layout": {"venue": "V", "zones": [
            {"id": 1, "price_cents": 100, "capacity": SEATS}]}})
        for number in range(ARGS.cycles):
            self.cycle(number)
        self.verify()
        self.client.close()

        # A crash: the seat table is re-attached and the journal replayed.
        self.server.kill9()
        self.server.start()
        self.verify()

        # A crash while fdatasync fails: the held sale may or may not survive, nothing else
        # changes; what the restarted server shows is what a reboot rebuilds.
        self.client = Client(self.server.port)
        held = Client(self.server.port)
        self.addCleanup(held.close)
        unknown, _ = self.start_failing(held)
        self.assert_refusing(self.client, 5)
        self.assert_held(held, unknown, 0.2)
        self.server.kill9()
        self.fault(False)
        self.server.start()
        unknown_state = self.verify(unknown)

        # A reboot: the table and its staging files are gone; the journal remains.
        self.server.kill9()
        remove_table(self.shm)
        self.server.start()
        self.assertEqual(self.verify(unknown), unknown_state,
                         f"seat {unknown}, held at the crash, changed state across a reboot")

        log = self.server.stop()  # a clean drain: exit status 0 (and no sanitizer report)
        self.assertNotIn(SHIM_LINE, log)
        for busy_s, held_s, resume_s in self.timings:
            sys.stderr.write(f"cycle: 20 refusals in {busy_s * 1000:.1f} ms; held sale "
                             f"acknowledged {held_s * 1000:.0f} ms after the fault ended; "
                             f"5 sales after it in {resume_s * 1000:.1f} ms\n")
        sys.stderr.write(f"summary: {len(self.acknowledged)} acknowledged sales, {len(self.refused)} "
                         f"refused, kept through {ARGS.cycles} fdatasync failures, kill -9, a "
                         f"crash while failing (held sale: {unknown_state}) and a reboot\n")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
