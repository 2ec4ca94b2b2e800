"""A permessage-deflate bomb: 30 MB of one letter, a few KB on the wire once compressed.
The WebSocket's size bound (`http.max_body_bytes`) holds for the inflated message: the
socket is closed with 1009 and nothing is sent, while another client's socket goes on."""

from __future__ import annotations

import json

from tests.helpers.http import register
from tests.helpers.moderation import Ws, api
from tests.security.conftest import basic_header, closed, ws_from
from torbit.app import App


async def test_a_compressed_message_past_the_bound_closes_only_its_socket(server: App) -> None:
    async with api(server, "mallory") as http:
        await register(http, "mallory", "bob")
    bob = await Ws.open(server, "bob")
    await bob.subscribe("lobby")
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    assert ws.response is not None
    assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
    bomb = json.dumps({"type": "send", "room": "lobby", "text": "a" * (30 * 1024 * 1024)})
    await ws.send(bomb)
    code, _, frames = await closed(ws)
    assert code == 1009 and not [f for f in frames if f["type"] == "sent"]
    await bob.send(type="send", room="lobby", text="still here")
    await bob.next("message", "still here")
    assert not [t for t in bob.texts() if t.startswith("aaaa")]
    await bob.close()
