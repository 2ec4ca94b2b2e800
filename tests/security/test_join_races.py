"""A ban racing the banned user's joins through three doors at once (HTTP, telnet and the
WebSocket): however the requests interleave, the banned user ends outside the room, cannot
send to it and does not hear it. The race is run many times and every round is counted; tests/core/
test_join_races.py forces each interleaving once."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.moderation import Ws, api, command, create_room, telnet

ROUNDS = 15


async def test_a_ban_racing_joins_on_two_doors_always_keeps_the_user_out(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"join_rate": 0, "create_rate": 0, "invite_rate": 0})
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        await register(alice, "alice", "bob")
        bob_telnet = await telnet(app, "bob")
        bob_ws = await Ws.open(app, "bob")
        rooms = [f"den{i}" for i in range(ROUNDS)]
        for room in rooms:
            await create_room(alice, room, private=True)
            r = await alice.post(f"/api/v1/rooms/{room}/invites", json={"user": "bob"})
            assert r.status_code == 204, r.text
        for room in rooms:
            bob_telnet.send(f"/join {room}")
            await asyncio.gather(
                bob_ws.send(type="subscribe", room=room),
                bob.put(f"/api/v1/rooms/{room}/members/bob"),
                alice.put(f"/api/v1/rooms/{room}/bans/bob"),
                bob.put(f"/api/v1/rooms/{room}/members/bob"),
            )
        await command(bob_telnet, "/join lobby", r"^\* you are (already )?in #lobby")
        await bob_ws.subscribe("lobby")
        kept_in = []
        for room in rooms:
            members = (await alice.get(f"/api/v1/rooms/{room}/members")).json()["members"]
            sent = await bob.post(f"/api/v1/rooms/{room}/messages", json={"text": "still here"})
            posted = await alice.post(f"/api/v1/rooms/{room}/messages", json={"text": "secret"})
            assert posted.status_code == 201
            if "bob" in members or sent.is_success:
                kept_in.append(room)
        assert kept_in == []
        await bob_ws.send(type="send", room="lobby", text="last")
        await bob_ws.next("message", "last")  # the secrets went out before it
        await command(bob_telnet, "/who", r"bob")
        assert "secret" not in bob_ws.texts()
        assert not [line for line in bob_telnet.seen if "secret" in line]
        await bob_telnet.close()
        await bob_ws.close()
