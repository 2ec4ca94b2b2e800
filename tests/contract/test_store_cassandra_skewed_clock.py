"""A node whose clock runs ahead or behind, on two nodes sharing Cassandra (cass63). A join
was a plain write, stamped by the driver from the torbit node's clock, and every end of a
membership (a ban, a kick, a leave) a lightweight transaction, stamped by its Paxos ballot
from the Cassandra coordinator's clock: a join from a node 2 s ahead outlived a ban made
after it (or the leave of a join taken back after a ban), and bob stayed a member of a room
banning him, in both orders (cass62 found it by hand); a rejoin from a node 2 s behind was
lost to the kick before it. Now a join's room_users write is a lightweight transaction as
well (`CassandraStore._join`): the two are ordered by Paxos, not by clocks.

The skewed node is `node_b` with its plain writes stamped so far off, as the driver stamps
them by such a clock (`ahead`; its transactions are stamped by their ballots, and the
driver sends them no stamp). Rows stamped ahead outlive a DELETE (the suite empties the
keyspace so: torbit/testing/cassandra_keyspaces.py) until the clock catches up, so the
tables the node wrote are TRUNCATEd after the test, which drops rows whatever their stamps."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import acsylla
import pytest

from tests.contract.test_store_cassandra_ban_join_race import join
from tests.helpers.cassandra_nodes import people
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Params
from torbit.core.models import Room

pytestmark = pytest.mark.cassandra

SKEW_S = 2.0  # how far the fast node's clock runs ahead (cass62's run by hand)
_ahead: ContextVar[int] = ContextVar("ahead", default=0)  # µs the batch being made runs ahead
_CONDITIONAL = re.compile(r"\bIF\b", re.IGNORECASE)
_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\w+\.(\w+)", re.IGNORECASE)


def now_us(skew_us: int) -> int:
    return time.time_ns() // 1000 + skew_us


def ahead(store: CassandraStore, seconds: float, mp: pytest.MonkeyPatch) -> set[str]:
    """The store's plain writes stamped `seconds` ahead, as the driver (its default,
    client-side timestamp generator) stamps them on a node whose clock runs so far ahead; the
    tables written so (to truncate)."""
    written: set[str] = set()
    skew = int(seconds * 1_000_000)
    cql = store.cql
    statement, batch = cql._statement, cql.batch

    async def stamped(text: str, params: Params, *more: Any, **named: Any) -> Any:
        bound = await statement(text, params, *more, **named)
        if not text.lstrip().upper().startswith("SELECT") and not _CONDITIONAL.search(text):
            bound.set_timestamp(now_us(skew))  # (a transaction's stamp is its ballot's)
            written.update(_TABLE.findall(text))
        return bound

    async def stamped_batch(statements: Sequence[tuple[str, Params]], **named: Any) -> None:
        token = _ahead.set(skew)
        try:
            await batch(statements, **named)
        finally:
            _ahead.reset(token)

    def stamping(make: Any) -> Any:
        def made() -> Any:
            made_batch = make()
            if _ahead.get():
                made_batch.set_timestamp(now_us(_ahead.get()))
            return made_batch

        return made

    for name in ("create_batch_logged", "create_batch_unlogged"):
        mp.setattr(acsylla, name, stamping(getattr(acsylla, name)))
    mp.setattr(cql, "_statement", stamped)
    mp.setattr(cql, "batch", stamped_batch)
    return written


@asynccontextmanager
async def skewed(
    cstore: CassandraStore, node_b: CassandraStore, seconds: float, mp: pytest.MonkeyPatch
) -> AsyncIterator[CassandraStore]:
    """`node_b`, its clock `seconds` ahead (behind, below 0); what it wrote truncated after."""
    await people(cstore)
    with mp.context() as m:
        written = ahead(node_b, seconds, m)
        yield node_b
    for table in sorted(written):
        await cstore.cql.ddl(f"TRUNCATE {cstore.ks}.{table}")


@pytest.fixture
async def fast(
    cstore: CassandraStore, node_b: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CassandraStore]:
    async with skewed(cstore, node_b, SKEW_S, monkeypatch) as node:
        yield node


@pytest.fixture
async def slow(
    cstore: CassandraStore, node_b: CassandraStore, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CassandraStore]:
    async with skewed(cstore, node_b, -SKEW_S, monkeypatch) as node:
        yield node


async def den(store: CassandraStore, *, private: bool = False) -> tuple[str, datetime]:
    made = datetime.now(UTC)
    await store.create_room(Room(name="den", created_at=made, owner="alice", private=private))
    return "den", made


async def ban(store: CassandraStore, key: str, made: datetime) -> None:
    await store.expel(key, "bob", banned_at=datetime.now(UTC), room_created=made)


async def assert_banned_out(on: CassandraStore, key: str) -> None:
    """bob banned and no member or invitee of `key`, in room_users and in its mirrors."""
    standing = await on.standing(key, "bob")
    assert standing.banned, standing
    assert not standing.member and not standing.invited, standing
    assert key not in await on.rooms_of("bob")
    assert key not in await on.invited_rooms("bob")
    assert key in await on.banned_rooms("bob") and "bob" in await on.list_bans(key)


async def test_a_join_from_a_node_ahead_then_a_ban_bans(
    cstore: CassandraStore, fast: CassandraStore
) -> None:
    key, made = await den(cstore)
    assert await join(fast, key)
    await ban(cstore, key, made)
    await assert_banned_out(cstore, key)
    await assert_banned_out(fast, key)


async def test_a_ban_then_a_join_from_a_node_ahead_is_taken_back(
    cstore: CassandraStore, fast: CassandraStore
) -> None:
    key, made = await den(cstore)
    await ban(cstore, key, made)
    assert not await join(fast, key)  # its add lands, its read sees the ban, it leaves
    await assert_banned_out(cstore, key)


async def test_a_rejoin_from_a_node_behind_after_a_kick_stands(
    cstore: CassandraStore, slow: CassandraStore
) -> None:
    """The other side: a kick's end of the membership is stamped by its ballot, and a rejoin
    from a node 2 s behind, stamped before it, was lost: the join said True, bob was out."""
    key, made = await den(cstore)
    assert await join(slow, key)
    assert await cstore.expel(key, "bob", room_created=made)
    assert await join(slow, key)
    assert await cstore.is_member(key, "bob") and key in await cstore.rooms_of("bob")
