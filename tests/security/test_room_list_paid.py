"""`GET /api/v1/rooms` pays for the rooms it reads from the caller's read budget, ten for a
message, the hidden ones too: a page may read ten store pages of rooms the caller cannot
see to fill itself, and pages were free to ask for (34 pages of 10,000 hidden rooms in 10 s
took 6.6 s of server CPU from one client in a probe), where IRC's LIST and telnet's /list
pay a walk (`limits.walk_rate`). Past the budget: 429 with Retry-After, and the budget
refills (hostile probe, stop 44)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.at_once import answered, asked_at_once
from tests.helpers.http import register
from tests.helpers.moderation import api, create_room


async def test_room_pages_are_paid_from_the_read_budget_hidden_rooms_too(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"read_rate": 1.0, "read_burst": 20, "create_rate": 0})
    async with api(app, "owner") as owner, api(app, "prober") as prober:
        await register(owner, "owner", "prober")
        for i in range(40):  # hidden from the prober
            await create_room(owner, f"hidden{i:02d}", private=True)
        statuses = []
        for _ in range(12):
            r = await prober.get("/api/v1/rooms", params={"limit": 10})
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert all(not room["name"].startswith("hidden") for room in r.json()["rooms"])
            else:
                assert r.status_code == 429 and "retry-after" in r.headers, r.text
        # the first pages are answered; reading 40+ hidden rooms a page spends the 20
        # messages' worth (200 rooms) in a few pages, then the budget refuses
        assert statuses[0] == 200 and 429 in statuses, statuses
        # the owner's own budget is untouched
        assert (await owner.get("/api/v1/rooms", params={"limit": 10})).status_code == 200


async def test_pages_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    """Each page took one message's worth before it read, then paid the rest: 30 pages asked
    at once each read their fill of hidden rooms before any paid. Now the most a page may
    read is taken first: the budget (20 messages, 200 rooms) answers at most two pages that
    read 100 rooms each, and a page granted less reads less."""
    app = await make_server(
        limits={"read_rate": 0.01, "read_burst": 20, "create_rate": 0, "rooms_per_user": 200}
    )
    async with api(app, "owner") as owner, api(app, "prober") as prober:
        await register(owner, "owner", "prober")
        for i in range(120):  # hidden from the prober: every page reads SCAN_PAGES of them
            await create_room(owner, f"hidden{i:03d}", private=True)
        ok = answered(await asked_at_once(prober, "/api/v1/rooms", params={"limit": 10}))
    assert 1 <= len(ok) <= 2, len(ok)  # before: 20
    for r in ok:
        assert r.json()["rooms"] == [] and r.json()["next_after"], r.text  # more to read
