"""A telnet session moves the read cursor (the one `GET /receive` reads from and the HTTP read
marker shows) only over what it showed: a join shows the newest `history_on_join` messages
(fewer once the read budget is spent), and leaving the room marked it read up to then
(core/comeback.py). probe51 F1: carol reads #den only with `/receive`, dave posts 60 lines,
carol visits on telnet (20 shown) and quits: her next `/receive` returned none of the 60,
40 of them never shown to her anywhere. Now a session that passed unread messages over
leaves the cursor where it was; one that showed all that was unread still marks it read."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client
from tests.helpers.telnet_client import TelnetClient
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


async def test_a_session_dropped_for_not_reading_marks_nothing_read(
    make_server: ServerFactory,
) -> None:
    """carol was shown all that was unread in #den, then stopped reading: dave's lines piled
    up until the door dropped her (`max_output_buffer`). Those it never sent were not read,
    so her cursor stays and `/receive` gives her all of dave's lines (before: none)."""
    app = await make_server(telnet={"max_output_buffer": 16384, "send_buffer": 4096})
    assert app.telnet_port is not None and app.core is not None
    online = app.core.subscriptions.online
    async with http_client(app) as c:
        await _den(app, c)
        r = await c.post("/send/den/dave", content="before", auth=basic("dave"))
        assert r.status_code == 201, r.text
        assert await _received(c) == ["before"]  # her cursor on it
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", app.telnet_port))
        carol = TelnetClient(*await asyncio.open_connection(sock=sock, limit=2**22))
        await carol.login("carol")  # back in #den, nothing unread: shown all
        await carol.expect(r"^\* back in #den")
        carol.writer.transport.pause_reading()  # type: ignore[attr-defined]
        sent = 0
        while "carol" in online("den"):
            r = await c.post(
                "/send/den/dave", content=f"{sent:03d} " + "x" * 3000, auth=basic("dave")
            )
            assert r.status_code == 201, r.text
            sent += 1
            assert sent < 500, "carol was never dropped"
        await gone(app, "carol", "den")
        received = await _received(c)
        assert len(received) == sent and received[0].startswith("000 "), received[:2]
        await carol.close()
