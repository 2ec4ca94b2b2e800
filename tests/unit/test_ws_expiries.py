"""The WebSocket door's one timer for token expiries (ws.Expiries): a socket whose token
expires is closed with 4001, and sockets that end first leave nothing behind (the project
measures idle memory per connection: no entry, timer or task is kept for them)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from torbit.frontends.http.ws_session import EXPIRED, REVOKED, Expiries, WsSession
from torbit.metrics import Metrics


async def test_expired_sockets_are_closed_and_ended_ones_forgotten() -> None:
    metrics = Metrics()
    expiries = Expiries()
    later = timedelta(days=7).total_seconds()  # seconds left
    ended = [WsSession(f"u{i}", 8, metrics) for i in range(1000)]
    for session in ended:
        expiries.add(session, later)
    due = WsSession("due", 8, metrics)
    expiries.add(due, -1.0)
    for session in ended:
        expiries.discard(session)
    assert len(expiries._heap) <= 2 * 1 + 16  # pruned as sockets end, not kept for a week
    async with asyncio.timeout(10):  # the timer set for the earliest expiry fires
        while due.close_reason is None:
            await asyncio.sleep(0.01)
    assert (due.close_code, due.close_reason) == (REVOKED, EXPIRED)
    assert not expiries._deadline and not expiries._heap and expiries._timer is None
    assert all(s.close_reason is None for s in ended)
