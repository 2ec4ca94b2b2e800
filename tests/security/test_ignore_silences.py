"""Issue 10, item 9, over real sockets: ignoring someone silences them on every door. The
attack: bob, ignored by alice, floods her with invitations (20 at once, in parallel over
HTTP; past the invitation limit they are refused, the rest are silent), comes and goes in her room, and sets its topic. Alice, on telnet and on
the WebSocket at once, sees none of it; carol, who ignores nobody, is told of each invitation
once however often it is repeated, with one audit entry. Absence is checked behind a marker
that takes the same path (a later notice or message)."""

from __future__ import annotations

import asyncio

from tests.helpers.http import register
from tests.helpers.moderation import Ws, api, audit, command, create_room, telnet
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


async def test_an_ignored_users_invites_joins_and_topics_never_reach_you(server: App) -> None:
    async with api(server, "bob") as bob_http:
        await register(bob_http, "alice", "bob", "carol")
        for room in ("den", "hall"):
            await create_room(bob_http, room, private=room == "den")
        alice = await telnet(server, "alice")
        alice_ws = await Ws.open(server, "alice")
        carol = await telnet(server, "carol")
        await command(alice, "/ignore bob", "you now ignore bob")
        await command(alice, "/join hall", r"^\* you are (already )?in #hall")
        await command(carol, "/join hall", r"^\* you are (already )?in #hall")
        await alice_ws.subscribe("hall")

        # carol invited twice; then 20 invitations to alice in parallel: those past the
        # invitation rate limit are refused, and the others must not reach her either
        for _ in range(2):
            r = await bob_http.post("/api/v1/rooms/den/invites", json={"user": "carol"})
            assert r.status_code == 204
        answers = await asyncio.gather(
            *(bob_http.post("/api/v1/rooms/den/invites", json={"user": "alice"}) for _ in range(20))
        )
        statuses = [r.status_code for r in answers]
        assert set(statuses) == {204, 429} and statuses.count(204) >= 1
        # bob comes and goes in #hall and sets its topic
        bob = await telnet(server, "bob")
        for _ in range(3):
            await command(bob, "/join hall", r"^\* you are (already )?in #hall")
            await command(bob, "/join lobby", r"^\* you are (already )?in #lobby")
        r = await bob_http.patch("/api/v1/rooms/hall", json={"topic": "bob was here"})
        assert r.status_code == 200

        # markers: carol speaks in #hall, then sends alice a private message
        await command(carol, "marker in hall", "<carol> marker in hall")
        async with api(server, "carol") as carol_http:
            r = await carol_http.post(
                "/api/v1/private-messages", json={"to": "alice", "text": "marker"}
            )
            assert r.status_code == 201
        await alice.expect("<carol> marker in hall")
        await alice.expect("<carol> marker$")
        await alice_ws.next("message", "marker in hall")
        await alice_ws.next("message", "marker")
        for line in alice.seen:
            assert "bob" not in line or line.startswith("* you now ignore bob"), line
        assert not [f for f in alice_ws.frames if "bob" in str(f)]

        # carol ignores nobody: one notice per invitation, however often repeated
        assert "* bob set the topic of #hall: bob was here" in carol.seen
        assert carol.seen.count("* bob joined #hall") == 3
        invites = [line for line in carol.seen if "invited you" in line]
        assert invites == ["* bob invited you to #den: /join den"]
        entries = [(e.action, e.target) for e in await audit(server, "den")]
        assert entries.count(("invite", "carol")) == entries.count(("invite", "alice")) == 1

        # the invitation itself stands: alice may still join the private room
        await command(alice, "/join den", r"^\* you are (already )?in #den")
        for client in (alice, carol, bob):
            await client.close()
        await alice_ws.close()


async def test_moderation_naming_an_ignored_user_is_silent_on_the_websocket(
    server: App,
) -> None:
    async with api(server, "owner") as owner:
        await register(owner, "owner", "pest", "victim")
        await create_room(owner, "hall")
        for name in ("pest", "victim"):
            async with api(server, name) as c:
                assert (await c.put(f"/api/v1/rooms/hall/members/{name}")).status_code == 200
        victim = await Ws.open(server, "victim")
        await victim.send(type="subscribe", room="hall")
        await victim.next("notice", "you are in #hall")
        async with api(server, "victim") as v:
            assert (await v.put("/api/v1/me/ignores/pest")).status_code == 204
        pest: TelnetClient = await telnet(server, "pest")
        await command(pest, "/join hall", r"^\* you are (already )?in #hall")
        assert (await owner.put("/api/v1/rooms/hall/mutes/pest", json={"minutes": 5})).is_success
        assert (await owner.delete("/api/v1/rooms/hall/mutes/pest")).status_code == 204
        assert (await owner.put("/api/v1/rooms/hall/admins/pest")).status_code == 204
        assert (await owner.delete("/api/v1/rooms/hall/members/pest")).status_code == 204
        assert (await owner.patch("/api/v1/rooms/hall", json={"topic": "calm"})).is_success
        await victim.next("notice", "owner set the topic of #hall: calm")
        assert not [f for f in victim.frames if "pest" in str(f)]
        await pest.close()
        await victim.close()
