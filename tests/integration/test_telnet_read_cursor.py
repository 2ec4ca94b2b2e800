"""A telnet session moves the read cursor (the one `GET /receive` reads from and the HTTP read
marker shows) only over what it showed: a join shows the newest `history_on_join` messages
(fewer once the read budget is spent), and leaving the room marked it read up to then
(core/comeback.py). probe51 F1: carol reads #den only with `/receive`, dave posts 60 lines,
carol visits on telnet (20 shown) and quits: her next `/receive` returned none of the 60,
40 of them never shown to her anywhere. Now a session that passed unread messages over
leaves the cursor where it was; one that showed all that was unread still marks it read."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client
from tests.integration.test_telnet_comeback import command, connect, gone
from torbit.app import App


async def _post(c: httpx.AsyncClient, n: int, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + n):
        r = await c.post("/send/den/dave", content=f"msg {i}", auth=basic("dave"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def _received(c: httpx.AsyncClient) -> list[str]:
    r = await c.get("/receive/den/carol?limit=1000", auth=basic("carol"))
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["messages"]]


async def _marker(c: httpx.AsyncClient) -> Any:
    r = await c.get("/api/v1/rooms/den/read-marker", auth=basic("carol"))
    assert r.status_code == 200, r.text
    return r.json()["last_read_id"]


async def _den(app: App, c: httpx.AsyncClient) -> None:
    """carol and dave, members of #den; carol's next telnet login lands there."""
    for name in ("carol", "dave"):
        r = await c.post("/api/v1/users", json={"name": name, "password": "secret-pw"})
        assert r.status_code == 201, r.text
        r = await c.put(f"/api/v1/rooms/den/members/{name}", auth=basic(name))
        assert r.status_code == 200, r.text
    assert await _received(c) == []


async def _visit(app: App, *, shown: int) -> None:
    """carol logs in over telnet, lands in #den, is shown `shown` lines of dave's, quits."""
    carol = await connect(app, "carol")
    for _ in range(shown):
        await carol.expect(r"<dave> msg \d+$")
    await carol.expect(r"^\* back in #den")
    carol.send("/quit")
    await gone(app, "carol", "den")


async def test_a_telnet_visit_leaves_what_it_did_not_show_to_receive(server: App) -> None:
    async with http_client(server) as c:
        await _den(server, c)
        await _post(c, 60)
        await _visit(server, shown=20)
        assert await _received(c) == [f"msg {i}" for i in range(60)]
        # all unread shown (5 of a join's 20): marked read as before
        await _post(c, 5, start=60)
        await _visit(server, shown=5)
        assert await _received(c) == []


async def test_a_switch_away_from_a_room_whose_join_passed_messages_over_keeps_the_cursor(
    server: App,
) -> None:
    async with http_client(server) as c:
        await _den(server, c)
        r = await c.put("/api/v1/rooms/lobby/members/carol", auth=basic("carol"))
        assert r.status_code == 200, r.text
        await _post(c, 30)
        carol = await connect(server, "carol")  # back in #lobby, its last room
        await command(carol, "/join den", r"<dave> msg 29$")
        await command(carol, "/join lobby", r"^\* you are in #lobby")
        await carol.close()
        await gone(server, "carol", "lobby")
        assert await _received(c) == [f"msg {i}" for i in range(30)]


async def test_a_join_the_read_budget_cut_short_marks_nothing_read(
    make_server: ServerFactory,
) -> None:
    """With 2 messages left of carol's read budget, her join shows 2 of the 5 unread."""
    app = await make_server(limits={"read_rate": 0.0001, "read_burst": 3})
    async with http_client(app) as c:
        await _den(app, c)
        (first,) = await _post(c, 1)
        assert await _received(c) == ["msg 0"]  # her cursor on it; 2 messages of budget left
        await _post(c, 5, start=1)
        await _visit(app, shown=2)
        assert await _marker(c) == first
