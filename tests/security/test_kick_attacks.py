"""Kicks attacked: kicks of one member landing together, from every door, are one kick (one
audit entry, the room and the member told once; on main each was told and audited: they
all read "a member" before any ended the membership); a demoted or kicked admin whose
sessions stay open (telnet, IRC) loses the right at once, crafted requests with a reason
included; a kicked user's parked long poll is given nothing said after the kick."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import PgDatabases, pg_databases  # noqa: F401 (the fixture)
from tests.helpers.http import error_of
from tests.helpers.moderation import api, audit, command, in_hall, irc_in_hall, services
from tests.security.test_ranks_hold import hall
from torbit.app import App

REFUSED = r"^! only .* of #hall may /kick: you are a member$"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_store(request: pytest.FixtureRequest, make_server: ServerFactory) -> App:
    """A server on SQLite, or on a fresh PostgreSQL database."""
    storage: dict[str, Any] = {}
    if request.param == "postgresql":
        databases: PgDatabases = request.getfixturevalue("pg_databases")
        storage = {"url": databases.create()}
    return await make_server(storage=storage) if storage else await make_server()


async def test_kicks_of_one_member_at_once_from_every_door_are_one_kick(any_store: App) -> None:
    server = any_store
    await hall(server)  # alice owns #hall, bob is its admin, carol a member, root a server admin
    carol = await in_hall(server, "carol")
    alice_telnet = await in_hall(server, "alice")
    alice_irc = await irc_in_hall(server, "alice")
    root_irc = await irc_in_hall(server, "root")
    before = len(await audit(server, "hall"))
    async with api(server, "alice") as alice, api(server, "root") as root:
        kicks = [
            c.delete("/api/v1/rooms/hall/members/bob", params={"reason": f"race {i}"})
            for i in range(3)
            for c in (alice, root)
        ]
        alice_telnet.send("/kick bob race telnet")
        alice_irc.send("KICK #hall bob :race irc")
        root_irc.send("KICK #hall bob :race root")
        answers = await asyncio.gather(*kicks)
        assert {r.status_code for r in answers} <= {204, 404}, [r.text for r in answers]
        await alice_telnet.expect(r"^(\* bob was kicked|! bob is not a member) ")
        for irc in (alice_irc, root_irc):  # a KICK line, or "not on that channel" (441)
            await irc.expect(" bob ")
        r = await alice.post("/api/v1/rooms/hall/messages", json={"text": "marker"})
        assert r.status_code == 201, r.text
    await carol.expect(r"<alice> marker$")
    kicks_done = [e for e in (await audit(server, "hall"))[: -before or None] if e.action == "kick"]
    assert len(kicks_done) == 1, kicks_done
    told = [line for line in carol.seen if "bob was kicked" in line]
    assert len(told) == 1 and told[0].endswith(f"({kicks_done[0].detail})"), told
    assert sum(r.status_code == 204 for r in answers) <= 1
    assert "bob" not in await services(server).store.list_members("hall")
    for c in (carol, alice_telnet):
        await c.close()
    for irc in (alice_irc, root_irc):
        await irc.close()


async def test_a_demoted_or_kicked_admin_loses_the_right_on_open_sessions(server: App) -> None:
    await hall(server)
    bob = await in_hall(server, "bob")  # open all along, as his IRC session
    bob_irc = await irc_in_hall(server, "bob")
    async with api(server, "alice") as alice, api(server, "bob") as bob_http:
        assert (await alice.delete("/api/v1/rooms/hall/admins/bob")).status_code == 204
        # at once, on every door, a reason in the request changing nothing
        await command(bob, "/kick carol because I can", REFUSED)
        bob_irc.send("KICK #hall carol :because I can")
        await bob_irc.expect(" 482 bob #hall ")
        r = await bob_http.delete(
            "/api/v1/rooms/hall/members/carol", params={"reason": "because I can"}
        )
        error_of(r, 403, "forbidden")
        error_of(
            await bob_http.put("/api/v1/rooms/hall/bans/carol", params={"reason": "x"}),
            403,
            "forbidden",
        )
        # an admin again, then kicked: his open sessions have no right left either
        assert (await alice.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
        r = await alice.delete("/api/v1/rooms/hall/members/bob", params={"reason": "enough"})
        assert r.status_code == 204, r.text
        await bob.expect(r"^\* you were kicked from #hall by alice \(enough\)$")
        await command(bob, "/kick carol", r"^! you are not in a room")
        bob_irc.send("KICK #hall carol :again")
        await bob_irc.expect(" #hall ")  # not in that room any more: refused
        error_of(await bob_http.delete("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
    assert await services(server).store.list_members("hall") == ["alice", "carol"]
    assert not [e for e in await audit(server, "hall") if e.actor == "bob"]
    await bob.close()
    await bob_irc.close()


async def test_a_kicked_users_parked_long_poll_gets_nothing_said_after(server: App) -> None:
    await hall(server)
    async with api(server, "alice") as alice, api(server, "carol") as carol:
        assert (await carol.get("/receive/hall/carol")).status_code == 200  # the cursor, now
        parked = asyncio.create_task(carol.get("/receive/hall/carol", params={"wait": 20}))
        hub = services(server).subscriptions
        async with asyncio.timeout(10):  # until the poll waits on the room (a hang guard)
            while not hub.listener_count("hall") and not parked.done():
                await asyncio.sleep(0.01)
        assert not parked.done(), parked.result().text
        r = await alice.delete("/api/v1/rooms/hall/members/carol", params={"reason": "out"})
        assert r.status_code == 204, r.text
        r = await alice.post("/api/v1/rooms/hall/messages", json={"text": "secret"})
        assert r.status_code == 201, r.text
        answer = await parked
        assert "secret" not in answer.text, answer.text
        assert answer.status_code in (200, 403), answer.text
