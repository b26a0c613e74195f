#!/usr/bin/python3
"""Overload, against a real boxofficed. Usage: overload_test.py BOXOFFICED BOXOFFICE_LOAD

The server runs with --queue-budget-ms 20: a request whose bytes waited longer than that in the
socket before a worker read them is answered BUSY without running. test_a_request_queued_past_
the_budget_is_refused checks that deterministically. Whether the overload run below queues past
the budget depends on the machine: 41k requests in flight at ~1.9M/s spend ~22 ms between send
and reply in all, and a fast server refused none; so its BUSY count is reported, not checked.
(A 5 ms budget, tried to force refusals, cost capacity instead: boxoffice-load resends at once
rather than after retry_after_ms, and a refusal costs a worker nearly what a hold does, so the
server served 0.84-1.65x the baseline while refusing 0.5-0.8M requests/s, and 0.22x under
AddressSanitizer.)

test_serves_through_overload_and_recovers: three boxoffice-load runs on one 1M-seat event (holds of 250 ms, so the table stays in a steady
state), back to back:
  1. baseline: 16 connections x 16 in flight, closed loop: its rate is the capacity measured;
  2. overload: 160 connections x 256 in flight, 160 times the baseline's requests in flight,
     closed loop;
  3. after: the baseline again.
The clients resend at once after BUSY (--ignore-retry-after): the worst case for the server,
and one whose rate does not depend on how long clients choose to rest.
Checked: during the overload the server still completes at least 90% of the baseline rate (25%
under AddressSanitizer, where refusals cost relatively more: 0.40-0.70 measured), with
no error other than BUSY and no connection lost; its memory (RSS) grows by less than 64 MiB (not
checked under AddressSanitizer, whose own memory grows); and
right after, the baseline run's p99 is back within 3x of the first (or under 5 ms), its rate
within 80% of it (60% under AddressSanitizer). Ratios within one run of this test on this machine, not performance targets:
the bench/ scripts measure those. Runs alone (ctest RUN_SERIAL): other tests would share the cores.
Latency under this closed-loop overload still grows with what the clients keep in flight (41k
requests at ~1.5M/s is ~27 ms whatever the server answers: refusing costs a worker nearly as
much as a hold); the budget bounds how long a request that runs has waited, and keeps a
request whose client has likely given up from taking seats.

test_a_request_queued_past_the_budget_is_refused: with the server stopped (SIGSTOP) a hold and
a ping are sent; after 300 ms the server continues: the hold is answered BUSY naming the queue
budget and did not run (the seat is still free), the ping is answered; both io backends."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import Client, Server, remove_table  # noqa: E402
from process_stats import rss_kb, stop_process, under_asan  # noqa: E402

BOXOFFICED, LOAD = sys.argv[1], sys.argv[2]
RSS_GROWTH_MAX_KB = 64 << 10
QUEUE_BUDGET_MS = 20
SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python's socket module has no name for it


class OverloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.server = self.start_server("auto")

    def start_server(self, io):
        shm = f"/dev/shm/boxoffice-overload-{os.getpid()}-{io}"
        self.addCleanup(remove_table, shm)
        server = Server(BOXOFFICED, os.path.join(self.dir, "server-" + io),
                        ["--http", "off", "--admin", "off", "--workers", "2",
                         "--durability", "memory", "--shm", shm, "--io", io,
                         "--data-dir", os.path.join(self.dir, "data-" + io),
                         "--max-connections", "1000",
                         "--queue-budget-ms", str(QUEUE_BUDGET_MS)])
        self.addCleanup(server.close)
        server.start()
        return server

    def load(self, name, connections, pipeline):
        path = os.path.join(self.dir, name + ".json")
        run = subprocess.run([LOAD, "--addr", f"127.0.0.1:{self.server.port}", "--event", "OV",
                              "--scenario", "hold", "--hold-ttl-ms", "250", "--connections",
                              str(connections), "--pipeline", str(pipeline), "--warmup", "0.5",
                              "--duration", "2", "--ignore-retry-after", "--json", path],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        sys.stderr.write("".join(run.stdout.splitlines(keepends=True)[-2:-1]))
        with open(path) as f:
            report = json.load(f)
        self.assertEqual(report["connections_lost"], 0)
        self.assertEqual(report["protocol_errors"], 0)
        self.assertEqual(sum(n for code, n in report["errors_by_code"].items() if code != "BUSY"),
                         0, report["errors_by_code"])
        report["served_per_s"] = (report["ok"] + report["conflicts"]) / report["elapsed_s"]
        return report

    def test_serves_through_overload_and_recovers(self):
        with Client(self.server.port) as client:
            client.ok("event.create", {"id": "OV", "layout": {"venue": "V", "zones": [
                {"id": 1, "price_cents": 100, "capacity": 1_000_000}]}})
        pid = self.server.process.pid
        baseline = self.load("baseline", 16, 16)
        rss_before = rss_kb(pid)
        overload = self.load("overload", 160, 256)
        rss_after = rss_kb(pid)
        after = self.load("after", 16, 16)
        sys.stderr.write(
            f"served/s: baseline {baseline['served_per_s']:,.0f}, overload "
            f"{overload['served_per_s']:,.0f} (BUSY {overload['errors']}), after "
            f"{after['served_per_s']:,.0f}; p99 us {baseline['p99_us']:.0f} / "
            f"{overload['p99_us']:.0f} / {after['p99_us']:.0f}; RSS kB {rss_before} -> "
            f"{rss_after}\n")
        sys.stderr.write(
            f"summary: {overload['served_per_s']:,.0f} served/s with 160x the requests in flight "
            f"({overload['served_per_s'] / baseline['served_per_s']:.2f}x the baseline's "
            f"{baseline['served_per_s']:,.0f}/s), "
            f"{overload['errors_by_code'].get('BUSY', 0) / overload['elapsed_s']:,.0f} BUSY/s "
            f"(queued past {QUEUE_BUDGET_MS} ms), RSS +{(rss_after - rss_before) / 1024:.0f} MiB, "
            f"p99 after {after['p99_us']:.0f} us (baseline {baseline['p99_us']:.0f} us)\n")
        # Under AddressSanitizer a request queues ~5x longer (past the budget ~55-70% of the
        # time, against ~15%), and refusing it costs most of what serving it does (the framing
        # and reply, which ASan slows most): measured 0.40-0.70 of the baseline there, so only
        # that the server keeps serving (25%) is checked.
        served_share = 0.25 if under_asan(pid) else 0.9
        self.assertGreaterEqual(overload["served_per_s"], served_share * baseline["served_per_s"])
        if not under_asan(pid):  # ASan's quarantine and shadow memory grow RSS by themselves
            self.assertLess(rss_after - rss_before, RSS_GROWTH_MAX_KB)
        self.assertLessEqual(after["p99_us"], max(3 * baseline["p99_us"], 5000))
        # Under AddressSanitizer (a slower, noisier server) the rate after is only checked to be
        # well on its way back.
        recovered_share = 0.6 if under_asan(pid) else 0.8
        self.assertGreaterEqual(after["served_per_s"], recovered_share * baseline["served_per_s"])
        self.server.stop()  # a clean drain: exit status 0 (and no sanitizer report)

    def test_a_request_queued_past_the_budget_is_refused(self):
        # The kernel turns receive stamping on for the whole machine a moment after the first
        # socket asks (a deferred static key; a loaded machine can delay it past a server's
        # first requests, which then carry no stamp and are never refused). A socket of our own
        # asking for it from before these servers start keeps it on throughout.
        keeper = socket.socket()
        self.addCleanup(keeper.close)
        keeper.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        time.sleep(0.2)
        for io in ("auto", "epoll"):
            with self.subTest(io=io):
                server = self.server if io == "auto" else self.start_server(io)
                with Client(server.port) as client:
                    client.ok("event.create", {"id": "QB", "layout": {"venue": "V", "zones": [
                        {"id": 1, "price_cents": 100, "capacity": 10}]}})
                    pid = server.process.pid
                    stop_process(pid)
                    try:
                        _, hold = client.request_bytes("hold", {"event": "QB", "seats": [0]}, 1)
                        _, ping = client.request_bytes("ping", {}, 2)
                        client.send_raw(hold + ping)
                        time.sleep(0.3)  # queued 15x the budget
                    finally:
                        os.kill(pid, signal.SIGCONT)
                    first, second = client.read_response(), client.read_response()
                    self.assertEqual(first[1], 1)
                    self.assertIsNotNone(first[2], first)
                    self.assertEqual(first[2]["name"], "BUSY", first)
                    self.assertIn(f"queue budget ({QUEUE_BUDGET_MS} ms)", first[2]["message"])
                    # Come back after about as long as it queued (300 ms here), not sooner.
                    self.assertGreaterEqual(first[2]["retry_after_ms"], 250, first)
                    self.assertLessEqual(first[2]["retry_after_ms"], 5000, first)
                    self.assertEqual((second[1], second[2]), (2, None), second)  # the ping ran
                    # The refused hold did not run: the seat is free, and a fresh hold runs.
                    self.assertEqual(client.ok("hold", {"event": "QB", "seats": [0]})["seats"][0]
                                     ["index"], 0)
                server.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
