"""Rooms with owners over real sockets: a plain member trying every moderation command is
refused through every door with the audit log untouched; kicks and bans end live telnet and
WebSocket sessions at once; mutes stop sending until they expire (and survive a restart);
op/deop; the topic; /create; the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import error_of, register
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

MODERATION = [
    "invite",
    "kick",
    "ban",
    "unban",
    "mute",
    "unmute",
    "topic",
    "audit",
    "op",
    "deop",
    "private",
]


@pytest.fixture
async def hall(server: App) -> App:
    """alice owns the public room #hall; bob and carol are members; dave is a user."""
    return await open_hall(server, "dave", "root")


async def test_a_plain_member_cannot_escalate_through_any_door(hall: App) -> None:
    before = await audit(hall)
    bob = await in_hall(hall, "bob")
    for line in [
        "/invite dave",
        "/kick carol",
        "/ban carol",
        "/unban carol",
        "/mute carol 5",
        "/unmute carol",
        "/topic mine now",
        "/topic off",
        "/audit",
        "/op bob",
        "/deop alice",
        "/private on",
        "/kick alice",
        "/ban alice",
    ]:
        name = line.split()[0][1:]
        await command(bob, line, rf"^! only .* of #hall may /{name}: you are a member$")
    async with api(hall, "bob") as b:
        for method, path, body in [
            ("PATCH", "/api/v1/rooms/hall", {"topic": "mine"}),
            ("PATCH", "/api/v1/rooms/hall", {"private": True}),
            ("POST", "/api/v1/rooms/hall/invites", {"user": "dave"}),
            ("DELETE", "/api/v1/rooms/hall/members/carol", None),
            ("PUT", "/api/v1/rooms/hall/bans/carol", None),
            ("DELETE", "/api/v1/rooms/hall/bans/carol", None),
            ("PUT", "/api/v1/rooms/hall/mutes/carol", {"minutes": 5}),
            ("DELETE", "/api/v1/rooms/hall/mutes/carol", None),
            ("PUT", "/api/v1/rooms/hall/admins/bob", None),
            ("DELETE", "/api/v1/rooms/hall/admins/alice", None),
            ("GET", "/api/v1/rooms/hall/audit", None),
        ]:
            error_of(await b.request(method, path, json=body), 403, "forbidden")
        room = (await b.get("/api/v1/rooms/hall")).json()
        assert (room["topic"], room["private"], room["members"]) == ("", False, 3)
    # a non-member of a public room is refused the same way
    async with api(hall, "dave") as d:
        error_of(await d.delete("/api/v1/rooms/hall/members/bob"), 403, "forbidden")
        error_of(await d.put("/api/v1/rooms/hall/bans/bob"), 403, "forbidden")
    assert await audit(hall) == before
    store = services(hall).store
    assert await store.list_members("hall") == ["alice", "bob", "carol"]
    for name in ("bob", "carol"):
        standing = await store.standing("hall", name)
        assert standing.member and not (standing.admin or standing.banned)
    assert len(services(hall).mutes) == 0
    await bob.close()


async def test_room_admins_rank_below_the_owner(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    await command(alice, "/op bob", r"^\* alice made bob an admin of #hall$")
    await command(alice, "/op bob", r"^! bob is already an admin")
    await command(alice, "/op dave", r"^! dave is not a member of #hall")
    bob = await in_hall(hall, "bob")
    for line in ["/op carol", "/deop carol", "/private on"]:
        await command(bob, line, r"^! only the owner of #hall may /.*: you are a room admin$")
    await command(bob, "/kick alice", r"^! you cannot /kick alice: they rank as high as you")
    await command(bob, "/mute alice 5", r"^! you cannot /mute alice")
    await command(alice, "/op carol", r"made carol an admin")
    await command(bob, "/kick carol", r"^! you cannot /kick carol")  # admins are equals
    await command(alice, "/deop carol", r"took carol's admin rights")
    await command(bob, "/kick carol", r"^\* carol was kicked from #hall by bob$")
    await command(bob, "/deop bob", r"^\* bob gave up their admin rights in #hall$")  # steps down
    await command(alice, "/op bob", r"made bob an admin")
    await command(alice, "/deop bob", r"took bob's admin rights")
    await command(alice, "/deop bob", r"^! bob is not an admin of #hall")
    await command(bob, "/kick alice", r"^! only room admins of #hall may /kick")
    async with api(hall, "alice") as a:
        assert (await a.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
        error_of(await a.put("/api/v1/rooms/hall/admins/bob"), 409, "conflict")
        assert (await a.delete("/api/v1/rooms/hall/admins/bob")).status_code == 204
        error_of(await a.delete("/api/v1/rooms/hall/admins/bob"), 404, "not_found")
        error_of(await a.delete("/api/v1/rooms/hall/admins/alice"), 403, "forbidden")
    actions = [(e.actor, e.action, e.target) for e in reversed(await audit(hall, "hall"))]
    assert actions[1:] == [
        ("alice", "op", "bob"),
        ("alice", "op", "carol"),
        ("alice", "deop", "carol"),
        ("bob", "kick", "carol"),
        ("bob", "deop", "bob"),
        ("alice", "op", "bob"),
        ("alice", "deop", "bob"),
        ("alice", "op", "bob"),
        ("alice", "deop", "bob"),
    ]
    await alice.close()
    await bob.close()


async def test_a_kick_ends_live_telnet_and_websocket_listening_at_once(hall: App) -> None:
    bob_telnet = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    carol = await in_hall(hall, "carol")
    hub = services(hall).subscriptions
    async with api(hall, "alice") as alice:
        r = await alice.delete("/api/v1/rooms/hall/members/Bob")
        assert r.status_code == 204, r.text
        # at once: when the kick is answered, no session of bob listens to #hall any more
        assert not [s for s in hub.listeners("hall") if s.user_key == "bob"]
        await bob_telnet.expect(r"^\* you were kicked from #hall by alice$")
        notice = await bob_ws.next("notice", "you were kicked from #hall by alice")
        assert notice["room"] == "hall"
        await carol.expect(r"^\* bob was kicked from #hall by alice$")
        await alice.post("/api/v1/rooms/hall/messages", json={"text": "after the kick"})
    await carol.expect(r"<alice> after the kick$")
    bob_telnet.send("still talking?")
    await bob_telnet.expect(r"^! you are no longer in a room")
    await command(bob_telnet, "/history", r"^! you are not in a room")
    await bob_ws.send(type="send", room="hall", text="me too?")
    assert (await bob_ws.next("error"))["code"] == "forbidden"
    assert "after the kick" not in bob_ws.texts()
    assert not any("after the kick" in line for line in bob_telnet.seen)
    assert "bob" not in [m.lower() for m in await services(hall).store.list_members("hall")]
    # a kick is not a ban: bob may come back to a public room
    await command(bob_telnet, "/join hall", r"^\* you are (already )?in #hall")
    await bob_ws.subscribe("hall")
    for c in (bob_telnet, carol):
        await c.close()
    await bob_ws.close()


async def test_a_ban_removes_and_keeps_out_until_lifted(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    await command(alice, "/ban bob", r"^\* bob was banned from #hall by alice$")
    await bob.expect(r"^\* you were banned from #hall by alice$")
    await bob_ws.next("notice", "you were banned from #hall")
    await command(bob, "/join hall", r"^! you are banned from #hall$")
    await bob_ws.send(type="subscribe", room="hall")
    assert (await bob_ws.next("error", "banned"))["code"] == "forbidden"
    async with api(hall, "bob") as b:
        error_of(await b.put("/api/v1/rooms/hall/members/bob"), 403, "forbidden")
        error_of(await b.post("/send/hall/bob", content="hi"), 403, "forbidden")
        error_of(await b.get("/receive/hall/bob"), 403, "forbidden")
        error_of(await b.get("/api/v1/rooms/hall/messages"), 403, "forbidden")
    await command(alice, "/invite bob", r"^! bob is banned from #hall: /unban first$")
    await command(alice, "/unban bob", r"^\* bob may join #hall again$")
    await command(alice, "/unban bob", r"^! bob is not banned from #hall$")
    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    # a ban also works on someone who is not (yet) a member
    async with api(hall, "alice") as a:
        assert (await a.put("/api/v1/rooms/hall/bans/dave")).status_code == 204
        assert (await a.put("/api/v1/rooms/hall/bans/dave")).status_code == 204  # idempotent
    async with api(hall, "dave") as d:
        error_of(await d.put("/api/v1/rooms/hall/members/dave"), 403, "forbidden")
    for c in (alice, bob):
        await c.close()
    await bob_ws.close()


async def test_a_mute_stops_sending_everywhere_until_it_expires(
    hall: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await command(alice, "/mute bob 1", r"^\* bob was muted in #hall for 1 minute by alice$")
    await bob.expect(r"bob was muted in #hall")
    bob.send("can you hear me?")
    await bob.expect(r"^! you are muted in #hall for 1 more minute$")
    await command(bob, "/me shouts", r"^! you are muted in #hall")
    await bob_ws.send(type="send", room="hall", text="and now?")
    assert (await bob_ws.next("error", "muted"))["code"] == "forbidden"
    async with api(hall, "bob") as b:
        assert "muted" in error_of(
            await b.post("/api/v1/rooms/hall/messages", json={"text": "x"}), 403, "forbidden"
        )
        error_of(await b.post("/send/hall/bob", content="x"), 403, "forbidden")
        # reading is fine, and so are other rooms
        assert (await b.get("/api/v1/rooms/hall/messages")).status_code == 200
        assert (await b.put("/api/v1/rooms/elsewhere/members/bob")).status_code == 200
        assert (await b.post("/send/elsewhere/bob", content="x")).status_code == 201
    alice.send("alice is not muted")
    await bob.expect(r"<alice> alice is not muted$")

    # a minute and a second pass: by the store's clock and the node's monotonic one, which
    # tells the store's time between its reads (the node's wall clock does not end a mute)
    store, mutes, passed = services(hall).store, services(hall).mutes, timedelta(seconds=61)
    clock, ticks = store.clock, mutes.clock.monotonic

    async def store_later() -> datetime:
        read: datetime = await clock()
        return read + passed

    monkeypatch.setattr(store, "clock", store_later)
    monkeypatch.setattr(mutes.clock, "monotonic", lambda: ticks() + passed.total_seconds())
    bob.send("the mute is over")
    await alice.expect(r"<bob> the mute is over$")

    await command(alice, "/mute bob 10", r"bob was muted in #hall for 10 minute")
    await command(bob, "hi?", r"^! you are muted in #hall for 10 more minute")
    await command(alice, "/unmute bob", r"^\* bob may speak in #hall again$")
    await command(alice, "/unmute bob", r"^! bob is not muted in #hall$")
    bob.send("unmuted")
    await alice.expect(r"<bob> unmuted$")
    for bad in ("/mute bob 0", "/mute bob soon", "/mute bob 99999999"):
        await command(alice, bad, r"^! (usage|mute for 1 to)")
    async with api(hall, "alice") as a:
        r = await a.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 5})
        assert r.status_code == 200 and r.json()["user"] == "bob"
        error_of(await a.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 0}), 422)
        assert (await a.delete("/api/v1/rooms/hall/mutes/bob")).status_code == 204
    for c in (alice, bob):
        await c.close()
    await bob_ws.close()


async def test_a_mute_outlives_a_restart(make_server: ServerFactory, tmp_path: Path) -> None:
    app = await make_server(data_dir=tmp_path)
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        async with api(app, "bob") as b:
            await b.put("/api/v1/rooms/hall/members/bob")
        assert (await a.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 5})).status_code == 200
    await app.stop()
    again = await make_server(data_dir=tmp_path)
    bob = await in_hall(again, "bob")
    await command(bob, "still muted?", r"^! you are muted in #hall for 5 more minute")
    await bob.close()


async def test_a_muted_member_is_told_the_room_as_it_is_spelt(server: App) -> None:
    """`! you are muted in #dev-room`, the room's key, read as another room than the #Dev-Room
    of every other line (found by a first-hour walk, fh52)."""
    async with api(server, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "Dev-Room")
        async with api(server, "bob") as b:
            await b.put("/api/v1/rooms/Dev-Room/members/bob")
            assert (
                await a.put("/api/v1/rooms/Dev-Room/mutes/bob", json={"minutes": 5})
            ).status_code == 200
            r = await b.post("/api/v1/rooms/Dev-Room/messages", json={"text": "x"})
            assert "you are muted in #Dev-Room for 5 more minutes" in error_of(r, 403, "forbidden")
    bob = await telnet(server, "bob")
    await command(bob, "/join dev-room", r"^\* you are (already )?in #Dev-Room")
    await command(bob, "hello?", r"^! you are muted in #Dev-Room for 5 more minutes$")
    await bob.close()


async def test_the_inviter_is_told_once(hall: App) -> None:
    """`/invite dave` answered the inviter twice, `* alice invited dave to #hall` (the room's
    invite-notify) and `* you invited dave to #hall`; IRC's inviter gets its 341 alone, and
    so does telnet's now, while the room's other members still hear of it (fh52)."""
    alice = await in_hall(hall, "alice")
    carol = await in_hall(hall, "carol")
    await command(alice, "/invite dave", r"^\* you invited dave to #hall$")
    await carol.expect(r"^\* alice invited dave to #hall$")  # every listener told by now
    await command(alice, "after the invitation", r"<alice> after the invitation$")
    assert [line for line in alice.seen if "invited dave" in line] == [
        "* you invited dave to #hall"
    ]
    for c in (alice, carol):
        await c.close()


async def test_the_topic_is_shown_on_join(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    carol = await in_hall(hall, "carol")
    await command(
        alice, "/topic plans for saturday", r"^\* alice set the topic of #hall: plans for saturday$"
    )
    await carol.expect(r"^\* alice set the topic of #hall")
    bob = await telnet(hall, "bob")  # back in #hall, joined last (core/comeback.py)
    assert bob.seen[-1].startswith("* you are in #hall")
    await bob.expect(r"^\* topic: plans for saturday \(set by alice on [-\d]+ [:\d]+\)$")
    ws = await Ws.open(hall, "carol")
    await ws.send(type="subscribe", room="hall")
    assert (await ws.next("notice", "topic: "))["room"] == "hall"
    async with api(hall, "bob") as b:
        assert (await b.get("/api/v1/rooms/hall")).json()["topic"].startswith("plans for")
    saturday = r"^\* topic of #hall: plans for saturday \(set by alice on [-\d]+ [:\d]+\)$"
    await command(carol, "/topic", saturday)  # anyone sees it
    await command(alice, "/topic", saturday)  # unchanged
    await command(alice, "/topic off", r"^\* alice cleared the topic of #hall$")
    await command(carol, "/topic", r"^\* #hall has no topic$")
    async with api(hall, "alice") as a:
        r = await a.patch("/api/v1/rooms/hall", json={"topic": "via \x1b[2J http "})
        assert r.status_code == 200 and r.json()["topic"] == "via \ufffd[2J http"
        r = await a.patch("/api/v1/rooms/hall", json={"topic": "x" * 600})  # cut, as IRC's
        assert r.json()["topic"] == "x" * 390, r.text
    for c in (alice, bob, carol):
        await c.close()
    await ws.close()


async def test_create_a_room_then_run_it(server: App) -> None:
    alice = await telnet(server, "alice")
    await command(alice, "/create Den private", r"^\* you created #Den \(private")
    await alice.expect(r"^\* you are in #Den")
    await command(alice, "/create den", r"^! the room name #den is taken")
    await command(alice, "/create x y", r"^! usage: /create ROOM \[private\]")
    await command(alice, "/private off", r"^\* alice made #Den public$")
    await command(alice, "/private maybe", r"^! usage: /private on\|off")
    await command(alice, "/private on", r"^\* alice made #Den private \(invite-only\)$")
    alice.send("/audit")
    await alice.expect(r"^\* last 3 moderation actions in #Den:")
    assert [(await alice.expect(r"^  ")).string.split()[3] for _ in range(3)] == [
        "/create",
        "/private",
        "/private",
    ]
    async with api(server, "bob") as b:
        await register(b, "bob")
        r = await b.post("/api/v1/rooms", json={"name": "hall"})
        assert r.status_code == 201 and r.json()["owner"] == "bob" and r.json()["members"] == 1
        error_of(await b.post("/api/v1/rooms", json={"name": "DEN"}), 409, "conflict")
        error_of(await b.post("/api/v1/rooms", json={"name": "bad name"}), 422)
        entries = (await b.get("/api/v1/rooms/hall/audit")).json()["entries"]
        assert [(e["actor"], e["action"], e["detail"]) for e in entries] == [
            ("bob", "create", "public")
        ]
    await alice.close()


async def test_the_default_room_belongs_to_the_server(server: App) -> None:
    first = await telnet(server, "first")
    await command(first, "/kick nobody", r"^! only room admins of #lobby may /kick")
    async with api(server, "first") as f:
        assert (await f.get("/api/v1/rooms/lobby")).json()["owner"] is None
        me = (await f.get("/api/v1/me")).json()
        assert (me["name"], me["default_room"]) == ("first", "lobby")
    await first.close()


async def test_server_admins_may_moderate_any_room(hall: App) -> None:
    await services(hall).accounts.set_admin("root", True)
    root = await telnet(hall, "root")
    await command(root, "/join hall", r"you are in #hall")
    await command(root, "/kick alice", r"^\* alice was kicked from #hall by root$")
    await command(root, "/op bob", r"made bob an admin")
    await command(root, "/private on", r"made #hall private")
    assert [e.actor for e in await audit(hall, "hall")][:3] == ["root"] * 3
    await root.close()


async def test_help_lists_the_moderation_commands_with_their_role(server: App) -> None:
    c = await telnet(server, "alice")
    c.send("/help")
    await c.expect(r"^\* commands:")
    lines = await c.lines_for(0.5)
    for name in MODERATION:
        assert any(line.strip().startswith(f"/{name}") for line in lines), name
    assert any("/kick USER" in line and "(room admins)" in line for line in lines)
    assert any("/op USER" in line and "(room owner)" in line for line in lines)
    await c.close()
