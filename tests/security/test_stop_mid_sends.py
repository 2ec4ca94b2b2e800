"""A node stopped while sends pour in from every door at once (HTTP, telnet, IRC with
echo-message): what was acknowledged before the stop cut the connections must be in the
store when the node comes back, in each sender's order. A send may be refused or cut by the
stop, never acknowledged and lost.

The HTTP client keeps to a few connections, all open before the stop: on Python 3.11's
asyncio a connection accepted in the turn the listener closes is never served nor closed
(its transport's `Server._attach` asserts; the socket waits for the garbage collector), and
the request on it waits out the client's timeout (40 s): CPython gh-109564, gh-155934. Not
this test's subject."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url, basic, register
from tests.helpers.irc import joined
from tests.helpers.telnet_client import TelnetClient

N = 60
LINES = 400  # a line door's: more than it reads before the stop


async def test_what_was_acknowledged_before_a_stop_is_stored(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server(tmp_path / "node")
    assert app.telnet_port is not None
    acked: dict[str, list[str]] = {"http": [], "telnet": [], "irc": []}
    limits = httpx.Limits(max_connections=8)  # open before the stop: see the docstring
    async with httpx.AsyncClient(base_url=base_url(app), timeout=40, limits=limits) as client:
        await register(client, "hugo", "ira")
        telnet = await TelnetClient.connect(app.telnet_port)
        await telnet.login("tina")
        irc = await joined(app, "ira", "lobby", caps="echo-message", password=PASSWORD)

        async def post(i: int) -> None:
            with contextlib.suppress(httpx.HTTPError):
                r = await client.post("/send/lobby/hugo", content=f"h{i}", auth=basic("hugo"))
                if r.status_code == 201:
                    acked["http"].append(f"h{i}")

        posts = [asyncio.ensure_future(post(i)) for i in range(N)]
        for i in range(LINES):
            telnet.send(f"t{i}")
            irc.send(f"PRIVMSG #lobby :i{i}")
        await telnet.expect(r"<tina> t5$")  # some are in when it stops
        await app.stop()
        await asyncio.gather(*posts)
        await telnet.lines_for(5)  # to the end: the stop closed it
        for line in telnet.seen:
            if "<tina> t" in line:
                acked["telnet"].append(line.rsplit("> ", 1)[1].strip())
        with contextlib.suppress(
            EOFError, TimeoutError, ConnectionError
        ):  # what came before the cut (a reset: none)
            await irc.expect("no such line: read to the end")
        echoes = [m.split(" PRIVMSG #lobby ", 1) for m in irc.lines if m.startswith(":ira!")]
        acked["irc"] = [e[1].lstrip(":") for e in echoes if len(e) == 2]
        await telnet.close()
        await irc.close()
    db = sqlite3.connect(tmp_path / "node" / "torbit.db")
    stored = [
        t for (t,) in db.execute("SELECT text FROM messages WHERE channel = 'lobby' ORDER BY id")
    ]
    db.close()
    print({door: len(texts) for door, texts in acked.items()}, len(stored))
    assert acked["http"] and acked["telnet"], acked  # (IRC's may be lost to the cut's reset)
    for door, texts in acked.items():
        assert set(texts) <= set(stored), (door, set(texts) - set(stored))
    for prefix in ("t", "i"):  # a line door's sends keep their order
        mine = [t for t in stored if t[:1] == prefix and t[1:].isdigit()]
        assert mine == sorted(mine, key=lambda t: int(t[1:])), mine
