#!/usr/bin/python3
"""End-to-end boxoffice-load runs against a real boxofficed (--durability memory, its own ports,
seat table and data dir). Usage: load_test.py BOXOFFICED BOXOFFICE_LOAD

- onsale: a flash sale of a 2,000-seat event with --verify: exit 0, every seat sold, ok == seats,
  zero mismatches (every ticket exists for the seat the client saw, no seat twice, counts match).
- hold: a closed-loop run counts answers and writes the JSON report.
- rate: an open-loop run at --rate keeps its ops/s close to the rate.
- io: the same on-sale over the epoll transport (--io epoll) as over io_uring.
- mariadb: against boxofficed with a private MariaDB, --verify-mariadb finds every ticket of an
  on-sale there once the persister has drained, and reports rows deleted behind its back.
- redis: --target redis against a private redis-server: an on-sale and a hold/confirm/release
  flow pass --verify; a sold key overwritten behind the clients' back makes --verify fail."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import Server, free_port  # noqa: E402
from services import PrivateMariadb, PrivateRedis  # noqa: E402

BOXOFFICED, LOAD = sys.argv[1], sys.argv[2]


class LoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.http_port = free_port()
        cls.shm = f"/dev/shm/boxoffice-loadtest-{os.getpid()}"
        cls.server = Server(BOXOFFICED, os.path.join(cls.dir, "server"),
                            ["--http", f"127.0.0.1:{cls.http_port}", "--workers", "2",
                             "--durability", "memory", "--shm", cls.shm,
                             "--data-dir", os.path.join(cls.dir, "data"),
                             "--holds-max", "65536"]).start()

        cls.redis_port = free_port()
        cls.redis = PrivateRedis(os.path.join(cls.dir, "redis"), port=cls.redis_port)
        cls.redis.start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.server.stop()
        for path in glob.glob(glob.escape(cls.shm) + "*"):  # the table and its staging files
            os.unlink(path)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_load(self, name, *args, target="boxoffice"):
        path = os.path.join(self.dir, name + ".json")
        port = {"boxoffice": self.server.port, "http": self.http_port,
                "redis": self.redis_port}[target]
        run = subprocess.run([LOAD, "--target", target, "--addr", f"127.0.0.1:{port}",
                              "--json", path, *args],
                             capture_output=True, text=True, timeout=120)
        sys.stderr.write(run.stdout + run.stderr)
        with open(path) as f:
            return run.returncode, json.load(f)

    def check_onsale(self, target, *args):
        seats = 2000
        rc, report = self.run_load(f"onsale-{target}", "--scenario", "onsale", "--seats",
                                   str(seats), "--connections", "8", "--pipeline", "4",
                                   "--threads", "2", "--duration", "20", "--verify", *args,
                                   target=target)
        self.assertEqual(rc, 0)
        self.assertTrue(report["sold_out"])
        self.assertEqual(report["ok"], seats)  # one seat per buy, no warm-up in an on-sale
        self.assertEqual(report["errors"], 0)
        verify = report["verify"]
        self.assertEqual(verify["mismatches"], 0, verify["details"])
        self.assertTrue(verify["counts_checked"])
        self.assertEqual(verify["tickets_checked"], seats)
        self.assertEqual(verify["server_seats_sold"], seats)
        self.assertEqual(verify["server_seats_free"], 0)
        return report

    def test_onsale_verify(self):
        self.check_onsale("boxoffice")

    def test_onsale_verify_http(self):
        self.check_onsale("http")

    def test_onsale_verify_epoll(self):
        report = self.check_onsale("boxoffice", "--io", "epoll")
        self.assertEqual(report["io"], "epoll")

    def test_onsale_verify_redis(self):
        self.check_onsale("redis")

    def test_flow_verify_redis(self):
        # Holds outlive the run (default TTL 600 s): every open hold is still a key with a TTL.
        rc, report = self.run_load("flow-redis", "--scenario", "flow", "--seats", "20000",
                                   "--connections", "4", "--pipeline", "2", "--duration", "1",
                                   "--warmup", "0", "--verify", target="redis")
        self.assertEqual(rc, 0)
        self.assertGreater(report["tickets"], 0)
        verify = report["verify"]
        self.assertEqual(verify["mismatches"], 0, verify["details"])
        self.assertTrue(verify["counts_checked"])
        self.assertEqual(verify["server_seats_sold"], report["tickets"])

    def test_redis_verify_sees_resold_seats(self):
        # Seats the clients bought are sold again behind their back (MSET over every key of the
        # event, one second into a slow run): --verify must report them and exit 1.
        seats, event = 1000, f"resold-{os.getpid()}"
        path = os.path.join(self.dir, "redis-resold.json")
        run = subprocess.Popen([LOAD, "--target", "redis", "--addr", f"127.0.0.1:{self.redis_port}",
                                "--scenario", "buy", "--seats", str(seats), "--event", event,
                                "--connections", "2", "--rate", "200", "--warmup", "0",
                                "--duration", "2", "--verify", "--json", path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1)
            pairs = []
            for seat in range(seats):
                pairs += [f"seat:{{{event}}}:{seat}", "someone-else"]
            self.redis.command("MSET", *pairs)
            out, _ = run.communicate(timeout=60)
        finally:
            run.kill()
        sys.stderr.write(out)
        self.assertEqual(run.returncode, 1)
        with open(path) as f:
            verify = json.load(f)["verify"]
        self.assertGreater(verify["tickets_checked"], 0)
        self.assertEqual(verify["tickets_wrong_seat"], verify["tickets_checked"])
        self.assertEqual(verify["mismatches"], verify["tickets_checked"])

    def test_closed_loop_hold(self):
        # Holds are never released: without a warm-up the window sees them succeed until the
        # 50,000 seats (within the server's 65,536 hold slots) are all held, then conflicts.
        rc, report = self.run_load("hold", "--scenario", "hold", "--seats", "50000",
                                   "--connections", "4", "--pipeline", "4", "--duration", "1",
                                   "--warmup", "0", "--verify")
        self.assertEqual(rc, 0)
        completed = report["ok"] + report["conflicts"] + report["errors"]
        self.assertGreater(completed, 1000)
        self.assertGreater(report["ok"], 0)
        self.assertAlmostEqual(report["ops_per_s"], completed / report["elapsed_s"], delta=1)
        for key in ("p50_us", "p90_us", "p99_us", "p999_us", "p9999_us", "max_us"):
            self.assertGreater(report[key], 0)
        self.assertLessEqual(report["p50_us"], report["p99_us"])
        self.assertLessEqual(report["p99_us"], report["max_us"])
        self.assertEqual(report["verify"]["mismatches"], 0, report["verify"]["details"])

    def test_open_loop_rate(self):
        rate = 2000
        rc, report = self.run_load("rate", "--scenario", "flow", "--seats", "100000",
                                   "--connections", "4", "--pipeline", "2", "--threads", "2",
                                   "--duration", "2", "--warmup", "0.5", "--rate", str(rate),
                                   "--verify")
        self.assertEqual(rc, 0)
        self.assertAlmostEqual(report["ops_per_s"], rate, delta=rate * 0.05)
        self.assertGreater(report["ok"], 0)
        self.assertEqual(report["errors"], 0)
        self.assertEqual(report["verify"]["mismatches"], 0, report["verify"]["details"])


class LoadMariadbTest(unittest.TestCase):
    """boxofficed --durability journal --mariadb: --verify-mariadb."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.db = PrivateMariadb(os.path.join(cls.dir, "db"))
        cls.db.start()
        cls.shm = f"/dev/shm/boxoffice-loadtest-db-{os.getpid()}"
        cls.server = Server(BOXOFFICED, os.path.join(cls.dir, "server"),
                            ["--http", "off", "--workers", "2", "--shm", cls.shm,
                             "--data-dir", os.path.join(cls.dir, "data"),
                             "--mariadb", cls.db.url, "--holds-max", "65536"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.db.stop()
        for path in glob.glob(glob.escape(cls.shm) + "*"):
            os.unlink(path)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def load(self, name, *args):
        path = os.path.join(self.dir, name + ".json")
        run = subprocess.Popen([LOAD, "--addr", f"127.0.0.1:{self.server.port}", "--json", path,
                                "--verify", "--verify-mariadb", self.db.url, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return run, path

    def test_onsale_agrees_with_mariadb(self):
        seats = 2000
        run, path = self.load("onsale-db", "--scenario", "onsale", "--seats", str(seats),
                              "--connections", "8", "--pipeline", "4", "--duration", "20")
        out, _ = run.communicate(timeout=120)
        sys.stderr.write(out)
        self.assertEqual(run.returncode, 0)
        with open(path) as f:
            verify = json.load(f)["verify"]
        self.assertEqual(verify["mismatches"], 0, verify["details"])
        self.assertTrue(verify["mariadb_checked"])
        self.assertEqual(verify["mariadb_rows"], seats)

    def test_rows_deleted_from_mariadb_are_reported(self):
        # A slow sale; one second in, its rows so far are deleted from MariaDB.
        run, path = self.load("deleted-db", "--scenario", "buy", "--seats", "1000",
                              "--connections", "2", "--rate", "200", "--warmup", "0",
                              "--duration", "2", "--verify-wait", "2")
        try:
            time.sleep(1.2)
            self.db.query("DELETE FROM tickets")
            out, _ = run.communicate(timeout=60)
        finally:
            run.kill()
        sys.stderr.write(out)
        self.assertEqual(run.returncode, 1)
        with open(path) as f:
            verify = json.load(f)["verify"]
        self.assertGreater(verify["mariadb_missing"], 0, verify["details"])
        self.assertEqual(verify["mariadb_missing"] + verify["mariadb_wrong_seat"] +
                         verify["mariadb_extra"], verify["mariadb_mismatches"])
        # boxofficed itself still has every ticket: only MariaDB disagrees.
        self.assertEqual(verify["mismatches"], verify["mariadb_mismatches"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
