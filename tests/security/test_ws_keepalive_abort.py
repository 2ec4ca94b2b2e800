"""A WebSocket client that stops reading with output still unsent to it (pongs of a ping
flood, under the cut's bound), then answers no keepalive ping: uvicorn sends its close frame
and closes the transport, which waits for that output first, forever, since the client takes
none. The connection, its session and the output stayed, and the door's handler went on
waiting (stop 51: CI's ping-flood test hung so on a loaded machine, its client's own writes
stuck behind the server's closed reading). Now it is aborted once its close frame has waited
ws_inbound.CUT_GRACE seconds, and its session ends."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.moderation import api
from tests.security.conftest import basic_header, ws_from
from torbit.frontends.http.ws_inbound import CUT_GRACE

PONGS = 4_000  # ~0.5 MB of pongs: past the kernel's buffers, under the 1 MB cut


async def test_a_client_failing_the_keepalive_with_output_unread_is_aborted(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="torbit")
    server = await make_server(http={"ws_keepalive_seconds": 0.5})
    async with api(server, "mallory") as http:
        await register(http, "mallory")
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws.transport.pause_reading()
    for _ in range(PONGS):
        ws.protocol.send_ping(b"p" * 125)
    ws.transport.write(b"".join(ws.protocol.data_to_send()))
    # no more input, no pong: the keepalive fails after 2 × 0.5 s, then the grace
    async with asyncio.timeout(2 * 0.5 + CUT_GRACE + 10):
        while not any("logout mallory" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.1)
    gone = [r.getMessage() for r in caplog.records if "gone without closing" in r.getMessage()]
    assert gone and "mallory" in gone[0], gone  # the door's handler ended, and says why
    ws.transport.abort()
