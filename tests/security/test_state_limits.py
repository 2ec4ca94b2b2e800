"""Issue 10, item 10, over real sockets and with the default limits: every state-changing
action is bounded. Each attack of the report is replayed: a join/leave flood (201 notices in
5.5 s), ignore add/remove at 115 events/s, a topic flood writing audit rows, 20 accounts
creating and leaving rooms in parallel (2,900 empty rooms in 60 s), and an unpaginated room
list grown to 500 KB. Bounds that depend on time are computed from the time the attack took
and the configured rates, never asserted as timings."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of
from tests.helpers.moderation import api, command, create_room, services, telnet
from torbit.app import App
from torbit.config import LimitsConfig
from torbit.core.models import AuditEntry, Room

LIMITS = LimitsConfig()
CROWD = [f"crowd{chr(ord('a') + i)}" for i in range(20)]


def allowed(rate: float, burst: int, seconds: float) -> int:
    """The most a token bucket lets through in `seconds`."""
    return burst + math.ceil(rate * seconds) + 1


async def accounts(app: App, *names: str) -> None:
    for name in names:
        await services(app).accounts.register(name, PASSWORD, by_admin=True)


async def test_a_join_leave_flood_is_cut_to_the_presence_rate(server: App) -> None:
    await accounts(server, "flooder", "watcher")
    flooder, watcher = await telnet(server, "flooder"), await telnet(server, "watcher")
    await command(flooder, "/join side", r"^\* you are (already )?in #side")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(100):  # each round: leaves the lobby and comes back
        flooder.send("/join lobby")
        flooder.send("/join side")
    flooder.send("/rooms")
    await flooder.expect(r"^\* \d+ rooms?:")
    elapsed = loop.time() - start
    await command(watcher, "marker", "<watcher> marker")
    notices = [line for line in watcher.seen if "flooder joined" in line or "flooder left" in line]
    assert 2 <= len(notices) <= allowed(LIMITS.presence_rate, LIMITS.presence_burst, elapsed)
    # the rooms themselves still work for the flooder
    await command(flooder, "/join lobby", r"^\* you are (already )?in #lobby")
    await command(flooder, "still here", "<flooder> still here")
    for c in (flooder, watcher):
        await c.close()


async def test_membership_changes_over_http_meet_the_join_limit(server: App) -> None:
    await accounts(server, "flooder")
    async with api(server, "flooder") as c:
        await create_room(c, "base")
        start = asyncio.get_running_loop().time()
        answers: list[int] = []
        for _ in range(40):
            left = await c.delete("/api/v1/rooms/base/members/flooder")
            joined = await c.put("/api/v1/rooms/base/members/flooder")
            answers += [left.status_code, joined.status_code]
            if 429 in answers:
                break
        elapsed = asyncio.get_running_loop().time() - start
        assert 429 in answers
        done = sum(1 for s in answers if s in (200, 204))
        assert done <= allowed(LIMITS.join_rate, LIMITS.join_burst, elapsed)
        error_of(await c.delete("/api/v1/rooms/base/members/flooder"), 429, "rate_limited")


async def test_ignore_add_remove_floods_are_refused(server: App) -> None:
    await accounts(server, "flooder", "target")
    async with api(server, "flooder") as c:
        start = asyncio.get_running_loop().time()
        statuses = []
        for _ in range(60):
            statuses.append((await c.put("/api/v1/me/ignores/target")).status_code)
            statuses.append((await c.delete("/api/v1/me/ignores/target")).status_code)
        elapsed = asyncio.get_running_loop().time() - start
        changed = statuses.count(204)
        assert statuses.count(429) > 0
        assert changed <= allowed(LIMITS.ignore_rate, LIMITS.ignore_burst, elapsed)
        r = await c.put("/api/v1/me/ignores/target")
        assert r.status_code == 429 and "Retry-After" in r.headers


async def test_a_topic_flood_writes_a_bounded_number_of_audit_rows(server: App) -> None:
    await accounts(server, "owner")
    owner = await telnet(server, "owner")
    await command(owner, "/create stage", r"^\* you created #stage")
    start = asyncio.get_running_loop().time()
    for i in range(30):
        owner.send(f"/topic spam {i}")
    owner.send("/rooms")
    await owner.expect(r"^\* \d+ rooms?:")
    async with api(server, "owner") as c:
        for i in range(10):
            await c.patch("/api/v1/rooms/stage", json={"topic": f"web spam {i}"})
        error_of(await c.patch("/api/v1/rooms/stage", json={"topic": "x"}), 429, "rate_limited")
    elapsed = asyncio.get_running_loop().time() - start
    rows = [e for e in await services(server).store.list_audit("stage") if e.action == "topic"]
    assert 1 <= len(rows) <= allowed(LIMITS.topic_rate, LIMITS.topic_burst, elapsed)
    assert "! slow down: too many topic or privacy changes" in "\n".join(owner.seen)
    await owner.close()


async def create_and_leave(app: App, name: str, rounds: int, parallel: int) -> list[int]:
    """One attacker: `rounds` times, `parallel` room creations at once, then leave them all."""
    statuses: list[int] = []
    async with api(app, name) as c:
        for r in range(rounds):
            rooms = [f"{name}-{r}-{i}" for i in range(parallel)]
            made = await asyncio.gather(
                *(c.post("/api/v1/rooms", json={"name": room}) for room in rooms)
            )
            statuses += [m.status_code for m in made]
            for room, m in zip(rooms, made, strict=True):
                if m.status_code == 201:
                    await c.delete(f"/api/v1/rooms/{room}/members/{name}")
    return statuses


async def count_rooms(app: App) -> int:
    return len(await services(app).store.list_rooms())


async def test_twenty_accounts_creating_and_leaving_rooms_in_parallel(
    make_server: ServerFactory,
) -> None:
    # Twenty accounts from one address authenticate at once on every request; logins in
    # flight count against the address's back-off (core/throttle.py), which is not what this
    # test is about, so that one limit is lifted; the action limits stay at their defaults.
    server = await make_server(limits={"login_address_free_attempts": 0})
    await accounts(server, *CROWD)
    before = await count_rooms(server)
    start = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(create_and_leave(server, n, 6, 5) for n in CROWD))
    elapsed = asyncio.get_running_loop().time() - start
    made = await count_rooms(server) - before
    per_account = allowed(LIMITS.create_rate, LIMITS.create_burst, elapsed)
    assert made <= len(CROWD) * min(per_account, LIMITS.rooms_per_user)
    assert all(set(s) <= {201, 429} for s in results)
    assert all(s.count(201) >= 1 for s in results)


async def test_rooms_per_user_holds_against_parallel_create_and_leave(
    make_server: ServerFactory,
) -> None:
    app = await make_server(
        limits={
            "create_rate": 0,
            "join_rate": 0,
            "rooms_per_user": 3,
            "login_address_free_attempts": 0,
        }
    )
    await accounts(app, *CROWD)
    before = await count_rooms(app)
    results = await asyncio.gather(*(create_and_leave(app, n, 4, 5) for n in CROWD))
    made = await count_rooms(app) - before
    assert made <= len(CROWD) * 3
    assert all(s.count(201) <= 3 for s in results)
    assert all(set(s) <= {201, 403} for s in results), results
    # the rooms were all left empty: housekeeping removes them after their grace period...
    retention = services(app).retention
    assert await retention.remove_empty_rooms(datetime.now(UTC) - timedelta(hours=1)) == 0
    removed = 0
    while True:
        n = await retention.remove_empty_rooms(datetime.now(UTC) + timedelta(hours=1))
        removed += n
        if not n:
            break
    assert removed == made
    assert await count_rooms(app) == before
    # ...and then their owners may create rooms again
    async with api(app, CROWD[0]) as c:
        r = await c.post("/api/v1/rooms", json={"name": "again"})
        assert r.status_code == 201, r.text


async def test_the_room_list_comes_in_bounded_pages(server: App) -> None:
    await accounts(server, "lister", "owner")
    store = services(server).store
    now = datetime.now(UTC)
    for i in range(250):
        await store.create_room(Room(name=f"room{i:03}", created_at=now, owner="owner"))
    for i in range(30):
        await store.create_room(
            Room(name=f"hidden{i:02}", created_at=now, owner="owner", private=True)
        )
    async with api(server, "lister") as c:
        first = await c.get("/api/v1/rooms")
        assert first.status_code == 200
        body = first.json()
        assert len(body["rooms"]) == 100 and len(first.content) < 30_000
        names = [r["name"] for r in body["rooms"]]
        after = body["next_after"]
        while after is not None:
            page = (await c.get("/api/v1/rooms", params={"after": after, "limit": 100})).json()
            names += [r["name"] for r in page["rooms"]]
            after = page["next_after"]
        assert names == sorted(names, key=str.lower)
        assert set(names) - {"lobby"} == {f"room{i:03}" for i in range(250)}
        small = (await c.get("/api/v1/rooms", params={"limit": 7})).json()
        assert len(small["rooms"]) == 7 and small["next_after"] == small["rooms"][-1]["name"]
        error_of(await c.get("/api/v1/rooms", params={"limit": 5000}), 422)
        error_of(await c.get("/api/v1/rooms", params={"limit": 0}), 422)
    lister = await telnet(server, "lister")
    lister.send("/rooms")
    await lister.expect(r"^\* 50 rooms:")
    await lister.expect(r"^\* more: /rooms room048$")
    await command(lister, "/rooms room048", r"^\* 50 rooms after #room048:")
    await lister.close()


async def test_old_audit_entries_are_purged_by_housekeeping(server: App) -> None:
    store = services(server).store
    now = datetime.now(UTC)
    for days in (400, 91, 89, 0):
        await store.add_audit(
            AuditEntry(at=now - timedelta(days=days), actor="owner", action="topic", room="x")
        )
    purged = await services(server).retention.purge_expired()
    assert purged.audit_entries in (0, 2)  # 0 if the background round got there first
    assert [e.at for e in await store.list_audit("x")] == [
        now - timedelta(days=0),
        now - timedelta(days=89),
    ]


async def test_limits_can_be_lifted(make_server: ServerFactory) -> None:
    """0 disables each limit (benchmarks, trusted deployments)."""
    off = {k: 0 for k in LimitsConfig.model_fields if k.endswith("_rate")}
    app = await make_server(limits={**off, "rooms_per_user": 0})
    await accounts(app, "busy", "other")
    async with api(app, "busy") as c:
        for i in range(30):
            assert (await c.post("/api/v1/rooms", json={"name": f"r{i}"})).status_code == 201
            assert (await c.put("/api/v1/me/ignores/other")).status_code == 204
            assert (await c.delete("/api/v1/me/ignores/other")).status_code == 204
            r = await c.patch(f"/api/v1/rooms/r{i}", json={"topic": "t"})
            assert r.status_code == 200
