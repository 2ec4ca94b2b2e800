"""attack2_58: a room admin floods mutes and unmutes at once. Since mute58 every node that
applies a mute event reads that mute back from the store, so each act costs every node a
store read: the moderation bucket (`limits.moderation_rate`, one per actor for every door)
must bound those reads too, for requests sent in parallel as for one after another, and
an unmute of a user not muted (404) must cost a token without reading anything back."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.irc import raw_guest
from tests.helpers.moderation import api, open_hall, services

BURST = 10
SLOW = {"moderation_rate": 0.001, "moderation_burst": BURST}  # no refill in a test
FLOOD = 80  # 40 mutes and 40 unmutes of bob, all sent at once


async def test_a_parallel_mute_flood_reads_the_store_back_at_most_a_burst(
    make_server: ServerFactory,
) -> None:
    app = await open_hall(await make_server(limits=SLOW))
    store = services(app).store
    reads: list[tuple[str, str]] = []
    active_mutes = store.active_mutes

    async def counted(now: datetime, of: tuple[str, str] | None = None) -> Any:
        if of is not None:
            reads.append(of)
        return await active_mutes(now, of)

    store.active_mutes = counted
    path = "/api/v1/rooms/hall/mutes/bob"

    def act(client: httpx.AsyncClient, i: int) -> Any:
        return client.put(path, json={"minutes": 5}) if i % 2 else client.delete(path)

    async with api(app, "alice") as alice:
        answers = await asyncio.gather(*(act(alice, i) for i in range(FLOOD)))
    codes = sorted(r.status_code for r in answers)
    done = [c for c in codes if c < 300]
    assert codes.count(429) == FLOOD - BURST, codes  # each act took a token, a 404 too
    assert len(done) + codes.count(404) == BURST, codes
    # one read back per event applied (this node's own), none for a refused act
    assert len(reads) == len(done) and set(reads) <= {("hall", "bob")}, reads
    held = services(app).mutes.until("hall", "bob", await store.clock())
    kept = await active_mutes(await store.clock(), ("hall", "bob"))
    assert (held is None) == (not kept)  # the node's copy is what the store kept


ROUNDS = 16
FREE = {f"{kind}_burst": 10 * ROUNDS for kind in ("moderation", "create", "join", "room_message")}


async def test_a_mute_or_unmute_racing_the_rooms_deletion_leaves_no_mute_in_the_next_room(
    make_server: ServerFactory,
) -> None:
    """Each round alice mutes bob in #hall (odd rounds: lifts the mute she set before) while
    she deletes #hall, both sent at once; then #hall is made again and bob joins it: he may
    speak there, and neither the store nor the node keeps a mute of his for the room."""
    app = await make_server(limits=FREE)
    store = services(app).store
    path = "/api/v1/rooms/hall/mutes/bob"
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        await register(alice, "alice", "bob")
        outcomes: list[tuple[int, int]] = []
        for i in range(ROUNDS):
            assert (await alice.post("/api/v1/rooms", json={"name": "hall"})).status_code == 201
            assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
            if i % 2:
                assert (await alice.put(path, json={"minutes": 60})).status_code == 200
                act = alice.delete(path)
            else:
                act = alice.put(path, json={"minutes": 60})
            gone = alice.delete("/api/v1/rooms/hall")
            if i // 2 % 2:  # the deletion sent first
                deleted, acted = await asyncio.gather(gone, act)
            else:
                acted, deleted = await asyncio.gather(act, gone)
            assert deleted.status_code == 204, deleted.text
            outcomes.append((i % 2, acted.status_code))
            assert (await alice.post("/api/v1/rooms", json={"name": "hall"})).status_code == 201
            assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code == 200
            sent = await bob.post("/api/v1/rooms/hall/messages", json={"text": f"round {i}"})
            assert sent.status_code == 201, (i, acted.status_code, sent.text)
            now = await store.clock()
            assert not await store.active_mutes(now, ("hall", "bob")), i
            assert (await alice.delete("/api/v1/rooms/hall")).status_code == 204


async def test_a_guest_renamed_while_muted_stays_muted_under_its_new_nick(
    make_server: ServerFactory,
) -> None:
    """Each round alice mutes a guest in #hall by HTTP while the guest sends NICK, at once:
    whichever lands first, a mute answered 200 silences the guest under the name it has
    now (a rename copies mutes, taking turns with the act on the name), the store and the
    node agree, and a mute answered 404 (the name gone) leaves it free."""
    app = await make_server(irc={"guests": True}, limits=FREE)
    store = services(app).store
    async with api(app, "alice") as alice:
        await register(alice, "alice")
        assert (await alice.post("/api/v1/rooms", json={"name": "hall"})).status_code == 201
        outcomes: list[int] = []
        for i in range(ROUNDS):
            old, new = f"pest{i}", f"moved{i}"
            guest = await raw_guest(app, old, "#hall")
            mute = asyncio.ensure_future(
                alice.put(f"/api/v1/rooms/hall/mutes/{old}", json={"minutes": 60})
            )
            for _ in range(i % 8):  # the NICK sent a few turns of the loop later
                await asyncio.sleep(0)
            guest.send(f"NICK {new}")
            muted = await mute
            await guest.expect(f" NICK {new}")
            outcomes.append(muted.status_code)
            guest.send(f"PRIVMSG #hall :round {i}", "PING :done")
            refused = " 404 " in await guest.expect(" 404 " if muted.status_code == 200 else "PONG")
            assert refused == (muted.status_code == 200), (i, muted.text, guest.lines[-3:])
            now = await store.clock()
            kept = await store.active_mutes(now, ("hall", new.lower()))
            held = services(app).mutes.until("hall", new.lower(), now)
            assert bool(kept) == refused and (held is not None) == refused, (i, kept, held)
            await guest.close()
