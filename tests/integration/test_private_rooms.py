"""Trying to break into a private room: a non-member gets "no such room" (404) through every
door (telnet, classic /send and /receive, the v1 API, the WebSocket), exactly as for a room
that does not exist, and private rooms are never listed to them. An invitation opens it."""

from __future__ import annotations

import re

import pytest

from tests.helpers.http import error_of, register
from tests.helpers.moderation import Ws, api, command, create_room, services, telnet
from torbit.app import App
from torbit.frontends.http.classic import MAKE_A_ROOM

SECRET = "the secret plans"


@pytest.fixture
async def den(server: App) -> App:
    """alice owns the private room #den with one message in it; mallory and bob are users."""
    async with api(server, "alice") as alice:
        await register(alice, "alice", "mallory", "bob", "root")
        await create_room(alice, "Den", private=True)
        r = await alice.patch("/api/v1/rooms/den", json={"topic": "saturday"})
        assert r.status_code == 200, r.text
        assert (
            await alice.post("/api/v1/rooms/den/messages", json={"text": SECRET})
        ).status_code == 201
    return server


def no_such_room(response: object, room: str = "den") -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    message = error_of(response, 404, "not_found")
    # the classic routes add how rooms are made, in the same words for every room
    classic = re.escape(f": {MAKE_A_ROOM}")
    assert re.fullmatch(rf"no such room #{room}({classic})?", message, re.IGNORECASE), message


async def test_the_http_doors_answer_404_as_for_a_missing_room(den: App) -> None:
    async with api(den, "mallory") as m:
        for room in ("den", "DEN", "nowhere"):
            no_such_room(await m.get(f"/api/v1/rooms/{room}"), room)
            no_such_room(await m.get(f"/api/v1/rooms/{room}/messages"), room)
            no_such_room(await m.get(f"/api/v1/rooms/{room}/members"), room)
            no_such_room(await m.get(f"/api/v1/rooms/{room}/read-marker"), room)
            no_such_room(
                await m.put(f"/api/v1/rooms/{room}/read-marker", json={"last_read_id": 1}), room
            )
            no_such_room(await m.post(f"/api/v1/rooms/{room}/messages", json={"text": "hi"}), room)
            no_such_room(await m.delete(f"/api/v1/rooms/{room}/members/mallory"), room)
        # joining creates a missing room, but never opens a private one
        no_such_room(await m.put("/api/v1/rooms/den/members/mallory"))
        # the classic routes make the caller a member first: not here
        no_such_room(await m.post("/send/den/mallory", content="let me in"))
        no_such_room(await m.get("/receive/den/mallory"))
        no_such_room(await m.get("/receive/Den/mallory", params={"wait": 1}), "Den")
        # the owners' routes do not even say "forbidden"
        for method, path, body in [
            ("PATCH", "/api/v1/rooms/den", {"topic": "mine"}),
            ("POST", "/api/v1/rooms/den/invites", {"user": "mallory"}),
            ("PUT", "/api/v1/rooms/den/bans/alice", None),
            ("DELETE", "/api/v1/rooms/den/bans/alice", None),
            ("PUT", "/api/v1/rooms/den/mutes/alice", {"minutes": 5}),
            ("DELETE", "/api/v1/rooms/den/mutes/alice", None),
            ("PUT", "/api/v1/rooms/den/admins/mallory", None),
            ("DELETE", "/api/v1/rooms/den/admins/alice", None),
            ("DELETE", "/api/v1/rooms/den/members/alice", None),
            ("GET", "/api/v1/rooms/den/audit", None),
        ]:
            no_such_room(await m.request(method, path, json=body))

        listed = (await m.get("/api/v1/rooms")).json()["rooms"]
        assert "den" not in [r["name"].lower() for r in listed]
        assert (await m.get("/api/v1/me/rooms")).json()["rooms"] == []
    store = services(den).store
    assert await store.list_members("den") == ["alice"]
    assert [e.action for e in await store.list_audit("den")] == ["topic", "create"]


async def test_telnet_cannot_join_list_or_read_it(den: App) -> None:
    mallory = await telnet(den, "mallory")
    for attempt in ("/join den", "/join DEN", "/leave den"):
        await command(mallory, attempt, r"(?i)^! no such room #den$")
    mallory.send("/rooms")
    await mallory.expect(r"rooms?:$")
    listing = await mallory.lines_for(0.5)
    assert listing and not any("den" in line.lower() for line in listing)
    await command(mallory, "/history", r"messages? of #lobby|no messages to show in #lobby")
    await mallory.close()
    assert not any(SECRET in line for line in mallory.seen)
    assert await services(den).store.list_members("den") == ["alice"]


async def test_the_websocket_cannot_subscribe_or_send(den: App) -> None:
    ws = await Ws.open(den, "mallory")
    await ws.send(type="subscribe", room="den")
    assert (await ws.next("error", "no such room #den"))["code"] == "not_found"
    await ws.send(type="send", room="den", text="hi")
    assert (await ws.next("error", "no such room #den"))["code"] == "not_found"
    await ws.send(type="unsubscribe", room="den")
    await ws.next("error")
    assert services(den).subscriptions.listeners("den") == []
    # messages sent to the room meanwhile do not reach a non-member either
    async with api(den, "alice") as alice:
        await alice.post("/api/v1/rooms/den/messages", json={"text": "more secrets"})
    await ws.send(type="ping")
    await ws.next("pong")
    assert ws.texts() == []
    await ws.close()


async def test_an_invitation_lets_one_see_and_join(den: App) -> None:
    bob = await telnet(den, "bob")
    async with api(den, "alice") as alice:
        r = await alice.post("/api/v1/rooms/den/invites", json={"user": "Bob"})
        assert r.status_code == 204, r.text
    await bob.expect(r"^\* alice invited you to #Den: /join Den")
    async with api(den, "bob") as b:
        listed = (await b.get("/api/v1/rooms")).json()["rooms"]
        assert [r["name"] for r in listed if r["private"]] == ["Den"]
        mine = (await b.get("/api/v1/me/rooms")).json()["rooms"]
        assert [r["name"] for r in mine] == ["lobby"]  # not a member of #Den yet
    await command(bob, "/join den", r"^\* you are (already )?in #Den")
    await bob.expect(r"^\* topic: saturday")
    await bob.expect(rf"<alice> {SECRET}$")
    async with api(den, "bob") as b:
        assert [r["name"] for r in (await b.get("/api/v1/me/rooms")).json()["rooms"]] == [
            "Den",
            "lobby",
        ]
        r = await b.get("/api/v1/rooms/den/members")
        assert r.json()["members"] == ["alice", "bob"]
    standing = await services(den).store.standing("den", "bob")
    assert standing.member and not standing.invited  # the invitation is used up
    # leaving a private room closes it again until the next invitation
    await command(bob, "/leave", r"you left #Den")
    await command(bob, "/join den", r"^! no such room #den")
    # mallory, still uninvited, sees nothing of all this
    async with api(den, "mallory") as m:
        no_such_room(await m.get("/api/v1/rooms/den/members"))
    await bob.close()


async def test_server_admins_see_everything(den: App) -> None:
    await services(den).accounts.set_admin("root", True)
    async with api(den, "root") as root:
        listed = (await root.get("/api/v1/rooms")).json()["rooms"]
        assert "Den" in [r["name"] for r in listed]
        r = await root.put("/api/v1/rooms/den/members/root")
        assert r.status_code == 200, r.text
        messages = (await root.get("/api/v1/rooms/den/messages")).json()["messages"]
        assert [m["text"] for m in messages] == [SECRET]


async def test_making_a_room_private_hides_it_from_then_on(server: App) -> None:
    async with api(server, "alice") as alice:
        await register(alice, "alice", "bob", "mallory")
        await create_room(alice, "hall")
        async with api(server, "bob") as b:
            assert (await b.put("/api/v1/rooms/hall/members/bob")).status_code == 200
        r = await alice.patch("/api/v1/rooms/hall", json={"private": True})
        assert r.status_code == 200 and r.json()["private"] is True
    async with api(server, "bob") as b:  # members stay members
        assert (await b.post("/api/v1/rooms/hall/messages", json={"text": "hi"})).status_code == 201
    async with api(server, "mallory") as m:
        no_such_room(await m.get("/api/v1/rooms/hall/messages"), "hall")
        assert "hall" not in [r["name"] for r in (await m.get("/api/v1/rooms")).json()["rooms"]]
