"""`GET /receive` of one user at once on two nodes sharing one PostgreSQL database (and
Kafka: without it a second node on the database is refused).

Each message reaches exactly one receive: parallel receives on both nodes, while messages
are sent, get disjoint pages, none delivered twice, none skipped. The read cursor moves by
compare-and-set (core/messaging.py): a receive whose page another node took first reads on
from where that one left the cursor. Before, each node took its own receives one at a time,
but a receive on each node at the same instant read the same cursor and both returned the
same page.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.helpers.http import PASSWORD, basic, http_client, texts
from tests.scale.conftest import NodeFactory
from torbit.app import App

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

SENT = 120  # messages sent while the receives run
READERS = 8  # receives of alice at once, half on each node
PAGE = 3  # small pages: many receives, many chances to collide


async def two_nodes(make_node: NodeFactory) -> tuple[App, App]:
    """Two servers on one PostgreSQL database and one broker; alice and bob in #hall (the
    tests' settings lift the message and read rates)."""
    a, b = await make_node("a"), await make_node("b")
    assert a.core is not None
    for name in ("alice", "bob"):
        await a.core.accounts.register(name, PASSWORD)
        await a.core.membership.become_member(name, "hall")
    return a, b


async def page(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/receive/hall/alice", params={"limit": PAGE}, auth=basic("alice"))
    assert r.status_code == 200, r.text
    return texts(r.json())


async def test_parallel_receives_on_two_nodes_get_each_message_once(
    make_node: NodeFactory,
) -> None:
    a, b = await two_nodes(make_node)
    lines = [f"m{i}" for i in range(SENT)]
    sent = asyncio.Event()
    got: list[str] = []

    async def sender() -> None:
        async with http_client(a) as c:
            for line in lines:
                r = await c.post("/send/hall/bob", content=line, auth=basic("bob"))
                assert r.status_code == 201, r.text
        sent.set()

    async def reader(node: App) -> None:
        async with http_client(node) as c:
            while True:
                done = sent.is_set()  # before the read: an empty page after it ends the reader
                messages = await page(c)
                got.extend(messages)
                if done and not messages:
                    return

    await asyncio.gather(sender(), *(reader((a, b)[i % 2]) for i in range(READERS)))
    twice = sorted((m for m, n in Counter(got).items() if n > 1), key=lines.index)
    assert not twice, f"{len(twice)} of {SENT} delivered more than once: {twice}"
    assert sorted(got, key=lines.index) == lines  # none skipped


async def test_a_burst_of_receives_on_two_nodes_takes_disjoint_pages(
    make_node: NodeFactory,
) -> None:
    """Everything sent first, then all the receives at the same instant on both nodes."""
    a, b = await two_nodes(make_node)
    assert a.core is not None
    lines = [f"m{i}" for i in range(READERS * PAGE)]
    for line in lines:
        await a.core.messaging.send("bob", "hall", line)
    async with http_client(a) as ca, http_client(b) as cb:
        pages = await asyncio.gather(*(page((ca, cb)[i % 2]) for i in range(READERS)))
        got = [m for p in pages for m in p]
        assert sorted(got, key=lines.index) == lines, pages  # each once, none skipped
        assert await page(ca) == [] and await page(cb) == []
