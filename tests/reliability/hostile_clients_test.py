#!/usr/bin/python3
"""Hostile clients, against a real boxofficed. Usage:
    hostile_clients_test.py BOXOFFICED BOXOFFICE_LOAD [--long]

The server runs with its limits set low enough to be reached in seconds (--idle-timeout-ms
and --http-timeout-s 5 s, --max-output-bytes 64 KiB). Legitimate clients are two open-loop
boxoffice-load runs side by side, holds over msgpack-rpc and over HTTP at a fixed rate; each
is measured once on the quiet server (the baseline) and once while tests/reliability/
hostile_clients.py keeps up ~2,700 hostile connections: idle ones, slowloris (a request
trickled a byte every 250 ms, msgpack-rpc and HTTP), lying Content-Length, pipelined random
bytes and 64 KiB header floods reconnecting 20 times a second, and clients pipelining
requests for large replies without ever reading one. Checked:
  - the legitimate clients are served without errors or lost connections, and their p99 under
    attack stays within 2x of the quiet baseline + 5 ms (up to three attempts, each a fresh
    baseline then an attack). The p99 compared is the median of each second's p99 (from the
    load's progress lines): one second of scheduler noise moves a whole run's p99 by
    milliseconds either way. The target is 20% (1.2x); on two vCPUs shared by the server, the
    legitimate clients and the hostile driver, the measured ratio is reported ("summary:")
    rather than asserted, as performance targets are (bench/reliability.sh runs --long);
  - the server's descriptors stay under its caps and its memory (RSS) grows by less than
    48 KiB per hostile connection open at once (neither memory nor p99 checked under
    AddressSanitizer);
  - once the hostile clients go quiet, the server closes every one of them by its timeouts
    (within the timeout plus the sweeps), back to the descriptors it had before; and it still
    drains cleanly on SIGTERM.
--long runs the attack for a minute with twice the connections (bench/reliability.sh), then
once more against a decoy (a second boxofficed on the same machine, the legitimate clients
still on the first): the legitimate p99 beside an attack on someone else is what the machine's
shared cores cost them, and the ratio of the two is what the attack on this server costs them
beyond that (reported).
HOSTILE_KINDS=a,b (hostile_clients.py's kind names) runs only those kinds, to measure what
each costs the legitimate clients (bench/README.md, "Hostile clients").
Runs alone (ctest RUN_SERIAL): other tests would share the cores."""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import Client, Server, free_port, remove_table  # noqa: E402
from process_stats import fd_count, rss_kb, under_asan  # noqa: E402

BOXOFFICED, LOAD = sys.argv[1], sys.argv[2]
LONG = "--long" in sys.argv[3:]
KINDS = os.environ.get("HOSTILE_KINDS", "")  # all of them when empty
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "hostile_clients.py")

TIMEOUT_S = 5                      # --idle-timeout-ms and --http-timeout-s
ATTACK_S = 60 if LONG else 9       # the hostile driver's active phase
SCALE = 2.0 if LONG else 1.0       # hostile connections, relative to hostile_clients.py's mix
LEGIT_S = 50 if LONG else 6        # each measured legitimate run (after 0.5 s of warm-up)
RPC_RATE, HTTP_RATE = 4000, 1000   # legitimate requests per second
# Asserted: a bound that catches a server harmed by hostile clients (non-readers' pipelines
# holding the HTTP thread put p99 at 200 ms-2 s) without failing on this shared 2-core
# machine, where the quiet p99 itself ranges 0.3-17 ms from run to run and the attack (its
# driver and the kernel's work for its connections on the same two vCPUs) adds ~2-3 ms.
# Measured and reported: the ratio against the 20% target (bench/reliability.sh).
P99_RATIO_MAX, P99_ALLOWANCE_US = 2.0, 5000
P99_RATIO_TARGET = 1.2
# Peak memory the hostile connections may add: their buffers, at most 48 KiB for each of the
# ~2,700 (x SCALE) open at once on average (measured: 15-27 KiB).
HOSTILE_AT_ONCE = int(2700 * SCALE)
RSS_GROWTH_MAX_KB = 48 * HOSTILE_AT_ONCE
ATTEMPTS = 3


class HostileClientsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.server, self.http_port = self.start_server("server")

    def start_server(self, name):
        """A boxofficed with the test's limits and the event H; returns it and its HTTP port."""
        shm = f"/dev/shm/boxoffice-hostile-{os.getpid()}-{name}"
        self.addCleanup(remove_table, shm)
        http_port = free_port()
        server = Server(BOXOFFICED, os.path.join(self.dir, name),
                        ["--http", f"127.0.0.1:{http_port}", "--admin", "off",
                         "--workers", "2", "--http-threads", "1",
                         "--durability", "memory", "--shm", shm,
                         "--data-dir", os.path.join(self.dir, name + "-data"),
                         "--max-connections", "4000", "--http-connections-max", "4000",
                         "--idle-timeout-ms", str(TIMEOUT_S * 1000),
                         "--http-timeout-s", str(TIMEOUT_S),
                         "--max-output-bytes", str(64 << 10)])
        self.addCleanup(server.close)
        server.start()
        with Client(server.port) as client:
            client.ok("event.create", {"id": "H", "layout": {"venue": "V", "zones": [
                {"id": 1, "price_cents": 100, "capacity": 100_000}]}})
        return server, http_port

    def legit(self, name):
        """Starts the two legitimate open-loop runs; returns their processes and report paths."""
        runs = []
        for target, port, rate in (("boxoffice", self.server.port, RPC_RATE),
                                   ("http", self.http_port, HTTP_RATE)):
            path = os.path.join(self.dir, f"{name}-{target}.json")
            process = subprocess.Popen(
                [LOAD, "--target", target, "--addr", f"127.0.0.1:{port}", "--event", "H",
                 "--scenario", "hold", "--hold-ttl-ms", "250", "--connections", "8",
                 "--rate", str(rate), "--warmup", "0.5", "--duration", str(LEGIT_S),
                 "--json", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            runs.append((target, process, path))
        return runs

    def finish(self, runs):
        reports = {}
        for target, process, path in runs:
            output, _ = process.communicate(timeout=LEGIT_S + 60)
            self.assertEqual(process.returncode, 0, output)
            with open(path) as f:
                report = json.load(f)
            self.assertEqual(report["connections_lost"], 0, output)
            self.assertEqual(report["protocol_errors"], 0, output)
            self.assertEqual(report["errors"], 0, report["errors_by_code"])
            # Each second's p99 from the progress lines, the first (connecting, warm-up) left out.
            per_second = [float(m) for m in re.findall(r"^\[\s*\d+s\].* p99 ([\d.]+) us$",
                                                       output, re.M)][1:]
            self.assertGreaterEqual(len(per_second), 3, output)
            report["p99_us_median_second"] = statistics.median(per_second)
            reports[target] = report
        return reports

    def attack(self, pid, target=None):
        """Runs the hostile driver against `target` (server, HTTP port; this test's server by
        default) with the legitimate load on this test's server in its middle; returns the legit
        reports, the driver's report and the peak descriptors / RSS of `pid`."""
        rpc_port, http_port = ((self.server.port, self.http_port) if target is None
                               else (target[0].port, target[1]))
        report_path = os.path.join(self.dir, "hostile.json")
        driver = subprocess.Popen(
            ["/usr/bin/python3", DRIVER, "--rpc-port", str(rpc_port), "--http-port",
             str(http_port), "--event", "H", "--active-s", str(ATTACK_S), "--quiet-s",
             str(2 * TIMEOUT_S + 4), "--scale", str(SCALE), "--report", report_path]
            + (["--kinds", KINDS] if KINDS else []),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1.5)  # the hostile connections are open and busy
            runs = self.legit("attack")
            peak_fds, peak_rss = 0, 0
            while any(process.poll() is None for _, process, _ in runs):
                peak_fds = max(peak_fds, fd_count(pid))
                peak_rss = max(peak_rss, rss_kb(pid))
                time.sleep(0.1)
            reports = self.finish(runs)
            output, _ = driver.communicate(timeout=ATTACK_S + 2 * TIMEOUT_S + 60)
        finally:
            if driver.poll() is None:
                driver.kill()
        self.assertEqual(driver.returncode, 0, output)
        with open(report_path) as f:
            hostile = json.load(f)
        sys.stderr.write(f"hostile: {json.dumps(hostile['kinds'])}\n")
        return reports, hostile, peak_fds, peak_rss

    def test_legitimate_clients_unharmed_and_hostile_ones_closed(self):
        pid = self.server.process.pid
        self.finish(self.legit("warm-up"))  # the first run after a start pays for page faults
        fds_before = fd_count(pid)
        for attempt in range(1, ATTEMPTS + 1):
            rss_before = rss_kb(pid)  # jemalloc keeps freed pages a while: per attempt
            baseline = self.finish(self.legit("baseline"))
            time.sleep(0.5)
            attacked, hostile, peak_fds, peak_rss = self.attack(pid)
            verdicts = []
            for target in ("boxoffice", "http"):
                quiet_us = baseline[target]["p99_us_median_second"]
                loud_us = attacked[target]["p99_us_median_second"]
                # Not under AddressSanitizer, whose own costs are not the server's.
                ok = loud_us <= P99_RATIO_MAX * quiet_us + P99_ALLOWANCE_US or under_asan(pid)
                verdicts.append(ok)
                sys.stderr.write(f"attempt {attempt} {target}: p99 {quiet_us:.0f} us quiet, "
                                 f"{loud_us:.0f} us under attack ({loud_us / quiet_us:.2f}x) "
                                 f"{'ok' if ok else 'over'}\n")
            # Every hostile connection was closed by the server once quiet, within the timeouts.
            self.assertEqual(hostile["open_at_end"], 0, hostile)
            for kind, k in hostile["kinds"].items():
                self.assertEqual(k["closed_by_server"], k["opened"], (kind, k))
                self.assertLessEqual(k["last_closed_after_quiet_s"], 2 * TIMEOUT_S + 2, (kind, k))
            self.assertLess(peak_fds, fds_before + 2 * 4000 + 4000)
            if not under_asan(pid):
                self.assertLess(peak_rss - rss_before, RSS_GROWTH_MAX_KB)
            deadline = time.monotonic() + 5
            while fd_count(pid) > fds_before and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertLessEqual(fd_count(pid), fds_before)
            sys.stderr.write(f"descriptors {fds_before} -> peak {peak_fds} -> {fd_count(pid)}; "
                             f"RSS kB {rss_before} -> peak {peak_rss}\n")
            if all(verdicts):
                opened = sum(k["opened"] for k in hostile["kinds"].values())
                ratios = {t: attacked[t]["p99_us_median_second"] /
                          baseline[t]["p99_us_median_second"] for t in ("boxoffice", "http")}
                met = all(r <= P99_RATIO_TARGET for r in ratios.values())
                sys.stderr.write(
                    f"summary: {opened} hostile connections opened in {ATTACK_S} s, attempt "
                    f"{attempt}; p99 (median second) quiet -> attacked: rpc "
                    f"{baseline['boxoffice']['p99_us_median_second']:.0f} -> "
                    f"{attacked['boxoffice']['p99_us_median_second']:.0f} us "
                    f"({ratios['boxoffice']:.2f}x), http "
                    f"{baseline['http']['p99_us_median_second']:.0f} -> "
                    f"{attacked['http']['p99_us_median_second']:.0f} us "
                    f"({ratios['http']:.2f}x), 1.2x target {'met' if met else 'missed'}; "
                    f"descriptors peak {peak_fds}\n")
                break
        else:
            self.fail(f"legitimate p99 over {P99_RATIO_MAX}x the quiet baseline (+"
                      f"{P99_ALLOWANCE_US} us) in {ATTEMPTS} attempts")
        if LONG:
            # The same attack on a decoy: what sharing the machine with it costs the legitimate
            # clients of this server, which is not attacked.
            decoy = self.start_server("decoy")
            beside, _, _, _ = self.attack(decoy[0].process.pid, decoy)
            ratios = {t: attacked[t]["p99_us_median_second"] /
                      beside[t]["p99_us_median_second"] for t in ("boxoffice", "http")}
            sys.stderr.write(
                f"summary: decoy: p99 (median second) with the same attack on a decoy -> on "
                f"this server: rpc {beside['boxoffice']['p99_us_median_second']:.0f} -> "
                f"{attacked['boxoffice']['p99_us_median_second']:.0f} us "
                f"({ratios['boxoffice']:.2f}x), http {beside['http']['p99_us_median_second']:.0f}"
                f" -> {attacked['http']['p99_us_median_second']:.0f} us ({ratios['http']:.2f}x)\n")
            decoy[0].stop()
        self.server.stop()  # a clean drain: exit status 0 (and no sanitizer report)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
