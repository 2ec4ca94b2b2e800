"""What only SQLite's store does: the login's reads (and the history on a join) run on the
event loop's thread, on a connection of their own that only reads (dialects.py,
SqliteDialect.read_now). They must see every commit made before them, and never wait for a
write transaction that is still open (the one pooled connection it holds). A woken long
poll's cursor move (`set_cursor(at_once=True)`) is written and committed so too
(SqliteDialect.write_now), unless SQLite is busy with another write or the commit would wait
for the disk (synchronous FULL): then it queues on the driver's thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import update

from tests.contract.conftest import draft
from tests.contract.test_store import room, user
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.schema import users
from torbit.backends.store.sql import SqlStore
from torbit.backends.store.sqlite_dialect import CHECKPOINT_EVERY, SqliteDialect
from torbit.errors import NotFound

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


def count_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls queued to aiosqlite's thread from now on (its one queueing method)."""
    seen: list[str] = []
    queue: Any = aiosqlite.Connection._execute

    async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await queue(conn, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


def stored_cursor(store: SqlStore, user_key: str, channel: str) -> int | None:
    """The cursor as another process would find it: a connection of its own, opened now."""
    with sqlite3.connect(store.dialect.path) as db:  # type: ignore[attr-defined]
        row = db.execute(
            "SELECT last_id FROM cursors WHERE user_key = ? AND channel = ?", (user_key, channel)
        ).fetchone()
    return None if row is None else int(row[0])


async def test_a_cursor_move_is_committed_at_once_without_the_drivers_thread(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_user(user("alice"))
    await store.ensure_room(room("lobby"))
    await store.set_cursor("alice", "lobby", 3, at_once=True)  # its connection opened
    hand_offs = count_hand_offs(monkeypatch)
    await store.set_cursor("alice", "lobby", 4)  # in its turn: on the driver's thread
    assert hand_offs == ["run_committed"]
    hand_offs.clear()
    await store.set_cursor("alice", "lobby", 7, at_once=True)
    assert hand_offs == []
    assert stored_cursor(store, "alice", "lobby") == 7  # committed: another connection sees it
    await store.set_cursor("alice", "lobby", 5, at_once=True)  # forward only, as on the driver
    assert await store.get_cursor("alice", "lobby") == 7
    with pytest.raises(NotFound):  # the foreign key is checked on this connection too
        await store.set_cursor("nobody", "lobby", 1, at_once=True)
    assert hand_offs == []  # get_cursor reads on the loop's thread too; the failed move made none


async def test_a_cursor_move_while_another_write_holds_sqlite_waits_its_turn(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_user(user("alice"))
    await store.ensure_room(room("lobby"))
    await store.set_cursor("alice", "lobby", 1)
    hand_offs = count_hand_offs(monkeypatch)
    async with store._write() as conn:  # the pooled connection, SQLite's write lock held
        await conn.execute(update(users).where(users.c.key == "alice").values(name="ALICE"))
        move = asyncio.create_task(store.set_cursor("alice", "lobby", 9, at_once=True))
        await asyncio.sleep(0.05)
        assert not move.done()  # SQLite was busy: queued for the pooled connection
    await asyncio.wait_for(move, 5)
    assert "run_committed" in hand_offs  # the move and its commit, on the driver's thread
    assert stored_cursor(store, "alice", "lobby") == 9


async def test_with_synchronous_full_a_cursor_move_goes_to_the_drivers_thread(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that syncs to disk must not hold the event loop."""
    store = SqlStore(sqlite_url, synchronous="full")
    await store.open()
    try:
        await store.create_user(user("alice"))
        await store.ensure_room(room("lobby"))
        hand_offs = count_hand_offs(monkeypatch)
        await store.set_cursor("alice", "lobby", 4, at_once=True)
        assert hand_offs == ["run_committed"]
        assert stored_cursor(store, "alice", "lobby") == 4
    finally:
        await store.close()


async def test_writes_made_at_once_are_checkpointed_now_and_then(store: SqlStore) -> None:
    """The accounts and memberships of a login storm are committed on the loop's thread
    (write_now), whose connection never checkpoints: it asks the pooled connection to, every
    CHECKPOINT_EVERY commits, so the WAL stays bounded (without: ~11 KB a login, 200 MB
    after a storm of 10,000; on main these writes went through the pooled connection)."""
    await store.ensure_room(room("lobby"))
    n = 3 * CHECKPOINT_EVERY
    for i in range(n):
        await store.create_user(user(f"u{i}"), unlike=True)
        assert await store.add_member("lobby", f"u{i}")
        await asyncio.sleep(0)  # the loop turns between logins (neither write waits)
    dialect = store.dialect
    assert isinstance(dialect, SqliteDialect)
    pending = dialect._checkpoint
    if pending is not None:
        await pending
    wal = dialect.path.with_name(dialect.path.name + "-wal")
    assert wal.stat().st_size < 4 << 20  # without the checkpoints: ~9 MB here
    assert len(await store.rooms_held("u0")) == 1


async def test_once_the_loop_has_written_its_reads_run_on_that_connection(
    store: SqlStore,
) -> None:
    """A login's account and membership are committed on the loop's thread (write_now); its
    reads (the name, the room and standing, the rooms held) then run on that same
    connection. SQLite keeps a connection's page cache across its own commits and drops it
    after another connection's: a reader of its own re-read every page it needed after each
    login's writes (strace over a storm of 1,000: ~29 pread calls a login, ~4.5 so)."""
    await store.ensure_room(room("lobby"))
    await store.create_user(user("alice"), unlike=True)  # the loop's connection opened
    dialect = store.dialect
    assert isinstance(dialect, SqliteDialect)
    writer = dialect._writer
    assert writer is not None
    ran: list[str] = []
    writer.set_trace_callback(ran.append)
    version = writer.execute("PRAGMA data_version").fetchone()[0]
    assert await store.add_member("lobby", "alice")  # written there
    assert await store.rooms_held("alice") == ["lobby"]  # and read there: its own write seen
    reads = [sql for sql in ran if sql.lstrip().upper().startswith("SELECT")]
    assert reads, ran
    # no other connection committed in between: the page cache it read through was kept
    assert writer.execute("PRAGMA data_version").fetchone()[0] == version
    async with store._write() as conn:  # another connection's commit is seen all the same
        await conn.execute(update(users).where(users.c.key == "alice").values(name="ALICE"))
    seen = await store.get_user("alice")
    assert seen is not None and seen.name == "ALICE"
    writer.set_trace_callback(None)
