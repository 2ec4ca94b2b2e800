"""A right taken away through another door while a read of the room is under way (HTTP, and
the history a WebSocket's subscribe shows).

A read checks the reader's membership (and the client against the room's ban masks) and then
reads the log. `GET /receive` checked again once the page was read (stop 49: a kick applied
during a Kafka read let a page through), but not its ban masks; and `GET .../messages`
(history, also telnet `/history` and IRC `CHATHISTORY`) checked nothing after its read. A kick
or ban on telnet, or a ban mask matching the reader's address, that landed meanwhile let the
page through: it held a message the room's owner posted after the kick was answered.

The read is held at the log (the message log's `read`, as test_room_deletion_cluster.py holds
a publish) while the owner acts on telnet and posts; then it goes on."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.http import register
from tests.security.conftest import OWNER, basic_header, http_from, telnet_login, ws_from
from torbit.app import App

AFTER = "posted after you were put out"


async def hall(app: App) -> None:
    """owner's #hall, with mal a member whose read cursor is at its end."""
    async with http_from(app) as c:
        await register(c, "owner", "mal")
        for name in ("owner", "mal"):
            r = await c.put(f"/api/v1/rooms/hall/members/{name}", headers=basic_header(name))
            assert r.status_code == 200, r.text
        r = await c.post("/send/hall/owner", content="before", headers=basic_header("owner"))
        assert r.status_code == 201, r.text
        r = await c.get("/receive/hall/mal", headers=basic_header("mal"))
        assert [m["text"] for m in r.json()["messages"]] == ["before"]


def held_read(app: App, monkeypatch: pytest.MonkeyPatch) -> HeldCall:
    """The message log's next read of #hall, held once it has reached the log."""
    assert app.core is not None
    return HeldCall(
        monkeypatch,
        app.core.message_log,
        "read",
        when=lambda channel, *_, **__: channel == "hall",
        once=True,
    )


@pytest.mark.parametrize(
    ("route", "command", "told"),
    [
        ("/api/v1/rooms/hall/messages", "/kick mal", r"^\* mal was kicked from #hall"),
        ("/api/v1/rooms/hall/messages", "/ban mal", r"^\* mal was banned from #hall"),
        ("/api/v1/rooms/hall/messages", "/ban *!*@127.0.0.1", r"is on the ban list of #hall"),
        ("/receive/hall/mal", "/ban *!*@127.0.0.1", r"is on the ban list of #hall"),
    ],
)
async def test_a_read_under_way_when_the_reader_is_put_out_answers_nothing(
    server: App, monkeypatch: pytest.MonkeyPatch, route: str, command: str, told: str
) -> None:
    await hall(server)
    owner = await telnet_login(server, "owner", address=OWNER)  # not the mask's address
    owner.send("/join hall")
    await owner.expect(r"^\* (back )?in #hall|you are (already )?in #hall")
    held = held_read(server, monkeypatch)
    async with http_from(server) as c, http_from(server, OWNER) as o:
        read: asyncio.Task[httpx.Response] = asyncio.create_task(
            c.get(route, headers=basic_header("mal"))
        )
        await held.until_reached()  # mal's membership and masks checked: reading
        owner.send(command)
        await owner.expect(told)
        r = await o.post("/send/hall/owner", content=AFTER, headers=basic_header("owner"))
        assert r.status_code == 201, r.text
        held.let_go()
        answer = await read
        assert AFTER not in answer.text, answer.text
        assert answer.status_code == 403, answer.text
        # and the next read is refused as well: put out of the room (the mask: by that read)
        again = await c.get(route, headers=basic_header("mal"))
        assert again.status_code in (403, 404), again.text
    await owner.close()


@pytest.mark.parametrize(
    ("command", "told", "refused"),
    [
        ("/kick mal", r"^\* mal was kicked from #hall", "no longer a member of #hall$"),
        ("/ban mal", r"^\* mal was banned from #hall", "banned from #hall$"),
        # put out by the mask, or refused by it: whichever comes first
        ("/ban *!*@127.0.0.1", r"is on the ban list", r"(no longer a member of|banned from) #hall"),
    ],
)
async def test_a_join_whose_history_is_read_when_the_reader_is_put_out_shows_nothing(
    server: App, monkeypatch: pytest.MonkeyPatch, command: str, told: str, refused: str
) -> None:
    """The same for the history a join shows (a WebSocket's `subscribe`; telnet's `/join` and
    IRC's `JOIN` take the same path): the kick stopped the listening, then the page came,
    "you are in #hall" and the message posted after the kick's answer with it."""
    await hall(server)
    owner = await telnet_login(server, "owner", address=OWNER)
    owner.send("/join hall")
    await owner.expect(r"^\* (back )?in #hall|you are (already )?in #hall")
    ws = await ws_from(server, basic_header("mal"), logged_in=True)
    held = held_read(server, monkeypatch)
    await ws.send(json.dumps({"type": "subscribe", "room": "hall"}))
    await held.until_reached()  # a member, listening (held): the history is read
    owner.send(command)
    await owner.expect(told)
    async with http_from(server, OWNER) as o:
        r = await o.post("/send/hall/owner", content=AFTER, headers=basic_header("owner"))
        assert r.status_code == 201, r.text
        held.let_go()
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while not frames or frames[-1]["type"] != "error":
                frames.append(json.loads(await ws.recv()))
        assert AFTER not in json.dumps(frames), frames
        assert re.match(f"you are {refused}", frames[-1]["message"]), frames
        assert not any(f.get("kind") == "joined" for f in frames), frames
        r = await o.post("/send/hall/owner", content="later", headers=basic_header("owner"))
        assert r.status_code == 201, r.text
    await ws.send(json.dumps({"type": "ping"}))  # nothing of the room's came before the pong
    async with asyncio.timeout(30):
        assert json.loads(await ws.recv()) == {"type": "pong"}
    await ws.close()
    await owner.close()
