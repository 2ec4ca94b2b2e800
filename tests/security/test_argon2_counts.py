"""Issue 15, the WebSocket's connect: what a socket, a request and a token login cost in
argon2 checks, counted (calls of the password hashing's `verify`, not time).

A WebSocket opened with Basic credentials is checked as a Basic request is (the node's cache
of verified credentials, frontends/http/auth.py); so is a token login, and a registration
leaves its new credentials known good. A wrong password is never remembered: each one costs
a full check until the login throttle refuses the next without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.security.conftest import (
    ATTACKER,
    OWNER,
    basic_header,
    first_frames,
    http_from,
    ws_from,
)
from torbit.app import App
from torbit.core.throttle import LoginThrottle

FREE = 3  # login_free_attempts' default: the failure after these starts the back-off


class Checks:
    """Counts the argon2 checks (verify) of a running server's password hashing."""

    def __init__(self, app: App) -> None:
        assert app.core is not None
        hashing = app.core.accounts.hashing
        self.calls = 0
        real: Callable[[str, str], Awaitable[bool]] = hashing.verify

        async def verify(password_hash: str, password: str) -> bool:
            self.calls += 1
            return await real(password_hash, password)

        hashing.verify = verify  # type: ignore[method-assign]

    def since(self, mark: int) -> int:
        return self.calls - mark


async def socket_outcome(
    app: App, name: str, password: str = PASSWORD, address: str = ATTACKER
) -> str:
    """'in', 'wrong' (checked and refused) or 'refused' (throttled, not checked)."""
    ws = await ws_from(app, basic_header(name, password), address)
    try:
        frames: list[dict[str, Any]] = await first_frames(ws, 1)
    finally:
        await ws.close()
    if frames[0]["type"] == "notice":
        return "in"
    return {"unauthenticated": "wrong", "rate_limited": "refused"}[frames[0]["code"]]


async def test_sockets_with_the_same_good_credentials_cost_one_check(
    make_server: ServerFactory,
) -> None:
    """Registered from another process (the CLI), so no door has seen the password yet: the
    first socket pays the check, the next ones, one after the other or all at once, none."""
    app = await make_server()
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    await app.core.accounts.register("bob", PASSWORD, by_admin=True)
    checks = Checks(app)
    assert [await socket_outcome(app, "alice") for _ in range(5)] == ["in"] * 5
    assert checks.since(0) == 1
    outcomes = await asyncio.gather(*(socket_outcome(app, "bob") for _ in range(8)))
    assert outcomes == ["in"] * 8
    assert checks.since(1) == 1  # parallel identical checks share one, then the cache


async def test_a_socket_costs_what_a_basic_request_costs(make_server: ServerFactory) -> None:
    """After a Basic request the socket costs nothing more, and the other way round."""
    app = await make_server()
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    await app.core.accounts.register("bob", PASSWORD, by_admin=True)
    checks = Checks(app)
    async with http_from(app) as client:
        assert (await client.get("/api/v1/me", headers=basic_header("alice"))).status_code == 200
        assert await socket_outcome(app, "alice") == "in"
        assert checks.since(0) == 1
        assert await socket_outcome(app, "bob") == "in"
        assert (await client.get("/api/v1/me", headers=basic_header("bob"))).status_code == 200
        assert checks.since(0) == 2


async def test_a_token_login_and_basic_credentials_share_one_check(
    make_server: ServerFactory,
) -> None:
    """On main a token login always paid a check of its own (and so did the Basic request or
    socket after it): 2 where one is enough."""
    app = await make_server()
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD, by_admin=True)
    await app.core.accounts.register("bob", PASSWORD, by_admin=True)
    checks = Checks(app)
    async with http_from(app) as client:
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 201
        token = r.json()["token"]
        assert await socket_outcome(app, "alice") == "in"
        assert checks.since(0) == 1
        assert (await client.get("/api/v1/me", headers=basic_header("bob"))).status_code == 200
        r = await client.post("/api/v1/sessions", json={"name": "bob", "password": PASSWORD})
        assert r.status_code == 201
        assert checks.since(0) == 2
        ws = await ws_from(app, {"Authorization": f"Bearer {token}"}, logged_in=True)
        await ws.close()
        assert checks.since(0) == 2  # a token costs no check at all


async def test_a_new_account_costs_no_second_hash(make_server: ServerFactory) -> None:
    """Registering over HTTP hashed the password moments ago: the client's socket or token
    login with it checks nothing again. On main each paid a full check."""
    app = await make_server()
    checks = Checks(app)
    async with http_from(app) as client:
        await register(client, "alice", "bob")
        assert await socket_outcome(app, "alice") == "in"
        r = await client.post("/api/v1/sessions", json={"name": "bob", "password": PASSWORD})
        assert r.status_code == 201
    assert checks.since(0) == 0


async def test_wrong_passwords_over_sockets_each_cost_a_check_until_throttled(
    make_server: ServerFactory,
) -> None:
    """No failure is remembered: the same wrong password, socket after socket, is checked
    each time (FREE + 1 times) and then refused by the throttle without a check; so is the
    right password from that address, though the node remembers it; the owner still gets in
    from her own address at the cost of no check."""
    app = await make_server()
    assert app.core is not None
    # the server's throttle with its defaults, on a clock that stands still: the back-off
    # (1 s at first) must not run out while a slow machine runs the test
    app.core.accounts.throttle = LoginThrottle(FREE, clock=lambda: 1000.0)
    async with http_from(app, OWNER) as client:
        await register(client, "alice")
    checks = Checks(app)
    assert await socket_outcome(app, "alice", address=OWNER) == "in"  # now remembered
    mark = checks.calls
    outcomes = [await socket_outcome(app, "alice", "a-wrong-guess") for _ in range(FREE + 3)]
    assert outcomes == ["wrong"] * (FREE + 1) + ["refused"] * 2
    assert checks.since(mark) == FREE + 1
    # the right password from the throttled address is refused too, though remembered: a
    # guesser must not learn at full speed which guess was right (on main it got in)
    assert await socket_outcome(app, "alice") == "refused"
    async with http_from(app) as client:
        r = await client.get("/api/v1/me", headers=basic_header("alice"))
        assert r.status_code == 429
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 429
    assert await socket_outcome(app, "alice", address=OWNER) == "in"
    assert checks.since(mark) == FREE + 1
