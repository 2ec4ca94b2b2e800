"""A password change landing while a login with the old password is being checked. The
check passed, so without a second look the login would hand out what the change just took
away: a bearer token that outlives the change, or a Basic entry cached for its whole TTL.
The change is made at that exact moment (once the password check returns, before the door
uses its answer) by the real server's own Accounts, through no door; the doors are asked
through real sockets. Sessions (telnet, IRC, WebSocket) are covered by their proof of
login (core/sessions.py) and by test_revocation.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD, bearer
from tests.security.conftest import basic_header, http_from
from torbit.app import App

NEW = "new-secret-1"


async def register_elsewhere(app: App, name: str) -> None:
    """As the CLI does, so that no door remembers the password (a registration over HTTP
    does: its client's next login needs no check, and so would not race one)."""
    assert app.core is not None
    await app.core.accounts.register(name, PASSWORD, by_admin=True)


def change_after_next_check(app: App, name: str) -> list[int]:
    """Change `name`'s password once the next password check has passed; the count of
    changes made."""
    assert app.core is not None
    accounts = app.core.accounts
    check: Callable[..., Awaitable[Any]] = accounts.authenticate
    changes: list[int] = []

    async def racing(*args: Any, **kwargs: Any) -> Any:
        user = await check(*args, **kwargs)
        if not changes:
            changes.append(1)
            await accounts.set_password(name, NEW)
        return user

    accounts.authenticate = racing  # type: ignore[method-assign]
    return changes


async def test_a_token_login_overtaken_by_a_password_change_gets_no_lasting_token(
    server: App,
) -> None:
    async with http_from(server) as client:
        await register_elsewhere(server, "alice")
        changes = change_after_next_check(server, "alice")
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        assert changes == [1]
        if r.status_code == 201:  # no token of the old password may work after the change
            me = await client.get("/api/v1/me", headers=bearer(r.json()["token"]))
            assert me.status_code == 401, "a token of the old password outlived its change"
        else:
            assert r.status_code == 401
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": NEW})
        assert r.status_code == 201


async def test_a_basic_check_overtaken_by_a_password_change_is_not_remembered(
    server: App,
) -> None:
    async with http_from(server) as client:
        await register_elsewhere(server, "alice")
        changes = change_after_next_check(server, "alice")
        await client.get("/api/v1/me", headers=basic_header("alice"))  # in flight: either way
        assert changes == [1]
        for _ in range(3):
            r = await client.get("/api/v1/me", headers=basic_header("alice"))
            assert r.status_code == 401, "the old password was remembered past its change"
        r = await client.get("/api/v1/me", headers=basic_header("alice", NEW))
        assert r.status_code == 200
