"""A WebSocket opened with a token is closed when the token expires (4001, as a revocation,
with the reason). On main it stayed open for as long as the client kept it: a token of
`http.token_ttl_hours` gave a live session without end. Likewise a long poll parked with a
token ends with 401 at its expiry: it waited on, and answered the room's next message."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, error_of, login, register, texts
from tests.security.conftest import basic_header, closed, http_from, ws_from
from tests.security.test_longpoll_revocation import park
from torbit.frontends.http.ws_session import EXPIRED, REVOKED

TTL_SECONDS = 3.0  # the login and the handshakes happen well within it


async def test_a_websocket_is_closed_when_its_token_expires(make_server: ServerFactory) -> None:
    app = await make_server(http={"token_ttl_hours": TTL_SECONDS / 3600})
    async with http_from(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        by_header = await ws_from(app, bearer(token), logged_in=True)
        by_query = await ws_from(app, {}, query=f"token={token}", logged_in=True)
        by_password = await ws_from(app, basic_header("alice"), logged_in=True)
    for ws in (by_header, by_query):  # the hang guard of `closed` is generous: 30 s
        code, reason, frames = await closed(ws, timeout=30)
        assert (code, reason) == (REVOKED, EXPIRED)
        assert frames[-1]["text"] == EXPIRED
    # a password has no expiry: its socket is still served
    await by_password.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(30):
        while json.loads(await by_password.recv())["type"] != "pong":
            pass
    await by_password.close()


async def test_a_long_poll_ends_with_401_when_its_token_expires(
    make_server: ServerFactory,
) -> None:
    """It waited on (up to 30 s) and answered the room's next message with 200, moving the
    cursor over it, though its token had expired."""
    app = await make_server(http={"token_ttl_hours": TTL_SECONDS / 3600})
    async with http_from(app) as client:
        await register(client, "alice", "bob")
        token = await login(client, "alice")
        poll = await park(app, client, bearer(token))
        async with asyncio.timeout(30):  # the token expires (this node refuses it)
            while (await client.get("/api/v1/me", headers=bearer(token))).status_code != 401:
                await asyncio.sleep(0.1)
        sent = await client.post(
            "/send/lobby/bob", content="after the expiry", headers=basic_header("bob")
        )
        assert sent.status_code == 201
        answer = await poll
        assert error_of(answer, 401, "unauthenticated") == EXPIRED
        # the cursor did not move: alice reads it with her password
        r = await client.get("/receive/lobby/alice", headers=basic_header("alice"))
        assert r.status_code == 200 and texts(r.json()) == ["after the expiry"], r.text


async def test_long_polls_woken_by_their_tokens_expiry_all_end_with_401(
    make_server: ServerFactory,
) -> None:
    """Woken at the expiry with nothing to read, a poll answered an empty 200 now and then:
    uvloop keeps its clock to the millisecond, and the wake-up read it a hair before the
    expiry (3 of 96 in the second pass of stop 51). Many polls, started apart so that their
    timers fall differently; every one must say 401."""
    app = await make_server(http={"token_ttl_hours": TTL_SECONDS / 3600})
    async with http_from(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        polls = []
        for _ in range(8):  # the per-user bound (http long_polls_per_user)
            polls.append(await park(app, client, bearer(token)))
            await asyncio.sleep(0.0013)
        answers = await asyncio.gather(*polls)
    assert [r.status_code for r in answers] == [401] * len(answers), [r.text for r in answers]
