"""Two tabs share one token (the page keeps it in localStorage): one logs out while the
other's WebSocket and long poll are open, and an attacker holding the token fires new
WebSocket handshakes, long polls and sends with it at the same moment. Once the logout is
answered, nothing opened with the token may stay open or be let in: each WebSocket is
refused or closed (as logged out, or 1008 when its handshake's check saw the token gone), each poll answered, every later request refused; and
each send acknowledged before is stored."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.exceptions import InvalidStatus

from tests.helpers.http import bearer, login, register
from tests.security.conftest import basic_header, closed, http_from, ws_from
from tests.security.test_longpoll_revocation import POLL, park
from torbit.app import App
from torbit.frontends.http.ws_session import REVOKED

N = 10


async def test_a_logout_racing_its_token_on_every_door_leaves_nothing_open(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        auth = bearer(token)
        tab_ws = await ws_from(server, auth, logged_in=True)
        tab_poll = await park(server, client, auth)

        async def handshake() -> Any:
            try:
                return await ws_from(server, auth)
            except InvalidStatus as e:
                return e.response.status_code

        sends = [
            asyncio.create_task(client.post("/send/lobby/alice", content=f"s{i}", headers=auth))
            for i in range(N)
        ]
        sockets = [asyncio.create_task(handshake()) for _ in range(N)]
        polls = [asyncio.create_task(client.get(POLL, headers=auth)) for _ in range(N)]
        r = await client.delete("/api/v1/sessions/current", headers=auth)
        assert r.status_code == 204, r.text
        # once the logout is answered: refused on every door
        assert (await client.get("/api/v1/me", headers=auth)).status_code == 401
        r = await client.post("/send/lobby/alice", content="after", headers=auth)
        assert r.status_code == 401, r.text
        late = await handshake()  # answered before its token is read, then closed
        if not isinstance(late, int):
            code, _reason, frames = await closed(late)
            assert code == 1008, (code, frames)
            assert [f.get("code") for f in frames] == ["unauthenticated"], frames
        answers = await asyncio.gather(*sends)
        opened = await asyncio.gather(*sockets)
        for poll in [tab_poll, *polls]:
            answer = await poll
            assert answer.status_code in (200, 401, 429), answer.text  # 429: too many waiting
        r = await client.get("/api/v1/rooms/lobby/messages", headers=basic_header("alice"))
        assert r.status_code == 200, r.text  # her password still holds: one token went
        stored = {m["text"] for m in r.json()["messages"] if m["sender"] == "alice"}
    acknowledged = {f"s{i}" for i, a in enumerate(answers) if a.status_code == 201}
    assert {a.status_code for a in answers} <= {201, 401}
    assert acknowledged <= stored and "after" not in stored, (acknowledged, stored)
    for ws in [tab_ws, *(o for o in opened if not isinstance(o, int))]:
        code, _reason, frames = await closed(ws)  # none stays open (else: times out)
        assert code in (REVOKED, 1008), (code, frames)
        if code == 1008:  # refused at its check: never logged in
            assert not any(f.get("type") == "message" for f in frames), frames
    assert all(o == 401 for o in opened if isinstance(o, int)), opened
