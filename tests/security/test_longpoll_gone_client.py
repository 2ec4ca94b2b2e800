"""A long poll whose client has gone (its own timeout shorter than `wait`, a proxy's, a
closed tab) is not answered: the message that wakes it stays for the next `/receive`.
Before, the parked request woke, moved the read cursor over the message and wrote the page
to a closed connection: the message was never returned by `/receive` again."""

from __future__ import annotations

import asyncio
import base64

from tests.helpers.http import PASSWORD, basic, eventually, http_client
from tests.integration.test_telnet_read_cursor import _den, _received
from torbit.app import App


async def test_a_message_that_wakes_a_poll_whose_client_left_is_kept(server: App) -> None:
    assert server.http_port is not None and server.core is not None
    async with http_client(server) as c:
        await _den(server, c)
        waiting = server.core.subscriptions.listener_count
        _, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        auth = "Basic " + base64.b64encode(f"carol:{PASSWORD}".encode()).decode()
        writer.write(
            f"GET /receive/den/carol?wait=20 HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}"
            "\r\n\r\n".encode()
        )
        await writer.drain()
        await eventually(lambda: waiting("den") > 0)  # parked
        writer.close()  # its client gives up
        await writer.wait_closed()
        await asyncio.sleep(0)
        r = await c.post("/send/den/dave", content="while she was away", auth=basic("dave"))
        assert r.status_code == 201, r.text
        await eventually(lambda: waiting("den") == 0)  # the poll is over
        assert await _received(c) == ["while she was away"]


async def test_a_poll_whose_client_left_gives_its_slot_back(server: App) -> None:
    """The parked polls of a closed tab held the user's slots (`long_polls_per_user`: 8)
    until their wait ran out, so the reloaded page's polls were refused 429 for up to 30 s."""
    assert server.http_port is not None and server.core is not None
    async with http_client(server) as c:
        await _den(server, c)
        waiting = server.core.subscriptions.listener_count
        auth = "Basic " + base64.b64encode(f"carol:{PASSWORD}".encode()).decode()
        writers = []
        for _ in range(8):  # the per-user bound, every slot taken by one closed tab
            _, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
            writer.write(
                f"GET /receive/den/carol?wait=30 HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}"
                "\r\n\r\n".encode()
            )
            await writer.drain()
            writers.append(writer)
        await eventually(lambda: waiting("den") == 8)  # parked
        full = await c.get("/receive/den/carol?wait=1", auth=basic("carol"))
        assert full.status_code == 429, full.text
        for writer in writers:  # the tab is closed
            writer.close()
            await writer.wait_closed()
        await eventually(lambda: waiting("den") == 0)  # well before their 30 s
        r = await c.get("/receive/den/carol?wait=1", auth=basic("carol"))
        assert r.status_code == 200, r.text
