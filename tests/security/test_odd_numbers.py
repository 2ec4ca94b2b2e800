"""Numbers and times a client types that Python's checks let through and then refuses:
`"²".isdigit()` is True but `int("²")` raises, and an IRC line that is not UTF-8 is read as
Latin-1, so the byte 0xB2 is "²" too. Each place that took a count, a limit, an id or a
version was an internal error (an unauthenticated `CAP LS ²` dropped the connection and
logged a traceback, ~16 a second from one address); a `timestamp=` at the end of time
overflowed; a lone surrogate as a WebSocket's join key closed the socket with 1011. Each
now gets the door's usual refusal, and the connection goes on (hostile probe, stop 44)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, bearer, http_client, login, register, ws_url
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import api, create_room
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

ODD = "²"  # a digit to str.isdigit, not to int


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    return await make_server(irc={"enabled": True, "guests": True})


async def _alive(irc: RawIrc) -> None:
    irc.send("PING :still")
    await irc.expect("PONG")


async def test_cap_ls_with_an_odd_version_before_registration(app: App) -> None:
    irc = await RawIrc.connect(app)
    irc.send(f"CAP LS {ODD}")
    await irc.expect(" LS ")
    irc.send_raw(b"CAP LS \xb2\r\n")  # not UTF-8: read as Latin-1, the same character
    await irc.expect(" LS ")
    irc.send("NICK early", "USER early 0 * :e", "CAP END")
    await irc.expect(" 001 ")
    await irc.close()


async def test_irc_commands_with_odd_numbers_are_refused(app: App) -> None:
    async with http_client(app) as client:
        await register(client, "owner", "other")
    owner = await joined(app, "owner", "lobby", password=PASSWORD)
    await create_and_join(owner, "den")
    for line in (
        f"CHATHISTORY LATEST #lobby * {ODD}",
        f"CHATHISTORY BEFORE #lobby msgid=lobby-{ODD} 10",
        f"LIST >{ODD}",
        f"WHOWAS other {ODD}",
        f"MODE #den +l {ODD}",
        "CHATHISTORY LATEST #lobby timestamp=9999-12-31T23:59:59.999Z 10",
        "CHATHISTORY AFTER #lobby timestamp=9999-12-31T23:59:59.999Z 10",
        "CHATHISTORY BETWEEN #lobby timestamp=9999-12-31T23:59:59.999Z "
        "timestamp=9999-12-31T23:59:59.999Z 10",
    ):
        owner.send(line)
        await _alive(owner)
    errors = [ln for ln in owner.lines if "internal error" in ln]
    assert errors == [], errors
    assert any(" FAIL CHATHISTORY INVALID_PARAMS " in ln for ln in owner.lines), owner.lines[-20:]
    await owner.close()


async def create_and_join(irc: RawIrc, room: str) -> None:
    irc.send(f"JOIN #{room}")
    await irc.expect(f" 366 owner #{room} ")


async def test_telnet_commands_with_odd_numbers_are_refused(app: App) -> None:
    assert app.telnet_port is not None
    owner = await TelnetClient.connect(app.telnet_port)
    await owner.login("towner", PASSWORD)
    owner.send("/join tden")  # made by the owner: /set, /mute and /audit are the owner's
    await owner.expect(r"^\* you are in #tden")
    for command in (f"/history {ODD}", f"/audit {ODD}", f"/mute towner {ODD}"):
        owner.send(command)
        await owner.expect(r"^! usage: ")
    owner.send(f"/set limit {ODD}")
    await owner.expect(r"^! a member limit is a number")
    assert not [ln for ln in owner.seen if "internal error" in ln], owner.seen
    await owner.close()


async def test_an_odd_content_length_is_refused(app: App) -> None:
    assert app.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    writer.write(
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: \xb2\r\n\r\n{}"
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.split()[1] in (b"400", b"413", b"422"), status


async def test_a_websocket_join_key_with_a_lone_surrogate_is_a_wrong_key(app: App) -> None:
    from websockets.asyncio.client import connect

    async with api(app, "keeper") as keeper:
        await register(keeper, "keeper", "visitor")
        await create_room(keeper, "keyed")
        r = await keeper.patch("/api/v1/rooms/keyed/settings", json={"join_key": "beer"})
        assert r.status_code == 200, r.text
    async with http_client(app) as client:
        token = await login(client, "visitor")
    async with connect(ws_url(app), additional_headers=bearer(token)) as ws:
        await ws.send('{"type": "subscribe", "room": "keyed", "key": "\\ud800"}')
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "error":
                    break
        await ws.send(json.dumps({"type": "subscribe", "room": "keyed", "key": "beer"}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "notice" and "you are in #keyed" in frame.get("text", ""):
                    break
