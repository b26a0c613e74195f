#!/usr/bin/python3
"""End-to-end durability tests (DESIGN.md section 7): real boxofficed processes spoken to over
msgpack-rpc on loopback, a real MariaDB and Redis of their own (tests/support/services.py),
crashes by SIGKILL, damage done to the files by hand.

Usage: durability_test.py BOXOFFICED SOURCE_DIR [TestClass[.test_method] ...]

  PersistMillionTest   1,000,000 tickets bought over the wire reach MariaDB, once each
  CrashLoopTest        kill -9 at random moments under a conflicting load, 20+ times: no
                       acknowledged ticket or void lost, no seat sold twice, MariaDB == table
  MariadbOutageTest    MariaDB killed under load: selling goes on, the backlog drains by itself;
                       a small --persist-backlog-max turns sales BUSY until MariaDB is back
  JournalDamageTest    garbage, a torn record, a flipped byte at the end of a worker journal
  RebootTest           the seat table and its staging files deleted: rebuilt identical from
                       the journal, and from MariaDB once the journal was trimmed
  DurabilityModeTest   --durability db answers after MariaDB has the row; memory mode
  RedisOutboxTest      every ticket reaches the Redis stream at least once; Redis down does
                       not stop selling

Every wait is bounded; every process (boxofficed, mariadbd, redis-server) is killed at the end,
and every /dev/shm file removed, whatever happens.
"""

import glob
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import unittest
import zlib

BOXOFFICED, SOURCE_DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "support"))

from boxoffice_client import (BUSY, NOT_FOUND, SEAT_TAKEN, Client, Server,  # noqa: E402
                              remove_table)
from services import PrivateMariadb, PrivateRedis  # noqa: E402

BASE_ARGS = ["--holds-max", "65536", "--idempotency-keys-max", "65536"]
ARENA_BYTES = 256 << 20  # a 1,000,000-place event takes ~140 MiB of it (sparse file)
PERSIST_WAIT_S = 120     # MariaDB catching up: bounded, generous for sanitizer builds


def ga_layout(places, price_cents=1000, venue="Hall"):
    return {"venue": venue, "zones": [{"id": 1, "name": "Floor", "price_cents": price_cents,
                                       "capacity": places}]}


def rows_layout(rows, seats_per_row, price_cents=1500, venue="Theatre"):
    return {"venue": venue, "zones": [{"id": 1, "name": "Stalls", "price_cents": price_cents,
                                       "rows": [{"label": f"R{r}", "seats": seats_per_row}
                                                for r in range(rows)]}]}


def wait_until(what, predicate, timeout_s, interval_s=0.2):
    """Polls predicate() until it returns a true value (returned) or timeout_s passes
    (AssertionError naming `what`, with the last value seen)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = predicate()
        if last[0] if isinstance(last, tuple) else last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s (last: {last!r:.2000})")
        time.sleep(interval_s)


def sql_str(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class DbTicket:
    __slots__ = ("ticket_id", "seat", "generation", "voided", "price_cents", "buyer")

    def __init__(self, row):
        self.ticket_id = row[0]
        self.seat = int(row[1])
        self.generation = int(row[2])
        self.voided = row[3] == "1"
        self.price_cents = None if row[4] is None else int(row[4])
        self.buyer = row[5]


def db_tickets(db, event_id):
    """ticket_id -> DbTicket, every row of the event's tickets in MariaDB."""
    rows = db.query("SELECT ticket_id, seat_index, generation, voided_at_ms IS NOT NULL, "
                    f"price_cents, buyer_ref FROM tickets WHERE event_id = {sql_str(event_id)}")
    return {row[0]: DbTicket(row) for row in rows}


def db_scalar(db, sql):
    rows = db.query(sql)
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def db_has_tables(db):
    return db_scalar(db, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                         "table_schema = 'boxoffice' AND table_name = 'tickets'") == 1


class Ledger:
    """What clients were told: every acknowledged ticket (its seat, buyer, price) and every
    acknowledged void. A ticket whose void was sent but not answered is `void_unknown` until
    the server says which way it went. Shoppers add under `lock`; checks run between loads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tickets = {}        # ticket id -> {"seat", "buyer", "price_cents"}
        self.voided = set()      # acknowledged voids
        self.void_unknown = set()

    def add_sale(self, result, buyer=""):
        with self.lock:
            for t in result["tickets"]:
                self.tickets[t["id"]] = {"seat": t["seat"]["index"], "buyer": buyer,
                                         "price_cents": t["seat"]["price_cents"]}

    def expected_voided(self, ticket_id):
        """True / False, or None when unknown."""
        if ticket_id in self.voided:
            return True
        if ticket_id in self.void_unknown:
            return None
        return False


class DurabilityCase(unittest.TestCase):
    """A temporary directory, unique /dev/shm names, and cleanup of every process started."""

    shm_counter = 0

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bxd-")  # short: unix socket paths live below it
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.started_at = time.monotonic()

    def tearDown(self):
        print(f"\n  [{self.id().split('.', 1)[1]}: {time.monotonic() - self.started_at:.1f} s]",
              file=sys.stderr, flush=True)

    def new_shm(self):
        DurabilityCase.shm_counter += 1
        path = f"/dev/shm/bxd-{os.getpid()}-{DurabilityCase.shm_counter}"
        self.addCleanup(remove_table, path)
        return path

    def mariadb(self, name="db"):
        db = PrivateMariadb(os.path.join(self.tmp, name))
        self.addCleanup(db.kill)  # after the server (cleanups run last-in first-out)
        db.start()
        return db

    def redis(self):
        redis = PrivateRedis(os.path.join(self.tmp, "redis"))
        self.addCleanup(redis.kill)
        redis.start()
        return redis

    def server(self, *extra, db=None, redis=None, shm=None, data_dir=None,
               arena_bytes=ARENA_BYTES, workers=2):
        shm = shm or self.new_shm()
        data_dir = data_dir or os.path.join(self.tmp, "data")
        args = [*BASE_ARGS, "--workers", str(workers), "--arena-bytes", str(arena_bytes),
                "--shm", shm, "--data-dir", data_dir, *extra]
        if db is not None:
            args += ["--mariadb", db.url]
        if redis is not None:
            args += ["--redis", redis.address]
        server = Server(BOXOFFICED, os.path.join(self.tmp, "logs"), args)
        server.shm = shm
        server.data_dir = data_dir
        self.addCleanup(server.close)
        return server

    def connect(self, server, timeout_s=10):
        client = Client(server.port, timeout_s=timeout_s)
        self.addCleanup(client.close)
        return client

    # Checks shared by the tests.

    def assert_tickets_in_table(self, client, ledger, context=""):
        """Every acknowledged ticket is found, on its seat, voided exactly when an
        acknowledged void says so; no seat has two valid acknowledged tickets. Resolves the
        ledger's unknown voids from what the server says. Returns ticket id -> ticket.get."""
        ids = list(ledger.tickets)
        replies = client.pipeline([("ticket.get", {"ticket": t}) for t in ids], window=256)
        found = {}
        valid_on_seat = {}
        for ticket_id, (error, result) in zip(ids, replies):
            want = ledger.expected_voided(ticket_id)
            if error is not None and error["code"] == NOT_FOUND and want is not False:
                # A seat keeps only its latest ticket: a voided one is gone once the seat is
                # sold again (and, unvoided, it would still be there).
                ledger.voided.add(ticket_id)
                ledger.void_unknown.discard(ticket_id)
                continue
            self.assertIsNone(error, f"{context}acknowledged ticket {ticket_id} lost: {error}")
            expected = ledger.tickets[ticket_id]
            self.assertEqual(result["seat"]["index"], expected["seat"], ticket_id)
            voided = result["status"] == "voided"
            if want is None:
                if voided:
                    ledger.voided.add(ticket_id)
                ledger.void_unknown.discard(ticket_id)
            else:
                self.assertEqual(voided, want,
                                 f"{context}ticket {ticket_id}: {result['status']}, acknowledged "
                                 f"{'void' if want else 'sale'} says otherwise")
            if not voided:
                seat = (result["event"], result["seat"]["index"])
                other = valid_on_seat.setdefault(seat, ticket_id)
                self.assertEqual(other, ticket_id, f"{context}seat {seat} has two valid tickets")
            found[ticket_id] = result
        return found

    def assert_database_matches(self, db, client, event_id, ledger, timeout_s=PERSIST_WAIT_S,
                                table=None):
        """Waits (bounded) until MariaDB holds as many valid tickets as the event has seats
        sold and every acknowledged ticket with the seat and generation the table gives it,
        voided exactly when the table says; then checks no seat has two valid rows and there
        are no dead letters. `table`: ticket id -> ticket.get, from assert_tickets_in_table."""
        if table is None:
            table = self.assert_tickets_in_table(client, ledger)

        def check():
            sold = client.ok("event.stats", {"event": event_id})["seats_sold"]
            if not db_has_tables(db):
                return (False, "no tables yet")
            rows = db_tickets(db, event_id)
            valid = [r for r in rows.values() if not r.voided]
            if len(valid) != sold:
                return (False, f"{len(valid)} valid rows, {sold} seats sold")
            for ticket_id, t in table.items():
                row = rows.get(ticket_id)
                if row is None:
                    return (False, f"ticket {ticket_id} (seat {t['seat']['index']}) not in MariaDB")
                if row.voided != (t["status"] == "voided"):
                    return (False, f"ticket {ticket_id}: voided {row.voided} in MariaDB, "
                                   f"{t['status']} in the table")
            for ticket_id in ledger.voided:  # also those no longer in the table
                row = rows.get(ticket_id)
                if row is None or not row.voided or row.seat != ledger.tickets[ticket_id]["seat"]:
                    return (False, f"voided ticket {ticket_id}: {row and (row.seat, row.voided)} "
                                   "in MariaDB")
            return (True, rows)

        _, rows = wait_until(f"MariaDB has every ticket of {event_id}", check, timeout_s)
        for ticket_id, t in table.items():
            row = rows[ticket_id]
            self.assertEqual((row.seat, row.generation, row.price_cents, row.buyer),
                             (t["seat"]["index"], t["generation"], t["price_cents"], t["buyer"]),
                             ticket_id)
        per_seat = {}
        for row in rows.values():
            if not row.voided:
                per_seat[row.seat] = per_seat.get(row.seat, 0) + 1
        self.assertEqual([s for s, n in per_seat.items() if n > 1], [], "seats with two valid rows")
        generations = {(r.seat, r.generation) for r in rows.values()}
        self.assertEqual(len(generations), len(rows), "a (seat, generation) twice")
        self.assertEqual(db_scalar(db, "SELECT COUNT(*) FROM dead_letters"), 0,
                         db.query("SELECT stream, sequence, kind, reason FROM dead_letters LIMIT 5"))
        return rows


class PersistMillionTest(DurabilityCase):
    """1,000,000 places bought in 31,250 pipelined buys of 32 over 4 connections; MariaDB ends
    up with exactly those tickets."""

    SEATS = 1_000_000
    CONNECTIONS = 4

    def test_a_million_tickets_reach_mariadb_once_each(self):
        db = self.mariadb()
        server = self.server(db=db).start()
        admin = self.connect(server)
        created = admin.ok("event.create", {"id": "Million", "layout": ga_layout(self.SEATS)})
        self.assertEqual(created["seats_total"], self.SEATS)

        requests = [("buy", {"event": "Million", "seats": list(range(i, i + 32))})
                    for i in range(0, self.SEATS, 32)]
        shares = [requests[k::self.CONNECTIONS] for k in range(self.CONNECTIONS)]
        sums = [0] * self.CONNECTIONS
        counts = [0] * self.CONNECTIONS
        errors = []

        def buyer(k):
            try:
                client = Client(server.port, timeout_s=60)
                try:
                    def on_response(_, error, result):
                        if error is not None:
                            errors.append(error)
                            return
                        for t in result["tickets"]:
                            counts[k] += 1
                            sums[k] += zlib.crc32(f"{t['id']}:{t['seat']['index']}".encode())
                    client.pipeline(shares[k], window=128, on_response=on_response)
                finally:
                    client.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        started = time.monotonic()
        threads = [threading.Thread(target=buyer, args=(k,)) for k in range(self.CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        bought_s = time.monotonic() - started
        self.assertFalse(any(t.is_alive() for t in threads), "buyers still running after 120 s")
        self.assertEqual(errors[:5], [])
        self.assertEqual(sum(counts), self.SEATS)
        stats = admin.ok("event.stats", {"event": "Million"})
        self.assertEqual((stats["seats_sold"], stats["seats_free"]), (self.SEATS, 0))

        def persisted():
            return db_has_tables(db) and db_scalar(db, "SELECT COUNT(*) FROM tickets") >= self.SEATS
        wait_until("1,000,000 tickets in MariaDB", persisted, PERSIST_WAIT_S, interval_s=0.5)
        persisted_s = time.monotonic() - started
        count, ids, seats, crc_sum, valid, low, high, generations = db.query(
            "SELECT COUNT(*), COUNT(DISTINCT ticket_id), COUNT(DISTINCT seat_index), "
            "SUM(CRC32(CONCAT(ticket_id, ':', seat_index))), SUM(voided_at_ms IS NULL), "
            "MIN(seat_index), MAX(seat_index), MAX(generation) FROM tickets "
            "WHERE event_id = 'Million'", timeout_s=120)[0]
        self.assertEqual([int(count), int(ids), int(seats), int(valid)], [self.SEATS] * 4)
        self.assertEqual((int(low), int(high), int(generations)), (0, self.SEATS - 1, 1))
        self.assertEqual(int(crc_sum), sum(sums), "MariaDB's tickets are not the ones acknowledged")
        self.assertEqual(db_scalar(db, "SELECT COUNT(*) FROM tickets"), self.SEATS)
        self.assertEqual(db_scalar(db, "SELECT COUNT(*) FROM dead_letters"), 0)
        log = server.stop()
        self.assertNotIn("ERROR", log)
        print(f"\n  1,000,000 tickets: bought in {bought_s:.1f} s, all in MariaDB after "
              f"{persisted_s:.1f} s", file=sys.stderr)


class Shopper(threading.Thread):
    """One connection of the crash loop's load: pipelined buys of 1-4 random seats (some with
    an idempotency key and a buyer), and voids of tickets this shopper was sold. Runs until
    stopped or until the connection dies (the server was killed)."""

    DEPTH = 8

    def __init__(self, port, event_id, seats, ledger, number, round_number):
        super().__init__(daemon=True)
        self.port, self.event_id, self.seats, self.ledger = port, event_id, seats, ledger
        self.name_prefix = f"s{number}r{round_number}"
        self.random = random.Random(number * 1000 + round_number)
        self.stop_flag = threading.Event()
        self.mine = []              # valid tickets this shopper owns (acknowledged)
        self.keyed_unanswered = {}  # idempotency key -> params of a keyed buy never answered
        self.unexpected = []
        self.answers = {"ok": 0, "taken": 0, "busy": 0, "void": 0, "keyed": 0, "sent": 0}

    def run(self):
        try:
            client = Client(self.port, timeout_s=10)
        except OSError:
            return
        pending = {}  # msgid -> (kind, params)
        n = 0
        try:
            while not self.stop_flag.is_set() or pending:
                batch = []
                while not self.stop_flag.is_set() and len(pending) < self.DEPTH:
                    n += 1
                    kind, params = self.next_request(n, pending)
                    self.answers["sent"] += 1
                    msgid, data = client.request_bytes(kind, params)
                    pending[msgid] = (kind, params)
                    batch.append(data)
                if batch:
                    client.send_raw(b"".join(batch))
                response = client.read_response()
                kind, params = pending.pop(response[1])
                self.on_response(kind, params, response[2], response[3])
        except (OSError, ConnectionError):
            pass  # killed: whatever is pending was never answered
        finally:
            client.close()
        with self.ledger.lock:
            for kind, params in pending.values():
                if kind == "ticket.void":
                    self.ledger.void_unknown.add(params["ticket"])
                elif "idempotency_key" in params:
                    self.keyed_unanswered[params["idempotency_key"]] = params

    def next_request(self, n, pending):
        voiding = {p["ticket"] for k, p in pending.values() if k == "ticket.void"}
        candidates = [t for t in self.mine if t not in voiding]
        if candidates and self.random.random() < 0.3:
            return "ticket.void", {"ticket": self.random.choice(candidates)}
        count = self.random.choice([1, 1, 1, 2, 3, 4])
        if self.random.random() < 0.5:
            first = self.random.randrange(self.seats - count)
            seats = list(range(first, first + count))  # adjacent: more conflicts
        else:
            seats = self.random.sample(range(self.seats), count)
        params = {"event": self.event_id, "seats": seats}
        # Keyed requests take an idempotency entry each, for good (65,536 in this table, and a
        # full probe window answers LIMIT_EXCEEDED): a few percent of the load is enough.
        if self.random.random() < 0.05:
            self.answers["keyed"] += 1
            params["idempotency_key"] = f"{self.name_prefix}-{n}"
            params["buyer"] = f"buyer-{self.name_prefix}-{n}"
        return "buy", params

    def on_response(self, kind, params, error, result):
        if kind == "ticket.void":
            if error is None:
                self.answers["void"] += 1
                with self.ledger.lock:
                    self.ledger.voided.add(params["ticket"])
                self.mine.remove(params["ticket"])
            else:
                self.unexpected.append((kind, params, error))
            return
        if error is None:
            self.answers["ok"] += 1
            self.ledger.add_sale(result, params.get("buyer", ""))
            self.mine.extend(t["id"] for t in result["tickets"])
        elif error["code"] == SEAT_TAKEN:
            self.answers["taken"] += 1
        elif error["code"] == BUSY:
            self.answers["busy"] += 1
        else:
            self.unexpected.append((kind, params, error))


class CrashLoopTest(DurabilityCase):
    """kill -9 at a random moment under a conflicting load, again and again, on the same seat
    table, journal and MariaDB."""

    KILLS = 22
    SHOPPERS = 4
    EVENT = "Crash"

    def test_kill_9_under_load_loses_nothing_acknowledged(self):
        db = self.mariadb()
        server = self.server(db=db)
        ledger = Ledger()
        rng = random.Random(int(os.environ.get("BOXOFFICE_TEST_SEED", time.time())))
        kills = 0
        replayed = fresh = 0
        totals = {"ok": 0, "taken": 0, "busy": 0, "void": 0, "keyed": 0, "sent": 0}
        recovery_lines = []
        shoppers = []
        for round_number in range(self.KILLS + 1):
            server.start()
            client = Client(server.port)
            try:
                if round_number == 0:
                    client.ok("event.create", {"id": self.EVENT, "layout": rows_layout(20, 100)})
                else:
                    recovery_lines += [line.split(" ", 2)[2] for line in server.log().splitlines()
                                       if "recovery:" in line or "re-attached" in line]
                context = f"after kill {round_number}: "
                table = self.assert_tickets_in_table(client, ledger, context)
                # Keyed buys that were never answered: a retry gets their first outcome, or
                # runs now if they never ran; never a second set of tickets.
                for shopper in shoppers:
                    for key, params in shopper.keyed_unanswered.items():
                        error, result = client.call("buy", params)
                        if error is None:
                            if result["replayed"]:
                                replayed += 1
                            else:
                                fresh += 1
                            ledger.add_sale(result, params["buyer"])
                            for t in result["tickets"]:
                                info = client.ok("ticket.get", {"ticket": t["id"]})
                                self.assertEqual(info["status"], "valid", (key, info))
                                self.assertEqual(info["buyer"], params["buyer"])
                        else:
                            self.assertIn(error["code"], (SEAT_TAKEN,), (key, error))
                table = self.assert_tickets_in_table(client, ledger, context)
                self.assert_database_matches(db, client, self.EVENT, ledger, table=table)
                if round_number == self.KILLS:
                    break
                shoppers = [Shopper(server.port, self.EVENT, 2000, ledger, k, round_number)
                            for k in range(self.SHOPPERS)]
                for s in shoppers:
                    s.start()
                time.sleep(rng.uniform(0.05, 0.5))
                server.kill9()
                kills += 1
                for s in shoppers:
                    s.join(timeout=20)
                    self.assertFalse(s.is_alive(), "a shopper hangs after the kill")
                    self.assertEqual(s.unexpected[:3], [])
                    for k in totals:
                        totals[k] += s.answers[k]
                if os.environ.get("BOXOFFICE_TEST_VERBOSE"):
                    print(f"\n    round {round_number}: {totals}", file=sys.stderr)
            finally:
                client.close()
        log = server.stop()
        self.assertGreaterEqual(kills, 20)
        self.assertGreater(totals["ok"], 200, totals)
        self.assertGreater(totals["taken"], 0, totals)   # the load did conflict
        self.assertGreater(totals["void"], 0, totals)
        self.assertNotIn("ERROR", log)
        if os.environ.get("BOXOFFICE_TEST_LAUNCHER"):
            # io_uring refused (tests/support/deny_uring): every start fell back to epoll and
            # said so once.
            for start in range(1, server.starts + 1):
                with open(os.path.join(server.directory, f"boxofficed-{start}.log")) as f:
                    text = f.read()
                about_io = [line for line in text.splitlines() if "io_uring" in line]
                self.assertEqual(len(about_io), 1, f"start {start}:\n{text}")
                self.assertIn("using epoll", about_io[0])
        print(f"\n  summary: {kills} kills, {len(ledger.tickets)} tickets acknowledged, "
              f"{len(ledger.voided)} voids, {totals['sent']} requests\n  {kills} kills; answers {totals}; {len(ledger.tickets)} tickets acknowledged, "
              f"{len(ledger.voided)} voids; unanswered keyed buys retried: {replayed} replayed, "
              f"{fresh} ran fresh", file=sys.stderr)
        notes = {}
        for line in recovery_lines:
            kind = " ".join(w for w in line.split() if not any(c.isdigit() for c in w))
            notes.setdefault(kind, line)
        for line in notes.values():
            print("   ", line, file=sys.stderr)


class Load(threading.Thread):
    """Buys the places of a general-admission event in order, one per request, pipelined, until
    stopped; records every answer. Places never conflict, so every answer should be OK (or
    BUSY when the test wants it)."""

    def __init__(self, port, event_id, first, last, ledger, window=16, pause_s=0.002):
        super().__init__(daemon=True)
        self.port, self.event_id, self.first, self.last = port, event_id, first, last
        self.ledger, self.window, self.pause_s = ledger, window, pause_s
        self.stop_flag = threading.Event()
        self.errors = []
        self.ok = 0
        self.failure = None

    def run(self):
        try:
            client = Client(self.port, timeout_s=30)
            pending = {}
            seat = self.first
            while (not self.stop_flag.is_set() and seat < self.last) or pending:
                batch = []
                while not self.stop_flag.is_set() and seat < self.last and len(pending) < self.window:
                    msgid, data = client.request_bytes("buy", {"event": self.event_id, "seats": [seat]})
                    pending[msgid] = seat
                    batch.append(data)
                    seat += 1
                if batch:
                    client.send_raw(b"".join(batch))
                response = client.read_response()
                pending.pop(response[1])
                if response[2] is None:
                    self.ok += 1
                    self.ledger.add_sale(response[3])
                else:
                    self.errors.append(response[2])
                if self.pause_s:
                    time.sleep(self.pause_s)
            client.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failure = repr(e)


class MariadbOutageTest(DurabilityCase):
    def test_selling_goes_on_while_mariadb_is_down_and_the_backlog_drains(self):
        db = self.mariadb()
        server = self.server(db=db).start()
        client = self.connect(server)
        client.ok("event.create", {"id": "Outage", "layout": ga_layout(500_000)})
        ledger = Ledger()
        loads = [Load(server.port, "Outage", k * 250_000, (k + 1) * 250_000, ledger,
                      pause_s=0.0005) for k in range(2)]
        load_started = time.monotonic()
        for load in loads:
            load.start()
        try:
            wait_until("sales persisted before the outage",
                       lambda: db_has_tables(db) and (db_scalar(db, "SELECT COUNT(*) FROM tickets") or 0) > 100,
                       30)
            before_rate = sum(load.ok for load in loads) / (time.monotonic() - load_started)
            db.kill()
            down_at = sum(load.ok for load in loads)
            time.sleep(2.0)
            during = sum(load.ok for load in loads) - down_at
            self.assertGreater(during, 500, "selling stopped while MariaDB was down")
            self.assertEqual([e for load in loads for e in load.errors][:3], [])
            db.start()
            time.sleep(1.0)
        finally:
            for load in loads:
                load.stop_flag.set()
            for load in loads:
                load.join(timeout=30)
        for load in loads:
            self.assertIsNone(load.failure)
            self.assertEqual(load.errors[:3], [])
        self.assertGreater(len(ledger.tickets), during)
        rows = self.assert_database_matches(db, client, "Outage", ledger)
        self.assertEqual(len(rows), len(ledger.tickets))  # every sale was answered: no others
        log = server.stop()
        self.assertIn("cannot reach the destination", log)  # it did notice the outage
        print(f"\n  {len(ledger.tickets)} tickets, {during} sold in the 2 s MariaDB was down "
              f"({before_rate:.0f}/s before)", file=sys.stderr)

    def test_a_full_backlog_answers_busy_until_mariadb_is_back(self):
        db = self.mariadb()
        server = self.server("--persist-backlog-max", "1000", db=db).start()
        client = self.connect(server)
        client.ok("event.create", {"id": "Backlog", "layout": ga_layout(20_000)})
        ledger = Ledger()
        ledger.add_sale(client.ok("buy", {"event": "Backlog", "seats": [0]}))
        wait_until("the first sale in MariaDB",
                   lambda: db_has_tables(db) and db_scalar(db, "SELECT COUNT(*) FROM tickets") == 1, 30)
        db.kill()
        # Both workers' backlogs (1,000 records each) fill; the connections land on either.
        busy = None
        seat = 1
        clients = [self.connect(server) for _ in range(4)]
        while busy is None and seat < 10_000:
            for c in clients:
                replies = c.pipeline([("buy", {"event": "Backlog", "seats": [s]})
                                      for s in range(seat, seat + 100)], window=16)
                for s, (error, result) in zip(range(seat, seat + 100), replies):
                    if error is None:
                        ledger.add_sale(result)
                    else:
                        self.assertEqual(error["code"], BUSY, error)
                        self.assertGreater(error.get("retry_after_ms", 0), 0, error)
                        busy = busy or error
                seat += 100
        self.assertIsNotNone(busy, "no BUSY after 10,000 sales with MariaDB down")
        sold_while_down = len(ledger.tickets) - 1
        self.assertLessEqual(sold_while_down, 2 * 1000 + 100)
        db.start()

        def sells_again():
            error, result = client.call("buy", {"event": "Backlog", "seats": [seat_after[0]]})
            if error is None:
                ledger.add_sale(result)
                return True
            self.assertEqual(error["code"], BUSY, error)
            return False
        seat_after = [19_999]
        wait_until("a sale accepted once MariaDB is back", sells_again, 60, interval_s=0.2)
        # Once the backlog has drained, sales are accepted as before.
        self.assert_database_matches(db, client, "Backlog", ledger)
        replies = client.pipeline([("buy", {"event": "Backlog", "seats": [s]})
                                   for s in range(16_000, 16_500)])
        for error, result in replies:
            self.assertIsNone(error)
            ledger.add_sale(result)
        rows = self.assert_database_matches(db, client, "Backlog", ledger)
        self.assertEqual(len(rows), len(ledger.tickets))
        server.stop()
        print(f"\n  {sold_while_down} sales accepted while MariaDB was down, then BUSY: {busy}",
              file=sys.stderr)


def segments(data_dir, stream):
    return sorted(glob.glob(os.path.join(data_dir, "journal", stream, "*.journal")))


def record_offsets(path):
    """Byte offsets of the records of a journal segment (u32 payload bytes | u32 crc | u64
    sequence | u8 type | payload), and its size."""
    with open(path, "rb") as f:
        data = f.read()
    offsets = []
    at = 0
    while at + 17 <= len(data):
        (payload_bytes,) = struct.unpack_from("<I", data, at)
        if at + 17 + payload_bytes > len(data):
            break
        offsets.append(at)
        at += 17 + payload_bytes
    return offsets, len(data)


class JournalDamageTest(DurabilityCase):
    """The end of a worker journal damaged while the server is stopped (what a power cut or a
    bad disk leaves): the server starts, says what it cut, and keeps what it acknowledged."""

    def sell_then_damage(self, damage):
        db = self.mariadb()
        # One worker: the sales before and after the damage share one journal, whichever
        # connection they come on.
        server = self.server(db=db, workers=1).start()
        client = Client(server.port)
        client.ok("event.create", {"id": "Torn", "layout": rows_layout(10, 50)})
        ledger = Ledger()
        for i in range(40):
            ledger.add_sale(client.ok("buy", {"event": "Torn", "seats": [2 * i, 2 * i + 1],
                                              "buyer": f"b{i}"}), f"b{i}")
        self.assert_database_matches(db, client, "Torn", ledger)
        client.close()
        server.stop()
        damaged = segments(server.data_dir, "worker-0")[-1]
        offsets, size = record_offsets(damaged)
        self.assertGreater(len(offsets), 10)
        last = offsets[-1]
        with open(damaged, "r+b") as f:
            if damage == "garbage":
                f.seek(0, os.SEEK_END)
                f.write(bytes(random.Random(7).randrange(256) for _ in range(777)))
            elif damage == "torn":
                f.truncate(last + (size - last) // 2)
            elif damage == "flipped":
                f.seek(last + 17 + 5)  # inside the payload (the sale's sold_at_ms)
                byte = f.read(1)[0]
                f.seek(last + 17 + 5)
                f.write(bytes([byte ^ 0x40]))
        server.start()
        log = server.log()
        recovery = [line for line in log.splitlines() if "cut" in line]
        self.assertTrue(recovery, f"no word of the cut in the log:\n{log}")
        client = self.connect(server)
        self.assert_tickets_in_table(client, ledger, f"{damage}: ")
        return db, server, client, ledger, recovery

    def sell_after(self, client, ledger):
        for i in range(40, 60):
            ledger.add_sale(client.ok("buy", {"event": "Torn", "seats": [2 * i, 2 * i + 1],
                                              "buyer": f"b{i}"}), f"b{i}")

    def test_garbage_after_the_last_record_is_cut_and_nothing_is_lost(self):
        db, server, client, ledger, recovery = self.sell_then_damage("garbage")
        self.assertIn("cut 777 bytes", recovery[0])
        self.sell_after(client, ledger)
        self.assertIsNotNone(self.assert_tickets_in_table(client, ledger))
        self.assert_database_matches(db, client, "Torn", ledger)
        # And the journal alone still rebuilds every ticket.
        server.stop()
        remove_table(server.shm)
        server.start()
        self.assertIn("rebuilt from the journal", server.log())
        client = self.connect(server)
        self.assert_tickets_in_table(client, ledger, "rebuilt: ")
        print(f"\n    {recovery[0]}", file=sys.stderr)

    def check_table_keeps_everything(self, damage):
        _, _, client, ledger, recovery = self.sell_then_damage(damage)
        self.assertIn("journal: cut", recovery[0])
        # The seat table is ahead of the journal: it still has the sale whose record was cut.
        self.sell_after(client, ledger)
        self.assert_tickets_in_table(client, ledger, f"{damage}, then more sales: ")
        print(f"\n    {recovery[0]}", file=sys.stderr)

    def test_torn_last_record_is_cut_and_the_table_keeps_every_ticket(self):
        self.check_table_keeps_everything("torn")

    def test_flipped_byte_in_last_record_is_cut_and_the_table_keeps_every_ticket(self):
        self.check_table_keeps_everything("flipped")

    # Cutting the last record R (sequence N) of a worker journal that MariaDB already has
    # (persist_progress says N) leaves the sale in the seat table but not in the journal. The
    # server must neither give N to the next sale (the persister resumes after N and would
    # skip it: filler records take the lost sequences) nor lose R when the table is rebuilt
    # later (the rebuild reads MariaDB whenever there is one).

    def test_sales_after_a_cut_record_reach_mariadb(self):
        db, _, client, ledger, _ = self.sell_then_damage("flipped")
        self.sell_after(client, ledger)
        self.assert_database_matches(db, client, "Torn", ledger, timeout_s=5)

    def test_a_cut_record_survives_a_reboot(self):
        _, server, client, ledger, _ = self.sell_then_damage("torn")
        client.close()
        server.stop()
        remove_table(server.shm)
        server.start()
        client = self.connect(server)
        self.assert_tickets_in_table(client, ledger, "rebuilt after a cut record: ")


class RebootTest(DurabilityCase):
    """A reboot empties /dev/shm: the seat table and its staging files are gone; the server
    rebuilds the table from the journal (and MariaDB, once the journal was trimmed)."""

    def snapshot(self, client, event_ids, ledger):
        events = sorted(client.ok("event.list")["events"], key=lambda e: e["event"])
        details = {}
        for event_id in event_ids:
            info = client.ok("event.get", {"event": event_id, "layout": True})
            stats = client.ok("event.stats", {"event": event_id})
            seats = client.pipeline([("seat.get", {"event": event_id, "seat": i})
                                     for i in range(info["seats_total"])], window=256)
            self.assertEqual([e for e, _ in seats if e is not None], [])
            details[event_id] = {
                "event": info,
                "counts": {k: stats[k] for k in ("seats_total", "seats_free", "seats_sold",
                                                 "revenue_cents")},
                "seats": [r["state"] for _, r in seats],
            }
        tickets = self.assert_tickets_in_table(client, ledger)
        return events, details, tickets

    def test_table_deleted_is_rebuilt_identical_from_the_journal(self):
        server = self.server().start()
        client = self.connect(server)
        client.ok("event.create", {"id": "Arena", "name": "Arena night",
                                   "layout": json_layout("arena.json")})
        client.ok("event.create", {"id": "Cinema", "layout": json_layout("cinema.json")})
        client.ok("event.create", {"id": "Paused", "state": "paused",
                                   "layout": json_layout("cinema.json")})
        ledger = Ledger()
        rng = random.Random(5)
        for event_id, total in (("Arena", 5800), ("Cinema", 120)):
            for n in range(300 if event_id == "Arena" else 40):
                seats = rng.sample(range(total), rng.choice([1, 2, 3]))
                params = {"event": event_id, "seats": seats}
                if n % 3 == 0:
                    params["buyer"] = f"cust-{n}"
                    params["idempotency_key"] = f"{event_id}-{n}"
                error, result = client.call("buy", params)
                if error is None:
                    ledger.add_sale(result, params.get("buyer", ""))
        ids = sorted(ledger.tickets)
        for ticket_id in rng.sample(ids, 60):
            self.assertTrue(client.ok("ticket.void", {"ticket": ticket_id})["voided"])
            ledger.voided.add(ticket_id)
        # Re-sell some voided seats: generation 2 on them.
        for ticket_id in sorted(ledger.voided)[:20]:
            seat = ledger.tickets[ticket_id]["seat"]
            event_id = client.ok("ticket.get", {"ticket": ticket_id})["event"]
            ledger.add_sale(client.ok("buy", {"event": event_id, "seats": [seat]}))
        held = next(i for i in range(120)
                    if client.ok("seat.get", {"event": "Cinema", "seat": i})["state"] == "free")
        before = self.snapshot(client, ["Arena", "Cinema", "Paused"], ledger)
        # Holds are not durable: one made now is gone after the rebuild.
        hold = client.ok("hold", {"event": "Cinema", "seats": [held], "ttl_ms": 600000})
        self.assertEqual(client.ok("seat.get", {"event": "Cinema", "seat": held})["state"], "held")
        self.assertGreater(sum(1 for t in before[2].values() if t["generation"] == 2), 0)
        server.stop()
        remove_table(server.shm)
        server.start()
        log = server.log()
        self.assertIn("rebuilt from the journal:", log)
        client = self.connect(server)
        after = self.snapshot(client, ["Arena", "Cinema", "Paused"], ledger)
        self.assertEqual(after[1]["Cinema"]["seats"][held], "free")  # the hold is gone
        self.assertEqual(after[0], before[0])
        self.assertEqual(after[1], before[1])
        self.assertEqual(after[2], before[2])
        self.assertIn(client.call("hold.confirm", {"hold": hold["hold"]})[0]["name"],
                      ("HOLD_NOT_FOUND", "HOLD_EXPIRED"))
        # Selling goes on where it was: a voided seat sells with the next generation.
        voided = sorted(ledger.voided)[30]
        seat = ledger.tickets[voided]["seat"]
        event_id = before[2][voided]["event"]
        if after[1][event_id]["seats"][seat] == "free":
            sale = client.ok("buy", {"event": event_id, "seats": [seat]})
            info = client.ok("ticket.get", {"ticket": sale["tickets"][0]["id"]})
            self.assertEqual(info["generation"], before[2][voided]["generation"] + 1)
        print("\n    " + [line for line in log.splitlines() if "rebuilt from" in line][0],
              file=sys.stderr)

    def test_trimmed_journal_rebuilds_from_mariadb_too(self):
        db = self.mariadb()
        segment_bytes = 1 << 20
        server = self.server("--journal-segment-bytes", str(segment_bytes), db=db).start()
        client = self.connect(server)
        places = 200_000
        client.ok("event.create", {"id": "Big", "layout": ga_layout(places, price_cents=2500)})
        ledger = Ledger()
        clients = [self.connect(server) for _ in range(4)]
        requests = [("buy", {"event": "Big", "seats": list(range(i, min(i + 32, places))),
                             "buyer": f"b{i}"}) for i in range(0, places, 32)]
        for k, c in enumerate(clients):
            share = requests[k::len(clients)]
            for (_, params), (error, result) in zip(share, c.pipeline(share, window=64)):
                self.assertIsNone(error)
                ledger.add_sale(result, params["buyer"])
        rng = random.Random(11)
        for ticket_id in rng.sample(sorted(ledger.tickets), 300):
            client.ok("ticket.void", {"ticket": ticket_id})
            ledger.voided.add(ticket_id)
        table = self.assert_tickets_in_table(client, ledger)
        self.assert_database_matches(db, client, "Big", ledger, table=table)

        def trimmed():
            return any(os.path.basename(segs[0]) != "%016x.journal" % 1
                       for segs in (segments(server.data_dir, f"worker-{w}") for w in range(2))
                       if segs)
        wait_until("a journal segment deleted once MariaDB had it", trimmed, 30)
        stats_before = client.ok("event.stats", {"event": "Big"})
        free_before = client.ok("availability", {"event": "Big", "bitmap": True})
        server.stop()
        remove_table(server.shm)
        server.start()
        log = server.log()
        self.assertIn("rebuilt from the journal and MariaDB", log)
        client = self.connect(server)
        self.assertEqual(client.ok("availability", {"event": "Big", "bitmap": True}), free_before)
        stats_after = client.ok("event.stats", {"event": "Big"})
        for k in ("seats_total", "seats_free", "seats_sold", "revenue_cents"):
            self.assertEqual(stats_after[k], stats_before[k], k)
        after = self.assert_tickets_in_table(client, ledger, "rebuilt: ")
        self.assertEqual(after, table)
        print("\n    " + [line for line in log.splitlines() if "rebuilt from" in line][0],
              file=sys.stderr)


def json_layout(name):
    import json
    with open(os.path.join(SOURCE_DIR, "layouts", name)) as f:
        return json.load(f)


class DurabilityModeTest(DurabilityCase):
    def test_db_mode_answers_after_mariadb_has_the_row(self):
        db = self.mariadb()
        server = self.server("--durability", "db", db=db).start()
        self.assertIn("durability db", server.log())
        client = self.connect(server)
        client.ok("event.create", {"id": "Db", "layout": rows_layout(10, 100)})
        for i in range(15):
            sale = client.ok("buy", {"event": "Db", "seats": [i, 500 + i], "buyer": f"db{i}"})
            ids = [t["id"] for t in sale["tickets"]]
            rows = db.query("SELECT ticket_id, seat_index, generation, buyer_ref FROM tickets "
                            f"WHERE ticket_id IN ({', '.join(sql_str(t) for t in ids)}) "
                            "ORDER BY seat_index")
            self.assertEqual(rows, [[ids[0], str(i), "1", f"db{i}"],
                                    [ids[1], str(500 + i), "1", f"db{i}"]])
        self.assertTrue(client.ok("ticket.void", {"ticket": ids[0]})["voided"])
        self.assertIsNotNone(db.query("SELECT voided_at_ms FROM tickets WHERE ticket_id = "
                                      f"{sql_str(ids[0])}")[0][0])
        # Pipelined: when the last reply is in, every row is.
        replies = client.pipeline([("buy", {"event": "Db", "seats": [s]})
                                   for s in range(100, 400)], window=64)
        self.assertEqual([e for e, _ in replies if e is not None], [])
        self.assertEqual(db_scalar(db, "SELECT COUNT(*) FROM tickets WHERE seat_index BETWEEN 100 AND 399"), 300)
        # MariaDB down: a sale is not answered until MariaDB has it.
        db.kill()
        client.sock.settimeout(1.5)
        msgid, data = client.request_bytes("buy", {"event": "Db", "seats": [999]})
        client.send_raw(data)
        with self.assertRaises(TimeoutError):
            client.read_response()
        db.start()
        client.sock.settimeout(30)
        response = client.read_response()
        self.assertEqual(response[1], msgid)
        self.assertIsNone(response[2])
        ticket_id = response[3]["tickets"][0]["id"]
        self.assertEqual(db_scalar(db, "SELECT seat_index FROM tickets WHERE ticket_id = "
                                       f"{sql_str(ticket_id)}"), 999)
        server.stop()

    def test_memory_mode_keeps_sales_across_a_crash(self):
        db = self.mariadb()
        server = self.server("--durability", "memory", db=db).start()
        self.assertIn("durability memory", server.log())
        client = Client(server.port)
        client.ok("event.create", {"id": "Mem", "layout": rows_layout(10, 100)})
        ledger = Ledger()
        for error, result in client.pipeline([("buy", {"event": "Mem", "seats": [s, s + 1]})
                                              for s in range(0, 600, 2)]):
            self.assertIsNone(error)
            ledger.add_sale(result)
        client.close()
        server.kill9()
        server.start()
        client = self.connect(server)
        table = self.assert_tickets_in_table(client, ledger, "after kill -9: ")
        self.assert_database_matches(db, client, "Mem", ledger, table=table)
        server.stop()


def stream_tickets(redis, stream="boxoffice:tickets"):
    """(type, ticket_id) of every entry of the stream."""
    lines = redis.command("XRANGE", stream, "-", "+", timeout_s=60).split("\n")
    entries = []
    kind = None
    for i, line in enumerate(lines):
        if line == "type" and i + 1 < len(lines):
            kind = lines[i + 1]
        elif line == "ticket_id" and i + 1 < len(lines):
            entries.append((kind, lines[i + 1]))
    return entries


class RedisOutboxTest(DurabilityCase):
    def test_every_ticket_reaches_the_stream_and_redis_down_does_not_stop_selling(self):
        redis = self.redis()
        server = self.server(redis=redis).start()
        self.assertIn("publishing tickets to Redis", server.log())
        client = self.connect(server)
        client.ok("event.create", {"id": "Out", "layout": ga_layout(100_000)})
        ledger = Ledger()
        for error, result in client.pipeline([("buy", {"event": "Out", "seats": [s, s + 1, s + 2]})
                                              for s in range(0, 6000, 3)]):
            self.assertIsNone(error)
            ledger.add_sale(result)

        def published():
            sold = {t for kind, t in stream_tickets(redis) if kind == "sale"}
            missing = set(ledger.tickets) - sold
            return (not missing, f"{len(missing)} tickets not in the stream")
        wait_until("every ticket in the stream", published, 60, interval_s=0.3)
        self.assertGreaterEqual(int(redis.command("XLEN", "boxoffice:tickets")), len(ledger.tickets))

        # Redis killed under load: every sale still answered OK.
        load = Load(server.port, "Out", 10_000, 100_000, ledger, pause_s=0.001)
        load.start()
        try:
            time.sleep(0.3)
            redis.kill()
            down_at = load.ok
            # Selling goes on without Redis: 300 more sales while it is down (a deadline, not a
            # rate, so a slow sanitizer build on a busy machine does not fail it).
            wait_until("300 sales while Redis is down",
                       lambda: (load.ok - down_at >= 300 or load.failure is not None,
                                f"{load.ok - down_at} sales since Redis went down"), 20,
                       interval_s=0.05)
            during = load.ok - down_at
            redis.start()  # empty: no persistence
        finally:
            load.stop_flag.set()
            load.join(timeout=30)
        self.assertIsNone(load.failure)
        self.assertEqual(load.errors[:3], [])
        self.assertGreaterEqual(during, 300, "selling stopped while Redis was down")
        # At least once: a Redis that came back empty gets every ticket the journal holds.
        wait_until("every ticket in the stream after Redis came back", published, 60,
                   interval_s=0.5)
        self.assertGreaterEqual(int(redis.command("XLEN", "boxoffice:tickets")), len(ledger.tickets))
        server.stop()
        print(f"\n  {len(ledger.tickets)} tickets in the stream; {during} sold in the 1.5 s "
              "Redis was down", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
