#!/usr/bin/python3
"""What one kind of hostile client costs the legitimate ones: a probe for bench/README.md
("Hostile clients"). Starts a boxofficed with the flags of tests/reliability/
hostile_clients_test.py, measures the two legitimate open-loop loads (holds at 4,000/s over
msgpack-rpc and 1,000/s over HTTP, 8 connections each) on the quiet server, then again while
tests/reliability/hostile_clients.py runs the chosen kinds, and prints each load's p99 (the
median of its per-second p99s) quiet and attacked, and every attacked second's p99 in order.

    bench/hostile_probe.py [--build DIR] [--kinds a,b] [--scale 2] [--seconds 20] [--decoy]

--decoy aims the attack at a second boxofficed instead (the legitimate loads stay on the
first): what sharing the machine with the attack costs them, apart from the server's own work.
Loopback only; bounded by --seconds; everything it starts is stopped at the end."""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from boxoffice_client import Client, Server, free_port, remove_table  # noqa: E402

TIMEOUT_S = 5  # the hostile test's --idle-timeout-ms and --http-timeout-s


def start_server(build, directory, name):
    shm = f"/dev/shm/boxoffice-probe-{os.getpid()}-{name}"
    http_port = free_port()
    server = Server(os.path.join(build, "tools", "boxofficed"), os.path.join(directory, name),
                    ["--http", f"127.0.0.1:{http_port}", "--admin", "off", "--workers", "2",
                     "--http-threads", "1", "--durability", "memory", "--shm", shm,
                     "--data-dir", os.path.join(directory, name + "-data"),
                     "--max-connections", "4000", "--http-connections-max", "4000",
                     "--idle-timeout-ms", str(TIMEOUT_S * 1000),
                     "--http-timeout-s", str(TIMEOUT_S), "--max-output-bytes", str(64 << 10)])
    server.start()
    with Client(server.port) as client:
        client.ok("event.create", {"id": "H", "layout": {"venue": "V", "zones": [
            {"id": 1, "price_cents": 100, "capacity": 100_000}]}})
    return server, http_port, shm


def legit(build, rpc_port, http_port, seconds):
    """Both legitimate loads side by side; returns {target: (median p99 us, [p99 per second])}."""
    runs = []
    for target, port, rate in (("boxoffice", rpc_port, 4000), ("http", http_port, 1000)):
        runs.append((target, subprocess.Popen(
            [os.path.join(build, "tools", "boxoffice-load"), "--target", target,
             "--addr", f"127.0.0.1:{port}", "--event", "H", "--scenario", "hold",
             "--hold-ttl-ms", "250", "--connections", "8", "--rate", str(rate),
             "--warmup", "0.5", "--duration", str(seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    result = {}
    for target, process in runs:
        output, _ = process.communicate(timeout=seconds + 60)
        if process.returncode != 0:
            sys.exit(f"boxoffice-load failed:\n{output}")
        per_second = [float(m) for m in re.findall(r"^\[\s*\d+s\].* p99 ([\d.]+) us$",
                                                   output, re.M)][1:]
        result[target] = (statistics.median(per_second), per_second)
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    p.add_argument("--kinds", default="", help="hostile_clients.py kinds (default: all)")
    p.add_argument("--scale", default="2")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--decoy", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        started = []
        try:
            server, http_port, shm = start_server(args.build, directory, "server")
            started.append((server, shm))
            target = (server.port, http_port)
            if args.decoy:
                decoy, decoy_http_port, decoy_shm = start_server(args.build, directory, "decoy")
                started.append((decoy, decoy_shm))
                target = (decoy.port, decoy_http_port)
            legit(args.build, server.port, http_port, 3)  # page faults, warm caches
            quiet = legit(args.build, server.port, http_port, args.seconds)
            driver = [sys.executable, os.path.join(ROOT, "tests", "reliability",
                                                   "hostile_clients.py"),
                      "--rpc-port", str(target[0]), "--http-port", str(target[1]),
                      "--event", "H", "--active-s", str(args.seconds + 4), "--quiet-s", "1",
                      "--scale", args.scale, "--report", os.path.join(directory, "h.json")]
            if args.kinds:
                driver += ["--kinds", args.kinds]
            attack = subprocess.Popen(driver, stdout=subprocess.DEVNULL)
            try:
                time.sleep(1.5)  # the hostile connections are open
                attacked = legit(args.build, server.port, http_port, args.seconds)
            finally:
                attack.wait(timeout=args.seconds + 60)
            for name in ("boxoffice", "http"):
                q, a = quiet[name][0], attacked[name][0]
                print(f"{name:9s} p99 quiet {q:6.0f} us, attacked {a:6.0f} us ({a / q:.2f}x); "
                      f"attacked seconds: {[int(x) for x in attacked[name][1]]}")
        finally:
            for server, shm in started:
                server.close()
                remove_table(shm)


if __name__ == "__main__":
    main()
