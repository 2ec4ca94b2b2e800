"""Free loopback ports for servers started by tests and benchmarks (never fixed ports: other
test runs share the machine)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port that was free a moment ago. Someone else may take it before the caller
    binds it: callers that can, retry on another port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
