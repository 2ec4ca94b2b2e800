"""A parked long poll (`GET /receive/{room}/{user}?wait=…`) is a session too: it was
authenticated when it began and then waits up to 30 s. Before, a password change, a logout
of its token or the account's deletion left it waiting, and it answered the next message of
the room with 200, to credentials that no longer held. Now a revocation that names what it
was authenticated with ends it at once with 401, as it closes the other doors' sessions."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, change_password, eventually, login, register
from tests.scale.test_revocation_cluster import set_password_elsewhere
from tests.security.conftest import basic_header, http_from
from torbit.app import App

POLL = "/receive/lobby/alice?wait=30"


def waiting(app: App) -> int:
    assert app.core is not None
    return len(app.core.subscriptions.listeners("lobby"))


async def park(
    app: App, client: httpx.AsyncClient, headers: dict[str, str]
) -> asyncio.Task[httpx.Response]:
    """A long poll of alice's, once it waits (nothing was left to read)."""
    assert (await client.get("/receive/lobby/alice", headers=headers)).status_code == 200
    before = waiting(app)
    task = asyncio.create_task(client.get(POLL, headers=headers))
    await eventually(lambda: task.done() or waiting(app) > before)
    assert not task.done(), task.result().text
    return task


async def test_a_password_change_ends_parked_long_polls(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice", "bob")
        token = await login(client, "alice")
        by_basic = await park(server, client, basic_header("alice"))
        by_token = await park(server, client, bearer(token))
        r = await change_password(client, "new-secret", headers=bearer(token))
        assert r.status_code == 204
        r = await client.post(
            "/send/lobby/bob", content="for members only", headers=basic_header("bob")
        )
        assert r.status_code == 201
        for poll in (by_basic, by_token):
            answer = await poll
            assert answer.status_code == 401, answer.text
            assert "for members only" not in answer.text


async def test_a_logout_ends_the_long_polls_of_that_token_only(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice", "bob")
        one, two = await login(client, "alice"), await login(client, "alice")
        by_one = await park(server, client, bearer(one))
        by_two = await park(server, client, bearer(two))
        assert (
            await client.delete("/api/v1/sessions/current", headers=bearer(one))
        ).status_code == 204
        r = await client.post("/send/lobby/bob", content="hello", headers=basic_header("bob"))
        assert r.status_code == 201
        answer = await by_one
        assert answer.status_code == 401, answer.text
        answer = await by_two
        assert answer.status_code == 200 and "hello" in answer.text


async def test_a_deletion_ends_parked_long_polls(make_server: ServerFactory) -> None:
    app = await make_server()
    assert app.core is not None
    async with http_from(app) as client:
        await register(client, "alice", "bob")
        poll = await park(app, client, basic_header("alice"))
        applied = app.core.sessions.revocations
        # as `torbit user del`: the sessions are closed, a second later the account is gone
        deleting = asyncio.create_task(app.core.accounts.delete("alice"))
        await eventually(lambda: app.core is not None and app.core.sessions.revocations > applied)
        r = await client.post(
            "/send/lobby/bob", content="after the end", headers=basic_header("bob")
        )
        assert r.status_code == 201
        answer = await poll
        assert answer.status_code == 401, answer.text
        assert "after the end" not in answer.text
        await deleting


async def test_a_password_changed_from_another_process_ends_parked_long_polls(
    server: App,
) -> None:
    """As `torbit user passwd` does it: through the store, which the node polls."""
    async with http_from(server) as client:
        await register(client, "alice", "bob")
        poll = await park(server, client, basic_header("alice"))
        await set_password_elsewhere(server, "alice")
        answer = await poll
        assert answer.status_code == 401, answer.text
        assert "your password was changed" in answer.text
