"""Ports for test servers come from below the kernel's ephemeral range: a connection's local
port never is one, so no client (not even one reconnecting to that very port, which can end
up connected to itself) can hold it when the server binds it, or binds it again on a restart.
Main's ports came from bind(("127.0.0.1", 0)), inside the range."""

from __future__ import annotations

import socket

import pytest

from torbit.testing.ports import LOWEST, ephemeral_range, free_port, worker_slice


def test_free_ports_are_outside_the_range_connections_take_theirs_from() -> None:
    low, high = ephemeral_range()
    assert low < high
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST <= port < low for port in ports), sorted(ports)
    assert len(ports) > 1  # chosen at random, not one fixed port
    with socket.socket() as s:  # and free
        s.bind(("127.0.0.1", ports.pop()))


def test_a_process_never_hands_out_a_port_twice() -> None:
    """A server may not have bound its port yet when the next test asks for one."""
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_each_xdist_worker_draws_from_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers drew the same port a moment apart: the second server could not listen."""
    low, _ = ephemeral_range()
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    drawn = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        drawn[worker] = {free_port() for _ in range(50)}
    middle = LOWEST + (low - LOWEST) // 2
    assert all(LOWEST <= p < middle for p in drawn["gw0"]), sorted(drawn["gw0"])
    assert all(middle <= p < low for p in drawn["gw1"]), sorted(drawn["gw1"])
    assert worker_slice(100, 200) == (150, 200)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "not-a-worker")
    assert worker_slice(100, 200) == (100, 200)
