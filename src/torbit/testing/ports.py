"""Free loopback ports for servers started by tests and benchmarks (never fixed ports: other
test runs share the machine).

The ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range), which
the kernel only hands out to sockets that ask for any port: a client's connection never gets
one as its local port. A port from that range, free when chosen, could be taken before the
server bound it, or while a server was down for a restart on the same port: by any outgoing
connection, and even by a client reconnecting to that very port (a TCP self-connection: a
socket connected to itself, holding the port until it is closed)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 16384  # below: well-known and registered services' ports, and torbit's defaults
_random = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default when it cannot be read)."""
    try:
        low, high = (int(n) for n in PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that was free a moment ago, never one the kernel gives connections.
    Another test run may still take it before the caller binds it: callers that can, retry on
    another port."""
    low, _ = ephemeral_range()
    for _ in range(100):
        if low - LOWEST < 1024:
            break  # a range reaching down to here leaves nothing apart: take any port
        port = _random.randrange(LOWEST, low)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # taken (or lingering after a server's close): another
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
