"""Fifty requests at once, each the one that would cross a per-user bound, over several
connections of one user: live tokens (`limits.tokens_per_user`), waiting long polls
(`long_polls_per_user`), rooms (`rooms_per_user`) created from eight telnet connections and
joined from five IRC connections at once. Each bound holds exactly: no N-1 extra get in.
(Ignore lists, invitations, ban and exception masks and HTTP creates have their own tests:
test_ignore_bound, test_invitation_flood, test_store_ban_mask_limit, test_state_limits.)
These held on main when written (attack12); they are kept as guards."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url, basic
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import telnet

AT_ONCE = 50
POOL = httpx.Limits(max_connections=AT_ONCE)


async def test_tokens_and_long_polls_hold_their_bounds_at_once(make_server: ServerFactory) -> None:
    app = await make_server(
        limits={"tokens_per_user": 5, "token_burst": 0, "token_rate": 0, "long_polls_per_user": 8}
    )
    assert app.core is not None
    await app.core.accounts.register("eve", PASSWORD)
    url = base_url(app)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=POOL) as c:
        body = {"name": "eve", "password": PASSWORD}
        made = await asyncio.gather(
            *[c.post("/api/v1/sessions", json=body) for _ in range(AT_ONCE)]
        )
        assert Counter(r.status_code for r in made) == {
            201: AT_ONCE
        }  # a new one revokes the oldest
        tokens = [r.json()["token"] for r in made]
        live = await asyncio.gather(
            *[c.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}) for t in tokens]
        )
        assert Counter(r.status_code for r in live) == {200: 5, 401: AT_ONCE - 5}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=POOL, auth=basic("eve")) as c:
        polls = await asyncio.gather(*[c.get("/receive/lobby/eve?wait=5") for _ in range(AT_ONCE)])
        assert Counter(r.status_code for r in polls) == {200: 8, 429: AT_ONCE - 8}


async def test_rooms_per_user_holds_across_connections_of_one_user(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"rooms_per_user": 3, "create_rate": 0, "join_rate": 0})
    assert app.core is not None
    await app.core.accounts.register("zed", PASSWORD)
    await app.core.accounts.register("eve", PASSWORD)
    store = app.core.store
    sessions = [await telnet(app, "zed") for _ in range(8)]  # each in the lobby: 1 of 3
    for i, session in enumerate(sessions):
        session.send(f"/create z{i}")
    for session in sessions:
        session.send("/rooms")
        await session.expect(r"rooms?:$")
    assert len(await store.rooms_of("zed")) == 3
    assert len(await store.rooms_held("zed")) == 3
    for session in sessions:
        await session.close()

    clients = []
    for _ in range(5):
        irc = await RawIrc.connect(app)
        irc.send(f"PASS eve:{PASSWORD}")
        await irc.register("eve")
        clients.append(irc)
    for k, irc in enumerate(clients):
        irc.send("JOIN " + ",".join(f"#e{k}x{i}" for i in range(30)), "PING :end")
    for irc in clients:
        await irc.expect("PONG", timeout=30)
    assert len(await store.rooms_of("eve")) == 3
    refused = [line for irc in clients for line in irc.lines if " 405 " in line]
    # one command answers at most ERRORS_SHOWN error numerics, then says how many more
    hidden = [
        int(line.rsplit(":", 1)[1].split()[0])
        for irc in clients
        for line in irc.lines
        if " more error(s) of that command not shown" in line
    ]
    assert len(refused) + sum(hidden) == 5 * 30 - 3
    for irc in clients:
        await irc.close()
