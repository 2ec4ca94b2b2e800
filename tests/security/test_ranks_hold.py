"""Issue 10, item 11, on telnet, HTTP and the WebSocket: mutes and bans hold against room
admins and owners. The attacks of the report: a muted admin unmutes themselves and talks
through /topic; a banned owner keeps moderating and unbans themselves. Now each is refused,
nothing changes, and only a higher rank (a server admin, above an owner) lifts them."""

from __future__ import annotations

from tests.helpers.http import error_of, register
from tests.helpers.moderation import Ws, api, audit, command, create_room, services, telnet
from torbit.app import App


async def hall(app: App) -> None:
    """alice owns #hall; bob is its admin, carol a member; root is a server admin."""
    async with api(app, "alice") as alice:
        await register(alice, "alice", "bob", "carol", "root")
        await create_room(alice, "hall")
        for name in ("bob", "carol"):
            async with api(app, name) as c:
                assert (await c.put(f"/api/v1/rooms/hall/members/{name}")).status_code == 200
        assert (await alice.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
    await services(app).accounts.set_admin("root", True)


async def test_a_muted_admin_cannot_unmute_themselves_or_talk_through_the_topic(
    server: App,
) -> None:
    await hall(server)
    async with api(server, "alice") as alice:
        assert (await alice.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 30})).is_success
    before = await audit(server, "hall")
    bob = await telnet(server, "bob")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    bob_ws = await Ws.open(server, "bob")
    await bob_ws.subscribe("hall")
    # telnet
    await command(bob, "/unmute bob", r"^! you cannot /unmute yourself$")
    await command(bob, "/topic free speech", r"^! you are muted in #hall")
    await command(bob, "hello?", r"^! you are muted in #hall")
    await command(bob, "/me shouts", r"^! you are muted in #hall")
    # HTTP
    async with api(server, "bob") as b:
        error_of(await b.delete("/api/v1/rooms/hall/mutes/bob"), 403, "forbidden")
        error_of(await b.patch("/api/v1/rooms/hall", json={"topic": "free speech"}), 403)
        error_of(await b.post("/api/v1/rooms/hall/messages", json={"text": "hi"}), 403)
        error_of(await b.post("/send/hall/bob", content=b"hi"), 403)
    # WebSocket
    await bob_ws.send(type="send", room="hall", text="hi", ref=1)
    error = await bob_ws.next("error", "muted")
    assert error["ref"] == 1
    room = await services(server).membership.room("hall")
    assert room.topic == ""
    assert await audit(server, "hall") == before
    assert len(services(server).mutes) == 1
    # the owner outranks the admin and lifts the mute; then bob may speak again
    async with api(server, "alice") as alice:
        assert (await alice.delete("/api/v1/rooms/hall/mutes/bob")).status_code == 204
    await command(bob, "back", "<bob> back")
    await bob.close()
    await bob_ws.close()


async def test_a_banned_owner_cannot_moderate_or_unban_themselves(server: App) -> None:
    await hall(server)
    alice = await telnet(server, "alice")
    await command(alice, "/join hall", r"^\* you are (already )?in #hall")
    async with api(server, "bob") as b:  # an admin cannot ban the owner
        error_of(await b.put("/api/v1/rooms/hall/bans/alice"), 403, "forbidden")
    async with api(server, "root") as root:
        assert (await root.put("/api/v1/rooms/hall/bans/alice")).status_code == 204
    await alice.expect(r"^\* you were banned from #hall by root")
    before = await audit(server, "hall")
    # telnet: no room to act in any more, and no rights in it either
    await command(alice, "/join hall", r"^! you are banned from #hall")
    async with api(server, "alice") as a:
        error_of(await a.delete("/api/v1/rooms/hall/bans/alice"), 403, "forbidden")
        error_of(await a.delete("/api/v1/rooms/hall/members/bob"), 403, "forbidden")
        error_of(await a.put("/api/v1/rooms/hall/bans/bob"), 403, "forbidden")
        error_of(await a.put("/api/v1/rooms/hall/mutes/carol", json={"minutes": 5}), 403)
        error_of(await a.patch("/api/v1/rooms/hall", json={"topic": "mine"}), 403)
        error_of(await a.patch("/api/v1/rooms/hall", json={"private": True}), 403)
        error_of(await a.delete("/api/v1/rooms/hall/admins/bob"), 403, "forbidden")
        error_of(await a.get("/api/v1/rooms/hall/audit"), 403, "forbidden")
        error_of(await a.put("/api/v1/rooms/hall/members/alice"), 403, "forbidden")
    async with api(server, "bob") as b:  # nor may an admin lift the owner's ban
        error_of(await b.delete("/api/v1/rooms/hall/bans/alice"), 403, "forbidden")
    assert await audit(server, "hall") == before
    standing = await services(server).store.standing("hall", "bob")
    assert standing.member and standing.admin and not standing.banned
    # a server admin lifts it; the owner is the owner again
    async with api(server, "root") as root:
        assert (await root.delete("/api/v1/rooms/hall/bans/alice")).status_code == 204
    await command(alice, "/join hall", r"^\* you are (already )?in #hall")
    await command(alice, "/topic mine again", r"^\* alice set the topic of #hall: mine again")
    await alice.close()


async def test_only_a_server_admin_silences_an_owner(server: App) -> None:
    await hall(server)
    async with api(server, "root") as root:
        assert (await root.put("/api/v1/rooms/hall/mutes/alice", json={"minutes": 5})).is_success
    alice = await telnet(server, "alice")
    await command(alice, "/join hall", r"^\* you are (already )?in #hall")
    await command(alice, "/unmute alice", r"^! you cannot /unmute yourself$")
    await command(alice, "/topic my room", r"^! you are muted in #hall")
    async with api(server, "bob") as b:
        error_of(await b.delete("/api/v1/rooms/hall/mutes/alice"), 403, "forbidden")
    await alice.close()
