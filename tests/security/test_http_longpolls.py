"""Issue 10, item 6: long polls could be taken from everyone. 126 free accounts x 8 waiting
`GET /receive?wait=30` from one address filled the 1,000 waiting slots of the server, and
nobody else could wait for messages. Now waits are bounded per user and per address
(`limits.long_polls_per_user` = 8, `limits.long_polls_per_ip` = 50, of
`limits.max_long_polls` = 1000), with the default settings."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, eventually, http_client, texts
from tests.security.http_attack import ATTACKER, REMOTE, client_from
from torbit.app import App
from torbit.frontends.http import classic, longpoll

ACCOUNTS = 126
WAITS = 8


async def accounts(app: App, *names: str) -> None:
    assert app.core is not None
    for name in names:
        await app.core.accounts.register(name, PASSWORD)


def waiting(app: App) -> int:
    assert app.core is not None
    return len(app.core.subscriptions.listeners("lobby"))


# A parked poll answers empty once its wait is over (at most MAX_WAIT_SECONDS, 30 s), and then
# frees its slot for the next request: with 1,008 requests to make on a loaded machine that was
# a race against the clock. Here the waits are lifted far above any run, so the polls parked
# stay parked until the send wakes them, however long the requests take.
PARKED_S = 3600.0


@pytest.fixture
def long_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(longpoll, "MAX_WAIT_SECONDS", PARKED_S)
    monkeypatch.setattr(classic, "MAX_WAIT_SECONDS", PARKED_S)


@pytest.mark.slow
async def test_one_address_with_many_accounts_cannot_take_every_wait(
    make_server: ServerFactory, long_waits: None
) -> None:
    # the per-address connection limit is lifted so that only the long-poll bounds act here
    app = await make_server(limits={"connections_per_ip": 0})
    names = [f"free{i:03d}" for i in range(ACCOUNTS)]
    await accounts(app, *names, "victim")
    async with http_client(app) as c:  # each joins the default room with a first read
        for name in ["victim", *names]:
            assert (await c.get(f"/receive/lobby/{name}", auth=basic(name))).status_code == 200

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(client_from(app, ATTACKER, connections=WAITS))
            for _ in names
        ]
        tasks = [
            asyncio.create_task(
                client.get(
                    f"/receive/lobby/{name}",
                    params={"wait": PARKED_S},
                    auth=basic(name),
                    timeout=PARKED_S,
                )
            )
            for client, name in zip(clients, names, strict=True)
            for _ in range(WAITS)
        ]
        # every request is either answered (refused) or parked in the server
        await eventually(lambda: sum(t.done() for t in tasks) + waiting(app) == len(tasks), 120)
        refused = Counter(t.result().status_code for t in tasks if t.done())
        parked = [t for t in tasks if not t.done()]
        assert len(parked) == 50 and waiting(app) == 50
        assert refused == {429: ACCOUNTS * WAITS - 50}
        assert "from your address (limit 50)" in next(t for t in tasks if t.done()).result().text

        # someone else can still wait, and is woken like everyone parked
        async with client_from(app, REMOTE) as remote:
            theirs = asyncio.create_task(
                remote.get(
                    "/receive/lobby/victim",
                    params={"wait": PARKED_S},
                    auth=basic("victim"),
                    timeout=PARKED_S,
                )
            )
            await eventually(lambda: theirs.done() or waiting(app) == 51)
            assert not theirs.done()
            async with http_client(app) as c:
                r = await c.post("/send/lobby/victim", content="wake up", auth=basic("victim"))
                assert r.status_code == 201
            answer = await theirs
            assert answer.status_code == 200 and texts(answer.json()) == ["wake up"]
        for t in parked:
            r = await t
            assert r.status_code == 200 and texts(r.json()) == ["wake up"]


async def test_one_user_waits_at_most_eight_times(make_server: ServerFactory) -> None:
    app = await make_server()
    await accounts(app, "greedy")
    async with client_from(app, ATTACKER, connections=20) as c:
        assert (await c.get("/receive/lobby/greedy", auth=basic("greedy"))).status_code == 200
        polls = [
            asyncio.create_task(
                c.get("/receive/lobby/greedy", params={"wait": 30}, auth=basic("greedy"))
            )
            for _ in range(WAITS + 4)
        ]
        done, pending = await asyncio.wait(polls, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        async with asyncio.timeout(30):
            while len(done) < 4:
                more, pending = await asyncio.wait(pending, timeout=1)
                done |= more
        assert len(done) == 4 and len(pending) == WAITS
        for t in done:
            assert t.result().status_code == 429
            assert "too many waiting requests of yours (limit 8)" in t.result().text
        r = await c.post("/send/lobby/greedy", content="done", auth=basic("greedy"))
        assert r.status_code == 201
        for t in pending:
            assert texts((await t).json()) == ["done"]
