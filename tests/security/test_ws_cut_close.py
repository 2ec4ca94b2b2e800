"""A WebSocket client cut off for not reading its output (a ping flood: the pongs pile up
past the bound, tests/security/test_ws_ping_flood.py) was aborted: the app saw 1006 and the
client a reset, which also threw away what it had not read. Now a close frame 1008 goes
behind the unsent pongs, the client's input is read and dropped (a socket closed with unread
input sends a reset), and a client that reads within the grace gets the frame's reason."""

from __future__ import annotations

import asyncio

from tests.helpers.http import register
from tests.helpers.moderation import api
from tests.security.conftest import basic_header, ws_from
from torbit.app import App


async def test_a_cut_client_that_reads_late_is_told_why(server: App) -> None:
    async with api(server, "mallory") as http:
        await register(http, "mallory")
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    ws.transport.pause_reading()
    payload = b"p" * 125
    sent = 0
    # as tests/security/test_ws_ping_flood.py: far past the cut, the kernels' buffers too
    while sent < 26_000_000 and not ws.transport.is_closing():
        for _ in range(1000):
            ws.protocol.send_ping(payload)
        data = b"".join(ws.protocol.data_to_send())
        ws.transport.write(data)
        sent += len(data)
        while ws.transport.get_write_buffer_size() > 1 << 20 and not ws.transport.is_closing():
            await asyncio.sleep(0.01)
    ws.transport.resume_reading()
    async with asyncio.timeout(30):
        await ws.wait_closed()
    # on main: 1006, the reset (and the pongs not yet read lost with it)
    assert (ws.close_code, ws.close_reason) == (1008, "not reading its output")
