"""Bearer tokens expire by the store's clock, as mutes end (clock58), whatever the checking
node's wall clock does (clock59). A token's expiry was judged by the clock of the node that
checked it: a wall clock stepped 2 minutes forward (a VM resumed, NTP) refused every token
with less than 2 minutes left, at once, on every door (HTTP, the WebSocket's handshake, a
long poll), and one stepped back kept an expired token working for the size of the step.
The store's time is told as the mutes tell it: the store's clock at the node's last read
plus the monotonic time since (core/storeclock.py), which does not step."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD, bearer, eventually, login, register, texts
from tests.helpers.moderation import services
from tests.integration.test_mute_skewed_clock import skew_clock
from tests.security.conftest import basic_header, closed, http_from, ws_from
from tests.security.test_longpoll_revocation import park
from torbit.core.sessions import Sessions
from torbit.frontends.http.ws_session import EXPIRED, REVOKED


def step_wall_clock(monkeypatch: pytest.MonkeyPatch, step: Callable[[], timedelta]) -> None:
    """The node's wall clock `step()` off the machine's (the store's: SQLite's is the
    machine's), as every module outside the backends reads it (`skew_clock`)."""
    skew_clock(monkeypatch, step)


async def a_login_lives(client: httpx.AsyncClient, ttl: timedelta) -> None:
    """alice logs in through `client`: her new token expires `ttl` after the login by the
    store's clock (the machine's), whatever the node's wall clock says."""
    before = datetime.now(UTC)
    r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
    after = datetime.now(UTC)
    assert r.status_code == 201, r.text
    expires_at = datetime.fromisoformat(r.json()["expires_at"])
    assert before + ttl <= expires_at <= after + ttl, expires_at - before


async def test_a_token_checked_after_the_wall_clock_stepped_forward_still_works(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token of 1 minute, the node's wall clock then stepped 2 minutes forward: it was
    refused at once (401 'invalid or expired token', a WebSocket's handshake refused too),
    and a login then dated its new token by the stepped clock (2 minutes late)."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(http={"token_ttl_hours": 1 / 60})
    async with http_from(app) as client:
        await register(client, "alice", "bob")
        token = await login(client, "alice")
        jump[0] = timedelta(minutes=2)
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200, r.text
        ws = await ws_from(app, bearer(token), logged_in=True)  # its close is not due
        await ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(30):
            while json.loads(await ws.recv())["type"] != "pong":
                pass
        poll = await park(app, client, bearer(token))  # nor is its end
        sent = await client.post("/send/lobby/bob", content="hi", headers=basic_header("bob"))
        assert sent.status_code == 201, sent.text
        answer = await poll
        assert answer.status_code == 200 and texts(answer.json()) == ["hi"], answer.text
        await ws.close()

        # a login on the stepped node: its token lives its minute by the store's clock
        await a_login_lives(client, timedelta(minutes=1))


async def test_a_token_checked_after_the_wall_clock_stepped_back_expires_on_time(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token of 3 s, the node's wall clock then stepped 2 minutes back: it worked 2 minutes
    past its expiry (HTTP; the WebSocket opened with it was closed 2 minutes late)."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(http={"token_ttl_hours": 3 / 3600})
    async with http_from(app) as client:
        await register(client, "alice")
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 201, r.text
        token, expires_at = r.json()["token"], datetime.fromisoformat(r.json()["expires_at"])
        jump[0] = timedelta(minutes=-2)
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        ws = await ws_from(app, bearer(token), logged_in=True)
        clock = services(app).clock
        async with asyncio.timeout(30):  # the store's clock, and the node's word for it
            while datetime.now(UTC) <= expires_at or clock.now() <= expires_at:
                await asyncio.sleep(0.05)
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 401, r.text
    code, reason, _ = await closed(ws, timeout=30)  # a hang guard: due by now
    assert (code, reason) == (REVOKED, EXPIRED)


async def test_a_node_whose_wall_clock_stepped_forward_purges_no_live_token(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node's housekeeping deletes the tokens expired in the store (core/retention.py):
    by its wall clock, one stepped 2 minutes forward deleted a token of 1 minute, live, so
    every node refused it from then on (here: the same node once its clock is back)."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(http={"token_ttl_hours": 1 / 60})
    async with http_from(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        jump[0] = timedelta(minutes=2)
        await services(app).retention.purge_expired()
        jump[0] = timedelta(0)
        r = await client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_a_token_socket_read_again_at_its_login_after_a_forward_step_logs_in(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation applied on the node while a token's WebSocket logs in (anyone's: bob's
    logout) has the token read again from the store (core/sessions.py), by the sessions'
    own clock: on a node stepped 2 minutes forward, alice's token of 1 minute was taken for
    expired and her socket closed, 'your login was revoked'."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(http={"token_ttl_hours": 1 / 60})
    sessions = services(app).sessions
    async with http_from(app) as client:
        await register(client, "alice", "bob")
        token, bobs = await login(client, "alice"), await login(client, "bob")
        jump[0] = timedelta(minutes=2)
        held = HeldCall(monkeypatch, Sessions, "login", once=True)
        opening = asyncio.create_task(ws_from(app, bearer(token), logged_in=True))
        await held.until_reached()
        applied = sessions.counts()[0]
        assert (
            await client.delete("/api/v1/sessions/current", headers=bearer(bobs))
        ).status_code == 204
        await eventually(lambda: sessions.counts()[0] > applied)
        held.let_go()
        ws = await opening  # logged in
    await ws.close()
