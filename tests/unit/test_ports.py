"""Ports for test servers come from below the kernel's ephemeral range: a connection's local
port never is one, so no client (not even one reconnecting to that very port, which can end
up connected to itself) can hold it when the server binds it, or binds it again on a restart.
Main's ports came from bind(("127.0.0.1", 0)), inside the range."""

from __future__ import annotations

import socket

from torbit.testing.ports import LOWEST, ephemeral_range, free_port


def test_free_ports_are_outside_the_range_connections_take_theirs_from() -> None:
    low, high = ephemeral_range()
    assert low < high
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST <= port < low for port in ports), sorted(ports)
    assert len(ports) > 1  # chosen at random, not one fixed port
    with socket.socket() as s:  # and free
        s.bind(("127.0.0.1", ports.pop()))

