"""attack60 on one node (SQLite): a node's wall clock stepped while a long poll waits or a
WebSocket streams (floor59's reads by the store's time), and while a mute runs (clock58)
through IRC's PRIVMSG and NOTICE and the WebSocket."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import texts
from tests.helpers.moderation import Ws, api, open_hall
from tests.integration.test_token_clock_step import step_wall_clock


async def test_a_message_sent_after_the_node_s_clock_stepped_back_is_read_as_streamed(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#hall made; the node's wall clock steps 2 minutes back (NTP setting right a clock
    that ran fast); bob sends by HTTP while alice's long poll (`/receive?wait=10`) waits and
    carol's WebSocket streams #hall: each sees it once, and so does a page of history."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await open_hall(await make_server(), "dave")
    carol = await Ws.open(app, "carol")
    await carol.subscribe("hall")
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        r = await alice.get("/receive/hall/alice")
        assert r.status_code == 200, r.text
        jump[0] = -timedelta(minutes=2)
        poll = asyncio.create_task(alice.get("/receive/hall/alice", params={"wait": 10}))
        await asyncio.sleep(0.2)  # parked (the poll answers what comes either way)
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "after the step"})
        assert r.status_code == 201, r.text
        got = (await poll).json()
        await carol.next("message", "after the step")
        r = await alice.get("/receive/hall/alice")
        again = texts(r.json())
        page = await alice.get("/api/v1/rooms/hall/messages")
    await carol.close()
    shown = [m["text"] for m in page.json()["messages"]]
    print(f"long poll {texts(got)}, then {again}; history {shown}; streamed {carol.texts()}")
    assert carol.texts().count("after the step") == 1
    assert texts(got) + again == ["after the step"]
    assert "after the step" in shown
