"""What only SQLite's store does: the login's reads (and the history on a join) run on the
event loop's thread, on a connection of their own that only reads (dialects.py,
SqliteDialect.read_now). They must see every commit made before them, and never wait for a
write transaction that is still open (the one pooled connection it holds)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from tests.contract.conftest import draft
from tests.contract.test_store import room, user
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.schema import users
from torbit.backends.store.sql import SqlStore

BACKENDS_UNDER_TEST = [pytest.param("sqlite", id="sqlite")]


async def test_reads_see_each_commit_and_do_not_wait_for_an_open_write(store: SqlStore) -> None:
    await store.create_user(user("alice"))
    await store.ensure_room(room("lobby"))
    assert (await store.get_user("alice")) == user("alice")  # the insert's commit is seen
    assert await store.add_member("lobby", "alice")
    room_now, standing = await store.room_and_standing("lobby", "alice")
    assert room_now == room("lobby") and standing.member
    async with store._write() as conn:  # holds the one pooled connection, uncommitted
        await conn.execute(update(users).where(users.c.key == "alice").values(name="ALICE"))
        seen = await asyncio.wait_for(store.get_user("alice"), 5)  # waits for nothing
        assert seen is not None and seen.name == "alice"  # and sees only what was committed
        assert await asyncio.wait_for(store.rooms_held("alice"), 5) == ["lobby"]
    seen = await store.get_user("alice")
    assert seen is not None and seen.name == "ALICE"


async def test_the_history_on_a_join_is_read_so_too(store: SqlStore, log: SqlLog) -> None:
    sent = await log.publish([draft("lobby", f"m{i}") for i in range(5)])
    assert await log.read("lobby", limit=3, newest=True) == sent[2:]
    async with store._write():  # the pooled connection taken: the read does not wait
        got = await asyncio.wait_for(log.read("lobby", limit=2, newest=True), 5)
    assert got == sent[3:]


async def test_a_closed_store_lets_its_reader_go_and_a_reopened_one_reads_again(
    store: SqlStore,
) -> None:
    await store.create_user(user("alice"))
    await store.get_user("alice")
    await store.close()
    await store.open()
    assert (await store.get_user("alice")) == user("alice")
