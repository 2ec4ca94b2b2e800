"""A roster read is granted on one token and paid after, ten names a message (attack8); but
the pay was taken only as far as the bucket went, so with the budget spent a roster of any
size cost the one token that had come back: at the default rate, 1,000 reads a second of a
10,000-name roster instead of one. What a read costs beyond what is left is now owed, and
nothing is granted until the bucket has refilled past it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.conftest import ServerFactory
from tests.helpers.at_once import answered, asked_at_once
from tests.helpers.http import PASSWORD, basic, error_of, http_client
from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.core.limits import RateLimiter, ReadBudget
from torbit.core.models import User
from torbit.errors import RateLimited

MEMBERS = 200  # 20 messages a read of the roster


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_read_beyond_what_is_left_is_owed() -> None:
    clock = Clock()
    budget = ReadBudget(RateLimiter(1.0, 10, clock=clock))
    granted = budget.grant("mallory", 1)
    budget.settle("mallory", granted, 1000)  # a roster of 10,000 names on the first token
    reads = 0
    for _ in range(60):  # a minute: one token back a second
        clock.now += 1.0
        try:
            granted = budget.grant("mallory", 1)
        except RateLimited:
            continue
        budget.settle("mallory", granted, 1000)
        reads += 1
    assert reads == 0  # on main: 60 more rosters, one token each


def test_a_refusal_while_owing_says_when_the_debt_is_repaid() -> None:
    clock = Clock()
    budget = ReadBudget(RateLimiter(1.0, 10, clock=clock))
    budget.settle("mallory", budget.grant("mallory", 1), 1000)  # owes 999 past a full bucket
    clock.now += 5.0
    try:
        budget.grant("mallory", 1)
    except RateLimited as refused:
        # a token is back when the bucket is 9 short of full: 1,000 - 5 - 9 s from now
        assert refused.retry_after == 986.0  # on main: 1.0, one token's time
        assert str(refused).endswith(": try again in 17 min")
    else:
        raise AssertionError("granted while owing")
    clock.now += 986.0
    assert budget.grant("mallory", 1) == 1


def test_a_long_polls_answer_beyond_what_is_left_is_owed() -> None:
    clock = Clock()
    budget = ReadBudget(RateLimiter(1.0, 10, clock=clock))
    budget.charge("mallory", 100)  # a woken poll's page of 100, never refused
    clock.now += 10.0  # a full bucket's time: on main, 10 more messages granted here
    try:
        budget.grant("mallory", 10)
    except RateLimited as refused:
        assert refused.retry_after == 81.0
    else:
        raise AssertionError("granted while owing")


async def crowded_lobby(make_server: ServerFactory, rate: float, burst: int) -> App:
    """alice's #lobby (made by her first receive) with MEMBERS - 1 others, never online."""
    app = await make_server(limits={"read_rate": rate, "read_burst": burst})
    assert app.core is not None
    store = app.core.store
    await app.core.accounts.register("alice", PASSWORD)
    async with http_client(app) as c:
        assert (await c.get("/receive/lobby/alice", auth=basic("alice"))).status_code == 200
    now = datetime.now(UTC)
    for i in range(MEMBERS - 1):
        user = await store.create_user(User(f"member{i}", "x", now))
        await store.add_member("lobby", user.key)
    return app


async def test_a_roster_read_on_the_last_token_is_paid_whole(make_server: ServerFactory) -> None:
    app = await crowded_lobby(make_server, 1.0, 1)
    async with http_client(app) as c:
        await asyncio.sleep(1.5)  # the receive's token back
        r = await c.get("/api/v1/rooms/lobby/members", auth=basic("alice"))
        assert r.status_code == 200 and len(r.json()["members"]) == MEMBERS, r.text
        # one token back within a second and a half; the read owed 19 more (19 s)
        await asyncio.sleep(1.5)
        r = await c.get("/api/v1/rooms/lobby/members", auth=basic("alice"))
        assert "too many messages read" in error_of(r, 429)  # on main: 200, the whole roster


async def test_rosters_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    """Each roster read took one token before reading and paid the rest after: 30 reads of a
    200-name roster (20 messages each) asked at once were all answered on a budget of 120.
    Now a read takes what the room's member count says it will cost before it reads, the
    room's first read on the node too, whatever another door read of it before (an IRC NAMES
    names only those online): at most 120 / 20."""
    app = await crowded_lobby(make_server, 0.01, 121)
    async with http_client(app) as c:
        irc = await RawIrc.connect(app)  # a NAMES of the few online first: one token
        irc.send(f"PASS alice:{PASSWORD}")
        await irc.register("alice")
        irc.send("NAMES #lobby")
        await irc.expect(" 366 ")
        ok = answered(await asked_at_once(c, "/api/v1/rooms/lobby/members", auth=basic("alice")))
        await irc.close()
    assert 1 <= len(ok) <= 6, len(ok)  # before: 30
    for r in ok:
        assert len(r.json()["members"]) == MEMBERS, r.text
