"""Linearizability of seat operations: a checker for histories that clients of boxofficed
record (tests/reliability/linearizability_test.py), pure Python (stdlib only).

A history is a list of Op: one request on one seat by one client, timed on the client's clock
(time.monotonic) from when it was sent (invoked_s) to when its reply came (completed_s; None
when none came: the connection was cut by a crash, or it timed out), with what the reply said
(outcome: "ok" or an error name; None when unknown). Kinds: hold, buy, confirm, release, void,
and read (seat.get, plus ticket.get of the tickets the clients know, after the run).

Model, per seat: free | held(hold, deadline) | sold(ticket), plus the ticket left in the seat's
slot (the valid one when sold, else the last voided one), which is what a void is checked on:
  free --hold ok--> held --confirm ok--> sold --void ok--> free      free --buy ok--> sold
  held --release ok, or expiry at its deadline--> free
A crash is no event of the model: the seat table outlives the process, holds included (recovery
expires those past their deadline, which the model allows anyway). Refusals are checked too:
SEAT_TAKEN only when the seat is held or sold at that moment; HOLD_EXPIRED only at or after the
hold's deadline; HOLD_NOT_FOUND only for a hold that is over (released, confirmed or expired); a
void NOT_FOUND only when the slot holds another ticket; a void "already_voided" only when the
slot still holds that ticket, voided. BUSY changed nothing and constrains nothing. A read must
show the state (and, after the run, the valid ticket).

What is checked, per seat (every op names one seat; by locality the whole history is
linearizable when each seat's is): that some order of the ops exists, each op taking effect at
one instant t within [invoked_s, completed_s] (so an op that completed before another was
invoked comes first), in which every op's outcome is what the model gives. An op with no reply
may take effect or not (never counted as a success; only its success matters, a failure would
change nothing), and when it does, before `effect_by_s` (when the server process it reached was
killed; None: any time). An op that had no reply but whose outcome was learnt later (an
idempotent retry replayed it) has outcome "ok" and completed_s None: it must take effect, before
effect_by_s.
The search is Wing & Gong's as refined by Lowe ("just-in-time linearisation", 2017): the history
is read in time order, keeping the configurations (state, ops in flight already taken) that
explain every reply so far; an op is taken only when a reply needs it, at the earliest instant
its outcome allows (an earlier instant never leaves fewer choices later), and a configuration
already reached at an earlier or equal instant is not kept twice (the memoization). The work
per reply is bounded by the ops in flight, so a history that is not linearizable costs no more
than one that is, and the first reply nothing explains is the one reported. Expiry is an
internal step tried only where an op's outcome depends on it.

Time: the server stamps deadlines with its wall clock (expires_at_ms); the test moves them to the
client's monotonic clock with the offset between the two read when each reply arrives.
Tolerances (one machine, one clock; the server reads it once per batch of received bytes,
after they arrived):
  CLOCK_TOLERANCE_S  50 ms either way on every comparison with a deadline;
  TAKEN_LATE_MAX_S   none: a hold or buy is refused (SEAT_TAKEN) by an expired hold only until
                     its deadline, as a buyer ends an overdue hold on the spot
                     (Engine::acquire_or_expire, to the millisecond);
  EXPIRY_LATE_MAX_S  a read may still show an expired hold held up to 1 s after its deadline:
                     until a worker's timing wheel ends it, usually within 100 ms, but a read
                     that arrives during a SIGSTOP (300 ms here) runs before the wheel's next
                     turn after it, and one during a restart before the first;
  MARK_EARLY_MAX_S   a token whose hold is over and whose slot was reused says HOLD_EXPIRED
                     from the start of its deadline's second (a deadline mark rounded down in
                     the token, Engine::deadline_mark), i.e. up to 1 s before the deadline.
A release of a hold past its deadline that nothing has expired yet is accepted (the server
releases it); a confirm past the deadline never is.

Global checks on the tickets after the run (check_tickets): no seat with two valid tickets, no
acknowledged sale lost (every ticket an ok buy or confirm returned and no void touched is valid,
on its seat), no acknowledged void lost.

    problems = check(ops, tickets)      # [] when all is well; Problem(kind, seat, message)

`seat_history.py HISTORY.json[.gz]` checks a history saved with history_to_json again (the
linearizability test saves the one it failed on).
"""

import dataclasses
import gzip
import json
import sys
from dataclasses import dataclass
from typing import NamedTuple, Optional

CLOCK_TOLERANCE_S = 0.05
TAKEN_LATE_MAX_S = 0.0
EXPIRY_LATE_MAX_S = 1.0
MARK_EARLY_MAX_S = 1.0

FREE, HELD, SOLD = "free", "held", "sold"
OK, BUSY = "ok", "BUSY"
SEAT_TAKEN, HOLD_EXPIRED, HOLD_NOT_FOUND, NOT_FOUND = (
    "SEAT_TAKEN", "HOLD_EXPIRED", "HOLD_NOT_FOUND", "NOT_FOUND")
INF = float("inf")

# The outcomes each kind may have (None: unknown); BUSY is accepted everywhere and ignored.
OUTCOMES = {
    "hold": {OK, SEAT_TAKEN, None},
    "buy": {OK, SEAT_TAKEN, None},
    "confirm": {OK, HOLD_EXPIRED, HOLD_NOT_FOUND, None},
    "release": {OK, HOLD_EXPIRED, HOLD_NOT_FOUND, None},
    "void": {OK, NOT_FOUND, None},
    "read": {OK},
}


@dataclass(slots=True)
class Op:
    """One request on one seat. Which fields matter depends on the kind:
    hold     ttl_s; ok: hold (token), deadline_s (expires_at_ms on the client's clock)
    buy      ok: ticket
    confirm  hold, deadline_s (of the hold); ok: ticket
    release  hold, deadline_s (of the hold)
    void     ticket; ok: already_voided
    read     state; with check_ticket, ticket is the seat's valid ticket among those the
             clients know (None: none of them is valid)"""

    client: int
    seat: int
    kind: str
    invoked_s: float
    completed_s: Optional[float]
    outcome: Optional[str]
    hold: Optional[str] = None
    deadline_s: Optional[float] = None
    ttl_s: Optional[float] = None
    ticket: Optional[str] = None
    already_voided: bool = False
    state: Optional[str] = None
    check_ticket: bool = False
    effect_by_s: Optional[float] = None
    note: str = ""

    @property
    def required(self):
        """It must take effect (its outcome is known)."""
        return self.outcome is not None

    @property
    def end_s(self):
        """The latest instant it can take effect."""
        if self.completed_s is not None:
            return self.completed_s
        return INF if self.effect_by_s is None else self.effect_by_s


class Seat(NamedTuple):
    """The model's state of one seat. held: the hold's token (None: a hold whose reply was
    lost) and its deadline, known to lie in [deadline_lo_s, deadline_hi_s]. ticket: the
    ticket in the seat's slot (valid when sold, voided otherwise; None: none or unknown)."""

    phase: str
    hold: Optional[str]
    deadline_lo_s: float
    deadline_hi_s: float
    ticket: Optional[str]


INITIAL = Seat(FREE, None, 0.0, 0.0, None)


def _free(ticket):
    return Seat(FREE, None, 0.0, 0.0, ticket)


class Problem(NamedTuple):
    kind: str      # unexpected | not_linearizable | sold_twice | sale_lost | void_lost
    seat: Optional[int]
    message: str

    def __str__(self):
        return f"{self.kind}: {self.message}"


# ---------------------------------------------------------------------------------------------
# The model's transitions: for an op tried on a state, with its instant in [lo_s, hi_s], the
# (earliest instant, next state) pairs its outcome allows.

def _cares_about_expiry(op, seat):
    if seat.phase != HELD:
        return False
    if op.kind in ("hold", "buy", "read"):
        return True
    return op.kind in ("confirm", "release") and op.hold == seat.hold


def successors(op, seat, lo_s, hi_s):
    found = []
    if _cares_about_expiry(op, seat):
        expired_s = max(lo_s, seat.deadline_lo_s - CLOCK_TOLERANCE_S)
        if expired_s <= hi_s:
            found += _apply(op, _free(seat.ticket), expired_s, hi_s)
    return found + _apply(op, seat, lo_s, hi_s)


def _apply(op, seat, lo_s, hi_s):
    if op.kind in ("hold", "buy"):
        return _take(op, seat, lo_s)
    if op.kind == "confirm":
        return _confirm(op, seat, lo_s, hi_s)
    if op.kind == "release":
        return _release(op, seat, lo_s, hi_s)
    if op.kind == "void":
        return _void(op, seat, lo_s)
    return _read(op, seat, lo_s)


def _still_held(seat, t_s, late_max_s):
    """Whether a hold may still block the seat at t_s, `late_max_s` after its deadline
    (TAKEN_LATE_MAX_S or EXPIRY_LATE_MAX_S)."""
    return t_s < seat.deadline_hi_s + late_max_s + CLOCK_TOLERANCE_S


def _take(op, seat, lo_s):
    if seat.phase == FREE:
        if op.outcome not in (OK, None):
            return []  # SEAT_TAKEN on a free seat
        if op.kind == "buy":
            return [(lo_s, Seat(SOLD, None, 0.0, 0.0, op.ticket))]
        if op.outcome == OK:
            return [(lo_s, Seat(HELD, op.hold, op.deadline_s, op.deadline_s, seat.ticket))]
        # No reply: its deadline is its instant plus the TTL, the instant lies in [lo_s, end_s].
        return [(lo_s, Seat(HELD, None, lo_s + op.ttl_s, op.end_s + op.ttl_s, seat.ticket))]
    if op.outcome != SEAT_TAKEN:
        return []
    if seat.phase == HELD and not _still_held(seat, lo_s, TAKEN_LATE_MAX_S):
        return []
    return [(lo_s, seat)]


def _over(op, seat, lo_s, hi_s):
    """Confirm or release of a hold that is over: HOLD_NOT_FOUND, or HOLD_EXPIRED from
    MARK_EARLY_MAX_S before its deadline."""
    if op.outcome == HOLD_NOT_FOUND:
        return [(lo_s, seat)]
    if op.outcome == HOLD_EXPIRED:
        t_s = max(lo_s, op.deadline_s - MARK_EARLY_MAX_S - CLOCK_TOLERANCE_S)
        return [(t_s, seat)] if t_s <= hi_s else []
    return []  # ok (or taking effect) on a hold that is over


def _confirm(op, seat, lo_s, hi_s):
    if not (seat.phase == HELD and seat.hold == op.hold):
        return _over(op, seat, lo_s, hi_s)
    if op.outcome in (OK, None):
        if lo_s >= seat.deadline_hi_s + CLOCK_TOLERANCE_S:
            return []  # past the deadline
        return [(lo_s, Seat(SOLD, None, 0.0, 0.0, op.ticket))]
    if op.outcome == HOLD_EXPIRED:
        t_s = max(lo_s, seat.deadline_lo_s - CLOCK_TOLERANCE_S)
        return [(t_s, seat)] if t_s <= hi_s else []
    return []  # HOLD_NOT_FOUND on a live hold (after its expiry: the expiry branch)


def _release(op, seat, lo_s, hi_s):
    if not (seat.phase == HELD and seat.hold == op.hold):
        return _over(op, seat, lo_s, hi_s)
    if op.outcome in (OK, None):
        return [(lo_s, _free(seat.ticket))]
    return []  # an error on a live hold (after its expiry: the expiry branch)


def _void(op, seat, lo_s):
    if seat.phase == SOLD and seat.ticket == op.ticket:
        if op.outcome in (OK, None) and not op.already_voided:
            return [(lo_s, _free(op.ticket))]
        return []
    if op.outcome == OK and op.already_voided and seat.ticket == op.ticket:
        return [(lo_s, seat)]
    if op.outcome == NOT_FOUND and seat.ticket != op.ticket:
        return [(lo_s, seat)]
    return []


def _read(op, seat, lo_s):
    if op.state != seat.phase:
        return []
    if seat.phase == HELD and not _still_held(seat, lo_s, EXPIRY_LATE_MAX_S):
        return []
    if op.check_ticket and op.ticket != (seat.ticket if seat.phase == SOLD else None):
        return []
    return [(lo_s, seat)]


# ---------------------------------------------------------------------------------------------
# The search

@dataclass
class SeatVerdict:
    seat: int
    ops: list                 # the ops checked, by invocation
    linearizable: bool = True
    explored: int = 0         # search nodes
    failed: Optional[int] = None  # the op whose reply no order explains (index into ops)
    states: tuple = ()        # the states the seat could be in just before it completed
    pending: tuple = ()       # the ops in flight then (indices)


class _Search:
    """Lowe's just-in-time search over one seat's ops. The history is read as events in time
    order: invocations, replies, and the instants after which an op with no reply can no
    longer take effect. A configuration is (state, ops in flight already taken, instant of the
    last one taken), kept only at the earliest instant for a given state and set. An op is
    taken only when a reply needs it: at each reply, every configuration is extended by every
    order of ops in flight that ends with the replying op (each at the earliest instant its
    outcome allows); an op with no reply may be taken, or not, up to its last instant. The
    first reply that leaves no configuration is where the history stops being linearizable."""

    def __init__(self, ops):
        self.ops = sorted(ops, key=lambda op: (op.invoked_s, op.end_s))
        self.explored = 0

    def events(self):
        """(time, 0 invoked | 1 ends, op index): an op ends at its reply, or when it can no
        longer take effect; a required op with neither ends after everything."""
        events = []
        for i, op in enumerate(self.ops):
            if not op.required and op.end_s < op.invoked_s:
                continue  # sent to a process already gone
            events.append((op.invoked_s, 0, i))
            if op.end_s != INF or op.required:
                events.append((op.end_s, 1, i))
        return sorted(events)

    def run(self, seat_number):
        verdict = SeatVerdict(seat_number, self.ops)
        configs = {(INITIAL, frozenset()): -INF}
        in_flight = set()
        for time_s, kind, i in self.events():
            if kind == 0:
                in_flight.add(i)
                continue
            taken = self._take(configs, in_flight, i, time_s)
            if not self.ops[i].required:  # or it never took effect
                for (seat, done), t_s in configs.items():
                    if i not in done:
                        _keep(taken, seat, done, t_s)
            if not taken:
                verdict.linearizable, verdict.failed = False, i
                verdict.states = tuple(sorted({seat for seat, _ in configs}, key=str))
                verdict.pending = tuple(sorted(in_flight))
                break
            configs = taken
            in_flight.discard(i)
        verdict.explored = self.explored
        return verdict

    def _take(self, configs, in_flight, last, until_s):
        """The configurations in which `last` has been taken (and is then forgotten), every
        instant at most until_s."""
        ops = self.ops
        out = {}
        for (seat, done), t_s in configs.items():
            if last in done:
                _keep(out, seat, done - {last}, t_s)
                continue
            seen = {}
            stack = [(seat, done, t_s)]
            while stack:
                seat, done, t_s = stack.pop()
                if seen.get((seat, done), INF) <= t_s:
                    continue
                seen[(seat, done)] = t_s
                self.explored += 1
                for j in in_flight:
                    if j in done:
                        continue
                    op = ops[j]
                    lo_s, hi_s = max(t_s, op.invoked_s), min(op.end_s, until_s)
                    if lo_s > hi_s:
                        continue
                    for next_t_s, next_seat in successors(op, seat, lo_s, hi_s):
                        if j == last:
                            _keep(out, next_seat, done, next_t_s)
                        else:
                            stack.append((next_seat, done | {j}, next_t_s))
        return out


def _keep(configs, seat, done, t_s):
    key = (seat, done)
    if t_s < configs.get(key, INF):
        configs[key] = t_s


def check_seat(seat_number, ops):
    """SeatVerdict for the ops of one seat (BUSY answers left out: they changed nothing)."""
    return _Search([op for op in ops if op.outcome != BUSY]).run(seat_number)


# ---------------------------------------------------------------------------------------------
# Whole histories

def unexpected_outcomes(ops):
    return [Problem("unexpected", op.seat, f"{describe(op)}: not an outcome a {op.kind} can have")
            for op in ops if op.outcome != BUSY and op.outcome not in OUTCOMES.get(op.kind, ())]


def check_tickets(ops, tickets):
    """The global checks. `tickets`: ticket id -> (status, seat index) after the run, status
    "valid", "voided" or "missing" (ticket.get said NOT_FOUND: its slot holds a later
    sale), for every ticket an ok buy or confirm returned."""
    problems = []
    sold = {op.ticket: op for op in ops
            if op.kind in ("buy", "confirm") and op.outcome == OK and op.ticket is not None}
    voided = {op.ticket for op in ops if op.kind == "void" and op.outcome == OK}
    maybe_voided = {op.ticket for op in ops if op.kind == "void" and op.outcome is None}
    valid_on_seat = {}
    for ticket, sale in sorted(sold.items(), key=lambda item: item[1].invoked_s):
        status, seat = tickets.get(ticket, ("not looked up", None))
        if status == "valid":
            valid_on_seat.setdefault(sale.seat, []).append(ticket)
        if seat is not None and seat != sale.seat:
            problems.append(Problem("sale_lost", sale.seat,
                                    f"{describe(sale)}: ticket {ticket} is on seat {seat}"))
        elif ticket in voided:
            if status not in ("voided", "missing"):  # missing: voided, then sold again
                problems.append(Problem("void_lost", sale.seat, f"ticket {ticket} is {status} "
                                        "after an acknowledged void"))
        elif ticket in maybe_voided:
            if status not in ("valid", "voided", "missing"):
                problems.append(Problem("sale_lost", sale.seat,
                                        f"{describe(sale)}: ticket {ticket} is {status}"))
        elif status != "valid":  # never voided
            gone = " (its seat was sold again)" if status == "missing" else ""
            problems.append(Problem("sale_lost", sale.seat,
                                    f"{describe(sale)}: ticket {ticket} is {status}{gone}"))
    for seat, valid in sorted(valid_on_seat.items()):
        if len(valid) > 1:
            problems.append(Problem("sold_twice", seat,
                                    f"seat {seat} has {len(valid)} valid tickets: {valid}"))
    return problems


def check(ops, tickets=None):
    """Every problem found: unexpected outcomes, seats whose history is not linearizable (each
    with the first reply nothing explains and the seat's ops around it, in time order), and
    with `tickets` the global checks."""
    problems = unexpected_outcomes(ops)
    if problems:
        return problems
    by_seat = {}
    for op in ops:
        by_seat.setdefault(op.seat, []).append(op)
    for seat in sorted(by_seat):
        verdict = check_seat(seat, by_seat[seat])
        if not verdict.linearizable:
            problems.append(Problem("not_linearizable", seat, report(verdict)))
    if tickets is not None:
        problems += check_tickets(ops, tickets)
    return problems


# ---------------------------------------------------------------------------------------------
# Reports

def describe(op, origin_s=0.0):
    """One line: client, op, arguments, outcome, window (ms from origin_s)."""
    args = []
    if op.kind == "hold":
        args.append(f"ttl {op.ttl_s * 1000:.0f} ms" if op.ttl_s is not None else "")
    if op.hold is not None:
        args.append(f"hold {op.hold[-8:]}")
    if op.deadline_s is not None:
        args.append(f"deadline {(op.deadline_s - origin_s) * 1000:.1f}")
    if op.ticket is not None:
        args.append(f"ticket {op.ticket[-12:]}")
    if op.kind == "read":
        args.append(f"state {op.state}")
    outcome = "no reply" if op.outcome is None else op.outcome
    if op.already_voided:
        outcome += " (already voided)"
    end = "?" if op.completed_s is None else f"{(op.completed_s - origin_s) * 1000:.1f}"
    window = f"[{(op.invoked_s - origin_s) * 1000:.1f}, {end}]"
    if op.completed_s is None:
        window += (" effect by " + ("any time" if op.effect_by_s is None
                                     else f"{(op.effect_by_s - origin_s) * 1000:.1f}"))
    text = f"c{op.client} {op.kind} seat {op.seat} {', '.join(a for a in args if a)} -> " \
           f"{outcome} {window}"
    return text + (f" ({op.note})" if op.note else "")


def report(verdict, context_ops=30):
    """A readable account of a seat that is not linearizable: the op whose reply nothing
    explains, the states the seat could be in just before, the ops in flight then, and the
    seat's ops around it in time order (ms from the seat's first op)."""
    ops = verdict.ops
    origin_s = ops[0].invoked_s
    failed = verdict.failed
    states = ", ".join(_state_text(seat, origin_s) for seat in verdict.states) or "none"
    lines = [f"seat {verdict.seat}: {len(ops)} ops, not linearizable ({verdict.explored} search "
             f"nodes). No order of the ops explains this reply:",
             "  ! " + describe(ops[failed], origin_s),
             f"The seat could be, just before: {states}; in flight then:"]
    lines += ["    " + describe(ops[i], origin_s) for i in verdict.pending if i != failed]
    window = range(max(0, failed - context_ops), min(len(ops), failed + context_ops // 3))
    lines.append(f"The seat's ops {window.start}..{window.stop - 1} of {len(ops)}, by invocation:")
    lines += [f"  {'!' if i == failed else ' '} {describe(ops[i], origin_s)}" for i in window]
    return "\n".join(lines)


def _state_text(seat, origin_s):
    if seat.phase == HELD:
        lo_ms = (seat.deadline_lo_s - origin_s) * 1000
        hi_ms = (seat.deadline_hi_s - origin_s) * 1000
        return (f"held by {seat.hold[-8:] if seat.hold else 'an unanswered hold'} until "
                f"{lo_ms:.1f}..{hi_ms:.1f}")
    if seat.phase == SOLD:
        return f"sold ({seat.ticket[-12:] if seat.ticket else 'ticket unknown'})"
    return "free"


# ---------------------------------------------------------------------------------------------
# Saved histories

def history_to_json(ops, tickets=None):
    return {"ops": [dataclasses.asdict(op) for op in ops],
            "tickets": {t: list(v) for t, v in (tickets or {}).items()}}


def history_from_json(document):
    ops = [Op(**fields) for fields in document["ops"]]
    return ops, {t: tuple(v) for t, v in document.get("tickets", {}).items()}


def main(argv):
    if len(argv) != 2:
        print("usage: seat_history.py HISTORY.json[.gz]", file=sys.stderr)
        return 2
    with (gzip.open if argv[1].endswith(".gz") else open)(argv[1], "rt") as f:
        ops, tickets = history_from_json(json.load(f))
    problems = check(ops, tickets)
    for problem in problems:
        print(problem)
    print(f"{len(ops)} ops on {len({op.seat for op in ops})} seats: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
