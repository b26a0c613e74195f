"""What /proc says about a process, for the reliability tests: descriptors, resident memory, and
whether it runs under AddressSanitizer (whose own memory and speed are not the server's)."""

import os


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def under_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line for line in f)
