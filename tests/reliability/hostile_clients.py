#!/usr/bin/python3
"""Hostile clients for boxofficed, in one process (non-blocking sockets, one selector), for
tests/reliability/hostile_clients_test.py. Usage:

    hostile_clients.py --rpc-port P --http-port Q --event E --active-s 4 --quiet-s 8 \\
                       --report report.json [--scale 1.0]

For --active-s it keeps up, against the msgpack-rpc and the HTTP listener:
  rpc_idle, http_idle         connections that never send a byte;
  rpc_trickle                 a valid request frame sent one byte every 250 ms;
  http_slowloris              a request line, then header bytes one every 250 ms, never done;
  http_lying_length           headers saying Content-Length: 100000, then 10 bytes and silence;
  rpc_nonreader/http_nonreader  pipelined requests for large replies, never reading one;
  rpc_garbage                 random bytes, 64 KiB at a time, reconnecting when cut;
  http_header_flood           64 KiB of headers, reconnecting when cut;
connection churners (garbage, floods) at a bounded rate, so that the driver's own CPU does not
stand in for the server's; a long-lived one the server closes is opened again (but for the
non-readers), so the population holds for the whole active phase. Then for --quiet-s it sends nothing more (nor reconnects) and only
watches its sockets for the server closing them (reading and dropping whatever comes, but for
the non-readers, whose connection state it asks the kernel instead).

The report: per kind, connections opened, closed by the server (end of stream or reset) and
for the long-lived kinds the seconds from the driver going quiet to the last one closed; plus
the connections still open at the end. Exits 0 unless it could not run at all."""

import argparse
import errno
import json
import os
import random
import resource
import selectors
import socket
import time

import msgpack

KINDS = ("rpc_idle", "http_idle", "rpc_trickle", "http_slowloris", "http_lying_length",
         "rpc_nonreader", "http_nonreader", "rpc_garbage", "http_header_flood")
TRICKLE_INTERVAL_S = 0.25
CHURN_PER_S = 20           # reconnects per second, per churning kind
CHURN_BYTES = 64 << 10     # garbage / headers sent per churned connection
REOPEN_PER_STEP = 50       # long-lived connections opened again per 20 ms step, at most



def rpc_request(msgid, method, params):
    return msgpack.packb([0, msgid, method, params])


# One request trickled a byte at a time: complete only after ~50 s.
TRICKLED_FRAME = rpc_request(1, "ping", {"pad": "x" * 200})


# Non-readers never read, so they cannot see the end of the stream; the kernel's view of the
# connection tells whether the server reset it (or, its replies all delivered, closed it).
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8


def tcp_state(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


class Conn:
    __slots__ = ("kind", "sock", "pending", "closed_at")

    def __init__(self, kind, sock, pending):
        self.kind = kind
        self.sock = sock
        self.pending = pending      # bytes still to send (trickled ones one at a time)
        self.closed_at = None


class Driver:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.quiet = False
        self.quiet_at = None
        self.rng = random.Random(7)
        self.closed = {}
        self.sending = []  # connections with bytes still to send
        self.specs = {}    # long-lived kind -> (port, bytes it sends)
        self.reopen = []   # long-lived kinds closed by the server, to open again
        self.trickled_at = 0.0
        self.nonreaders_checked_at = 0.0

    def open_long_lived(self, kind, port, pending, base):
        self.specs[kind] = (port, pending)
        if kind in self.args.kinds:
            for _ in range(max(1, int(base * self.args.scale))):
                self.connect(kind, port, pending)

    def connect(self, kind, port, pending=b""):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        conn = Conn(kind, sock, pending)
        if not kind.endswith("nonreader"):  # those never read: not watched, see step()
            self.sel.register(sock, selectors.EVENT_READ, conn)
        self.conns.append(conn)
        if pending:
            self.sending.append(conn)
        return conn

    def close(self, conn, by_server):
        if conn.closed_at is not None:
            return
        conn.closed_at = time.monotonic()
        if by_server:
            self.closed[conn.kind] = self.closed.get(conn.kind, 0) + 1
            # The same population all the active phase; but for the non-readers, whose every
            # new connection is a flood of expensive requests (overload, tested on its own).
            if not self.quiet and conn.kind in self.specs and \
                    not conn.kind.endswith("nonreader"):
                self.reopen.append(conn.kind)
        if not conn.kind.endswith("nonreader"):
            self.sel.unregister(conn.sock)
        conn.sock.close()

    def send_some(self, conn, limit):
        if conn.closed_at is not None or not conn.pending:
            return
        try:
            n = conn.sock.send(conn.pending[:limit])
            conn.pending = conn.pending[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                if e.errno != errno.ENOTCONN:
                    self.close(conn, by_server=True)
            else:
                raise

    def on_readable(self, conn):
        """Hostile clients that read (all but the non-readers) drop what comes."""
        try:
            data = conn.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.close(conn, by_server=True)

    def open_all(self):
        a = self.args
        event = a.event.encode()
        self.open_long_lived("rpc_idle", a.rpc_port, b"", 1500)
        self.open_long_lived("http_idle", a.http_port, b"", 500)
        self.open_long_lived("rpc_trickle", a.rpc_port, TRICKLED_FRAME, 200)
        self.open_long_lived("http_slowloris", a.http_port,
                             b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: y\r\n" * 1000, 300)
        self.open_long_lived("http_lying_length", a.http_port,
                             b"POST /v1/events/" + event + b"/holds HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                             b"{\"seats\":", 100)
        rpc_big = b"".join(rpc_request(i, "availability", {"event": a.event, "bitmap": True})
                           for i in range(2000))
        self.open_long_lived("rpc_nonreader", a.rpc_port, rpc_big, 50)
        http_big = (b"GET /v1/events/" + event + b"/availability?bitmap=true HTTP/1.1\r\n"
                    b"Host: x\r\n\r\n") * 2000
        self.open_long_lived("http_nonreader", a.http_port, http_big, 50)

    def churn(self, kind, port, now):
        """Keeps one connection of `kind` sending CHURN_BYTES; a new one CHURN_PER_S a second."""
        last = getattr(self, "_churn_" + kind, 0.0)
        if now - last < 1.0 / CHURN_PER_S:
            return
        setattr(self, "_churn_" + kind, now)
        if kind == "rpc_garbage":
            payload = self.rng.randbytes(CHURN_BYTES)
        else:
            payload = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Flood: " + b"z" * 1000 + b"\r\n"
            payload *= CHURN_BYTES // 1000
        self.connect(kind, port, payload)

    def step(self, now):
        a = self.args
        if not self.quiet:
            for kind in self.reopen[:REOPEN_PER_STEP]:
                self.connect(kind, *self.specs[kind])
            del self.reopen[:REOPEN_PER_STEP]
            if "rpc_garbage" in a.kinds:
                self.churn("rpc_garbage", a.rpc_port, now)
            if "http_header_flood" in a.kinds:
                self.churn("http_header_flood", a.http_port, now)
            trickle_due = now >= self.trickled_at + TRICKLE_INTERVAL_S
            if trickle_due:
                self.trickled_at = now
            still_sending = []
            for conn in self.sending:
                if conn.kind in ("rpc_trickle", "http_slowloris"):
                    if trickle_due:
                        self.send_some(conn, 1)
                else:
                    self.send_some(conn, 1 << 16)
                if conn.closed_at is None and conn.pending:
                    still_sending.append(conn)
            self.sending = still_sending
        if self.sel.get_map():
            for key, _ in self.sel.select(timeout=0.02):
                self.on_readable(key.data)
        else:
            time.sleep(0.02)
        if self.quiet and now >= self.nonreaders_checked_at + 0.1:
            self.nonreaders_checked_at = now
            for conn in self.conns:
                if conn.kind.endswith("nonreader") and conn.closed_at is None and \
                        tcp_state(conn.sock) in (TCP_CLOSE, TCP_CLOSE_WAIT):
                    self.close(conn, by_server=True)

    def run(self):
        start = time.monotonic()
        self.open_all()
        while time.monotonic() - start < self.args.active_s:
            self.step(time.monotonic())
        self.quiet = True
        self.quiet_at = time.monotonic()
        while time.monotonic() - self.quiet_at < self.args.quiet_s:
            if all(c.closed_at is not None for c in self.conns):
                break
            self.step(time.monotonic())
        return self.report()

    def report(self):
        kinds = {}
        for conn in self.conns:
            k = kinds.setdefault(conn.kind, {"opened": 0, "closed_by_server": 0, "open_at_end": 0,
                                             "last_closed_after_quiet_s": 0.0})
            k["opened"] += 1
            if conn.closed_at is None:
                k["open_at_end"] += 1
            else:
                k["last_closed_after_quiet_s"] = max(k["last_closed_after_quiet_s"],
                                                     round(conn.closed_at - self.quiet_at, 3))
        for kind, n in self.closed.items():
            kinds[kind]["closed_by_server"] = n
        return {"kinds": kinds, "open_at_end": sum(k["open_at_end"] for k in kinds.values())}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rpc-port", type=int, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--active-s", type=float, default=4)
    p.add_argument("--quiet-s", type=float, default=8)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--report", required=True)
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="comma-separated subset of: " + ", ".join(KINDS))
    args = p.parse_args()
    args.kinds = set(args.kinds.split(","))
    if not args.kinds <= set(KINDS):
        p.error(f"unknown kinds: {args.kinds - set(KINDS)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    report = Driver(args).run()
    with open(args.report + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace(args.report + ".tmp", args.report)


if __name__ == "__main__":
    main()
