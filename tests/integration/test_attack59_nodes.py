"""Stop 59's new code as a hostile client on two nodes sees it (attack59 in docs/security.md).

A bearer token is dated and judged by the store's time as each node tells it (clock59): a
node started with its wall clock stepped tells it from its first read of the store's clock,
taken before its doors open; a token issued on the other node, or before a restart, works
there at once, and its housekeeping purges no live one.

A lift (an unban, a leave, a declined invitation) raced on node a against the same standing
given again on node b (a ban, a join, an invitation; or a kick against the leave), both by
HTTP at the same moment: whatever order the store took them in, the store's standing, its
mirrors (Cassandra's) and what each node remembers of the membership agree afterwards, and
bob's join is refused on both nodes exactly when the store keeps his ban."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
import pytest

from tests.helpers.http import PASSWORD, bearer
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import api, services
from tests.integration.test_lift_races_nodes import hall
from tests.integration.test_token_clock_step import a_login_lives, step_wall_clock
from tests.scale.conftest import STORES, NodeFactory, done, eventually, race_bursts
from tests.security.conftest import http_from, ws_from
from torbit.app import App
from torbit.core.models import Standing
from torbit.core.tokens import token_hash

T = TypeVar("T")
pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 16
LIMITS = race_bursts(ROUNDS)


async def after(delay: float, request: Awaitable[T]) -> T:
    """`request` sent `delay` s late: the rounds start the two sides 0-30 ms apart, either
    first, for more orders than two requests sent together take (no time is asserted)."""
    await asyncio.sleep(delay)
    return await request


def step_every_wall_clock(monkeypatch: pytest.MonkeyPatch, step: Callable[[], timedelta]) -> None:
    """clock59's step, the mutes' own reading of the wall clock included (their word for
    the store's time before their first read of it: a node's start): `skew_clock` steps
    every module's."""
    step_wall_clock(monkeypatch, step)


async def token_works(node: App, token: str) -> None:
    async with http_from(node) as client:
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200, r.text
    ws = await ws_from(node, bearer(token), logged_in=True)
    await ws.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(30):
        while json.loads(await ws.recv())["type"] != "pong":
            pass
    await ws.close()


@pytest.mark.parametrize("minutes", [2, -2], ids=["forward", "back"])
async def test_a_token_on_a_node_started_with_its_clock_stepped_lives_by_the_stores(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    minutes: int,
) -> None:
    """alice's token of 1 minute from node a; node b starts (its first start) with the wall
    clock stepped 2 minutes forward or back, and node a starts again under it: the token
    works on both at once (HTTP, WebSocket), both nodes' housekeeping keeps it, and a login
    on b is dated by the store's clock."""
    jump = [timedelta(0)]
    step_every_wall_clock(monkeypatch, lambda: jump[0])
    http = {"token_ttl_hours": 1 / 60}
    a = await make_node("a", http=http)
    await services(a).accounts.register("alice", PASSWORD)
    token, _ = await sign_in(a)
    jump[0] = timedelta(minutes=minutes)
    b = await make_node("b", http=http)
    await token_works(b, token)
    await services(b).retention.purge_expired()
    await a.stop()
    a = await make_node("a", http=http)
    await services(a).retention.purge_expired()
    await token_works(a, token)
    await token_works(b, token)
    async with http_from(b) as client:
        await a_login_lives(client, timedelta(minutes=1))


async def sign_in(node: App) -> tuple[str, datetime]:
    async with http_from(node) as client:
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()["token"], datetime.fromisoformat(r.json()["expires_at"])


async def me(node: App, token: str) -> int:
    async with http_from(node) as client:
        return (await client.get("/api/v1/me", headers=bearer(token))).status_code


async def test_token_logins_at_once_on_two_nodes_with_stepped_clocks_keep_the_newest(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alice holds 4 tokens (`tokens_per_user`), each remembered by both nodes' caches; the
    nodes' wall clocks step 2 minutes forward (the store's does not), and 8 logins are sent
    to each node at once: the store keeps 4 live tokens, every token the logins evicted is
    refused on both nodes (their caches told by the eviction's revocation), every kept one
    works on both, and every token is dated by the store's clock."""
    jump = [timedelta(0)]
    step_every_wall_clock(monkeypatch, lambda: jump[0])
    sections: dict[str, dict[str, object]] = {
        "http": {"token_ttl_hours": 1},
        "limits": {"tokens_per_user": 4, "token_burst": 40},
    }
    a, b = await make_node("a", **sections), await make_node("b", **sections)
    await services(a).accounts.register("alice", PASSWORD)
    held = [(await sign_in(a))[0] for _ in range(4)]
    for node in (a, b):  # remembered by both nodes' caches
        assert [await me(node, t) for t in held] == [200] * 4
    jump[0] = timedelta(minutes=2)
    before = datetime.now(UTC)
    issued = await asyncio.gather(*(sign_in(node) for node in (a, b) for _ in range(8)))
    after = datetime.now(UTC)
    for _, expires_at in issued:
        assert before + timedelta(hours=1) <= expires_at <= after + timedelta(hours=1)
    tokens = held + [t for t, _ in issued]
    live = {t for t in tokens if await services(a).store.token_user(token_hash(t), after)}
    assert len(live) == 4

    async def settled() -> bool:
        codes = [await me(node, t) for node in (a, b) for t in tokens]
        return codes == [200 if t in live else 401 for _ in (a, b) for t in tokens]

    await eventually("both nodes refuse every evicted token, keep every live one", settled, 30)
    print(f"tokens: {len(tokens)} issued, {len(live)} live, {len(tokens) - len(live)} evicted")


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
Race = tuple[
    Callable[[App], Awaitable[object]],  # the standing, given on node a
    tuple[str, Request],  # its lift on node a: by whom
    tuple[str, Request],  # on node b at the same moment: by whom, what
]
RACES: dict[str, Race] = {
    "unban-ban": (
        lambda a: services(a).moderation.ban("alice", "hall", "bob"),
        ("alice", lambda c: c.delete("/api/v1/rooms/hall/bans/bob")),
        ("carol", lambda c: c.put("/api/v1/rooms/hall/bans/bob")),
    ),
    "leave-join": (
        lambda a: services(a).membership.become_member("bob", "hall"),
        ("bob", lambda c: c.delete("/api/v1/rooms/hall/members/bob")),
        ("bob", lambda c: c.put("/api/v1/rooms/hall/members/bob")),
    ),
    "leave-kick": (
        lambda a: services(a).membership.become_member("bob", "hall"),
        ("bob", lambda c: c.delete("/api/v1/rooms/hall/members/bob")),
        ("carol", lambda c: c.delete("/api/v1/rooms/hall/members/bob")),
    ),
    "unmute-mute": (
        lambda a: muted(a),
        ("alice", lambda c: c.delete("/api/v1/rooms/hall/mutes/bob")),
        ("carol", lambda c: c.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 600})),
    ),
    "decline-invite": (
        lambda a: services(a).moderation.invite("alice", "hall", "dave"),
        ("dave", lambda c: c.delete("/api/v1/me/invites/hall")),
        ("carol", lambda c: c.post("/api/v1/rooms/hall/invites", json={"user": "dave"})),
    ),
}


async def muted(a: App) -> None:
    """bob a member of #hall, muted there for 10 minutes."""
    await services(a).membership.become_member("bob", "hall")
    await services(a).moderation.mute("alice", "hall", "bob", 10)


def held(node: App, room: str = "hall") -> datetime | None:
    """bob's mute in the room as the node keeps it."""
    until: datetime | None = services(node).mutes.until(room, "bob", datetime.now(UTC))
    return until


async def mutes_agree(a: App, b: App, room: str = "hall") -> bool:
    """Both nodes keep bob's mute as the store does."""
    mutes = await services(a).store.active_mutes(datetime.now(UTC))
    kept = next((m.until for m in mutes if (m.room_key, m.user_key) == (room, "bob")), None)
    return held(a, room) == kept and held(b, room) == kept


async def standing(node: App, user: str) -> Standing:
    found: Standing = await services(node).store.standing("hall", user)
    return found


def remembered(node: App, user: str) -> bool:
    """Whether the node takes the user for a member of #hall without asking the store."""
    return services(node).membership.known.room(user, "hall") is not None


@pytest.mark.parametrize("scale_store", STORES)
@pytest.mark.parametrize("race", list(RACES))
async def test_a_lift_raced_by_the_standing_given_again_on_another_node_agrees_everywhere(
    make_node: NodeFactory,
    race: str,
) -> None:
    give, (on_a, lift), (on_b, again) = RACES[race]
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    outcomes: list[tuple[int, int, bool]] = []
    async with api(a, on_a) as first, api(b, on_b) as second, api(a, "bob") as bob_a:
        for n in range(ROUNDS):
            await give(a)
            late = (n % 4) * 0.01
            answers = await asyncio.gather(
                after(late if n % 8 >= 4 else 0, lift(first)),
                after(0 if n % 8 >= 4 else late, again(second)),
            )
            assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
            outcome = await agreed(race, a, b, answers, bob_a)
            outcomes.append((answers[0].status_code, answers[1].status_code, outcome))
    print(f"{race}: {ROUNDS} rounds, (lift on a, again on b, standing after): {outcomes}")


async def agreed(
    race: str, a: App, b: App, answers: Sequence[httpx.Response], bob_a: httpx.AsyncClient
) -> bool:
    """The round's end as the store and both nodes see it: whether the standing stayed."""
    if race == "unmute-mute":
        await eventually(f"{race}: both nodes keep the store's", lambda: mutes_agree(a, b), 30)
        return held(a) is not None
    if race == "decline-invite":
        kept = await standing(a, "dave")
        assert ("hall" in await services(b).store.invited_rooms("dave")) == kept.invited, kept
        return kept.invited
    kept = await standing(a, "bob")
    assert ("hall" in await services(b).store.banned_rooms("bob")) == kept.banned, kept
    if race == "leave-kick":  # one ends it, the other finds it ended
        assert not kept.member and sorted(r.status_code for r in answers)[0] == 204, answers
    for node in (a, b):  # no node remembers a membership the store ended
        await eventually(
            f"{race}: node {node.http_port} agrees with {kept}",
            lambda node=node: done(remembered(node, "bob") <= kept.member),  # type: ignore[misc]
            within=30,
        )
    if race != "unban-ban":
        return kept.member
    # the ban bars bob's join on both nodes, or neither
    async with api(b, "bob") as bob_b:
        for client in (bob_a, bob_b):
            r = await client.put("/api/v1/rooms/hall/members/bob")
            assert r.status_code == (403 if kept.banned else 200), r.text
    if not kept.banned:
        await services(a).membership.leave("bob", "hall")
    return kept.banned


@pytest.mark.parametrize("scale_store", [STORES[0]])  # postgresql
async def test_an_unmute_raced_by_the_rooms_deletion_and_a_new_mute_lifts_nothing_new(
    make_node: NodeFactory,
) -> None:
    """alice's unmute of bob in her #den (node a) sent as, on node b, alice deletes #den,
    carol makes it again, bob joins it and carol mutes him 600 minutes: whichever the
    unmute came before, carol's mute stays, in the store and on both nodes (tidy59)."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    codes: list[int] = []
    async with (
        api(a, "alice") as alice_a,
        api(b, "alice") as alice_b,
        api(b, "carol") as carol,
        api(b, "bob") as bob,
    ):

        async def made_again() -> None:
            assert (await alice_b.delete("/api/v1/rooms/den")).status_code == 204
            r = await carol.post("/api/v1/rooms", json={"name": "den"})
            assert r.status_code == 201, r.text
            assert (await bob.put("/api/v1/rooms/den/members/bob")).status_code == 200
            r = await carol.put("/api/v1/rooms/den/mutes/bob", json={"minutes": 600})
            assert r.status_code == 200, r.text

        for n in range(ROUNDS):
            await services(a).moderation.create("alice", "den")
            await services(a).membership.become_member("bob", "den")
            await services(a).moderation.mute("alice", "den", "bob", 10)
            late = (n % 4) * 0.01
            unmute, _ = await asyncio.gather(
                after(late if n % 8 >= 4 else 0, alice_a.delete("/api/v1/rooms/den/mutes/bob")),
                after(0 if n % 8 >= 4 else late, made_again()),
            )
            assert unmute.status_code in (204, 403, 404), unmute.text  # 403: in carol's den
            codes.append(unmute.status_code)
            await eventually("carol's mute kept", lambda: mutes_agree(a, b, "den"), 30)
            assert held(a, "den") is not None
            assert (await carol.delete("/api/v1/rooms/den")).status_code == 204
    print(f"unmute vs deletion: {ROUNDS} rounds, unmute answers {codes}")


async def done_here(client: RawIrc, token: str) -> None:
    """Once the lines sent before were handled: a connection's lines are handled in order."""
    client.send(f"PING :{token}")
    try:
        await client.expect(f"PONG torbit {token}")
    except TimeoutError:
        raise AssertionError(client.lines[-8:]) from None


@pytest.mark.parametrize("scale_store", STORES)
async def test_an_unban_and_a_ban_by_irc_modes_on_two_nodes_agree_everywhere(
    make_node: NodeFactory,
) -> None:
    """alice's `MODE #hall -b bob` on node a and carol's `MODE #hall +b bob` on node b at
    once, over IRC: the store keeps one, its mirror agrees, and bob's join is refused on
    both nodes exactly when the store keeps the ban."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await hall(a)
    alice = await joined(a, "alice", "hall", password=PASSWORD)
    carol = await joined(b, "carol", "hall", password=PASSWORD)
    kept_banned = []
    async with api(a, "bob") as bob_a:
        for n in range(ROUNDS):
            await services(a).moderation.ban("alice", "hall", "bob")
            unban, ban = (alice, "MODE #hall -b bob"), (carol, "MODE #hall +b bob")
            (one, first), (other, then) = (unban, ban) if n % 8 < 4 else (ban, unban)
            one.send(first)  # the other 0-30 ms later, either first (no time is asserted)
            await asyncio.sleep((n % 4) * 0.01)
            other.send(then)
            await asyncio.gather(done_here(alice, f"sync-a-{n}"), done_here(carol, f"sync-c-{n}"))
            kept_banned.append(await agreed("unban-ban", a, b, [], bob_a))
    await alice.close()
    await carol.close()
    print(f"irc -b/+b: {ROUNDS} rounds, banned after: {kept_banned}")
