"""SQLite's dialect (dialects.py): WAL and its durability setting, files only its owner
reads, the hot path's statements run straight on the driver (a connection of its own for
reads, one for quick writes, each checkpointed in turn), and batched message inserts
with their commit in one hand-off to aiosqlite's thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.sql import Executable

from torbit.backends.store.dialects import (
    COMMAND_TIMEOUT_S,
    DEFAULT_SYNCHRONOUS,
    MESSAGE_COLUMNS,
    Batches,
    Insert,
    MessageRow,
    Query,
    SqlDialect,
)
from torbit.backends.store.drivers import DriverConnections, is_closed
from torbit.backends.store.schema import messages
from torbit.backends.store.sqlite_driver import committed, driver_of
from torbit.errors import ConfigError
from torbit.files import private_dir, private_file, tighten

if TYPE_CHECKING:
    pass


# write_now's commits between two checkpoints it asks of the pooled connection (SQLite's own
# autocheckpoint is 1,000 pages; a login's two small commits write ~3 pages)
CHECKPOINT_EVERY = 256
SYNCHRONOUS_MODES = ("off", "normal", "full", "extra")
BUSY_TIMEOUT_MS = 5000  # the schema upgrade's (command_timeout None); the store's is the setting
FULL_BELOW = 1 << 20  # bytes free on the database's disk under which writes count as failing

_SQLITE_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})"
)


class SqliteDialect(SqlDialect):
    name = "sqlite"
    driver = "aiosqlite"

    def __init__(self, url: URL) -> None:
        super().__init__(url)
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise ConfigError(
                f"storage url {self.safe_url}: SQLite needs a file, e.g. sqlite:///data/torbit.db"
            )
        self.path = Path(database)
        self._sent_at: Callable[[Any], Any] | None = None
        # per direct query: its columns' result processors (text to datetime...), or None
        self._results: dict[str, _Processors | None] = {}
        self._reader: sqlite3.Connection | None = None  # read_now's, opened on first use
        self._writer: sqlite3.Connection | None = None  # write_now's, opened on first use
        self._synchronous = DEFAULT_SYNCHRONOUS
        self._writes_now = True  # False once the database is found not in WAL
        self._since_checkpoint = 0  # write_now commits since its last checkpoint was asked
        self._checkpoint: asyncio.Task[None] | None = None
        self._drivers = DriverConnections()

    def disk_problem(self) -> str | None:
        """Why writes fail for want of space, if they do: on a full disk SQLite still answers
        reads (a ping, logins, history) while every send fails, and /readyz said "ready"."""
        try:
            disk = os.statvfs(self.path.parent)
        except OSError:
            return None
        blocks = disk.f_bfree if os.geteuid() == 0 else disk.f_bavail  # root may use it all
        free = blocks * disk.f_frsize
        if free >= FULL_BELOW:
            return None
        return f"disk is full: {free // 1024} KiB free for {self.path.name}"

    def create_engine(
        self,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        command_timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> AsyncEngine:
        # SQLite waits for another connection's write lock up to busy_timeout: the bound on a
        # statement is storage.command_timeout here too (None, the upgrade's: BUSY_TIMEOUT_MS)
        busy_ms = BUSY_TIMEOUT_MS if command_timeout is None else busy_timeout_ms(command_timeout)
        if synchronous.lower() not in SYNCHRONOUS_MODES:
            raise ConfigError(
                f"storage synchronous={synchronous!r}: use one of {', '.join(SYNCHRONOUS_MODES)}"
            )
        self._synchronous = synchronous.lower()
        # private before SQLite opens it: its WAL and shared-memory files copy the mode
        private_dir(self.path.parent)
        private_file(self.path)
        for companion in ("-wal", "-shm", "-journal"):
            tighten(self.path.with_name(self.path.name + companion))
        # One connection per process: SQLite has one writer at a time anyway, and with several
        # pooled connections a writer's lock is held across event-loop turns, so under load
        # (seen at ~1,000 concurrent telnet logins) another connection's busy_timeout ran out
        # and a join failed with "database is locked". Queueing here waits in asyncio instead.
        # A connection going back to the pool is rolled back only when a transaction is open
        # (`_reset`): SQLAlchemy's own transactions end before that, and a rollback of nothing
        # still costs a hand-off to aiosqlite's thread on every store call.
        engine = create_async_engine(
            self.url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
            pool_reset_on_return=None,
        )
        pragmas = (
            f"PRAGMA busy_timeout={busy_ms}",
            f"PRAGMA synchronous={synchronous.upper()}",
            "PRAGMA foreign_keys=ON",
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            # Only takes effect before the first table exists, so it is set on connecting to
            # an empty database, not in a migration (Alembic creates its own table first).
            # Not on every connect: SQLite takes it for a write, and on a full disk every new
            # connection failed with it, `torbit user list` and `db status` too (stop 49).
            cursor.execute("PRAGMA page_count")
            if cursor.fetchone()[0] == 0:
                cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.close()

        self._drivers.watch(engine)

        @event.listens_for(engine.sync_engine, "reset")
        def _reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
            if state.terminate_only or not state.asyncio_safe:
                return
            if is_closed(dbapi_connection.driver_connection):  # by the store's close
                return
            if dbapi_connection.driver_connection.in_transaction:
                dbapi_connection.rollback()

        return engine

    async def fetch(
        self, conn: AsyncConnection, query: Query, sql: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]]:
        # One hand-off to aiosqlite's thread, where Core through SQLAlchemy's adapter makes
        # five (cursor, execute, fetch, close, the rollback that ends the autobegun
        # transaction): measured here ~1.1 ms a cursor read that way, ~0.45 ms this way.
        _announce(conn, sql, params)
        try:
            rows = await (await driver_of(conn)).execute_fetchall(sql, params)
        except sqlite3.Error as e:
            raise _wrapped(sql, params, e) from e
        return self._processed(query, sql, conn.dialect, rows)

    def read_now(
        self, engine: AsyncEngine, query: Query, sql: str, params: Sequence[Any]
    ) -> Sequence[Sequence[Any]] | None:
        # A small indexed read takes SQLite tens of µs; handing it to aiosqlite's thread and
        # back costs the event loop more than that in thread wake-ups and the GIL, and waits
        # for the one pooled connection if a write holds it. So these reads run here, on a
        # connection of their own that only reads (WAL: readers neither wait for the writer
        # nor block it; each statement sees what was committed before it). SQLite busy
        # (a checkpoint's rare moments, a database not in WAL): None, and `fetch` waits.
        # Once write_now's connection is open the reads run on it: SQLite keeps a
        # connection's page cache across its own commits and drops it after another's, and
        # in a login storm the loop's own writes came between every two logins' reads (a
        # reader of its own re-read each page: ~25 more pread calls a login).
        try:
            reader = self._writer or self._reader or self._open_reader()
            rows = reader.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return None
        except sqlite3.Error as e:
            raise _wrapped(sql, params, e) from e
        sync = engine.sync_engine
        sync.dispatch.before_cursor_execute(None, None, sql, params, None, False)
        return self._processed(query, sql, sync.dialect, rows)

    def _open_reader(self) -> sqlite3.Connection:
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA busy_timeout=0")  # never wait on the event loop
        reader.execute("PRAGMA query_only=ON")
        self._reader = reader
        return reader

    def write_now(self, engine: AsyncEngine, sql: str, params: Sequence[Any]) -> int | None:
        # A woken long poll's cursor move: through aiosqlite's thread it took 0.7-1.6 ms
        # (median, more under load) of the wake-up, mostly waiting for that thread and then
        # the loop while the loop answered the POST /send that woke the poll; SQLite runs the
        # upsert and commits it in tens of µs. So it runs here, on a connection of its own
        # that never waits (busy_timeout=0): when another connection holds SQLite's write
        # lock (the message log's batch, a store write), nothing was written and `write`
        # queues it (a failed statement commits nothing). In WAL with synchronous NORMAL or
        # OFF a commit appends to the WAL without an fsync (it survives kill -9, as every
        # commit here); with FULL or EXTRA it would wait for the disk on the loop, so those
        # use `write`. Checkpoints (which do sync) are left to the pooled connection
        # (wal_autocheckpoint=0 on this one).
        if not self.commits_now:
            return None
        try:
            writer = self._writer or self._open_writer()
            if writer is None:
                return None
            changed = writer.execute(sql, params).rowcount
        except sqlite3.OperationalError:  # busy, or worse: nothing was written either way,
            return None  # and `write` says what is wrong as the store's other writes do
        except sqlite3.Error as e:
            raise _wrapped(sql, params, e) from e
        sync = engine.sync_engine
        sync.dispatch.before_cursor_execute(None, None, sql, params, None, False)
        self._committed(engine)
        return changed

    @property
    def commits_now(self) -> bool:
        return self._writes_now and self._synchronous in ("off", "normal")

    def commit_now(self, engine: AsyncEngine, rows: Sequence[MessageRow]) -> bool:
        # A message's commit through aiosqlite's thread cost ~150-200 µs of CPU a message in
        # thread and loop wake-ups (a steady 100 msg/s to a room of 1,000: bench/JOURNAL.md,
        # `steady`), where SQLite appends a few rows to the WAL in tens of µs. So a small batch
        # is committed here, on write_now's connection, under the same rules: only in WAL with
        # synchronous NORMAL or OFF (the commit is not synced, as on the pooled connection; it
        # survives kill -9), never waiting (busy_timeout=0: another connection holding the
        # write lock means nothing was written, and the log commits it the usual way). Not
        # announced to the engine's listeners, as the usual way's insert (below the engine).
        return self.commits_now and self._committed_here(
            engine, ((_SQLITE_INSERT, self._stored_rows(engine, rows)),)
        )

    def write_many_now(self, engine: AsyncEngine, batches: Batches) -> bool:
        # write_now's rule, statements over many rows in one commit (a crowd's logouts): one
        # WAL append where one a row took ~0.1 ms of the loop (py-spy --native: pwrite).
        if not self.commits_now or not self._committed_here(engine, batches):
            return False
        for sql, rows in batches:
            engine.sync_engine.dispatch.before_cursor_execute(None, None, sql, rows, None, True)
        return True

    def _committed_here(self, engine: AsyncEngine, batches: Batches) -> bool:
        try:
            writer = self._writer or self._open_writer()
            if writer is None:
                return False
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # busy: nothing begun
            return False
        sql, params = batches[0]
        try:
            for sql, params in batches:
                writer.executemany(sql, params)
            writer.execute("COMMIT")
        except sqlite3.Error as e:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                return False  # nothing written: the usual way says what is wrong, if anything
            raise _wrapped(sql, params, e) from e
        self._committed(engine)
        return True

    def _committed(self, engine: AsyncEngine) -> None:
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and self._checkpoint is None:
            self._since_checkpoint = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._checkpointed(engine))

    async def _checkpointed(self, engine: AsyncEngine) -> None:
        """The WAL copied back into the database by the pooled connection, on the driver's
        thread (a checkpoint syncs the file): this one never checkpoints, and when all of a
        storm's writes are made here (a login storm: the accounts and memberships) nothing
        else would, and the WAL would grow by every commit (~11 KB a login). TRUNCATE: a
        passive one, racing the commits made here meanwhile, seldom lets the WAL start
        over; this one takes SQLite's write lock for its moment (write_now finds it busy
        and queues its write behind it)."""
        try:
            # a busy or closing database: the next one will do
            with contextlib.suppress(Exception):
                async with engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._checkpoint = None

    def _open_writer(self) -> sqlite3.Connection | None:
        writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA busy_timeout=0",  # never wait on the event loop
            f"PRAGMA synchronous={self._synchronous.upper()}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA wal_autocheckpoint=0",
        ):
            writer.execute(pragma)
        (mode,) = writer.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":  # a rollback journal syncs, and writers block readers
            writer.close()
            self._writes_now = False
            return None
        self._writer = writer
        return writer

    async def close(self) -> None:
        self._drivers.refuse()
        if self._checkpoint is not None:
            # ended before the dispose: its statement runs on in aiosqlite's thread after a
            # cancel, on the pool's connection, which the task then gives back to the pool the
            # dispose had replaced (where nothing closes it)
            checkpoint, self._checkpoint = self._checkpoint, None
            checkpoint.cancel()
            await asyncio.wait([checkpoint])
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    async def settle(self) -> None:
        await self._drivers.close()

    def _processed(
        self, query: Query, sql: str, dialect: Dialect, rows: Iterable[Sequence[Any]]
    ) -> Sequence[Sequence[Any]]:
        """The rows as Core gives them: each column through its result processor (found
        from the Core query once per SQL text)."""
        if sql not in self._results:
            self._results[sql] = _processors(query(), dialect)
        processors = self._results[sql]
        if processors is None:
            return list(rows)
        # Each row as a list with only the processed columns replaced: a tuple rebuilt
        # through zip and a generator cost 4.5 µs a row of six columns, this 0.4 µs (a
        # receive's page of 100 rows has one processed column, the time it was sent).
        out = []
        for row in rows:
            values = list(row)
            for i, f in processors:
                values[i] = f(values[i])
            out.append(values)
        return out

    async def write(
        self, conn: AsyncConnection, statement: Query, sql: str, params: Sequence[Any]
    ) -> int:
        # One hand-off to aiosqlite's thread (the statement and its commit, `committed`)
        # where Core makes six. A woken long poll waits for this one before it answers. The
        # rows changed are read off the connection's running count (one connection, held
        # here: no other statement runs on it meanwhile), not from a cursor that would cost
        # a hand-off more.
        _announce(conn, sql, params)
        db = await driver_of(conn)
        try:
            before = db.total_changes
            await committed(db, sql, (params,))
            changed = db.total_changes - before
        except sqlite3.Error as e:
            raise _wrapped(sql, params, e) from e
        return changed

    def stored_time(self, conn: AsyncConnection | AsyncEngine, at: datetime) -> Any:
        return self._to_text(conn)(at)

    def _to_text(self, conn: AsyncConnection | AsyncEngine) -> Callable[[Any], Any]:
        """UTCDateTime's bind processor (every timestamp column's type): the text Core stores."""
        if self._sent_at is None:
            sent_at = messages.c.sent_at.type
            self._sent_at = sent_at.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        assert self._sent_at is not None
        return self._sent_at

    def insert(self, table: Table) -> Insert:
        return sqlite.insert(table)

    async def lock_for_migration(self, conn: AsyncConnection) -> None:
        await self._use_wal(conn)
        # Takes SQLite's write lock now (waiting up to busy_timeout) and keeps the DDL that
        # follows in the same transaction; Python's sqlite3 would otherwise autocommit DDL.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")

    async def _use_wal(self, conn: AsyncConnection) -> None:
        """Switch the database to WAL (it stays so: the mode is kept in the file). Done once
        here, at the start of every open, not per connection: the switch needs an exclusive
        lock and SQLite reports "database is locked" at once, without its busy handler, when
        two connections try it together on a new database; so this retries."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                await conn.commit()
                return
            except sa_exc.OperationalError as e:
                await conn.rollback()
                if "locked" not in str(e.orig) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.01)

    async def insert_messages(self, conn: AsyncConnection, rows: Sequence[MessageRow]) -> None:
        # Straight to aiosqlite. Measured with 50 concurrent publishers, synchronous=FULL, on
        # 2 cores (best of 8 runs): ~29,000 msg/s and 30 µs CPU/msg through Core's
        # executemany, ~39,000 msg/s and 22 µs this way. What it saves is mostly thread
        # hand-offs: the adapter creates, runs and closes a cursor, each a round trip to
        # aiosqlite's thread, where this is one; then per-row parameter processing. The
        # transaction is still SQLAlchemy's (the same sqlite3 connection), and sent_at goes
        # through the column type's own bind processor, so the stored text is what Core writes.
        db = await driver_of(conn)
        params = self._stored_rows(conn, rows)
        try:
            await db.executemany(_SQLITE_INSERT, params)
        except sqlite3.Error as e:  # as `commit_messages`: "database is locked" is unavailable
            raise _wrapped(_SQLITE_INSERT, params, e) from e

    async def commit_messages(self, conn: AsyncConnection, rows: Sequence[MessageRow]) -> None:
        # The insert and its commit in one hand-off to aiosqlite's thread (`committed`), where
        # insert_messages and a commit through the engine make two: every message's way from
        # POST /send to a woken long poll or a WebSocket passes here. When the engine already
        # began a transaction on `conn` (the first batch of a channel reads its next id), the
        # engine ends it, so that it knows its transaction is over.
        if conn.in_transaction():
            await super().commit_messages(conn, rows)
            return
        params = self._stored_rows(conn, rows)
        db = await driver_of(conn)
        try:
            await committed(db, _SQLITE_INSERT, params)
        except sqlite3.Error as e:
            raise _wrapped(_SQLITE_INSERT, params, e) from e

    def _stored_rows(
        self, conn: AsyncConnection | AsyncEngine, rows: Sequence[MessageRow]
    ) -> list[Any]:
        """The rows' parameters, sent_at through the column type's own bind processor so the
        stored text is what Core writes. The drafts of one publish share one send time:
        converted once for each run of them (two Python calls per row were a tenth of the
        server's CPU in the durable bench)."""
        to_text = self._to_text(conn)
        params = []
        last: Any = None
        stored: Any = None
        for c, i, s, t, at, k, r in rows:
            if at is not last:
                last, stored = at, to_text(at)
            params.append((c, i, s, t, stored, k, r))
        return params

    async def after_purge(self, conn: AsyncConnection) -> None:
        # With auto_vacuum=INCREMENTAL freed pages wait on the freelist until asked for. The
        # pragma frees one page per step, and sqlite3's execute() steps a statement without
        # result columns only once; executescript() steps it to the end.
        await conn.commit()
        cursor = await (await driver_of(conn)).executescript("PRAGMA incremental_vacuum")
        await cursor.close()


def busy_timeout_ms(seconds: float) -> int:
    """SQLite's busy_timeout for a bound in seconds: whole milliseconds, at least one (0
    would not wait at all)."""
    return max(1, round(seconds * 1000))


_Processors = list[tuple[int, Callable[[Any], Any]]]


def _processors(query: Executable, dialect: Dialect) -> _Processors | None:
    """What Core does to the selected columns' values as they come from the driver: the
    columns that need it, by position, with their processor (None: no column does)."""
    columns = getattr(query, "selected_columns", ())
    found = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    return [(i, f) for i, f in enumerate(found) if f is not None] or None


def _announce(conn: AsyncConnection, sql: str, params: Sequence[Any]) -> None:
    """Tell the engine's `before_cursor_execute` listeners of a statement run on the driver,
    as SQLAlchemy tells them of its own: logging and the tests' statement counts see it."""
    sync = conn.sync_connection
    if sync is not None:
        sync.dispatch.before_cursor_execute(sync, None, sql, params, None, False)


def _wrapped(sql: str, params: Sequence[Any], e: sqlite3.Error) -> sa_exc.StatementError:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError...), so
    that callers handle one family of errors whichever path ran the statement."""
    return sa_exc.DBAPIError.instance(sql, params, e, sqlite3.Error)
