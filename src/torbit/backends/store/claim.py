"""One serving node per database when the message log is the local one (SqlLog).

The local log numbers messages and fans them out inside one process: a second node on the
same database would see none of the first one's messages live and hand out the same
message ids (its sends then fail with 503). So a node using it holds a claim on the
database for as long as it runs, one the operating system or the database gives up the
moment the process dies (a `kill -9` needs no expiry wait before a restart):

    SQLite      an exclusive flock(2) on `<database>.lock` beside the file; it holds the
                pid of the node, for the refusal's wording
    PostgreSQL  a session-level advisory lock (pg_try_advisory_lock) on a connection of
                its own, held open; released when that session ends

The CLI's admin commands take no claim: they work beside a running node. With Kafka as the
message log nothing is claimed, and any number of nodes share the database."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import zlib
from pathlib import Path

from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from torbit.backends.store.dialects import (
    CONNECT_TIMEOUT_S,
    PostgresDialect,
    SqlDialect,
    SqliteDialect,
    is_unavailable,
    unavailable,
)
from torbit.errors import StartupError
from torbit.files import FILE_MODE, private_dir

# pg_try_advisory_lock(space, 0): its own space, apart from the name and migration locks
CLAIM_LOCK_SPACE = zlib.crc32(b"torbit.backends.store.claim") - 2**31

# A node killed a moment ago may hold its PostgreSQL session until the server has read
# the closed socket: a new node tries again for this long before refusing.
CLAIM_PATIENCE_S = 1.0


class DatabaseClaim:
    """A held claim; `release()` gives it up (also done by the process's death)."""

    async def release(self) -> None:
        raise NotImplementedError


def refusal(database: str, holder: str) -> StartupError:
    return StartupError(
        f"database {database} is already served by another torbit node{holder}: "
        f"the local message log allows one node per database; for several nodes set "
        f"message_log.url to kafka:// (docs/operations.md, 'Running on several machines')"
    )


class FileClaim(DatabaseClaim):
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def take(cls, dialect: SqliteDialect) -> FileClaim:
        path = lock_path(dialect.path)
        private_dir(path.parent)  # 0700, as the store would make it
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)  # whatever the umask took away
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise refusal(
                dialect.safe_url, f" (pid {holder})" if holder.isdigit() else ""
            ) from None
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # only for the wording (a full disk: no pid)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # the lock goes with the last descriptor; the file stays


def lock_path(database: Path) -> Path:
    """The lock file of an SQLite database (startup.remove_new removes it with the file)."""
    return database.with_name(database.name + ".lock")


class AdvisoryClaim(DatabaseClaim):
    def __init__(self, engine: AsyncEngine, conn: AsyncConnection) -> None:
        self._engine: AsyncEngine | None = engine
        self._conn = conn

    @classmethod
    async def take(cls, dialect: PostgresDialect) -> AdvisoryClaim:
        engine = create_async_engine(
            dialect.url,
            poolclass=NullPool,
            connect_args={
                "timeout": CONNECT_TIMEOUT_S,
                "server_settings": {"application_name": "torbit node claim"},
            },
        )
        try:
            conn = await engine.connect()
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + CLAIM_PATIENCE_S
                while not await _try_lock(conn):
                    if loop.time() > deadline:
                        raise refusal(dialect.safe_url, "")
                    await asyncio.sleep(0.1)
            except BaseException:
                await conn.close()
                raise
        except Exception as e:
            await engine.dispose()
            if is_unavailable(e):
                failure = unavailable(e)
                raise StartupError(f"{failure.message} ({dialect.safe_url})") from e
            raise
        return cls(engine, conn)

    async def release(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            try:
                with contextlib.suppress(Exception):  # a dead session has let go already
                    await self._conn.close()
            finally:
                await engine.dispose()


async def _try_lock(conn: AsyncConnection) -> bool:
    result = await conn.execute(
        text("SELECT pg_try_advisory_lock(:space, 0)"), {"space": CLAIM_LOCK_SPACE}
    )
    got = bool(result.scalar())
    await conn.commit()  # the lock is the session's; no transaction is left open
    return got


async def claim(dialect: SqlDialect) -> DatabaseClaim:
    """Claim the database for this node, or raise StartupError naming it."""
    if isinstance(dialect, SqliteDialect):
        return FileClaim.take(dialect)
    if isinstance(dialect, PostgresDialect):
        return await AdvisoryClaim.take(dialect)
    raise TypeError(f"no claim for {type(dialect).__name__}")  # pragma: no cover
