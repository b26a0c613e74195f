#!/usr/bin/python3
"""Seat operations stay linearizable through kill -9 and SIGSTOP, against a real boxofficed.
Usage: linearizability_test.py BOXOFFICED [--long] [--seed N] [--history FILE] [--without-reads]

8 clients (processes, so that their requests really overlap; one connection each) work the 12
seats of one event for 12 s, so nearly every request conflicts with another: hold (TTL
200-500 ms, so holds also expire; some confirms are sent right at the deadline), confirm and
release their own holds, buy, void their own tickets, read seats (seat.get); a client refused a
seat by a buy waits up to 10 ms before its next request. Each request is recorded with
time.monotonic() around it. Meanwhile the server is killed with SIGKILL 3 times,
restarted at once with the same --shm and --data-dir (it re-attaches the seat table, whose
holds survive, and recovers; --durability journal), and stopped with SIGSTOP for 300 ms 3
times. --long: 10 such rounds of 20 s, each on an event of its own, with 6 kills and 4 pauses
each (60 kills, 40 pauses, about 4 minutes).
A request with no reply (its connection cut by a kill, or nothing within 3 s) is
indeterminate: it may have taken effect until the process that served its connection was
killed. A buy or confirm carries an idempotency key, and after reconnecting its client sends it
again: a replayed success tells the first one's ticket (it took effect before its kill), a fresh
success or a final refusal says it never did; an unanswered void is sent again as a new void.
After the load, once every hold is over, each seat is read (seat.get, and ticket.get of every
ticket a client was given). Checked (seat_history.py): every seat's history, final read
included, is linearizable in the seat model (free | held | sold, with hold expiry); no seat has
two valid tickets; every acknowledged sale not voided is valid on its seat; every acknowledged
void holds. On failure: for each seat that is not linearizable, the first reply that no order
explains, the seat's possible states and the requests in flight then, and its ops around it in
time order; the history is written to linearizability-history-<pid>.json.gz in the working
directory (`seat_history.py FILE` checks it again). One summary line per round either way.
--without-reads leaves seat.get out of the load (not the final reads).

Clocks: deadlines come in the server's wall clock (expires_at_ms); each is moved to the client's
monotonic clock with the offset between the two read when its reply arrives (the checker allows
seat_history.CLOCK_TOLERANCE_S either way).
Every wait and socket operation is bounded; the server, the shoppers' processes, its seat table
in /dev/shm and the temporary directory are removed whatever happens."""

import argparse
import gzip
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, HERE)
from boxoffice_client import Client, Server, remove_table  # noqa: E402
import seat_history as sh  # noqa: E402
from seat_history import Op  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("boxofficed")
parser.add_argument("--long", action="store_true",
                    help="10 rounds of 20 s, 6 kills and 4 pauses each")
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--history", help="also save each round's history (FILE-N.json.gz)")
parser.add_argument("--without-reads", action="store_true",
                    help="no seat.get during the load (the final reads stay)")
ARGS = parser.parse_args()

CLIENTS = 8
SEATS = 12
ROUNDS, ROUND_S, KILLS, PAUSES = (10, 20.0, 6, 4) if ARGS.long else (1, 12.0, 3, 3)
TTL_MS = (200, 500)
HOLDS_PER_CLIENT_MAX = 1
# What a client with nothing to confirm, release or void asks for, by weight (reads are cheap:
# many of them watch the seats change).
NEW_REQUESTS = {"hold": 30, "buy": 15} | ({} if ARGS.without_reads else {"read": 55})
AT_DEADLINE_SHARE = 0.05  # of the holds, kept until their deadline
DEADLINE_NEAR_S = 0.05   # a hold this close to its deadline may be confirmed right at it
# A buy refused SEAT_TAKEN waits up to this long before the next request, as people do (each
# buy takes an idempotency entry for good).
REFUSED_BACKOFF_S = 0.01
PAUSE_S = 0.3
CALL_TIMEOUT_S = 3.0     # a reply held by a 300 ms pause arrives well within it
RECONNECT_WAIT_S = 0.02  # between connection attempts while the server restarts
JOIN_TIMEOUT_S = CALL_TIMEOUT_S + 10
# Each keyed buy or confirm takes an idempotency entry (512 bytes) for the life of the table:
# about 1,500 a second; the table stays under a third full.
KEYS_MAX = 1 << 20 if ARGS.long else 1 << 17
SERVER_ARGS = ["--http", "off", "--admin", "off", "--workers", "2", "--durability", "journal",
               "--holds-max", "65536", "--idempotency-keys-max", str(KEYS_MAX),
               "--arena-bytes", str(64 << 20)]


def clock_offset_s():
    """Wall clock minus monotonic clock, now."""
    before = time.monotonic()
    wall = time.time()
    return wall - (before + time.monotonic()) / 2


class Retry:
    """A buy or confirm with no reply: sent again with the same idempotency key until it is
    answered."""

    def __init__(self, op, method, params):
        self.op, self.method, self.params = op, method, params


class Shopper:
    """One client with its own connection, choosing random requests on the event's seats
    until stopped; reconnects (and retries what was cut) after a crash. Runs in a process of its
    own (shop()), so that the clients' requests really overlap. `ops`: its history."""

    def __init__(self, number, port, event, seed, stop_flag):
        self.number, self.port, self.event, self.stop_flag = number, port, event, stop_flag
        self.rng = random.Random(seed)
        self.client = None
        self.connected_s = None  # when the current connection was established
        self.ops = []
        self.holds = []     # (token, seat, deadline_s): acknowledged, maybe over by now
        self.at_deadline = []  # the same, kept to be confirmed or released at the deadline
        self.tickets = []   # (ticket, seat): acknowledged, not voided by this client
        self.retries = []   # Retry, or a void Op with no reply
        # id(op) -> when the connection of its last unanswered attempt was established (which
        # server process it reached).
        self.served_since_s = {}
        self.anomalies = []
        self.counts = {"replayed": 0, "ran_again": 0, "refused_again": 0, "connections": 0}
        self.serial = 0

    def run(self):
        try:
            while not self.stop_flag.is_set():
                if self.client is None and not self.connect():
                    continue
                if self.retries:
                    self.retry(self.retries.pop(0))
                else:
                    self.step()
        finally:
            if self.client is not None:
                self.client.close()

    def connect(self):
        try:
            self.client = Client(self.port, timeout_s=CALL_TIMEOUT_S)
        except OSError:
            self.stop_flag.wait(RECONNECT_WAIT_S)
            return False
        self.connected_s = time.monotonic()
        self.counts["connections"] += 1
        return True

    def call(self, method, params):
        """(invoked_s, completed_s, error, result); completed_s None when no reply came."""
        invoked_s = time.monotonic()
        try:
            error, result = self.client.call(method, params)
        except OSError:  # cut by a kill, or no reply in time: the connection is done for
            self.client.close()
            self.client = None
            return invoked_s, None, None, None
        return invoked_s, time.monotonic(), error, result

    def record(self, seat, kind, invoked_s, completed_s, error, **fields):
        outcome = None if completed_s is None else "ok" if error is None else error["name"]
        op = Op(self.number, seat, kind, invoked_s, completed_s, outcome, **fields)
        self.ops.append(op)
        if completed_s is None:
            self.served_since_s[id(op)] = self.connected_s
        return op

    # Choosing what to do next.

    def step(self):
        rng = self.rng
        now_s = time.monotonic()
        self.holds = [h for h in self.holds if h[2] > now_s - 2.0]  # long over: forget them
        due = [h for h in self.at_deadline if h[2] - now_s <= DEADLINE_NEAR_S]
        if due:  # right at the deadline: just before, or just after
            token, seat, deadline_s = due[0]
            self.at_deadline.remove(due[0])
            self.stop_flag.wait(max(0.0, deadline_s + rng.uniform(-0.02, 0.02) - now_s))
            if rng.random() < 0.75:
                return self.confirm(token, seat, deadline_s)
            return self.release(token, seat, deadline_s)
        if self.tickets and rng.random() < 0.6:
            ticket, seat = self.tickets.pop(rng.randrange(len(self.tickets)))
            return self.void(ticket, seat)
        if len(self.holds) >= HOLDS_PER_CLIENT_MAX or (self.holds and rng.random() < 0.5):
            token, seat, deadline_s = self.holds.pop(rng.randrange(len(self.holds)))
            if rng.random() < 0.75:
                return self.confirm(token, seat, deadline_s)
            return self.release(token, seat, deadline_s)
        seat = rng.randrange(SEATS)
        kind = rng.choices(list(NEW_REQUESTS), weights=list(NEW_REQUESTS.values()))[0]
        if kind == "hold":
            return self.hold(seat, rng.randint(*TTL_MS))
        if kind == "buy":
            return self.buy(seat)
        return self.read(seat)

    def next_key(self):
        self.serial += 1
        return f"{self.event}-c{self.number}-{self.serial}"

    # The requests.

    def hold(self, seat, ttl_ms):
        invoked_s, completed_s, error, result = self.call(
            "hold", {"event": self.event, "seats": [seat], "ttl_ms": ttl_ms})
        if completed_s is not None and error is None:
            self.expect(result["seats"][0]["index"] == seat, f"hold of {seat}: {result}")
            deadline_s = result["expires_at_ms"] / 1000 - clock_offset_s()
            mine = self.at_deadline if self.rng.random() < AT_DEADLINE_SHARE else self.holds
            mine.append((result["hold"], seat, deadline_s))
            self.record(seat, "hold", invoked_s, completed_s, None, ttl_s=ttl_ms / 1000,
                        hold=result["hold"], deadline_s=deadline_s)
        else:
            self.record(seat, "hold", invoked_s, completed_s, error, ttl_s=ttl_ms / 1000)

    def buy(self, seat):
        params = {"event": self.event, "seats": [seat], "idempotency_key": self.next_key(),
                  "buyer": f"c{self.number}"}
        if self.sale("buy", params, seat) == "SEAT_TAKEN":
            time.sleep(self.rng.uniform(0, REFUSED_BACKOFF_S))

    def confirm(self, token, seat, deadline_s):
        params = {"hold": token, "idempotency_key": self.next_key()}
        self.sale("hold.confirm", params, seat, hold=token, deadline_s=deadline_s)

    def sale(self, method, params, seat, **fields):
        """Buy or confirm; returns the outcome (None: no reply yet)."""
        kind = "buy" if method == "buy" else "confirm"
        invoked_s, completed_s, error, result = self.call(method, params)
        if completed_s is None:
            op = self.record(seat, kind, invoked_s, None, None, **fields)
            self.retries.append(Retry(op, method, params))
            return None
        ticket = self.sold(result, seat, fresh=True) if error is None else None
        return self.record(seat, kind, invoked_s, completed_s, error, ticket=ticket,
                           **fields).outcome

    def sold(self, result, seat, fresh):
        tickets = result["tickets"]
        self.expect(len(tickets) == 1 and tickets[0]["seat"]["index"] == seat,
                    f"sale of seat {seat}: {result}")
        self.expect(not fresh or not result["replayed"], f"a new key replayed: {result}")
        self.tickets.append((tickets[0]["id"], seat))
        return tickets[0]["id"]

    def release(self, token, seat, deadline_s):
        invoked_s, completed_s, error, _ = self.call("hold.release", {"hold": token})
        self.record(seat, "release", invoked_s, completed_s, error, hold=token,
                    deadline_s=deadline_s)

    def void(self, ticket, seat):
        invoked_s, completed_s, error, result = self.call("ticket.void", {"ticket": ticket})
        already = completed_s is not None and error is None and result["already_voided"]
        op = self.record(seat, "void", invoked_s, completed_s, error, ticket=ticket,
                         already_voided=already)
        if completed_s is None:
            self.retries.append(op)  # sent again as a new void: both are in the history

    def read(self, seat):
        invoked_s, completed_s, error, result = self.call("seat.get", {"event": self.event,
                                                                       "seat": seat})
        if completed_s is not None:  # a read with no reply changed nothing
            self.record(seat, "read", invoked_s, completed_s, error,
                        state=None if error else result["state"])

    # Requests sent again after a reconnect.

    def retry(self, pending):
        if isinstance(pending, Op):
            return self.void(pending.ticket, pending.seat)
        op = pending.op
        invoked_s, completed_s, error, result = self.call(pending.method, pending.params)
        if completed_s is None:  # this attempt may take effect instead, until its kill
            self.served_since_s[id(op)] = self.connected_s
            self.retries.append(pending)
        elif error is None and result["replayed"]:
            # An earlier attempt took effect (before the kill that cut it).
            op.outcome, op.ticket = "ok", self.sold(result, op.seat, fresh=False)
            op.note = "outcome replayed by a retry"
            self.counts["replayed"] += 1
        elif error is None:
            # Ran now: no earlier attempt took effect.
            self.ops.remove(op)
            self.record(op.seat, op.kind, invoked_s, completed_s, None, hold=op.hold,
                        deadline_s=op.deadline_s, ticket=self.sold(result, op.seat, fresh=True),
                        note="retry of a cut request, ran afresh")
            self.counts["ran_again"] += 1
        elif error["name"] == "BUSY":
            # Perhaps an earlier attempt still running in this process (after a timeout).
            self.served_since_s[id(op)] = self.connected_s
            self.retries.append(pending)
            self.stop_flag.wait(error.get("retry_after_ms", 10) / 1000)
        elif error["name"] in ("SEAT_TAKEN", "HOLD_EXPIRED", "HOLD_NOT_FOUND"):
            # Its final outcome (replayed, or decided now): no attempt sold anything.
            self.ops.remove(op)
            self.counts["refused_again"] += 1
        else:
            self.anomalies.append(f"retry of {sh.describe(op)}: {error}")

    def expect(self, condition, message):
        if not condition:
            self.anomalies.append(message)

    def results(self):
        served = {i: self.served_since_s[id(op)] for i, op in enumerate(self.ops)
                  if op.completed_s is None}
        return {"ops": self.ops, "served_since_s": served, "counts": self.counts,
                "anomalies": self.anomalies, "failure": None}


def shop(number, port, event, seed, stop_flag, connection):
    """A shopper process: runs until stop_flag, then sends its results on `connection`."""
    shopper = Shopper(number, port, event, seed, stop_flag)
    try:
        shopper.run()
        results = shopper.results()
    except Exception:  # noqa: BLE001 - reported by the test
        results = {"failure": traceback.format_exc()}
    connection.send(results)
    connection.close()


class LinearizabilityTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bxlin-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.shm = f"/dev/shm/boxoffice-lin-{os.getpid()}"
        self.addCleanup(self.remove_table)
        self.server = Server(ARGS.boxofficed, os.path.join(self.dir, "logs"),
                             [*SERVER_ARGS, "--shm", self.shm,
                              "--data-dir", os.path.join(self.dir, "data")])
        self.addCleanup(self.server.close)
        self.addCleanup(self.resume)  # runs first: a stopped server must go on to be killed
        self.seed = ARGS.seed if ARGS.seed is not None else int(time.time() * 1000) % 1_000_000
        self.rng = random.Random(self.seed)
        self.lives = []  # [started_s, gone_s or None] of each server process (monotonic)
        self.kills = 0
        self.pauses = 0
        self.ops_total = 0
        self.indeterminate_total = 0

    def remove_table(self):
        remove_table(self.shm)

    def resume(self):
        if self.server.running():
            os.kill(self.server.process.pid, signal.SIGCONT)

    # The faults.

    def start_server(self):
        self.lives.append([time.monotonic(), None])
        self.server.start()

    def kill_and_restart(self):
        process = self.server.process
        process.kill()
        process.wait(timeout=10)
        self.lives[-1][1] = time.monotonic()
        self.kills += 1
        self.server.kill9()  # reaped already: waits until nothing listens on the port
        self.start_server()

    def death_of_server_at(self, connected_s):
        """When the process a connection made at connected_s reached was gone (None: never
        killed): the last one started before then (a connection made between a kill and the
        next start reached a socket of the dead one, which the kernel may still accept on)."""
        started = [life for life in self.lives if life[0] <= connected_s]
        return started[-1][1] if started else None

    def pause(self):
        pid = self.server.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.pauses += 1

    def chaos_plan(self):
        """(seconds from the round's start, fault): spread over the round, a jittered slot
        each."""
        faults = ["kill"] * KILLS + ["pause"] * PAUSES
        self.rng.shuffle(faults)
        first_s, last_s = 1.0, ROUND_S - 1.5
        slot_s = (last_s - first_s) / len(faults)
        return [(first_s + i * slot_s + self.rng.uniform(0, slot_s * 0.6), fault)
                for i, fault in enumerate(faults)]

    # The run.

    def test_seat_operations_are_linearizable_through_kills_and_pauses(self):
        self.start_server()
        for round_number in range(ROUNDS):
            self.run_round(round_number)
        self.server.stop()  # a clean drain: exit status 0 (and no sanitizer report)
        print(f"summary: {ROUNDS} round(s), {self.ops_total} ops ({self.indeterminate_total} "
              f"indeterminate), {self.kills} kills, {self.pauses} pauses, every seat "
              "linearizable", file=sys.stderr, flush=True)

    def run_round(self, round_number):
        """One round on an event of its own: the load and the faults, the final reads, the
        check."""
        started_s = time.monotonic()
        kills_before, pauses_before = self.kills, self.pauses
        event = f"Lin{round_number}"
        with Client(self.server.port) as admin:
            admin.ok("event.create", {"id": event, "layout": {"venue": "V", "zones": [
                {"id": 1, "name": "Floor", "price_cents": 100, "capacity": SEATS}]}})
        results = self.load(event, round_number)
        self.assertEqual([r["failure"] for r in results if r["failure"]], [])
        self.assertEqual([a for r in results for a in r["anomalies"]][:10], [])
        ops = self.history(results)
        # Every hold over (and past the checker's expiry slack) before the final reads.
        time.sleep(TTL_MS[1] / 1000 + sh.EXPIRY_LATE_MAX_S + 0.2)
        finals, tickets = self.final_reads(event, ops)
        history = ops + finals
        checked_s = time.monotonic()
        problems = sh.check(history, tickets)
        checked_s = time.monotonic() - checked_s
        summary = self.summary(results, history, problems, self.kills - kills_before,
                               self.pauses - pauses_before, time.monotonic() - started_s,
                               checked_s)
        print(f"\n{summary}" + (f" (round {round_number + 1} of {ROUNDS})" if ROUNDS > 1 else ""),
              file=sys.stderr, flush=True)
        if ARGS.history:
            self.save(history, tickets, f"{ARGS.history}-{round_number}.json.gz")
        if problems:
            path = self.save(history, tickets)
            details = "\n".join(str(p) for p in problems[:10])
            self.fail(f"{summary}\nhistory: {path}\n{details}")
        self.assert_the_load_was_meaningful(history, self.kills - kills_before,
                                            self.pauses - pauses_before)
        self.ops_total += len(ops)
        self.indeterminate_total += sum(1 for op in ops if op.completed_s is None)

    def load(self, event, round_number):
        """The shoppers' processes run while the faults come; returns what each sent."""
        processes = multiprocessing.get_context("fork")
        stop_flag = processes.Event()
        self.addCleanup(stop_flag.set)
        started_s = time.monotonic()
        shoppers = []
        for k in range(CLIENTS):
            receiver, sender = processes.Pipe(duplex=False)
            seed = (self.seed * 100 + round_number) * 100 + k
            shopper = processes.Process(target=shop, name=f"shopper-{k}", daemon=True,
                                        args=(k, self.server.port, event, seed, stop_flag,
                                              sender))
            shopper.start()
            sender.close()
            shoppers.append((shopper, receiver))
            self.addCleanup(self.end_process, shopper)
        try:
            for at_s, fault in self.chaos_plan():
                time.sleep(max(0.0, started_s + at_s - time.monotonic()))
                self.assertEqual([p.name for p, _ in shoppers if not p.is_alive()], [],
                                 "shoppers died")
                if fault == "kill":
                    self.kill_and_restart()
                else:
                    self.pause()
            time.sleep(max(0.0, started_s + ROUND_S - time.monotonic()))
        finally:
            stop_flag.set()
        return [self.results_of(shopper, receiver) for shopper, receiver in shoppers]

    @staticmethod
    def results_of(shopper, receiver):
        """What a shopper process sent once stopped (bounded waits)."""
        if not receiver.poll(JOIN_TIMEOUT_S):
            return {"failure": f"{shopper.name} sent nothing within {JOIN_TIMEOUT_S} s",
                    "anomalies": []}
        results = receiver.recv()
        shopper.join(timeout=JOIN_TIMEOUT_S)
        if shopper.is_alive() or shopper.exitcode != 0:
            results["failure"] = results.get("failure") or \
                f"{shopper.name}: exit code {shopper.exitcode}"
        return results

    @staticmethod
    def end_process(process):
        if process.is_alive():
            process.kill()
            process.join(timeout=10)

    def history(self, results):
        """Every client's ops; one with no reply may have taken effect until the process that
        served its last attempt was killed."""
        ops = []
        for result in results:
            for i, op in enumerate(result["ops"]):
                if op.completed_s is None:
                    op.effect_by_s = self.death_of_server_at(result["served_since_s"][i])
                ops.append(op)
        return ops

    def final_reads(self, event, ops):
        """A read op per seat (seat.get, and which known ticket ticket.get says is valid) and
        ticket id -> (status, seat) for every ticket a client was given."""
        known = {}
        for op in ops:
            if op.kind in ("buy", "confirm") and op.outcome == "ok":
                known.setdefault(op.seat, []).append(op.ticket)
        finals, tickets = [], {}
        with Client(self.server.port, timeout_s=CALL_TIMEOUT_S) as client:
            for seat in range(SEATS):
                invoked_s = time.monotonic()
                state = client.ok("seat.get", {"event": event, "seat": seat})["state"]
                valid = []
                for ticket in known.get(seat, []):
                    error, result = client.call("ticket.get", {"ticket": ticket})
                    if error is not None:
                        self.assertEqual(error["name"], "NOT_FOUND", error)
                        tickets[ticket] = ("missing", None)
                        continue
                    tickets[ticket] = (result["status"], result["seat"]["index"])
                    if result["status"] == "valid":
                        valid.append(ticket)
                finals.append(Op(-1, seat, "read", invoked_s, time.monotonic(), "ok",
                                 state=state, ticket=valid[0] if valid else None,
                                 check_ticket=True, note="after the run"))
        return finals, tickets

    def summary(self, results, history, problems, kills, pauses, elapsed_s, checked_s):
        answered = sum(op.completed_s is not None for op in history)
        indeterminate = sum(op.outcome is None for op in history)
        counts = {k: sum(r["counts"][k] for r in results) for k in ("replayed", "ran_again",
                                                                    "refused_again")}
        result = "OK" if not problems else f"FAILED ({len(problems)} problems: " + \
            ", ".join(sorted({p.kind for p in problems})) + ")"
        return (f"linearizability: {CLIENTS} clients, {SEATS} seats, {len(history)} ops, "
                f"{answered} acknowledged, {indeterminate} indeterminate (cut requests retried: "
                f"{counts['replayed']} replayed, {counts['ran_again']} ran again, "
                f"{counts['refused_again']} refused), {kills} kills, "
                f"{pauses} pauses, seed {self.seed}, {elapsed_s:.1f} s "
                f"(check {checked_s:.2f} s): {result}")

    def assert_the_load_was_meaningful(self, history, kills, pauses):
        """A pass means something only if the faults happened and the load conflicted,
        expired holds and was cut by the kills."""
        outcomes = {}
        for op in history:
            if op.client >= 0:  # not the final reads
                outcomes[(op.kind, op.outcome)] = outcomes.get((op.kind, op.outcome), 0) + 1
        self.assertEqual((kills, pauses), (KILLS, PAUSES))
        wanted = [("hold", "ok"), ("hold", "SEAT_TAKEN"), ("buy", "ok"), ("buy", "SEAT_TAKEN"),
                  ("confirm", "ok"), ("confirm", "HOLD_EXPIRED"), ("release", "ok"),
                  ("void", "ok")] + ([] if ARGS.without_reads else [("read", "ok")])
        for key in wanted:
            self.assertGreater(outcomes.get(key, 0), 0, f"no {key} in {outcomes}")
        cut = sum(op.completed_s is None for op in history)
        self.assertGreater(cut, 0, "no request was cut by a kill")

    def save(self, history, tickets, path=None):
        path = os.path.abspath(path or f"linearizability-history-{os.getpid()}.json.gz")
        with gzip.open(path, "wt") as f:
            json.dump(sh.history_to_json(history, tickets), f)
        return path


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
