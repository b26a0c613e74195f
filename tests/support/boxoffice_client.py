"""A small msgpack-rpc client for boxofficed and a wrapper around one boxofficed process, for
end-to-end tests (Debian's /usr/bin/python3 with python3-msgpack; nothing else).

    from boxoffice_client import Client, Server

    server = Server(BOXOFFICED, tmp, ["--durability", "journal"]).start()
    with Client(server.port) as c:
        c.ok("event.create", {"id": "E", "layout": {...}})
        replies = c.pipeline([("buy", {"event": "E", "seats": [i]}) for i in range(1000)])
    log = server.stop()          # SIGTERM, bounded wait, returns the whole stderr log
    server.start()               # the same flags again: re-attach, replay, rebuild
    server.kill9()               # SIGKILL, as a crash

Every socket operation and every wait has a timeout. A Server writes its stderr to a file in
its directory (never a pipe, which a chatty server could fill and block on), and log() reads
it. Whatever happens, call close() (or use `with`): it kills the process if it still runs.
Not thread-safe: one Client per thread; a Server belongs to the test's main thread.
"""

import glob
import os
import signal
import socket
import subprocess
import time

import msgpack

TIMEOUT_S = 10

# Stable error codes (net/PROTOCOL.md).
BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, SEAT_TAKEN, HOLD_EXPIRED, HOLD_NOT_FOUND = 1, 2, 3, 4, 5, 6
EVENT_CLOSED, LIMIT_EXCEEDED, BUSY, INTERNAL = 7, 8, 9, 10


def remove_table(shm):
    """Removes a seat table file and its journal staging files (<shm>.log-N), which a server
    makes next to it: a test that made them removes both, or /dev/shm fills run after run."""
    for path in [shm, *glob.glob(glob.escape(shm) + ".log-*")]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RpcError(Exception):
    """An error response: `error` is the map the server sent (code, name, message, ...)."""

    def __init__(self, method, error):
        self.method = method
        self.error = error
        super().__init__(f"{method}: {error}")

    @property
    def code(self):
        return self.error.get("code")


class Client:
    """One connection. call() is one request and its response; pipeline() sends many requests
    with at most `window` unanswered and returns the responses in request order."""

    def __init__(self, port, host="127.0.0.1", timeout_s=TIMEOUT_S):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                         max_buffer_size=64 << 20)
        self.msgid = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.sock.close()

    def _next_id(self):
        self.msgid = (self.msgid + 1) & 0xFFFFFFFF
        return self.msgid

    def request_bytes(self, method, params, msgid=None):
        if msgid is None:
            msgid = self._next_id()
        return msgid, msgpack.packb([0, msgid, method, params], use_bin_type=True)

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_message(self):
        """The next message from the server (a response or a notification)."""
        while True:
            for message in self.unpacker:
                return message
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed by server")
            self.unpacker.feed(data)

    def read_response(self):
        while True:
            message = self.read_message()
            if message[0] == 1:
                return message

    def call(self, method, params=None):
        """(error, result) of one request."""
        msgid, data = self.request_bytes(method, params or {})
        self.send_raw(data)
        response = self.read_response()
        if response[1] != msgid:
            raise AssertionError(f"response {response[1]} for request {msgid}: {response}")
        return response[2], response[3]

    def ok(self, method, params=None):
        """The result of one request; RpcError if the server answered an error."""
        error, result = self.call(method, params)
        if error is not None:
            raise RpcError(method, error)
        return result

    def pipeline(self, requests, window=128, on_response=None):
        """Sends (method, params) pairs keeping at most `window` unanswered (stay below the
        server's --max-inflight and its held-reply limit). Returns [(error, result), ...] in
        request order, or, with `on_response(index, error, result)`, calls it as each arrives
        and returns None. Responses are matched by msgid (they may come out of order)."""
        results = None if on_response is not None else [None] * len(requests)
        pending = {}
        sent = 0
        done = 0
        while done < len(requests):
            if sent < len(requests) and len(pending) < window:
                batch = []
                while sent < len(requests) and len(pending) < window:
                    method, params = requests[sent]
                    msgid, data = self.request_bytes(method, params)
                    pending[msgid] = sent
                    batch.append(data)
                    sent += 1
                self.send_raw(b"".join(batch))
            response = self.read_response()
            index = pending.pop(response[1])
            if on_response is not None:
                on_response(index, response[2], response[3])
            else:
                results[index] = (response[2], response[3])
            done += 1
        return results


class Server:
    """One boxofficed process, restartable with the same flags.

    `directory` holds its log files; `args` are its flags (--listen is added: a fixed port
    chosen once, so restarts keep it); `env`, if given, maps environment variables set for the
    process on top of the test's own environment."""

    def __init__(self, binary, directory, args, port=None, env=None):
        self.binary = binary
        self.directory = directory
        self.args = list(args)
        self.env = dict(env) if env else None
        self.port = port or free_port()
        self.process = None
        self.starts = 0
        self.log_path = None
        os.makedirs(directory, exist_ok=True)

    @property
    def argv(self):
        # BOXOFFICE_TEST_LAUNCHER: a command the server runs under (e.g. tests/support/deny_uring).
        launcher = os.environ.get("BOXOFFICE_TEST_LAUNCHER", "").split()
        return [*launcher, self.binary, "--listen", f"127.0.0.1:{self.port}", *self.args]

    def start(self, timeout_s=60):
        """Starts the process and waits until it says it listens and accepts a connection;
        RuntimeError (with the log) if it exits first or is not listening within timeout_s.
        Returns self."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.wait_port_closed()
        self.starts += 1
        self.log_path = os.path.join(self.directory, f"boxofficed-{self.starts}.log")
        with open(self.log_path, "wb") as log:
            env = {**os.environ, **self.env} if self.env else None
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"boxofficed exited {self.process.returncode}:\n{self.log()}")
            # The log line first: a connection alone could reach the socket of a process
            # killed a moment ago (see wait_port_closed).
            if "boxofficed listening on" in self.log():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    pass
            time.sleep(0.01)
        self.kill9()
        raise RuntimeError(f"boxofficed not listening after {timeout_s} s:\n{self.log()}")

    def wait_port_closed(self, timeout_s=TIMEOUT_S):
        """Waits until nothing accepts connections on the port. A process killed while its
        listening sockets sat in io_uring requests leaves them to the kernel's deferred ring
        teardown: for a moment after the process is gone they still accept connections (which
        are then reset), and SO_REUSEPORT would share new connections with them."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"port {self.port} still accepts connections {timeout_s} s "
                                   "after the server stopped")
            time.sleep(0.005)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log(self):
        """The stderr of the current (or last) run."""
        if self.log_path is None:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout_s=30, check=True):
        """SIGTERM, then wait (SIGKILL past timeout_s, and AssertionError). Returns the log.
        With `check`, an exit status other than 0 (a sanitizer's report, a failed drain) is an
        AssertionError carrying the log."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT_S)
                raise AssertionError(f"boxofficed ignored SIGTERM for {timeout_s} s:\n{self.log()}")
            if check and self.process.returncode != 0:
                raise AssertionError(f"boxofficed exited {self.process.returncode} after SIGTERM:"
                                     f"\n{self.log()}")
        return self.log()

    def kill9(self):
        """SIGKILL (a crash) and reap. Returns the log."""
        if self.running():
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=TIMEOUT_S)
        self.wait_port_closed()
        return self.log()

    def close(self):
        """Kills the process if it still runs; safe to call more than once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT_S)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def client(self):
        return Client(self.port)
