"""The store's guests by age (`Store.guests_created_before`) and the nodes' leases
(`touch_node`, `nodes_seen_since`), on every store: what the sweep of guests left over by a
dead node (core/guests.py) pages through instead of every account, and what keeps the guests
of a node alive but cut off from the message log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text

from tests.contract.conftest import NOW, STORE_BACKENDS, cassandra_at
from torbit.backends.store import migrate
from torbit.backends.store.cassandra_cql import to_us
from torbit.backends.store.dialect_urls import dialect_for
from torbit.backends.store.sql import SqlStore
from torbit.core.models import GUEST_PASSWORD_HASH, User
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


async def test_guests_created_before_a_time_in_pages_without_accounts(store: Store) -> None:
    for name, minutes in (("dora", 0), ("bob", 0), ("al", 1), ("cy", 3), ("eve", 5), ("fay", 2)):
        node = "node-b" if name == "bob" else "node-a"
        await store.create_user(User(name, GUEST_PASSWORD_HASH, at(minutes)), node=node)
    for name in ("acct", "zed"):  # accounts, older than every guest
        await store.create_user(User(name, "hash-of-" + name, at(-60)))
    await store.delete_user("fay")  # a guest gone leaves nothing behind
    got = await store.guests_created_before(at(5))
    # by age, then key; eve is not older than at(5)
    assert [u.key for u, _ in got] == ["bob", "dora", "al", "cy"]
    assert [node for _, node in got] == ["node-b", "node-a", "node-a", "node-a"]
    assert all(u.is_guest for u, _ in got) and got[0][0].created_at == NOW

    pages: list[list[str]] = []
    after: tuple[datetime, str] | None = None
    while True:
        page = await store.guests_created_before(at(5), after=after, limit=2)
        pages.append([u.key for u, _ in page])
        if len(page) < 2:
            break
        after = (page[-1][0].created_at, page[-1][0].key)
    assert pages == [["bob", "dora"], ["al", "cy"], []]
    assert await store.guests_created_before(at(0)) == []
    page = await store.guests_created_before(at(1), after=(NOW, "bob"))
    assert [u.key for u, _ in page] == ["dora"]

    await store.create_user(User("fay", GUEST_PASSWORD_HASH, at(-1)))  # a new one of the name
    page = await store.guests_created_before(at(1))
    assert [(u.key, node) for u, node in page] == [
        ("fay", ""),
        ("bob", "node-b"),
        ("dora", "node-a"),
    ]


async def test_a_nodes_lease_is_seen_until_it_lapses(store: Store) -> None:
    assert await store.nodes_seen_since(at(0)) == []
    await store.touch_node("node-b", at(0))
    await store.touch_node("node-a", at(1))
    assert await store.nodes_seen_since(at(0)) == ["node-a", "node-b"]
    assert await store.nodes_seen_since(at(1)) == ["node-a"]
    await store.touch_node("node-b", at(2))  # renewed
    assert await store.nodes_seen_since(at(2)) == ["node-b"]
    assert await store.nodes_seen_since(at(3)) == []


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_guests_stored_before_the_migration_are_found_without_a_node(
    backend: str, fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0010 (Cassandra: 10, which fills its guests partition from the users): a guest
    stored before it is found by age, with no node (the sweep goes by presence alone)."""
    url = fresh_database(backend)
    if backend == "cassandra":
        cassandra = await cassandra_at(url, 8, monkeypatch)  # a keyspace as version 8 left it
        for name, hash_ in (("gus", GUEST_PASSWORD_HASH), ("acct", "hash-of-acct")):
            await cassandra.cql.lwt(
                f"INSERT INTO {cassandra.ks}.users (key, name, password_hash, credential, "
                "skeleton, created_at, is_admin) VALUES (?, ?, ?, '', ?, ?, false) IF NOT EXISTS",
                name, name, hash_, name, to_us(NOW),
            )  # fmt: skip
        await cassandra.close()
        store: Store = cassandra
    else:
        engine = dialect_for(url).create_engine()
        stored = NOW if backend == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S")
        try:
            async with engine.connect() as conn:
                await conn.run_sync(lambda c: command.upgrade(migrate._config(c), "0008"))
                for name, hash_ in (("gus", GUEST_PASSWORD_HASH), ("acct", "hash-of-acct")):
                    await conn.execute(
                        text(
                            'INSERT INTO users ("key", name, password_hash, created_at, '
                            "is_admin, credential, skeleton) "
                            "VALUES (:name, :name, :hash, :at, false, '', :name)"
                        ),
                        {"name": name, "hash": hash_, "at": stored},
                    )
                await conn.commit()
        finally:
            await engine.dispose()
        store = SqlStore(url)
    await store.open()  # to head
    try:
        found = await store.guests_created_before(at(1))
        assert [(u.key, node) for u, node in found] == [("gus", "")]
    finally:
        await store.close()
