"""Ignore edits racing one another and deliveries (attack11). Alice, with sessions open on
telnet, IRC and a WebSocket, ignores and unignores bob from several places at once; once a
`PUT /api/v1/me/ignores/bob` is acknowledged, bob's room and private messages sent after it
must reach none of her sessions, nor her history (read through the same set).

On stage an add and a removal of the same user could interleave: the removal's row was gone
and its `IgnoreChanged` not yet applied when the add wrote its row and applied its own, so
the removal's event came last. The store said "ignored" and the sessions' set did not; every
later `/ignore bob` then changed no row, sent no event and answered "you now ignore bob"
while bob was heard on every door. On PostgreSQL, 8 to 16 parallel edits a round left that
state after 1 round in 200 to 400. The first test makes that interleaving certain: the
removal is held between its store write and its event (a hook around the real store's
`remove_ignore`, which still runs), and the add is sent meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD, eventually
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, api, services, telnet
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


async def _sessions(app: App) -> tuple[TelnetClient, Ws, RawIrc]:
    """alice on telnet, the WebSocket and IRC, each listening to #lobby."""
    alice = await telnet(app, "alice")
    ws = await Ws.open(app, "alice")
    await ws.subscribe("lobby")
    irc = await RawIrc.connect(app)
    irc.send(f"PASS alice:{PASSWORD}", "NICK alice", "USER alice 0 * :a", "CAP END")
    await irc.expect(" 376 ")
    irc.send("JOIN #lobby")
    await irc.expect(" 366 ")
    return alice, ws, irc


async def _bob_unheard(app: App, doors: tuple[TelnetClient, Ws, RawIrc], n: int) -> None:
    """bob speaks in #lobby and to alice, then carol on the same paths; alice, on every
    door and in history, has carol's lines and none of bob's."""
    alice, ws, irc = doors
    async with api(app, "bob") as bob, api(app, "carol") as carol:
        for client in (bob, carol):
            who = "bob" if client is bob else "carol"
            r = await client.put(f"/api/v1/rooms/lobby/members/{who}")
            assert r.status_code in (200, 201, 204), r.text
            r = await client.post("/api/v1/rooms/lobby/messages", json={"text": f"{who} {n}"})
            assert r.status_code == 201, r.text
            r = await client.post(
                "/api/v1/private-messages", json={"to": "alice", "text": f"{who} {n}"}
            )
            assert r.status_code == 201, r.text
    for _ in range(2):
        await alice.expect(f"<carol> carol {n}$")
        await ws.next("message", f"carol {n}")
    await irc.expect(f"PRIVMSG #lobby :carol {n}")
    await irc.expect(f"PRIVMSG alice :carol {n}")
    heard = [line for line in alice.seen if "<bob>" in line]
    heard += [t for t in ws.texts() if t.startswith("bob ")]
    heard += [line for line in irc.lines if line.startswith(":bob!")]
    assert heard == []
    async with api(app, "alice") as http:
        r = await http.get("/api/v1/rooms/lobby/messages")
        assert r.status_code == 200
        assert [m["text"] for m in r.json()["messages"] if m["sender"] == "bob"] == []


async def _server(make_server: ServerFactory, **sections: dict[str, Any]) -> App:
    app = await make_server(limits={"ignore_rate": 0}, **sections)  # only races refuse
    for name in ("alice", "bob", "carol"):
        await services(app).accounts.register(name, PASSWORD, by_admin=True)
    return app


async def test_an_add_overtaking_a_removal_leaves_bob_ignored(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await _server(make_server)
    doors = await _sessions(app)
    store = services(app).ignores._store
    async with api(app, "alice") as http:
        assert (await http.put("/api/v1/me/ignores/bob")).status_code == 204
        removal_written = HeldCall(monkeypatch, store, "remove_ignore", after=True)
        removal = asyncio.create_task(http.delete("/api/v1/me/ignores/bob"))
        await removal_written.until_reached()  # the row is gone; its event waits
        add = asyncio.create_task(http.put("/api/v1/me/ignores/bob"))
        turns = getattr(services(app).ignores, "_editing", None)  # stage had no such turns
        # done at once on stage; now it waits its turn behind the removal
        await eventually(
            lambda: add.done() or (turns is not None and turns.held["alice"][1] == [2])
        )
        removal_written.let_go()
        assert (await removal).status_code == 204
        assert (await add).status_code == 204
        monkeypatch.undo()
        # the last acknowledged edit was the add: the list and every session agree
        r = await http.get("/api/v1/me/ignores")
        assert r.json()["users"] == ["bob"]
        assert (await http.put("/api/v1/me/ignores/bob")).status_code == 204  # and once more
    await _bob_unheard(app, doors, 0)


@pytest.mark.parametrize("rounds", [20])
async def test_parallel_edits_then_an_acknowledged_ignore_silence_bob(
    make_server: ServerFactory, rounds: int
) -> None:
    app = await _server(make_server)
    doors = await _sessions(app)
    async with api(app, "alice") as http:
        for n in range(rounds):
            doors[0].send("/unignore bob" if n % 2 else "/ignore bob")  # telnet's edit too
            await asyncio.gather(
                *(
                    http.request("PUT" if i % 2 else "DELETE", "/api/v1/me/ignores/bob")
                    for i in range(8)
                )
            )
            assert (await http.put("/api/v1/me/ignores/bob")).status_code == 204
            await _bob_unheard(app, doors, n)
