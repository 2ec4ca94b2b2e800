"""Sending to a room one is not a member of, over HTTP or the WebSocket, answered "you are
not a member of #room: /join it first": telnet's command, which neither door has (the HTTP
API joins with PUT .../members/NAME, the WebSocket with `subscribe`). It says "join" now,
a word every door's way of joining fits."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import basic, error_of, http_client, register


async def test_the_refusal_names_no_telnet_command(make_server: ServerFactory) -> None:
    app = await make_server()
    async with http_client(app) as client:
        await register(client, "alice", "erin")
        r = await client.put("/api/v1/rooms/den/members/alice", auth=basic("alice"))
        assert r.status_code in (200, 201, 204), r.text
        r = await client.post("/api/v1/rooms/den/messages", json={"text": "hi"}, auth=basic("erin"))
        said = error_of(r, 403, "forbidden")
        assert said == "you are not a member of #den: join it first", said
