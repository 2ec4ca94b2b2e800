"""Free loopback ports for servers started by tests and benchmarks (never fixed ports: other
test runs share the machine).

The ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range), which
the kernel only hands out to sockets that ask for any port: a client's connection never gets
one as its local port. A port from that range, free when chosen, could be taken before the
server bound it, or while a server was down for a restart on the same port: by any outgoing
connection, and even by a client reconnecting to that very port (a TCP self-connection: a
socket connected to itself, holding the port until it is closed).

Each pytest-xdist worker draws from its own slice of that range, and a process never hands out
a port twice: two workers once drew the same port a moment apart, and the second server could
not listen (CI, stop 44)."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 16384  # below: well-known and registered services' ports, and torbit's defaults
_random = random.SystemRandom()
_given: set[int] = set()  # ports this process handed out: a server may not have bound one yet


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default when it cannot be read)."""
    try:
        low, high = (int(n) for n in PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def worker_slice(low: int, high: int) -> tuple[int, int]:
    """The part of [low, high) for this pytest-xdist worker (all of it outside xdist)."""
    try:
        index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        return low, high
    if not 0 <= index < count:
        return low, high
    span = (high - low) // count
    return low + index * span, low + (index + 1) * span


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that was free a moment ago, never one the kernel gives connections, nor
    one this process or another xdist worker handed out. Another test run may still take it
    before the caller binds it: callers that can, retry on another port."""
    ephemeral_low, _ = ephemeral_range()
    low, high = worker_slice(LOWEST, ephemeral_low)
    for _ in range(100):
        if high - low < 512:
            break  # a range reaching down to here leaves nothing apart: take any port
        if len(_given) > (high - low) // 2:
            _given.clear()  # the oldest servers are long gone: better than never finding one
        port = _random.randrange(low, high)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # taken (or lingering after a server's close): another
        _given.add(port)
        return port
    with socket.socket() as s:
        s.bind((host, 0))
        any_port: int = s.getsockname()[1]
        return any_port


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
