"""The HTTP door's log is not the client's to write. uvicorn logged a WARNING for every
request carrying an `Upgrade` other than to a WebSocket (`Upgrade: h2c`, answered as a plain
request), and for every request its parser refused: one connection, no account, wrote 500
lines with 500 requests (stop 48), flushing the operator's history out of the rotated log.
Each is counted now in the door's log summary (tally.py): the first of a quiet spell told
with its address, the rest summed up; the requests are answered as before."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import ServerFactory
from tests.integration.test_http_guard import connections, error_of, open_http, response

__all__ = ["connections"]  # the fixture, used by name

REQUESTS = 60
UPGRADE = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
MALFORMED = b"GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"


def about_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines of uvicorn's or torbit's loggers that a client's odd request wrote."""
    words = ("upgrade", "invalid http", "odd request", "malformed")
    return [
        f"{r.name} {r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith(("uvicorn", "torbit"))
        and any(w in r.getMessage().lower() for w in words)
    ]


async def test_odd_requests_are_counted_not_logged_each(
    make_server: ServerFactory,
    connections: list[asyncio.StreamWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    app = await make_server()
    reader, writer = await open_http(app, connections)
    for _ in range(REQUESTS):  # one kept-alive connection, each request answered as it is
        writer.write(UPGRADE)
        status, _body = await response(reader)
        assert status == 200
    for _ in range(REQUESTS // 6):  # a connection each: the parser refuses, the guard answers
        reader, writer = await open_http(app, connections)
        writer.write(MALFORMED)
        assert await error_of(reader) == (400, "bad_request")
    told = about_requests(caplog)
    assert len(told) == 1, told  # the spell's first, with its address
    assert "127.0.0.1" in told[0] and "WARNING" not in told[0], told
    await app.stop()  # what was counted and not told yet is told at a stop
    told = about_requests(caplog)
    assert len(told) == 2, told
    summed = told[1]
    assert f"{REQUESTS + REQUESTS // 6 - 1} more" in summed and "127.0.0.1" in summed, told
    assert "malformed" in summed and "Upgrade" in summed, told
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors  # (uvicorn reads its logger's `level` on every connection)
