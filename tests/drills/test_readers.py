"""Slow and stuck readers drill, short versions: 200 healthy readers plus 20 that never read,
embedded, and on two nodes of a postgres-kafka cluster (half the healthy readers on the node
without the sender). The long version: `bench/drills.py readers --healthy 1000 --stuck 50`."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.drills.clients import StuckWebSocket, register_http
from tests.drills.harness import Report, ServerProcess
from tests.drills.readers import readers_drill


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_stuck_readers_are_dropped_and_healthy_ones_get_everything(
    embedded_node: ServerProcess, report: Callable[[Report], None]
) -> None:
    r = await readers_drill(embedded_node, healthy=200, stuck=20)
    report(r)
    assert r.extra["stuck_dropped"] == 20  # each with its reason in the app log
    assert r.extra["healthy_dropped"] == 0
    assert r.lost == 0
    assert r.extra["rss_growth_ok"]  # a correctness bound: < 200 MB, not a timing


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_stuck_readers_on_a_cluster_are_dropped_and_healthy_ones_get_everything(
    two_nodes: tuple[ServerProcess, ServerProcess], report: Callable[[Report], None]
) -> None:
    a, b = two_nodes
    r = await readers_drill(a, other=b, healthy=100, stuck=12, rate=40, size=3000)
    report(r)
    assert r.extra["stuck_dropped"] == 12
    assert r.extra["healthy_dropped"] == 0
    assert r.lost == 0  # on both nodes
    assert r.extra["rss_growth_ok"]


async def test_a_websocket_client_that_vanishes_is_logged(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """A stuck WebSocket reader at a low message rate is cut by the keepalive pings, not by
    its queue; like any client gone without a close frame, that leaves a line in the log."""
    app = await make_server()
    assert app.http_port is not None
    await register_http(f"http://127.0.0.1:{app.http_port}", ["vanisher"])
    ws = await StuckWebSocket.open(app.http_port, "vanisher", "lobby")
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()  # a reset, no close frame
    log = tmp_path / "logs" / "torbit.log"
    async with asyncio.timeout(10):
        while "WebSocket client vanisher gone without closing" not in log.read_text():
            await asyncio.sleep(0.05)
