"""A QUIT is held for the presence grace (a reconnect within it shows nothing), then told to
those who shared the channel when it happened: an IRC client that joined since never had
the quitter in its NAMES and gets no QUIT of it, nor does a WebSocket that subscribed since
get a "left" notice, whoever left and through whichever door, while one who was there gets
them all (core/leaves.py)."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import ServerFactory
from tests.helpers.held_leaves import leaves_held
from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import RawIrc, joined
from tests.helpers.telnet_client import TelnetClient
from tests.irc.conftest import ws_subscribe, ws_user


async def _quits(irc: RawIrc, nicks: set[str]) -> None:
    """Until `irc` has seen the QUIT of each of `nicks`."""
    seen: set[str] = set()
    while seen != nicks:
        line = await irc.expect(" QUIT ")
        seen.add(line[1:].split("!", 1)[0])


async def test_a_client_joining_after_quits_gets_none_of_them(
    make_server: ServerFactory,
) -> None:
    # long enough that every leave is held before the first is due (`leaves_held`)
    app = await make_server(chat={"presence_grace_seconds": 3.0})
    names = ["stayer", "newbie", "webby", "q0", "q1", "q2", "t0"]
    async with http_client(app) as client:
        await register(client, *names)
    stayer = await joined(app, "stayer", "lobby", password=PASSWORD)
    quitters = [await joined(app, f"q{i}", "lobby", password=PASSWORD) for i in range(3)]
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("t0", PASSWORD)
    quitters[0].send("QUIT :bye")
    for q in quitters[1:]:
        q.writer.transport.abort()  # vanished
    await telnet.close()
    await leaves_held(app, 4)
    newbie = await joined(app, "newbie", "lobby", password=PASSWORD)
    webby = await ws_user(app, "webby")
    await ws_subscribe(webby, "lobby")
    names_line = next(ln for ln in newbie.lines if " 353 " in ln)
    assert not any(q in names_line.split() for q in ("q0", "q1", "q2", "t0")), names_line
    await _quits(stayer, {"q0", "q1", "q2", "t0"})  # after the grace, in any order
    newbie.send("PING :after")  # a round trip after the notices were told to stayer
    await newbie.expect("PONG")
    told = [ln for ln in newbie.lines if any(f":{q}!" in ln for q in ("q0", "q1", "q2", "t0"))]
    assert told == [], told
    newbie.send("PRIVMSG #lobby :marker")  # delivered after what was told before it
    notices: list[str] = []
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await webby.recv())
            if frame["type"] == "notice":
                notices.append(frame.get("text", ""))
            elif frame["type"] == "message" and frame["message"]["text"] == "marker":
                break
    assert not [t for t in notices if " left " in t], notices
    await webby.close()
    await stayer.close()
    await newbie.expect(":stayer!")  # a quit after newbie came is newbie's to hear
    await newbie.close()


async def test_a_client_back_in_the_room_hears_the_quits_of_its_time(
    make_server: ServerFactory,
) -> None:
    """The same client leaving the channel and coming back (PART, JOIN) after a quit was
    held is a newcomer for it; a quit held after its JOIN is told to it."""
    app = await make_server(chat={"presence_grace_seconds": 3.0})
    async with http_client(app) as client:
        await register(client, "rover", "early", "late")
    rover = await joined(app, "rover", "lobby", password=PASSWORD)
    early = await joined(app, "early", "lobby", password=PASSWORD)
    late = await joined(app, "late", "lobby", password=PASSWORD)
    rover.send("PART #lobby")
    await rover.expect("PART #lobby")
    early.writer.transport.abort()
    await leaves_held(app, 1)
    rover.send("JOIN #lobby")
    await rover.expect(" 366 rover #lobby ")
    back = len(rover.lines)
    late.writer.transport.abort()
    await rover.expect(":late!")
    assert not [ln for ln in rover.lines[back:] if ":early!" in ln], rover.lines[back:]
    await rover.close()
