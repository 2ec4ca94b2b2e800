"""An HTTP connection the limits refuse is answered before uvicorn's protocol is made for it
(frontends/http/doorman.py): a reconnect storm refused by `limits.connection_rate` cost
~80 µs a connection, most of it a protocol built and a request parsed to write one error
(attack14, churn: bench/JOURNAL.md). Counted: protocols made, answers and their statuses,
the refusals' metric; a head split anywhere is still answered once whole, and a refused
connection that says nothing is closed unanswered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.security.http_attack import REMOTE, open_from, read_response
from torbit.app import App
from torbit.frontends.http import doorman, guard

RATE = 0.1  # a token every 10 s: none comes back while the connections below are made
BURST = 3
REQUEST = b"GET /readyz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"


def count_protocols(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made = [0]
    init = guard.GuardedHttpTools.__init__

    def counting(self: guard.GuardedHttpTools, *args: Any, **kwargs: Any) -> None:
        made[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(guard.GuardedHttpTools, "__init__", counting)
    return made


async def status_of(app: App, pieces: list[bytes]) -> tuple[int, bytes]:
    """Send a request in `pieces` (a read each), then read its answer: status and body."""
    reader, writer = await open_from(app, REMOTE)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)  # apart, so the server reads them apart
        status, _head = await read_response(reader)
        body = await reader.read() if status else b""
        return status, body
    finally:
        writer.close()


async def test_a_refused_connection_gets_its_answer_and_no_protocol(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": BURST})
    made = count_protocols(monkeypatch)
    storm = 30
    answers = await asyncio.gather(*(status_of(app, [REQUEST]) for _ in range(storm)))
    statuses = sorted(s for s, _ in answers)
    assert statuses == [200] * BURST + [429] * (storm - BURST), statuses
    assert made[0] == BURST
    body = next(b for s, b in answers if s == 429)
    error = json.loads(body)["error"]
    assert error["code"] == "rate_limited"
    assert "too many new connections from your address (limit 0.1 a second)" in error["message"]
    assert app.metrics.refused_on("http", "rate")._value.get() == storm - BURST


@pytest.mark.parametrize("cut", [1, 20, len(REQUEST) - 3, len(REQUEST) - 2, len(REQUEST) - 1])
async def test_a_refused_head_split_anywhere_is_answered_once_whole(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, cut: int
) -> None:
    """Answered when its head's end is read, not at its deadline (put out of reach here)."""
    monkeypatch.setattr(doorman, "REFUSED_TIMEOUT", 3600.0)
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": 1})
    assert (await status_of(app, [REQUEST]))[0] == 200  # the burst
    status, _ = await status_of(app, [REQUEST[:cut], REQUEST[cut:]])
    assert status == 429


async def test_a_refused_connection_that_says_nothing_is_closed_unanswered(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": 1})
    assert (await status_of(app, [REQUEST]))[0] == 200
    reader, writer = await open_from(app, REMOTE)
    async with asyncio.timeout(15):
        assert await reader.read() == b""  # closed (after guard.REFUSED_TIMEOUT), no answer
    writer.close()
    assert app.metrics.refused_on("http", "rate")._value.get() == 1


async def test_a_stop_cuts_a_refused_connection_unanswered(make_server: ServerFactory) -> None:
    """A refused connection whose head has begun is answered once it is whole or its
    deadline comes; a stop cuts it first (no answer: the stop does not wait for it)."""
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": 1})
    assert (await status_of(app, [REQUEST]))[0] == 200
    reader, writer = await open_from(app, REMOTE)
    writer.write(REQUEST[:10])  # a head begun, never finished
    while app.metrics.refused_on("http", "rate")._value.get() == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # its bytes read (were they not, the test would pass regardless)
    await app.stop()
    assert await reader.read() == b""
    writer.close()


async def test_through_a_trusted_proxy_the_guard_refuses_and_counts_per_client(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy's connections are not the doorman's to refuse (the client is in the head):
    the guard refuses the client past its burst, counted as the doorman's refusals are."""
    app = await make_server(
        limits={"connection_rate": RATE, "connection_burst": 1},
        http={"trusted_proxies": [f"{REMOTE}/32"]},
    )
    made = count_protocols(monkeypatch)
    via = REQUEST.replace(b"\r\n\r\n", b"\r\nx-forwarded-for: 203.0.113.5\r\n\r\n")
    statuses = [(await status_of(app, [via]))[0] for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert made[0] == 3
    assert app.metrics.refused_on("http", "rate")._value.get() == 2
