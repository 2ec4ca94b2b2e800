"""Long polls against parallel senders on a real server: every message reaches the reader
exactly once and in each sender's order, whether it arrives while a poll waits, between
polls, or while two requests of the same user read at once (the cursor moves only from
where each read it: core/messaging.py). Counts and sets, never times."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client, register

SENDERS = 4
EACH = 25


async def send_all(client: httpx.AsyncClient, name: str) -> None:
    for i in range(EACH):
        r = await client.post(f"/send/lobby/{name}", content=f"{name} {i}", auth=basic(name))
        assert r.status_code == 201, r.text
        if i % 5 == 0:
            await asyncio.sleep(0.01)  # let some arrive while a poll waits


async def poll_until(
    client: httpx.AsyncClient, reader: str, want: int, got: list[str], limit: int = 7
) -> None:
    while len(got) < want:
        r = await client.get(
            f"/receive/lobby/{reader}", params={"wait": 5, "limit": limit}, auth=basic(reader)
        )
        assert r.status_code == 200, r.text
        got.extend(m["text"] for m in r.json()["messages"])


def check(got: list[str]) -> None:
    assert len(got) == len(set(got)), "a message was handed out twice"
    assert set(got) == {f"s{n} {i}" for n in range(SENDERS) for i in range(EACH)}
    for n in range(SENDERS):
        mine = [int(t.split()[1]) for t in got if t.startswith(f"s{n} ")]
        assert mine == sorted(mine), f"s{n}'s messages out of order"


async def test_parallel_senders_reach_a_long_polling_reader_exactly_once(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    senders = [f"s{n}" for n in range(SENDERS)]
    async with http_client(app) as setup:
        await register(setup, "reader", *senders)
        for name in ("reader", *senders):  # members from here on
            r = await setup.get(f"/receive/lobby/{name}", auth=basic(name))
            assert r.status_code == 200, r.text
    clients = [httpx.AsyncClient(base_url=str(setup.base_url), timeout=40) for _ in senders]
    got: list[str] = []
    try:
        async with http_client(app) as reader:
            await asyncio.gather(
                poll_until(reader, "reader", SENDERS * EACH, got),
                *(send_all(c, name) for c, name in zip(clients, senders, strict=True)),
            )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    check(got)


async def test_two_requests_of_one_user_never_share_a_message(make_server: ServerFactory) -> None:
    """Two pollers of the same user, on two connections, racing for the same cursor."""
    app = await make_server()
    senders = [f"s{n}" for n in range(SENDERS)]
    async with http_client(app) as setup:
        await register(setup, "reader", *senders)
        for name in ("reader", *senders):
            r = await setup.get(f"/receive/lobby/{name}", auth=basic(name))
            assert r.status_code == 200, r.text
    clients = [httpx.AsyncClient(base_url=str(setup.base_url), timeout=40) for _ in senders]
    got: list[str] = []
    done = asyncio.Event()

    async def poller(client: httpx.AsyncClient, limit: int) -> None:
        while not done.is_set():
            r = await client.get(
                "/receive/lobby/reader", params={"wait": 1, "limit": limit}, auth=basic("reader")
            )
            assert r.status_code == 200, r.text
            got.extend(m["text"] for m in r.json()["messages"])
            if len(got) >= SENDERS * EACH:
                done.set()

    try:
        async with http_client(app) as a, http_client(app) as b:
            pollers = [asyncio.create_task(poller(a, 3)), asyncio.create_task(poller(b, 5))]
            await asyncio.gather(
                *(send_all(c, name) for c, name in zip(clients, senders, strict=True))
            )
            async with asyncio.timeout(30):
                await done.wait()
            await asyncio.gather(*pollers)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert len(got) == len(set(got)), "a message was handed out twice"
    assert set(got) == {f"s{n} {i}" for n in range(SENDERS) for i in range(EACH)}
