"""Ban masks (core/banmasks.py) on telnet, HTTP and WebSocket, with real clients: a mask
puts out the matching members listening now, keeps them out through every door until it is
lifted, is listed with who set it, and the HTTP door matches the client address it believes
(a trusted proxy's X-Forwarded-For)."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.moderation import Ws, api, command, create_room, in_hall, open_hall, services
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


@pytest.fixture
async def hall(server: App) -> App:
    """alice owns the public room #hall; bob and carol are members."""
    return await open_hall(server)


async def test_a_mask_set_on_telnet_puts_out_and_keeps_out_whoever_matches(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    carol = await in_hall(hall, "carol")
    await command(alice, "/ban *!bob@127.0.0.* spam", r"^\* \*!bob@127\.0\.0\.\* is on the ban")
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!bob@127\.0\.0\.\*\)$")
    await command(bob, "/join hall", r"^! you are banned from #hall$")
    carol.send("still here")  # the mask's user part is bob's: carol stays
    await alice.expect(r"<carol> still here")
    await command(carol, "/bans", r"^\* banned from #hall:$")
    await carol.expect(r"^  \*!bob@127\.0\.0\.\*  \(by alice, ")
    await command(carol, "/unban *!bob@127.0.0.*", r"^! only room admins of #hall may /unban")
    await command(alice, "/unban *!bob@127.0.0.*", r"^\* \*!bob@127\.0\.0\.\* may join #hall")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    for c in (alice, bob, carol):
        await c.close()


async def test_a_mask_set_over_http_holds_on_websocket_and_http(hall: App) -> None:
    carol_ws = await Ws.open(hall, "carol")
    await carol_ws.subscribe("hall")
    async with api(hall, "alice") as a:
        mask = {"mask": "CAROL!*@*"}
        assert (await a.put("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
        await carol_ws.next("notice", "you were kicked from #hall by alice (banned: carol!*@*)")
        error_of(await a.put("/api/v1/rooms/hall/banmasks", params={"mask": "a,b"}), 422)
        listed = (await a.get("/api/v1/rooms/hall/bans")).json()
        assert listed["users"] == []
        assert [(m["mask"], m["set_by"]) for m in listed["masks"]] == [("carol!*@*", "alice")]
    await carol_ws.send(type="subscribe", room="hall")
    assert (await carol_ws.next("error", "banned"))["code"] == "forbidden"
    async with api(hall, "carol") as c:
        error_of(await c.put("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
        error_of(await c.post("/send/hall/carol", content="hi"), 403, "forbidden")
    async with api(hall, "alice") as a:
        mask = {"mask": "carol!*@*"}
        assert (await a.delete("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
        error_of(await a.delete("/api/v1/rooms/hall/banmasks", params=mask), 404)
    async with api(hall, "carol") as c:
        assert (await c.put("/api/v1/rooms/hall/members/carol")).status_code == 200
    await carol_ws.close()


async def test_the_http_door_matches_the_address_its_trusted_proxy_names(
    make_server: ServerFactory,
) -> None:
    app = await make_server(http={"trusted_proxies": ["127.0.0.1"]})
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        mask = {"mask": "*!*@203.0.113.7"}
        assert (await a.put("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
    async with api(app, "alice") as a:
        settings = {"no_external": False}  # non-members may send: not those matching
        assert (await a.patch("/api/v1/rooms/hall/settings", json=settings)).status_code == 200
    async with api(app, "bob") as b:
        proxied = {"X-Forwarded-For": "203.0.113.7"}
        refused = await b.put("/api/v1/rooms/hall/members/bob", headers=proxied)
        error_of(refused, 403, "forbidden")
        said = {"text": "from outside"}
        outside = await b.post("/api/v1/rooms/hall/messages", json=said, headers=proxied)
        assert "banned" in error_of(outside, 403, "forbidden")
        other = {"X-Forwarded-For": "203.0.113.8"}
        assert (await b.put("/api/v1/rooms/hall/members/bob", headers=other)).status_code == 200


async def test_a_mask_on_the_default_room_leaves_the_login_to_another_room(hall: App) -> None:
    """The default room is joined at a telnet login that has no room to go back to (dave never
    joined one: core/comeback.py): a mask barring a user from it is said at login, and the
    session goes on, to another room."""
    async with api(hall, "alice") as a:
        await register(a, "root", "dave")
    await services(hall).accounts.set_admin("root", True)
    async with api(hall, "root") as r:
        assert (await r.put("/api/v1/rooms/lobby/members/root")).status_code == 200
        mask = {"mask": "dave!*@*"}
        assert (await r.put("/api/v1/rooms/lobby/banmasks", params=mask)).status_code == 204
    assert hall.telnet_port is not None
    bob = await TelnetClient.connect(hall.telnet_port)
    await bob.read_until("Name: ")
    bob.send("dave")
    await bob.read_until("Password: ")
    bob.send(PASSWORD)
    await bob.expect("Welcome")
    await bob.expect(r"^! you are banned from #lobby$")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await bob.close()
