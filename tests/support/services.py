"""Private MariaDB and Redis servers for tests, each in a directory of its own.

The servers are the real ones, started by tools/mariadb.sh and tools/redis.sh, which own every
file under the directory; this module only calls them (and the mariadb / redis-cli clients).
Standard library only, for Debian's /usr/bin/python3. Not thread-safe: one object per thread.

    import tempfile
    from services import PrivateMariadb, PrivateRedis

    with tempfile.TemporaryDirectory(prefix="bx-") as tmp:
        with PrivateMariadb(tmp + "/db") as db, PrivateRedis(tmp + "/redis") as redis:
            db.query("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
            db.query("INSERT INTO t VALUES (1, 'a')")
            assert db.query("SELECT * FROM t") == [["1", "a"]]
            db.kill()        # kill -9; InnoDB recovers on the next start
            db.restart()
            redis.command("SET", "k", "v")

Leaving a `with` block stops the servers, also on an exception. A test process killed with
SIGKILL leaves them running: `tools/mariadb.sh stop --dir DIR` ends one.
Keep directories short: a unix socket path is limited to 107 bytes (the scripts check).
"""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARIADB_SH = REPO / "tools" / "mariadb.sh"
REDIS_SH = REPO / "tools" / "redis.sh"

# Bounds on one script call. A first MariaDB start runs mariadb-install-db (a few seconds) and
# waits up to 60 s for the server to answer; the scripts enforce their own, shorter, limits.
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 120
QUERY_TIMEOUT_S = 60


class ServiceError(RuntimeError):
    """A script or client exited non-zero. Carries its argv, exit status and stderr."""

    def __init__(self, argv, returncode, stderr):
        self.argv = [str(a) for a in argv]
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"{' '.join(self.argv)} exited {returncode}: {stderr.strip()}")


def _run(argv, timeout_s, stdin_text=None):
    """Runs argv, returns its stdout (UTF-8); raises ServiceError on a non-zero exit."""
    done = subprocess.run(
        [str(a) for a in argv],
        input=stdin_text,
        stdin=None if stdin_text is not None else subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise ServiceError(argv, done.returncode, done.stderr)
    return done.stdout


def _unescape_batch_field(field):
    """mariadb -B writes NULL as NULL and escapes \\, tab, newline and NUL; undo that."""
    if field == "NULL":
        return None
    if "\\" not in field:
        return field
    out = []
    chars = iter(field)
    for c in chars:
        if c == "\\":
            c = next(chars, "\\")
            c = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}.get(c, "\\" + c)
        out.append(c)
    return "".join(out)


class _Service:
    """start/stop/kill/restart and the context manager, shared by both services."""

    _script = None

    def __init__(self, dir):
        self.dir = os.path.abspath(os.fspath(dir))
        self._options = ["--dir", self.dir]

    def _call(self, command, timeout_s):
        return _run([self._script, command, *self._options], timeout_s).strip()

    def start(self):
        """Starts the server if it is not running; returns its URL / address."""
        return self._call("start", START_TIMEOUT_S)

    def stop(self):
        """Clean shutdown; a no-op if the server is not running."""
        self._call("stop", STOP_TIMEOUT_S)

    def kill(self):
        """kill -9 the server (fault tests); a no-op if it is not running."""
        self._call("kill", STOP_TIMEOUT_S)

    def restart(self):
        """Stops the server if it runs (cleanly), then starts it; returns the URL / address."""
        self.stop()
        return self.start()

    def running(self):
        """True if the server runs and answers."""
        argv = [str(self._script), "status", *self._options]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=QUERY_TIMEOUT_S).returncode == 0

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            # A start that failed half-way (server up, setup failed) must not leave a server behind.
            self._call_quietly("kill")
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        except (ServiceError, subprocess.TimeoutExpired):
            self._call_quietly("kill")
            if exc_type is None:
                raise
        return False

    def _call_quietly(self, command):
        try:
            self._call(command, STOP_TIMEOUT_S)
        except (ServiceError, subprocess.TimeoutExpired):
            pass


class PrivateMariadb(_Service):
    """A MariaDB server of our own under `dir`: unix socket only, database and user `boxoffice`.

    url is mariadb://boxoffice:<password>@localhost/boxoffice?socket=<dir>/mysqld.sock
    """

    _script = MARIADB_SH

    @property
    def url(self):
        return self._call("url", QUERY_TIMEOUT_S)

    @property
    def socket(self):
        return os.path.join(self.dir, "mysqld.sock")

    def query(self, sql, timeout_s=QUERY_TIMEOUT_S):
        """Runs sql (one or more statements) as user boxoffice on database boxoffice.

        Returns the rows of every result set, in order, each row a list of strings (None for
        NULL; a string 'NULL' reads as None too); [] for statements without a result. Raises
        ServiceError on the first SQL error; the statements before it have run (each in its own
        autocommit transaction unless the sql says otherwise).
        """
        out = _run([MARIADB_SH, "sql", *self._options], timeout_s, stdin_text=sql)
        return [[_unescape_batch_field(f) for f in line.split("\t")]
                for line in out.split("\n") if line != ""]


class PrivateRedis(_Service):
    """A redis-server of our own under `dir`: unix socket <dir>/redis.sock, and TCP on
    127.0.0.1:port if a port is given. No persistence: a restart, or a kill, empties it."""

    _script = REDIS_SH

    def __init__(self, dir, port=None):
        super().__init__(dir)
        self.port = port
        if port:
            self._options += ["--port", str(port)]

    @property
    def address(self):
        """unix:<dir>/redis.sock, or 127.0.0.1:<port> when started with a port."""
        return self._call("url", QUERY_TIMEOUT_S)

    @property
    def socket(self):
        return os.path.join(self.dir, "redis.sock")

    def command(self, *args, timeout_s=QUERY_TIMEOUT_S):
        """Runs one command with redis-cli; returns its raw reply text without the final newline.

        An array reply comes back as its elements joined by newlines; nil and "" both read as "".
        An error reply raises ServiceError.
        """
        out = _run(["redis-cli", "-e", "-s", self.socket, *args], timeout_s)
        return out[:-1] if out.endswith("\n") else out
