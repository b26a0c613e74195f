"""What /proc says about a process, for the reliability tests: descriptors, resident memory, and
whether it runs under AddressSanitizer (whose own memory and speed are not the server's); and
stopping a process for certain."""

import os
import signal
import time


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def under_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line for line in f)


def thread_states(pid):
    """The state letter of each thread of `pid` (R, S, T, ...), from /proc/<pid>/task/*/stat."""
    states = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                # The command name may hold spaces and parentheses: the state follows the last ')'.
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:
            pass  # the thread ended meanwhile
    return states


def stop_process(pid, timeout_s=10.0):
    """SIGSTOP `pid` and return once every one of its threads is stopped.

    kill() returns before that: the kernel wakes one thread, which stops the others when it gets
    to run, so on a busy machine the rest may go on serving for a while after kill() returns."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout_s
    while not all(state in ("T", "t") for state in thread_states(pid)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} still not stopped {timeout_s} s after SIGSTOP: "
                               f"{thread_states(pid)}")
        time.sleep(0.001)
