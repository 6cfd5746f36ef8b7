#!/usr/bin/env python3
"""Watch a test host's process list and listening sockets while a converge runs.

    SECRET_PREFIX=canary- proc_sampler.py OUT WATCH PORT_MIN PORT_MAX

Every 50 ms it reads each process's command line (/proc/PID/cmdline, what
any local user can read) and the listening TCP sockets (/proc/net/tcp,
tcp6). On SIGTERM it writes a summary to OUT, which never holds a command
line itself, so a leaked secret is counted, not copied:
  samples              how many times it looked
  watched              command lines seen that contain WATCH (proof it saw them)
  leaks                command lines seen that contain SECRET_PREFIX (given in
                       the environment, so that no command line holds it)
  listeners_in_range   "address:port" listening on PORT_MIN..PORT_MAX
"""

import ipaddress
import json
import os
import signal
import sys
import time

out, watch, port_min, port_max = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
secret = os.environ["SECRET_PREFIX"]
seen: set[str] = set()
listeners: set[str] = set()
samples = 0


def address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # /proc/net/tcp6 stores four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return f"[{ipaddress.IPv6Address(words).compressed}]"


def sample() -> None:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    line = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                continue
            if line:
                seen.add(line)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            host, port = local.rsplit(":", 1)
            if state == "0A" and port_min <= int(port, 16) <= port_max:
                listeners.add(f"{address(host)}:{int(port, 16)}")


def finish(*_args) -> None:
    summary = {
        "samples": samples,
        "watched": sum(watch in line for line in seen),
        "leaks": sum(secret in line for line in seen),
        "listeners_in_range": sorted(listeners),
    }
    with open(out, "w") as f:
        json.dump(summary, f)
    sys.exit(0)


signal.signal(signal.SIGTERM, finish)
while True:
    sample()
    samples += 1
    time.sleep(0.05)
