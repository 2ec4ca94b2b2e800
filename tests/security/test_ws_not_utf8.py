"""A WebSocket text message that is not UTF-8, from a client with no account (the socket is
accepted before its auth frame): uvicorn closes it with 1007, and logged an ERROR with a
traceback for each, 136 in 8 s from one address with the default limits. Now it is counted
in the door's summary of odd requests (tally.py), as uvicorn's warnings for requests any
client can write are (tests/security/test_http_log_flood.py): the first of a quiet spell
told with its address, the rest summed up."""

from __future__ import annotations

import logging

import pytest

from tests.security.conftest import closed, ws_from
from torbit.app import App

CONNECTIONS = 12


def about_utf8(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name} {r.levelname} {r.getMessage()}"
        for r in caplog.records
        if "utf-8" in r.getMessage().lower()
    ]


async def test_text_that_is_not_utf8_is_closed_1007_and_counted(
    server: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for i in range(CONNECTIONS):
        ws = await ws_from(server, {})  # anonymous: its auth frame is still awaited
        payload = b'{"type": "auth", "token": "\xff"}' if i % 2 else b"\xc3("
        await ws.send(payload, text=True)  # sent as it is: websockets does not check it
        code, _reason, frames = await closed(ws)
        assert (code, frames) == (1007, [])
    told = about_utf8(caplog)
    assert len(told) == 1, told  # the spell's first, with its address
    assert told[0].startswith("torbit.http INFO") and "127.0.0.1" in told[0], told
    await server.stop()  # what was counted and not told yet is told at a stop
    told = about_utf8(caplog)
    assert len(told) == 2 and f"{CONNECTIONS - 1} more" in told[1], told
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
