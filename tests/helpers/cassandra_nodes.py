"""Two nodes on one Cassandra keyspace racing (stop 58's tests and after): a node's first
write held, as a slow node or a pause would hold it, while the other node acts meanwhile.
The second node itself is `node_b` (tests/contract/conftest.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from tests.contract.test_store import users
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Params, Row

T = TypeVar("T")
U = TypeVar("U")


async def people(store: CassandraStore, *names: str) -> None:
    """The races' users (alice, bob, carol and dave, unless `names`)."""
    await users(store, *(names or ("alice", "bob", "carol", "dave")))


def slow_first_write(store: CassandraStore, wait: Callable[[], Awaitable[object]]) -> None:
    """The store's next write (a batch or a lightweight transaction) waits for `wait`."""
    batch, lwt = store.cql.batch, store.cql.lwt
    pending = [wait]

    async def first() -> None:
        if pending:
            await pending.pop()()

    async def held_batch(statements: Sequence[tuple[str, Params]], *, logged: bool = True) -> None:
        await first()
        await batch(statements, logged=logged)

    async def held_lwt(cql: str, *params: Any) -> tuple[bool, Row]:
        await first()
        return await lwt(cql, *params)

    store.cql.batch = held_batch  # type: ignore[method-assign]
    store.cql.lwt = held_lwt  # type: ignore[method-assign]


def unslowed(store: CassandraStore) -> None:
    for name in ("batch", "lwt"):
        store.cql.__dict__.pop(name, None)


async def across_first_write(
    node: CassandraStore,
    how: str,
    rng: random.Random,
    act: Callable[[], Awaitable[T]],
    meanwhile: Callable[[], Awaitable[U]],
) -> tuple[T, U]:
    """`act` (on `node`) runs until it has read and comes to its first write; `meanwhile`
    then runs, and the write waits until it is done ("held") or a random 0-40 ms ("raced").
    Their answers, `act`'s first."""
    read, done = asyncio.Event(), asyncio.Event()  # node has read; meanwhile is done

    async def held() -> None:
        read.set()
        await done.wait()

    async def raced() -> None:
        read.set()
        await asyncio.sleep(rng.uniform(0, 0.04))

    slow_first_write(node, held if how == "held" else raced)
    try:
        acting = asyncio.ensure_future(act())
        has_read = asyncio.ensure_future(read.wait())
        await asyncio.wait({acting, has_read}, return_when=asyncio.FIRST_COMPLETED)
        has_read.cancel()
        other = await meanwhile()
        done.set()
        return await acting, other
    finally:
        unslowed(node)
