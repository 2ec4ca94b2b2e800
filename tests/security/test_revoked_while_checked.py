"""A login revoked (a password change, an account deletion) while its password is being
hashed: the check began with the right password and passes, but the request must not act on
it (`Authenticator.confirm`). Before, classic `GET /receive` handed out the page and moved
the cursor, classic `POST /send` and the v1 API's routes acted as the old password's owner.

The password check is held on its worker thread (`Held`, the real argon2 behind a gate), so
the revocation certainly lands while it runs; nothing is timed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, bearer, change_password, eventually, login
from tests.helpers.irc import RawIrc
from tests.security.conftest import (
    basic_header,
    first_frames,
    http_from,
    telnet_from,
    ws_from,
)
from torbit.app import App

NEW = "new-secret-1"
TEXTS = [f"m{i}" for i in range(30)]
HOLD = 30.0  # seconds: a hang guard, never reached when the test works


class Held(PasswordHasher):
    """The configured argon2, each verification held on its worker thread until `release`:
    `entered` counts the checks that reached a worker."""

    def __init__(self, real: PasswordHasher) -> None:
        super().__init__(
            time_cost=real.time_cost,
            memory_cost=real.memory_cost,
            parallelism=real.parallelism,
            hash_len=real.hash_len,
            salt_len=real.salt_len,
        )
        self.gate = threading.Event()
        self.entered = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.entered += 1
        self.gate.wait(HOLD)
        return super().verify(hash, password)


@contextmanager
def held_checks(app: App) -> Iterator[Held]:
    assert app.core is not None
    hashing: Any = app.core.accounts.hashing
    real = hashing._hasher
    held = Held(real)
    hashing._hasher = held
    try:
        yield held
    finally:
        held.gate.set()
        hashing._hasher = real


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    """alice and bob members of #hall (registered through no door, so no door remembers a
    password), bob's 30 messages unread by alice."""
    app = await make_server()
    assert app.core is not None
    for name in ("alice", "bob"):
        await app.core.accounts.register(name, PASSWORD, by_admin=True)
        await app.core.membership.become_member(name, "hall")
    for text in TEXTS:
        await app.core.messaging.send("bob", "hall", text)
    return app


def cursor(app: App) -> Any:
    assert app.core is not None
    return app.core.messaging.read_cursor("alice", "hall")


async def get(client: httpx.AsyncClient, password: str, limit: int = 10) -> httpx.Response:
    return await client.get(
        "/receive/hall/alice", params={"limit": limit}, headers=basic_header("alice", password)
    )


async def change_while_checked(app: App, held: Held, delete: bool = False) -> None:
    """Once the check reached its worker: alice's password changed (or her account
    deleted), then the check let go."""
    assert app.core is not None
    await eventually(lambda: held.entered == 1)
    if delete:
        await app.core.accounts.delete("alice")
    else:
        await app.core.accounts.set_password("alice", NEW)
    held.gate.set()


async def answered_while_changed(
    app: App, request: Coroutine[Any, Any, httpx.Response], delete: bool = False
) -> httpx.Response:
    """The answer to `request`, whose password check was held while alice's password
    changed (or her account was deleted)."""
    with held_checks(app) as held:
        old = asyncio.create_task(request)
        await change_while_checked(app, held, delete)
        return await old


async def test_a_password_changed_while_it_was_checked_gets_no_page(app: App) -> None:
    """Before: 200 with the page, and the cursor moved past it."""
    async with http_from(app) as client:
        r = await answered_while_changed(app, get(client, PASSWORD))
        assert r.status_code == 401, r.text
        assert not any(t in r.text for t in TEXTS)
        assert await cursor(app) is None
        r = await get(client, NEW)
        assert r.status_code == 200, r.text
        assert [m["text"] for m in r.json()["messages"]] == TEXTS[:10]


async def test_an_account_deleted_while_it_was_checked_gets_no_page(app: App) -> None:
    """Before: 404 (the room entered for a user who no longer exists), now 401 as for any
    revoked login."""
    assert app.core is not None
    async with http_from(app) as client:
        r = await answered_while_changed(app, get(client, PASSWORD), delete=True)
        assert r.status_code == 401, r.text
        assert not any(t in r.text for t in TEXTS)
        assert await app.core.store.get_user("alice") is None


async def test_a_send_whose_password_changed_while_it_was_checked_is_refused(app: App) -> None:
    """Classic `POST /send`: before, 201 and the message published with the old password."""
    async with http_from(app) as client:
        r = await answered_while_changed(
            app, client.post("/send/hall/alice", content="stale", headers=basic_header("alice"))
        )
        assert r.status_code == 401, r.text
        r = await get(client, NEW, limit=100)
        assert r.status_code == 200, r.text
        assert "stale" not in [m["text"] for m in r.json()["messages"]]


async def test_an_api_send_whose_password_changed_while_it_was_checked_is_refused(app: App) -> None:
    """`POST /api/v1/rooms/{room}/messages` (every v1 route's `principal_dependency`):
    before, 201 and the message published with the old password."""
    async with http_from(app) as client:
        r = await answered_while_changed(
            app,
            client.post(
                "/api/v1/rooms/hall/messages", json={"text": "stale"}, headers=basic_header("alice")
            ),
        )
        assert r.status_code == 401, r.text
        r = await client.get("/api/v1/rooms/hall/messages", headers=basic_header("alice", NEW))
        assert r.status_code == 200, r.text
        assert "stale" not in r.text


async def test_an_api_read_whose_password_changed_while_it_was_checked_is_refused(app: App) -> None:
    """`GET /api/v1/rooms/{room}/messages`: before, 200 with the room's messages."""
    async with http_from(app) as client:
        r = await answered_while_changed(
            app, client.get("/api/v1/rooms/hall/messages", headers=basic_header("alice"))
        )
        assert r.status_code == 401, r.text
        assert not any(t in r.text for t in TEXTS)


async def test_an_api_request_whose_account_was_deleted_while_it_was_checked_is_refused(
    app: App,
) -> None:
    """`GET /api/v1/me`: before, 404 (the account looked up after the check passed)."""
    async with http_from(app) as client:
        r = await answered_while_changed(
            app, client.get("/api/v1/me", headers=basic_header("alice")), delete=True
        )
        assert r.status_code == 401, r.text


async def test_a_password_change_overtaken_by_another_while_checked_is_refused(app: App) -> None:
    """`PUT /api/v1/me/password`: its current password is checked with argon2 too. Another
    change landing meanwhile (the owner's, say, locking out whoever else knows the old
    password) was overwritten: 204, and the owner's new password refused."""
    async with http_from(app) as client:
        token = await login(client, "alice")  # a token: the request's own check hashes nothing
        with held_checks(app) as held:
            other = asyncio.create_task(
                change_password(client, "other-secret-1", headers=bearer(token))
            )
            await change_while_checked(app, held)
            r = await other
        assert r.status_code == 401, r.text
        assert (
            await client.get("/api/v1/me", headers=basic_header("alice", NEW))
        ).status_code == 200


async def test_a_websocket_whose_password_changed_while_it_was_checked_is_refused(app: App) -> None:
    """The WebSocket's handshake with Basic credentials: its login compares the credential
    checked with the store's (core/sessions.py), so the socket is closed as revoked (4001)
    and gets nothing of the room. (So on main too: it pins that this door needs no
    `confirm`.)"""
    with held_checks(app) as held:
        ws = await ws_from(app, basic_header("alice"))
        try:
            await change_while_checked(app, held)
            frames = await first_frames(ws)
        finally:
            await ws.close()
    assert not any(str(f.get("text", "")).startswith("logged in as") for f in frames), frames
    assert not any(t in json.dumps(frames) for t in TEXTS), frames
    assert ws.close_code == 4001, (ws.close_code, frames)
    assert [f.get("code") for f in frames] == ["unauthenticated"], frames


async def test_a_telnet_login_whose_password_changed_while_it_was_checked_is_refused(
    app: App,
) -> None:
    """Telnet: the session's login compares the credential checked with the store's
    (core/sessions.py): told and closed, never welcomed. (So on main too: a pin.)"""
    client = await telnet_from(app)
    with held_checks(app) as held:
        await client.read_until("Name: ")
        client.send("alice")
        await client.read_until("Password: ")
        client.send(PASSWORD)
        await change_while_checked(app, held)
        await client.expect(r"revoked")
        lines = await client.lines_for(HOLD)  # until the server closes it (a hang guard)
    assert client.reader.at_eof(), lines
    assert not any("Welcome" in line for line in client.seen), client.seen
    await client.close()


async def test_an_irc_login_whose_password_changed_while_it_was_checked_is_refused(
    app: App,
) -> None:
    """IRC's PASS: the same proof of login as telnet's; told and closed, no 001. (So on
    main too: a pin.)"""
    irc = await RawIrc.connect(app)
    with held_checks(app) as held:
        irc.send(f"PASS {PASSWORD}", "NICK alice", "USER alice 0 * :alice")
        await change_while_checked(app, held)
        await irc.expect("revoked")
        with contextlib.suppress(EOFError):
            await irc.expect("\0never sent", timeout=HOLD)  # to the close (a hang guard)
    assert not any(" 001 " in line for line in irc.lines), irc.lines
    await irc.close()
