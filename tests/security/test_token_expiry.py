"""A WebSocket opened with a token is closed when the token expires (4001, as a revocation,
with the reason). On main it stayed open for as long as the client kept it: a token of
`http.token_ttl_hours` gave a live session without end."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, login, register
from tests.security.conftest import basic_header, closed, http_from, ws_from
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
