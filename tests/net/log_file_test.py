#!/usr/bin/python3
"""End-to-end tests of boxofficed's --log-file and SIGHUP, as an operator rotates logs: the log
goes to the file (not stderr); after the file is moved away, SIGHUP makes the server write to a
new file at the path while it keeps serving; without --log-file SIGHUP neither stops nor
disturbs it; a log file that cannot be opened is refused at start with the reason.
Usage: log_file_test.py BOXOFFICED SOURCE_DIR

Every wait has a timeout; servers are killed at the end whatever happens."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BOXOFFICED, SOURCE_DIR = (os.path.abspath(arg) for arg in sys.argv[1:3])
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "support"))

from boxoffice_client import Client, free_port, remove_table  # noqa: E402

TIMEOUT_S = 20


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(predicate, what):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {TIMEOUT_S} s: {what}")


class LogFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="boxoffice-logfile-")
        self.shm = f"/dev/shm/boxoffice-logfiletest-{os.getpid()}"
        self.port = free_port()
        self.process = None

    def tearDown(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT_S)
        remove_table(self.shm)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *extra):
        """boxofficed with its stderr in <dir>/stderr; returns that path."""
        stderr_path = os.path.join(self.dir, "stderr")
        argv = [BOXOFFICED, "--listen", f"127.0.0.1:{self.port}", "--http", "off",
                "--admin", "off", "--io", "epoll", "--workers", "1", "--no-pin",
                "--durability", "memory", "--shm", self.shm, "--holds-max", "65536",
                "--idempotency-keys-max", "65536", "--arena-bytes", str(64 << 20),
                "--data-dir", os.path.join(self.dir, "data"), *extra]
        with open(stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=stderr, stderr=stderr)
        return stderr_path

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.assertEqual(self.process.wait(timeout=TIMEOUT_S), 0)

    def test_sighup_reopens_the_log_file_after_a_rotation(self):
        log_path = os.path.join(self.dir, "boxofficed.log")
        stderr_path = self.start("--log-file", log_path)
        wait_for(lambda: "boxofficed listening on" in read(log_path), "the listening line")
        self.assertEqual(os.stat(log_path).st_mode & 0o777, 0o640)
        with Client(self.port) as client:
            client.ok("ping", {})
            # The rotation: the file moved away (the server still has it open), then SIGHUP.
            rotated = log_path + ".1"
            os.rename(log_path, rotated)
            self.process.send_signal(signal.SIGHUP)
            wait_for(lambda: "SIGHUP: log file" in read(log_path), "the reopened file's line")
            client.ok("ping", {})  # still serving, same connection
        self.stop()
        new_log = read(log_path)
        self.assertIn("stopped after", new_log)
        old_log = read(rotated)
        self.assertIn("boxofficed listening on", old_log)
        self.assertNotIn("stopped after", old_log)  # nothing written to the moved file after
        self.assertNotIn("SIGHUP", old_log)
        self.assertEqual(read(stderr_path), "")  # every line went to the file

    def test_sighup_without_a_log_file_is_harmless(self):
        stderr_path = self.start()
        wait_for(lambda: "boxofficed listening on" in read(stderr_path), "the listening line")
        with Client(self.port) as client:
            self.process.send_signal(signal.SIGHUP)
            wait_for(lambda: "nothing to reopen" in read(stderr_path), "the SIGHUP line")
            client.ok("ping", {})
        self.assertIsNone(self.process.poll())
        self.stop()

    def test_a_log_file_that_cannot_be_opened_is_refused_at_start(self):
        missing = os.path.join(self.dir, "no-such-dir", "boxofficed.log")
        stderr_path = self.start("--log-file", missing)
        self.assertEqual(self.process.wait(timeout=TIMEOUT_S), 2)
        message = read(stderr_path)
        self.assertIn("--log-file " + missing, message)
        self.assertIn("No such file or directory", message)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
