"""A user's own password changes (`PUT /api/v1/me/password`) are rate limited per user
(`limits.password_change_rate`, `password_change_burst`) and run one at a time per user on a
node: each costs two argon2 runs (the current password checked, the new one hashed). Before,
neither held: one account sending rounds of 40 parallel changes had each of them hash its new
password although only one could win (the others then answered 409), and kept both cores of
the node busy in argon2; another user's IRC login went from 0.12 s to 2.28 s (p50). What is
counted here is the argon2 work (calls of the password hashing's `hash` and `verify`), never
time. The change has no telnet or IRC command; every door that gets one goes through
`Accounts.change_password`, where both bounds live."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url, change_password, error_of
from tests.security.conftest import OWNER, basic_header, http_from
from torbit.app import App

AT_ONCE = 40
BURST = 3
SLOW = {"password_change_rate": 0.001, "password_change_burst": BURST}
POOL = httpx.Limits(max_connections=AT_ONCE)


class Argon2:
    """Counts the argon2 runs of a running server's password hashing: `verify` (a password
    checked) and `hash` (a new one hashed). When held, the first `verify` waits for
    `release` (`entered` is set then); the others run as they come."""

    def __init__(self, app: App, held: bool = False) -> None:
        assert app.core is not None
        hashing = app.core.accounts.hashing
        self.verifies = 0
        self.hashes = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not held:
            self.release.set()
        real_verify: Callable[[str, str], Awaitable[bool]] = hashing.verify
        real_hash: Callable[..., Awaitable[str]] = hashing.hash

        async def verify(password_hash: str, password: str) -> bool:
            self.verifies += 1
            if self.verifies == 1:
                self.entered.set()
                await self.release.wait()
            return await real_verify(password_hash, password)

        async def hash_(password: str, *, low_priority: bool = False) -> str:
            self.hashes += 1
            return await real_hash(password, low_priority=low_priority)

        hashing.verify = verify  # type: ignore[method-assign]
        hashing.hash = hash_  # type: ignore[method-assign]


async def test_parallel_changes_of_one_account_hash_at_most_the_burst(
    make_server: ServerFactory,
) -> None:
    """Forty changes at once with the right current password, over forty connections with a
    token: one is let through (204), the others are refused before any hash (409 while it is
    under way, 401 once it has logged the token out, 429 past the burst). On main each went
    on to hash its new password: ~40 argon2 hashes, 39 of them for a 409."""
    app = await make_server(limits={**SLOW, "login_free_attempts": 1000})
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    async with http_from(app) as client:
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        token = {"Authorization": f"Bearer {r.json()['token']}"}
    argon2 = Argon2(app)
    async with httpx.AsyncClient(base_url=base_url(app), timeout=60, limits=POOL) as parallel:
        answers = await asyncio.gather(
            *[change_password(parallel, f"new-pw-{i}", headers=token) for i in range(AT_ONCE)]
        )
    statuses = Counter(r.status_code for r in answers)
    assert statuses[204] == 1, statuses
    assert set(statuses) <= {204, 401, 409, 429}, statuses
    assert argon2.hashes <= BURST, f"{argon2.hashes} new passwords hashed for one change"
    assert argon2.verifies <= BURST
    winner = [r.status_code for r in answers].index(204)
    async with http_from(app) as client:
        r = await client.get("/api/v1/me", headers=basic_header("alice", f"new-pw-{winner}"))
        assert r.status_code == 200


async def test_a_change_under_way_refuses_the_next_before_any_hash(
    make_server: ServerFactory,
) -> None:
    """The first change is held inside its check of the current password; a second one of
    the same user, sent then, is answered 409 at once and costs no argon2 run at all. Another
    user's change is not held up by it."""
    app = await make_server(limits=SLOW)
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    await app.core.accounts.register("bob", PASSWORD, by_admin=True)
    async with http_from(app) as client:
        for name in ("alice", "bob"):  # remembered: the PUTs' own Basic checks cost nothing
            assert (await client.get("/api/v1/me", headers=basic_header(name))).status_code == 200
        argon2 = Argon2(app, held=True)
        first = asyncio.ensure_future(
            change_password(client, "new-pw-1", headers=basic_header("alice"))
        )
        await argon2.entered.wait()
        assert argon2.verifies == 1
        async with http_from(app, OWNER) as other:  # not the first's check shared: its own
            r = await change_password(other, "new-pw-2", headers=basic_header("alice"))
        assert "is being changed" in error_of(r, 409, "conflict")
        assert (argon2.verifies, argon2.hashes) == (1, 0)
        argon2.release.set()
        assert (await first).status_code == 204
        assert argon2.hashes == 1
        r = await change_password(client, "new-pw-3", headers=basic_header("bob"))
        assert r.status_code == 204
        r = await client.get("/api/v1/me", headers=basic_header("alice", "new-pw-1"))
        assert r.status_code == 200


async def test_changes_past_the_burst_are_refused_with_429(make_server: ServerFactory) -> None:
    """One after the other: the burst goes through, the next is 429 with Retry-After and
    costs no argon2 run; another user has a bucket of their own; a new password that breaks
    the rules is refused (422) before any bucket is spent."""
    app = await make_server(limits=SLOW)
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    await app.core.accounts.register("bob", PASSWORD, by_admin=True)
    async with http_from(app) as client:
        r = await change_password(client, "x", headers=basic_header("alice"))
        error_of(r, 422)
        current = PASSWORD
        for i in range(BURST):
            new = f"new-pw-{i}"
            r = await change_password(
                client, new, current=current, headers=basic_header("alice", current)
            )
            assert r.status_code == 204, r.text
            current = new
        assert (
            await client.get("/api/v1/me", headers=basic_header("alice", current))
        ).status_code == 200
        argon2 = Argon2(app)
        r = await change_password(
            client, "one-too-many", current=current, headers=basic_header("alice", current)
        )
        assert "too many password changes" in error_of(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        assert (argon2.verifies, argon2.hashes) == (0, 0)
        assert (
            await client.get("/api/v1/me", headers=basic_header("alice", current))
        ).status_code == 200
        r = await change_password(client, "bobs-new", headers=basic_header("bob"))
        assert r.status_code == 204
