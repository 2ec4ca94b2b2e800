"""`flow.reset` of a transport aborted already: a WebSocket dropped for not reading is cut
when its close times out, and again when its grace is over (http/ws.py). On uvloop the
second raised ValueError ("negative file descriptor") in a loop callback: a traceback in
the log per dropped client, at the client's will. Under both loops it is a no-op now."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import pytest
import uvloop

from torbit.frontends.flow import reset


async def reset_after_abort() -> None:
    accepted: asyncio.Future[asyncio.Transport] = asyncio.get_running_loop().create_future()

    class Held(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(cast(asyncio.Transport, transport))  # uvloop's is no subclass

    server = await asyncio.get_running_loop().create_server(Held, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        transport = await accepted
        reset(transport)
        await asyncio.sleep(0.01)  # the abort has run: the socket is closed
        reset(transport)  # raised ValueError on uvloop
    finally:
        writer.transport.abort()
        server.close()  # not waited for: uvloop's waits for connections the test does not own


@pytest.mark.parametrize("runner", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_transport_reset_twice_raises_nothing(runner: Callable[..., None]) -> None:
    runner(reset_after_abort())
