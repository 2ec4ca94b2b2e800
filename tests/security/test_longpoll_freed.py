"""A long poll's listener (`Wakeup`) stayed in the hub after its wait: `Hub.exit` took the
room out of its list of channels but left the empty list, keyed by the listener, for ever.
Each parked `GET /receive?wait=` kept ~1 KB (the listener, its event, its client, the messages
that woke it): found as node B's steady growth in the two-node soak (8,000 listeners in 12
minutes), and any client polling a quiet room with short waits grows the server without
bound. Counted, not timed: after polls that time out and polls woken by a message, no
listener is left."""

from __future__ import annotations

import asyncio
import gc

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, eventually, http_client
from torbit.core.wakeup import Wakeup

POLLS = 20


def listeners_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Wakeup))


async def test_long_polls_leave_nothing_behind(make_server: ServerFactory) -> None:
    app = await make_server()
    core = app.core
    assert core is not None
    for name in ("poller", "talker"):
        await core.accounts.register(name, PASSWORD)
    async with http_client(app) as c:
        for name in ("poller", "talker"):  # each joins the default room with a first read
            assert (await c.get(f"/receive/lobby/{name}", auth=basic(name))).status_code == 200
        before = listeners_alive()
        for _ in range(POLLS):  # a quiet room: each poll waits, then answers empty
            r = await c.get("/receive/lobby/poller", params={"wait": 0.05}, auth=basic("poller"))
            assert r.status_code == 200 and r.json()["messages"] == []
        listening = core.subscriptions.listener_count("lobby")
        for i in range(POLLS):  # parked, then woken by a message
            poll = asyncio.create_task(
                c.get("/receive/lobby/poller", params={"wait": 30}, auth=basic("poller"))
            )
            await eventually(lambda: core.subscriptions.listener_count("lobby") > listening)
            sent = await c.post(
                "/send/lobby/talker",
                content=f"hi {i}",
                auth=basic("talker"),
                headers={"content-type": "text/plain"},
            )
            assert sent.status_code == 201
            r = await poll
            assert [m["text"] for m in r.json()["messages"]] == [f"hi {i}"]
        assert listeners_alive() == before, "a long poll's listener was kept after it answered"
