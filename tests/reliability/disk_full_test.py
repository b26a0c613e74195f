#!/usr/bin/python3
"""The journal's disk fills up, against a real boxofficed. Usage: disk_full_test.py BOXOFFICED

The data directory is a 512 KiB tmpfs (needs root with CAP_SYS_ADMIN to mount; exit 77,
skipped, otherwise). Sales
go on, one at a time, until one is not answered: its journal record could not be written.
Checked:
  - that sale's reply waits (it is not acknowledged while not on disk); every new sale is
    refused at once with BUSY and a message naming the journal; the log names the cause (No
    space left on device);
  - when space returns (the tmpfs grows), the waiting sale is acknowledged and new sales go
    through again within seconds, without a restart;
  - after a crash and a reboot (kill -9, the seat table and its staging files deleted) the
    server rebuilds from the journal every ticket it ever acknowledged, before and after."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from boxoffice_client import BUSY, Client, Server, remove_table  # noqa: E402

BOXOFFICED = sys.argv[1]
SEATS = 200_000
REPLY_WAIT_S = 2  # a sale unanswered this long, with the journal's disk full, is held


def mount_tmpfs(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                          capture_output=True, text=True).returncode == 0


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.fs = os.path.join(self.dir, "journal-fs")
        os.makedirs(self.fs)
        self.assertTrue(mount_tmpfs(self.fs, "512k"), "mount a tmpfs")
        self.addCleanup(subprocess.run, ["umount", "-l", self.fs], capture_output=True)
        self.shm = f"/dev/shm/boxoffice-diskfull-{os.getpid()}"
        self.addCleanup(remove_table, self.shm)
        self.server = Server(BOXOFFICED, os.path.join(self.dir, "logs"),
                             ["--http", "off", "--admin", "off", "--workers", "1",
                              "--durability", "journal", "--shm", self.shm,
                              "--data-dir", os.path.join(self.fs, "data"), "--arena-bytes",
                              str(256 << 20), "--holds-max", "65536"])
        self.addCleanup(self.server.close)

    def sell(self, client, seats):
        """Buys each seat once (pipelined); returns {seat: ticket} sold and [error] refused."""
        sold, refused = {}, []
        replies = client.pipeline([("buy", {"event": "E", "seats": [s]}) for s in seats],
                                  window=32)
        for seat, (error, result) in zip(seats, replies):
            if error is None:
                sold[seat] = result["tickets"][0]["id"]
            else:
                refused.append(error)
        return sold, refused

    def test_full_disk_refuses_sales_then_recovers(self):
        self.server.start()
        client = Client(self.server.port, timeout_s=REPLY_WAIT_S)
        client.ok("event.create", {"id": "E", "layout": {"venue": "V", "zones": [
            {"id": 1, "price_cents": 100, "capacity": SEATS}]}})
        # One sale at a time until one is not answered: its record could not be written, so
        # its reply waits for the journal (never an acknowledgement that is not on disk).
        acknowledged = {}
        pending_seat = None
        for seat in range(SEATS):
            msgid, data = client.request_bytes("buy", {"event": "E", "seats": [seat]})
            client.send_raw(data)
            response = None
            while response is None:
                try:
                    response = client.read_response()
                except TimeoutError:
                    if "No space left on device" in self.server.log():
                        break  # held: its record is not on disk
                    # merely slow (a busy machine): keep waiting
            if response is None:
                pending_seat, pending_msgid = seat, msgid
                break
            self.assertIsNone(response[2], f"seat {seat}: {response[2]}")
            acknowledged[seat] = response[3]["tickets"][0]["id"]
        self.assertIsNotNone(pending_seat, "the 512 KiB journal never filled")
        self.assertGreater(len(acknowledged), 100)
        self.assertIn("No space left on device", self.server.log())

        # Meanwhile every new sale is refused, with BUSY naming the journal (not left unanswered).
        with Client(self.server.port, timeout_s=5) as other:
            sold, refused = self.sell(other, range(pending_seat + 1, pending_seat + 201))
            self.assertEqual(sold, {}, "a sale was acknowledged while the journal is failing")
            self.assertEqual(len(refused), 200)
            for error in refused:
                self.assertEqual(error["code"], BUSY, error)
                self.assertIn("journal", error["message"])

            # Space comes back: the held sale is acknowledged and new sales go through again,
            # without a restart.
            subprocess.run(["mount", "-o", "remount,size=64m", self.fs], check=True)
            client.sock.settimeout(10)
            response = client.read_response()
            self.assertEqual(response[1], pending_msgid)
            self.assertIsNone(response[2], response)
            acknowledged[pending_seat] = response[3]["tickets"][0]["id"]
            deadline = time.monotonic() + 10
            recovered, next_seat = {}, pending_seat + 201
            while not recovered and time.monotonic() < deadline:
                time.sleep(0.1)
                recovered, _ = self.sell(other, range(next_seat, next_seat + 50))
                next_seat += 50
            self.assertTrue(recovered, "sales did not resume once the disk had space")
            acknowledged.update(recovered)
        client.close()

        # A crash and a reboot: the table and its staging files are gone; the journal remains.
        self.server.kill9()
        remove_table(self.shm)
        self.server.start()
        with Client(self.server.port) as client:
            replies = client.pipeline([("ticket.get", {"ticket": t})
                                       for t in acknowledged.values()], window=128)
            for (seat, ticket), (error, result) in zip(acknowledged.items(), replies):
                self.assertIsNone(error, f"acknowledged ticket {ticket} lost: {error}")
                self.assertEqual(result["status"], "valid")
                self.assertEqual(result["seat"]["index"], seat)
        sys.stderr.write(f"summary: {len(acknowledged)} acknowledged sales kept through a full disk, "
                         "its recovery and a reboot\n")
        self.server.stop()  # a clean drain: exit status 0 (and no sanitizer report)


if __name__ == "__main__":
    # Skipped (77, for ctest) where a tmpfs cannot be mounted: not root, or no CAP_SYS_ADMIN.
    probe = tempfile.mkdtemp()
    mountable = os.geteuid() == 0 and mount_tmpfs(probe, "64k")
    if mountable:
        subprocess.run(["umount", probe], check=True)
    os.rmdir(probe)
    if not mountable:
        print("disk_full_test: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): skipped")
        sys.exit(77)
    unittest.main(argv=sys.argv[:1], verbosity=2)
