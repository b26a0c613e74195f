#!/usr/bin/python3
"""Unit tests of the seat-history checker (seat_history.py). Usage: seat_history_test.py

Hand-built histories: valid ones pass; invalid ones (a seat sold to two clients, SEAT_TAKEN on
a free seat with no concurrent op, a lost acknowledged sale, a confirm ok after a release ok of
the same hold, an op with no reply that must have succeeded, HOLD_EXPIRED before the deadline,
...) fail, for the right reason: the problem's kind, the reply that nothing explains, and a
control history, the same but for that one op, that passes. Then simulated histories (8
clients on a few seats, holds expiring, crashes cutting ops, a model server of its own) pass
within a time budget, and one with a wrong final read fails, also within it. Last, the search
agrees with trying every order on 400 small simulated histories, half of them mutated."""

import heapq
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seat_history as sh  # noqa: E402
from seat_history import Op  # noqa: E402

TIME_BUDGET_S = 10  # for each simulated history (some 1,700 ops per seat)


def op(client, kind, invoked_s, completed_s, outcome="ok", seat=0, **fields):
    return Op(client, seat, kind, invoked_s, completed_s, outcome, **fields)


def hold(client, start_s, end_s, token, deadline_s, outcome="ok", **fields):
    if outcome != "ok":
        token = deadline_s = None
    return op(client, "hold", start_s, end_s, outcome, hold=token, deadline_s=deadline_s,
              ttl_s=0.3, **fields)


def read(start_s, end_s, state, ticket=None, seat=0):
    return op(99, "read", start_s, end_s, "ok", seat=seat, state=state, ticket=ticket,
              check_ticket=True)


class CheckerCase(unittest.TestCase):
    def assert_valid(self, ops, tickets=None):
        problems = sh.check(ops, tickets)
        self.assertEqual(problems, [], "\n".join(map(str, problems)))

    def assert_not_linearizable(self, ops, culprit):
        """The history fails on its seat only, at the reply of `culprit` (nothing explains it),
        and the report names it; returns the verdict."""
        problems = sh.check(ops)
        self.assertEqual([p.kind for p in problems], ["not_linearizable"],
                         "\n".join(map(str, problems)))
        verdict = sh.check_seat(culprit.seat, [o for o in ops if o.seat == culprit.seat])
        self.assertFalse(verdict.linearizable)
        self.assertIs(verdict.ops[verdict.failed], culprit, sh.report(verdict))
        self.assertIn(sh.describe(culprit, verdict.ops[0].invoked_s), problems[0].message)
        return verdict


class ValidHistoryTest(CheckerCase):
    def test_empty_history(self):
        self.assert_valid([], {})

    def test_the_life_of_a_seat(self):
        ops = [hold(1, 0, 1, "h1", 10),
               op(1, "confirm", 2, 3, hold="h1", deadline_s=10, ticket="T1"),
               op(1, "void", 4, 5, ticket="T1"),
               op(1, "void", 5.5, 5.6, ticket="T1", already_voided=True),
               op(2, "buy", 6, 7, ticket="T2"),
               op(1, "void", 7.5, 7.6, "NOT_FOUND", ticket="T1"),
               read(8, 9, "sold", "T2")]
        self.assert_valid(ops, {"T1": ("missing", None), "T2": ("valid", 0)})

    def test_conflicting_holds_in_either_order(self):
        # The one invoked second won: it took effect first.
        self.assert_valid([hold(1, 0, 2, None, None, "SEAT_TAKEN"), hold(2, 1, 3, "h2", 10)])
        self.assert_valid([hold(1, 0, 2, "h1", 10), hold(2, 1, 3, None, None, "SEAT_TAKEN")])

    def test_refusal_explained_by_a_concurrent_hold(self):
        self.assert_valid([op(1, "buy", 0, 3, "SEAT_TAKEN"), hold(2, 1, 2, "h2", 10),
                           op(2, "release", 4, 5, hold="h2", deadline_s=10), read(6, 7, "free")])

    def test_hold_expires_at_its_deadline(self):
        ops = [hold(1, 0, 0.1, "h1", 1.0),
               op(1, "confirm", 1.2, 1.3, "HOLD_EXPIRED", hold="h1", deadline_s=1.0),
               hold(2, 1.4, 1.5, "h2", 2.5),
               op(1, "release", 1.6, 1.7, "HOLD_NOT_FOUND", hold="h1", deadline_s=1.0),
               read(1.8, 1.9, "held")]
        self.assert_valid(ops)
        # Right at the deadline (within the clock tolerance), another client may hold it.
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0), hold(2, 0.96, 0.98, "h2", 2)])

    def test_expired_hold_may_still_show_held(self):
        # Reads see a hold until the timing wheel ends it; a buyer would end it on the spot.
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0), read(1.5, 1.6, "held"),
                           read(1.7, 1.8, "held"), hold(2, 1.9, 2.0, "h2", 3.0)])

    def test_release_of_an_overdue_hold_nothing_expired(self):
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0),
                           op(1, "release", 3, 3.1, hold="h1", deadline_s=1.0)])

    def test_hold_expired_early_once_its_slot_is_reused(self):
        # Confirmed, then its slot reused: the deadline mark says expired from the second.
        self.assert_valid([hold(1, 0, 0.1, "h1", 5.0),
                           op(1, "confirm", 0.2, 0.3, hold="h1", deadline_s=5.0, ticket="T1"),
                           op(1, "release", 4.5, 4.6, "HOLD_EXPIRED", hold="h1", deadline_s=5.0)])

    def test_no_reply_may_or_may_not_have_taken_effect(self):
        cut = op(1, "buy", 0, None, None, effect_by_s=1)
        self.assert_valid([cut, hold(2, 2, 3, "h2", 10)])                     # it did not
        self.assert_valid([cut, hold(2, 2, 3, None, None, "SEAT_TAKEN"),
                           read(4, 5, "sold", None)])                          # it did
        held = op(1, "hold", 0, None, None, ttl_s=0.3, effect_by_s=1)
        self.assert_valid([held, hold(2, 0.5, 0.6, None, None, "SEAT_TAKEN"),
                           hold(3, 1.4, 1.5, "h3", 3)])                        # and expired

    def test_outcome_learnt_from_a_replay(self):
        # A keyed buy with no reply; its retry replayed ticket T1: it took effect before the
        # crash at 1, so T1 could be voided by 2.
        ops = [op(1, "buy", 0, None, "ok", ticket="T1", effect_by_s=1),
               hold(2, 0.5, 0.6, None, None, "SEAT_TAKEN"),
               op(1, "void", 2, 3, ticket="T1"), read(4, 5, "free")]
        self.assert_valid(ops, {"T1": ("voided", 0)})

    def test_seats_are_independent(self):
        self.assert_valid([op(1, "buy", 0, 1, ticket="T1", seat=0),
                           op(2, "buy", 0, 1, ticket="T2", seat=1),
                           read(2, 3, "sold", "T1", seat=0), read(2, 3, "sold", "T2", seat=1)],
                          {"T1": ("valid", 0), "T2": ("valid", 1)})


class InvalidHistoryTest(CheckerCase):
    def test_seat_sold_to_two_clients(self):
        first = op(1, "buy", 0, 1, ticket="T1")
        second = op(2, "buy", 2, 3, ticket="T2")
        self.assert_not_linearizable([first, second], second)
        problems = sh.check_tickets([first, second], {"T1": ("valid", 0), "T2": ("valid", 0)})
        self.assertEqual([p.kind for p in problems], ["sold_twice"])
        # Control: voided in between, it is a resale.
        void = op(1, "void", 1.5, 1.8, ticket="T1")
        self.assert_valid([first, void, second], {"T1": ("missing", None), "T2": ("valid", 0)})

    def test_seat_taken_on_a_free_seat(self):
        refused = hold(1, 2, 3, None, None, "SEAT_TAKEN")
        released = op(2, "release", 1, 1.5, hold="h2", deadline_s=10)
        self.assert_not_linearizable([hold(2, 0, 0.5, "h2", 10), released, refused], refused)
        # Control: the release overlaps the refusal, so it may come after it.
        late_release = op(2, "release", 1, 2.5, hold="h2", deadline_s=10)
        self.assert_valid([hold(2, 0, 0.5, "h2", 10), late_release, refused])

    def test_seat_taken_after_the_hold_expired(self):
        refused = hold(2, 3, 3.1, None, None, "SEAT_TAKEN")
        self.assert_not_linearizable([hold(1, 0, 0.1, "h1", 1.0), refused], refused)
        # A buyer ends an overdue hold on the spot: refused 200 ms after the deadline is wrong,
        # though a read may still show the hold then (the timing wheel ends it later).
        refused = hold(2, 1.2, 1.3, None, None, "SEAT_TAKEN")
        self.assert_not_linearizable([hold(1, 0, 0.1, "h1", 1.0), refused], refused)
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0), read(1.2, 1.3, "held")])  # controls
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0), hold(2, 0.98, 1.1, None, None,
                                                           "SEAT_TAKEN")])

    def test_lost_acknowledged_sale(self):
        sale = op(1, "buy", 0, 1, ticket="T1")
        final = read(2, 3, "free")
        self.assert_not_linearizable([sale, final], final)
        self.assertEqual([p.kind for p in sh.check_tickets([sale], {"T1": ("missing", None)})],
                         ["sale_lost"])
        self.assertEqual([p.kind for p in sh.check_tickets([sale], {"T1": ("voided", 0)})],
                         ["sale_lost"])
        self.assertEqual([p.kind for p in sh.check_tickets([sale], {})], ["sale_lost"])
        # Control: sold, and the ticket valid.
        self.assert_valid([sale, read(2, 3, "sold", "T1")], {"T1": ("valid", 0)})

    def test_sold_seat_shows_another_ticket(self):
        final = read(2, 3, "sold", None)  # sold, but not with the acknowledged ticket
        self.assert_not_linearizable([op(1, "buy", 0, 1, ticket="T1"), final], final)
        self.assert_valid([op(1, "buy", 0, 1, ticket="T1"), read(2, 3, "sold", "T1")])

    def test_lost_acknowledged_void(self):
        ops = [op(1, "buy", 0, 1, ticket="T1"), op(1, "void", 2, 3, ticket="T1")]
        self.assertEqual([p.kind for p in sh.check_tickets(ops, {"T1": ("valid", 0)})],
                         ["void_lost"])
        final = read(4, 5, "sold", "T1")
        self.assert_not_linearizable(ops + [final], final)

    def test_confirm_ok_after_release_ok_of_the_same_hold(self):
        ops = [hold(1, 0, 1, "h1", 100), op(1, "release", 2, 3, hold="h1", deadline_s=100)]
        confirm = op(1, "confirm", 4, 5, hold="h1", deadline_s=100, ticket="T1")
        self.assert_not_linearizable(ops + [confirm], confirm)
        refused = op(1, "confirm", 4, 5, "HOLD_NOT_FOUND", hold="h1", deadline_s=100)
        self.assert_valid(ops + [refused])  # control

    def test_hold_not_found_while_the_hold_is_live(self):
        refused = op(1, "confirm", 2, 3, "HOLD_NOT_FOUND", hold="h1", deadline_s=100)
        self.assert_not_linearizable([hold(1, 0, 1, "h1", 100), refused], refused)
        # Control: the same once the hold expired.
        self.assert_valid([hold(1, 0, 1, "h1", 1.5),
                           op(1, "confirm", 2, 3, "HOLD_NOT_FOUND", hold="h1", deadline_s=1.5)])

    def test_confirm_ok_after_the_deadline(self):
        confirm = op(1, "confirm", 1.5, 1.6, hold="h1", deadline_s=1.0, ticket="T1")
        self.assert_not_linearizable([hold(1, 0, 0.1, "h1", 1.0), confirm], confirm)
        self.assert_valid([hold(1, 0, 0.1, "h1", 1.0),
                           op(1, "confirm", 0.5, 0.6, hold="h1", deadline_s=1.0, ticket="T1")])

    def test_hold_expired_before_the_deadline(self):
        confirm = op(1, "confirm", 1, 1.1, "HOLD_EXPIRED", hold="h1", deadline_s=10)
        self.assert_not_linearizable([hold(1, 0, 0.1, "h1", 10), confirm], confirm)
        over = op(1, "release", 1, 1.1, "HOLD_EXPIRED", hold="h1", deadline_s=10)
        confirmed = op(1, "confirm", 0.2, 0.3, hold="h1", deadline_s=10, ticket="T1")
        self.assert_not_linearizable([hold(1, 0, 0.1, "h1", 10), confirmed, over], over)
        self.assert_valid([hold(1, 0, 0.1, "h1", 10),
                           op(1, "confirm", 10.1, 10.2, "HOLD_EXPIRED", hold="h1",
                              deadline_s=10)])

    def test_op_with_no_reply_is_never_counted_as_a_success(self):
        # The seat was refused, so the cut buy took effect; then the seat is free, unvoided.
        final = read(4, 5, "free")
        ops = [op(1, "buy", 0, None, None, effect_by_s=1),
               hold(2, 2, 3, None, None, "SEAT_TAKEN"), final]
        self.assert_not_linearizable(ops, final)
        # A client that took a cut buy for a sale: T1 must then be there.
        taken = op(1, "buy", 0, None, "ok", ticket="T1", effect_by_s=1)
        free = read(2, 3, "free")
        self.assert_not_linearizable([taken, free], free)
        self.assert_valid([op(1, "buy", 0, None, None, effect_by_s=1), free])  # control
        # Its ticket is nobody's: not a lost sale when the seat is free at the end.
        self.assertEqual(sh.check_tickets([op(1, "buy", 0, None, None, effect_by_s=1)], {}), [])

    def test_op_with_no_reply_takes_effect_before_the_crash(self):
        refused = hold(3, 4, 5, None, None, "SEAT_TAKEN")
        ops = [hold(2, 2, 3, "h2", 100), op(2, "release", 3.5, 3.6, hold="h2", deadline_s=100),
               refused]
        self.assert_not_linearizable([op(1, "buy", 0, None, None, effect_by_s=1)] + ops, refused)
        self.assert_valid([op(1, "buy", 0, None, None, effect_by_s=None)] + ops)  # control

    def test_real_time_order(self):
        first, second = op(1, "buy", 0, 1, ticket="T1"), op(2, "buy", 2, 3, ticket="T2")
        late_void = op(1, "void", 4, 5, ticket="T1")
        verdict = self.assert_not_linearizable([first, second, late_void], second)
        self.assertIn(late_void, verdict.ops)
        # Control: the void overlaps the second buy, so it may come first.
        self.assert_valid([first, second, op(1, "void", 1.5, 3.5, ticket="T1")])

    def test_void_refusals(self):
        sale = op(1, "buy", 0, 1, ticket="T1")
        not_found = op(1, "void", 2, 3, "NOT_FOUND", ticket="T1")
        self.assert_not_linearizable([sale, not_found], not_found)
        already = op(1, "void", 2, 3, ticket="T1", already_voided=True)
        self.assert_not_linearizable([sale, already], already)

    def test_unexpected_outcome(self):
        problems = sh.check([op(1, "confirm", 0, 1, "SEAT_TAKEN", hold="h", deadline_s=1)])
        self.assertEqual([p.kind for p in problems], ["unexpected"])

    def test_report_shows_the_seat_in_time_order(self):
        ops = [op(1, "buy", 0, 1, ticket="T1"), op(2, "buy", 2, 3, ticket="T2")]
        message = sh.check(ops)[0].message
        self.assertIn("seat 0: 2 ops, not linearizable", message)
        self.assertLess(message.index("c1 buy"), message.rindex("c2 buy"))


# ---------------------------------------------------------------------------------------------
# Simulated histories: a model server applies each op at an instant inside its window.

class ModelServer:
    """The server's behaviour as the checker's docstring describes it: expiry late by up to
    100 ms for reads, confirms and releases, but a buyer ends an overdue hold at its deadline;
    crashes that cut the ops in flight (those past their instant took effect), and holds that
    survive them."""

    def __init__(self, rng, seats):
        self.rng = rng
        self.seats = [{"phase": "free", "hold": None, "ticket": None} for _ in range(seats)]
        self.holds = {}  # token -> {"seat", "deadline_s", "expires_s", "ended"}
        self.serial = 0

    def _expire(self, seat, now_s, on_the_spot=False):
        hold = self.holds.get(seat["hold"])
        if seat["phase"] == "held" and \
                now_s >= (hold["deadline_s"] if on_the_spot else hold["expires_s"]):
            self._end(seat, "expired")

    def _end(self, seat, how):
        self.holds[seat["hold"]]["ended"] = how
        seat.update(phase="free", hold=None)

    def apply(self, request, now_s):
        """The outcome of a request at now_s: (outcome, fields for the Op)."""
        kind, seat = request["kind"], self.seats[request["seat"]]
        self._expire(seat, now_s, on_the_spot=kind in ("hold", "buy"))
        self.serial += 1
        if kind in ("hold", "buy"):
            if seat["phase"] != "free":
                return "SEAT_TAKEN", {}
            if kind == "buy":
                seat.update(phase="sold", ticket=f"T{self.serial}")
                return "ok", {"ticket": seat["ticket"]}
            token = f"h{self.serial}"
            deadline_s = now_s + request["ttl_s"]
            self.holds[token] = {"seat": request["seat"], "deadline_s": deadline_s,
                                 "expires_s": deadline_s + self.rng.uniform(0, 0.1),
                                 "ended": None}
            seat.update(phase="held", hold=token)
            return "ok", {"hold": token, "deadline_s": deadline_s}
        if kind in ("confirm", "release"):
            hold = self.holds[request["hold"]]
            if hold["ended"]:
                return ("HOLD_EXPIRED" if hold["ended"] == "expired" else "HOLD_NOT_FOUND"), {}
            if kind == "release":
                self._end(seat, "released")
                return "ok", {}
            if now_s >= hold["deadline_s"]:
                self._end(seat, "expired")
                return "HOLD_EXPIRED", {}
            self._end(seat, "confirmed")
            seat.update(phase="sold", ticket=f"T{self.serial}")
            return "ok", {"ticket": seat["ticket"]}
        if kind == "void":
            if seat["phase"] == "sold" and seat["ticket"] == request["ticket"]:
                seat["phase"] = "free"
                return "ok", {}
            if seat["ticket"] == request["ticket"]:
                return "ok", {"already_voided": True}
            return "NOT_FOUND", {}
        return "ok", {"state": seat["phase"]}  # read


class SimulatedClient:
    """Picks its next request from what it knows: its holds and tickets."""

    def __init__(self, number, rng, seats, ttl_range_s=(0.2, 0.5)):
        self.number, self.rng, self.seats, self.ttl_range_s = number, rng, seats, ttl_range_s
        self.holds = []    # (token, seat, deadline_s)
        self.tickets = []  # (ticket, seat)

    def next_request(self):
        rng = self.rng
        if self.tickets and rng.random() < 0.4:
            ticket, seat = self.tickets.pop(rng.randrange(len(self.tickets)))
            return {"kind": "void", "seat": seat, "ticket": ticket}
        if self.holds and rng.random() < 0.6:
            token, seat, deadline_s = self.holds.pop(rng.randrange(len(self.holds)))
            kind = "confirm" if rng.random() < 0.7 else "release"
            return {"kind": kind, "seat": seat, "hold": token, "deadline_s": deadline_s}
        seat = rng.randrange(self.seats)
        kind = rng.choice(["hold", "hold", "buy", "read"])
        return {"kind": kind, "seat": seat, "ttl_s": rng.uniform(*self.ttl_range_s)}

    def learn(self, request, outcome, fields):
        if outcome != "ok":
            return
        if request["kind"] == "hold":
            self.holds.append((fields["hold"], request["seat"], fields["deadline_s"]))
        elif request["kind"] in ("buy", "confirm"):
            self.tickets.append((fields["ticket"], request["seat"]))


def arguments(request):
    """The Op fields a request carries before its reply."""
    names = {"hold": ("ttl_s",), "confirm": ("hold", "deadline_s"),
             "release": ("hold", "deadline_s"), "void": ("ticket",)}.get(request["kind"], ())
    return {name: request[name] for name in names}


def simulate(seed, clients=8, seats=2, duration_s=4.0, crashes_s=(), ttl_range_s=(0.2, 0.5),
             stall_s=0.3):
    """A history of `clients` clients on `seats` seats for duration_s, with final reads (and
    the tickets' final statuses). A crash at C cuts every op in flight: the server is down
    for 50 ms."""
    rng = random.Random(seed)
    server = ModelServer(rng, seats)
    people = [SimulatedClient(k, rng, seats, ttl_range_s) for k in range(clients)]
    ops, queue, serial = [], [], 0

    def schedule(client, from_s):
        nonlocal serial
        for crash_s in crashes_s:  # no request while the server is down
            if crash_s <= from_s < crash_s + 0.05:
                from_s = crash_s + 0.05
        request = client.next_request()
        invoked_s = from_s + rng.uniform(0, 0.003)
        stalled_s = stall_s if rng.random() < 0.02 else 0.0  # as under SIGSTOP
        instant_s = invoked_s + rng.uniform(0, 0.002) + stalled_s
        completed_s = instant_s + rng.uniform(0, 0.002)
        serial += 1
        cut_s = next((c for c in crashes_s if invoked_s < c <= completed_s), None)
        at_s = instant_s if cut_s is None else min(instant_s, cut_s)  # handled in time order
        heapq.heappush(queue, (at_s, serial, client, request, invoked_s, instant_s, completed_s,
                               cut_s))

    for client in people:
        schedule(client, 0.0)
    while queue:
        _, _, client, request, invoked_s, instant_s, completed_s, cut_s = heapq.heappop(queue)
        fields = arguments(request)
        if cut_s is None:
            outcome, result = server.apply(request, instant_s)
            fields.update(result)
        elif request["kind"] == "read":
            outcome = "skip"
        else:  # it takes effect only if the server got to it before the crash
            if instant_s <= cut_s:
                server.apply(request, instant_s)
            outcome, completed_s, fields["effect_by_s"] = None, None, cut_s
        if outcome != "skip":
            ops.append(Op(client.number, request["seat"], request["kind"], invoked_s,
                          completed_s, outcome, **fields))
            client.learn(request, outcome, fields)
        if completed_s is not None and completed_s < duration_s:
            schedule(client, completed_s)
        elif completed_s is None and (cut_s + 0.05) < duration_s:
            schedule(client, cut_s + 0.05)
    end_s = duration_s + ttl_range_s[1] + 1.1  # every hold expired
    tickets = {}
    for seat_number, seat in enumerate(server.seats):
        server._expire(seat, end_s)
        known = seat["ticket"] if seat["phase"] == "sold" else None
        ops.append(Op(99, seat_number, "read", end_s, end_s + 0.001, "ok", state=seat["phase"],
                      ticket=known if any(o.ticket == known and o.kind in ("buy", "confirm")
                                          and o.outcome == "ok" for o in ops) else None,
                      check_ticket=True))
    for o in ops:
        if o.kind in ("buy", "confirm") and o.outcome == "ok":
            seat = server.seats[o.seat]
            status = ("valid" if seat["phase"] == "sold" else "voided") \
                if seat["ticket"] == o.ticket else "missing"
            tickets[o.ticket] = (status, o.seat if status != "missing" else None)
    return ops, tickets


class SimulatedHistoryTest(unittest.TestCase):
    def check_within_budget(self, ops, tickets):
        started = time.monotonic()
        problems = sh.check(ops, tickets)
        elapsed_s = time.monotonic() - started
        self.assertLess(elapsed_s, TIME_BUDGET_S, f"{len(ops)} ops took {elapsed_s:.1f} s")
        return problems, elapsed_s

    def test_simulated_histories_pass(self):
        for seed in range(4):
            crashes = (1.0, 2.5) if seed % 2 else ()
            ops, tickets = simulate(seed, crashes_s=crashes)
            per_seat = len(ops) // 2
            self.assertGreater(per_seat, 300)
            self.assertTrue(any(o.outcome is None for o in ops) or not crashes)
            problems, elapsed_s = self.check_within_budget(ops, tickets)
            self.assertEqual(problems, [], "\n".join(map(str, problems[:1])))
            print(f"\n  seed {seed}: {len(ops)} ops on 2 seats, "
                  f"{sum(o.outcome is None for o in ops)} with no reply, checked in "
                  f"{elapsed_s:.2f} s", file=sys.stderr, end="")

    def test_simulated_history_with_a_wrong_final_read_fails(self):
        ops, tickets = simulate(7, crashes_s=(1.5,))
        final = [o for o in ops if o.kind == "read" and o.check_ticket and o.seat == 0][0]
        final.state = "held" if final.state != "held" else "free"
        final.ticket = None
        problems, elapsed_s = self.check_within_budget(ops, tickets)
        self.assertEqual([(p.kind, p.seat) for p in problems], [("not_linearizable", 0)])
        print(f"\n  a wrong final read among {len(ops)} ops: found in {elapsed_s:.2f} s",
              file=sys.stderr, end="")


def exhaustive(ops, seat=sh.INITIAL, t_s=-sh.INF):
    """Whether some order of `ops` explains them, by trying every order (small histories only):
    what the search must agree with."""
    if not any(o.required for o in ops):
        return True
    for o in ops:
        for child_t_s, child in sh.successors(o, seat, max(t_s, o.invoked_s), o.end_s):
            if any(r.required and r is not o and r.end_s < child_t_s for r in ops):
                continue  # an op that ended earlier must come first
            rest = [r for r in ops if r is not o and (r.required or r.end_s >= child_t_s)]
            if exhaustive(rest, child, child_t_s):
                return True
    return False


def mutate(rng, ops):
    """One op changed: another outcome its kind may have, or its window moved."""
    target = rng.choice([o for o in ops if o.kind != "read"] or ops)
    if rng.random() < 0.5 and target.kind != "read":
        choices = sorted(sh.OUTCOMES[target.kind] - {None, target.outcome})
        outcome = rng.choice(choices)
        if outcome == "ok" and target.kind in ("buy", "confirm"):
            target.ticket = target.ticket or "T-mutant"
        if outcome == "ok" and target.kind == "hold":
            target.hold, target.deadline_s = "h-mutant", target.invoked_s + target.ttl_s
        if target.completed_s is None:
            target.completed_s = target.invoked_s + 0.002
        target.outcome = outcome
    else:
        shift_s = rng.uniform(-0.004, 0.004)
        target.invoked_s += shift_s
        if target.completed_s is not None:
            target.completed_s = max(target.invoked_s, target.completed_s + shift_s)


class SearchAgreesWithExhaustiveTest(unittest.TestCase):
    def test_small_histories_and_their_mutants(self):
        rng = random.Random(2024)
        verdicts = {True: 0, False: 0}
        for case in range(400):
            ops, _ = simulate(case, clients=3, seats=1, duration_s=0.01,
                              crashes_s=(0.004,) if case % 3 == 0 else (),
                              ttl_range_s=(0.001, 0.004), stall_s=0.003)
            if case % 2:
                mutate(rng, ops)
            expected = exhaustive(ops)
            verdict = sh.check_seat(0, ops)
            self.assertEqual(verdict.linearizable, expected,
                             "\n".join(sh.describe(o) for o in verdict.ops))
            verdicts[expected] += 1
        self.assertGreater(min(verdicts.values()), 50, verdicts)  # both kinds were tried
        print(f"\n  agreed on {verdicts[True]} linearizable and {verdicts[False]} "
              "non-linearizable small histories", file=sys.stderr, end="")


if __name__ == "__main__":
    unittest.main(verbosity=2)
