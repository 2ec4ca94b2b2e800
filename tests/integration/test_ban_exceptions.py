"""Ban exceptions (core/banmasks.py) on telnet, HTTP and WebSocket, with real clients: a client
matching an exception is not barred by the room's ban masks, whether the mask comes before or
after it; lifting the exception puts out the members listening that a mask then bars; the
exceptions are listed, audited and kept to room admins."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import error_of, eventually, register
from tests.helpers.moderation import (
    Ws,
    api,
    audit,
    command,
    create_room,
    in_hall,
    open_hall,
    services,
    telnet,
)
from torbit.app import App


@pytest.fixture
async def hall(server: App) -> App:
    """alice owns the public room #hall; bob and carol are members."""
    return await open_hall(server)


async def test_an_exception_set_over_http_keeps_a_websocket_member_in_and_lets_it_send(
    hall: App,
) -> None:
    bob = await in_hall(hall, "bob")
    carol_ws = await Ws.open(hall, "carol")
    await carol_ws.subscribe("hall")
    async with api(hall, "alice") as a:
        exception = {"mask": "Carol!*@*"}
        assert (await a.put("/api/v1/rooms/hall/exceptions", params=exception)).status_code == 204
        everyone = {"mask": "*!*@127.0.0.*"}  # every client here comes from there
        assert (await a.put("/api/v1/rooms/hall/banmasks", params=everyone)).status_code == 204
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!\*@127\.0\.0\.\*\)$")
    await command(bob, "/join hall", r"^! you are banned from #hall$")
    async with api(hall, "carol") as c:  # each request is matched (maskgate.py): carol's pass
        said = await c.post("/api/v1/rooms/hall/messages", json={"text": "still in"})
        assert said.status_code == 201, said.text
        listed = (await c.get("/api/v1/rooms/hall/bans")).json()
        assert [(m["mask"], m["set_by"]) for m in listed["exceptions"]] == [("carol!*@*", "alice")]
        error_of(await c.delete("/api/v1/rooms/hall/exceptions", params=exception), 403)
    await carol_ws.next("message", "still in")  # her WebSocket session listens on
    async with api(hall, "alice") as a:
        assert (
            await a.delete("/api/v1/rooms/hall/exceptions", params=exception)
        ).status_code == 204
        error_of(await a.delete("/api/v1/rooms/hall/exceptions", params=exception), 404)
    await carol_ws.next("notice", "you were kicked from #hall by alice (banned: *!*@127.0.0.*)")
    async with api(hall, "carol") as c:
        error_of(await c.put("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
    actions = [(e.action, e.detail) for e in await audit(hall, "hall")]
    assert ("except", "carol!*@*") in actions and ("unexcept", "carol!*@*") in actions
    await carol_ws.close()
    await bob.close()


async def test_telnet_sets_lists_and_lifts_exceptions(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    await command(bob, "/except bob", r"^! only room admins of #hall may /except")
    await command(alice, "/ban *!bob@*", r"^\* \*!bob@\* is on the ban list of #hall$")
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!bob@\*\)$")
    await command(alice, "/except BOB", r"^\* bob!\*@\* is on the exception list of #hall$")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await command(bob, "/bans", r"^\* excepted from the ban masks of #hall:$")
    await bob.expect(r"^  bob!\*@\*  \(by alice, ")
    await command(alice, "/unexcept bob", r"^\* bob!\*@\* is off the exception list of #hall$")
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!bob@\*\)$")
    await command(bob, "/join hall", r"^! you are banned from #hall$")
    await command(alice, "/unexcept bob", r"^! bob!\*@\* is not on the exception list of #hall$")
    for c in (alice, bob):
        await c.close()


async def test_an_exception_does_not_lift_an_accounts_own_ban(make_server: ServerFactory) -> None:
    """An account's ban names that account: only lifting it lets the account in."""
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        assert (await a.put("/api/v1/rooms/hall/bans/bob")).status_code == 204
        exception = {"mask": "bob!*@*"}
        assert (await a.put("/api/v1/rooms/hall/exceptions", params=exception)).status_code == 204
    async with api(app, "bob") as b:
        error_of(await b.put("/api/v1/rooms/hall/members/bob"), 403, "forbidden")


async def test_an_invite_exception_lets_whoever_matches_join_a_private_room(
    make_server: ServerFactory,
) -> None:
    """Set over HTTP, used over telnet and HTTP; set and lifted on telnet; listed on both."""
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob", "carol")
        await create_room(a, "den", private=True)
        invex = {"mask": "bob!*@127.0.0.*", "kind": "invite"}
        assert (await a.put("/api/v1/rooms/den/exceptions", params=invex)).status_code == 204
        listed = (await a.get("/api/v1/rooms/den/bans")).json()
        assert [m["mask"] for m in listed["invite_exceptions"]] == ["bob!*@127.0.0.*"]
        assert listed["exceptions"] == []
    bob = await telnet(app, "bob")
    await command(bob, "/join den", r"^\* you are (already )?in #den")
    await command(bob, "/bans", r"^\* may join #den uninvited:$")
    await bob.expect(r"^  bob!\*@127\.0\.0\.\*  \(by alice, ")
    await command(bob, "/invex carol", r"^! only room admins of #den may /invex")
    async with api(app, "carol") as c:
        error_of(await c.put("/api/v1/rooms/den/members/carol"), 404)  # no such room, to her
    alice = await telnet(app, "alice")
    await command(alice, "/join den", r"^\* you are (already )?in #den")
    await command(alice, "/invex carol", r"^\* carol!\*@\* is on the invite exception list of")
    async with api(app, "carol") as c:
        assert (await c.put("/api/v1/rooms/den/members/carol")).status_code == 200
        assert (await c.delete("/api/v1/rooms/den/members/carol")).status_code == 204
    await command(alice, "/uninvex carol", r"^\* carol!\*@\* is off the invite exception list")
    async with api(app, "carol") as c:
        error_of(await c.put("/api/v1/rooms/den/members/carol"), 404)
    actions = [(e.action, e.detail) for e in await audit(app, "den")]
    assert ("invex", "bob!*@127.0.0.*") in actions and ("uninvex", "carol!*@*") in actions
    for client in (alice, bob):
        await client.close()


async def test_lifting_an_exception_ends_the_long_poll_it_let_through(hall: App) -> None:
    """carol reaches #hall only by long polls: parked while an exception lets her past a
    mask, her poll is ended when the exception is lifted (403 naming the mask, put out)."""
    async with api(hall, "alice") as a:
        exception = {"mask": "carol!*@*"}
        assert (await a.put("/api/v1/rooms/hall/exceptions", params=exception)).status_code == 204
        everyone = {"mask": "*!*@127.0.0.*"}
        assert (await a.put("/api/v1/rooms/hall/banmasks", params=everyone)).status_code == 204
    subs = services(hall).subscriptions
    async with api(hall, "carol") as c:
        assert (await c.get("/receive/hall/carol")).status_code == 200  # her mask lets her
        poll = asyncio.create_task(c.get("/receive/hall/carol", params={"wait": 30}))
        await eventually(lambda: subs.listener_count("hall") == 1)
        async with api(hall, "alice") as a:
            lifted = await a.delete("/api/v1/rooms/hall/exceptions", params=exception)
            assert lifted.status_code == 204
        assert "banned: *!*@127.0.0.*" in error_of(await poll, 403, "forbidden")
    async with api(hall, "alice") as a:
        members = (await a.get("/api/v1/rooms/hall/members")).json()["members"]
    assert "carol" not in members and "alice" in members
