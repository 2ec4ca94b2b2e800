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
message log nothing is claimed, and any number of nodes share the database.

A PostgreSQL claim can be lost while the node runs: the server ends the session (a restart,
pg_terminate_backend, a network cut it notices) and its lock with it, silently. So the node
keeps it (`keep`, a task of app.py's): asyncpg says at once when the server closes the
connection, and every CHECK_SECONDS the session is asked whether it still holds the lock (a
cut network closes nothing). Lost, the claim is taken again at once on a new connection,
ending our old session first if the server still keeps it. Meanwhile the local log commits
nothing (`wait_held`: a batch waits up to HELD_WAIT_S, then its senders get 503), and after
a new take it reads its next message ids from the table again. If another node took the
claim in between, this one has lost it for good: `keep` returns the line saying so and the
node stops (`torbit serve` exits 3). A flock is not lost while its process lives."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg  # type: ignore[import-untyped]

from torbit.backends.store.dialects import (
    CONNECT_TIMEOUT_S,
    UNAVAILABLE_SQLSTATES,
    PostgresDialect,
    SqlDialect,
    is_unavailable,
    unavailable,
)
from torbit.backends.store.sqlite_dialect import SqliteDialect
from torbit.core.health import Health
from torbit.core.numbers import ascii_number
from torbit.errors import ServiceUnavailable, StartupError
from torbit.files import FILE_MODE, private_dir

log = logging.getLogger(__name__)

Connection: TypeAlias = Any  # asyncpg.Connection (asyncpg ships no types)

# pg_try_advisory_lock(space, 0): its own space, apart from the name and migration locks
CLAIM_LOCK_SPACE = zlib.crc32(b"torbit.backends.store.claim") - 2**31

# A node killed a moment ago may hold its PostgreSQL session until the server has read
# the closed socket: a new node tries again for this long before refusing.
CLAIM_PATIENCE_S = 1.0

# The claim's session is asked whether it holds the lock this often, and given this long to
# answer; a lost claim is tried again after RETRY_FIRST_S, doubling up to RETRY_MAX_S.
CHECK_SECONDS = 1.0
CHECK_TIMEOUT_S = 5.0
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0
# how long a batch of the local log waits for a lost claim to be taken again before its
# senders are answered 503 (they may send again)
HELD_WAIT_S = 5.0
CLAIM_APPLICATION = "torbit node claim"  # the claim session's application_name


class DatabaseClaim:
    """A held claim; `release()` gives it up (also done by the process's death). The local
    log commits only while `held` (backends/message_log/sql.py, its `fence`)."""

    generation = 0  # times taken again after a loss: the table may have changed meanwhile

    def __init__(self) -> None:
        self.health = Health()  # torbit_backend_failures_total{backend="claim"}
        self._lost: str | None = None  # why it is lost for good

    @property
    def held(self) -> bool:
        return self._lost is None

    async def wait_held(self) -> None:
        """Return once the claim is held (at once while it is), else raise ServiceUnavailable:
        lost for good, or not taken again within HELD_WAIT_S."""
        if self._lost is not None:
            raise ServiceUnavailable(f"message log unavailable: {self._lost}")

    async def ping(self) -> None:
        """For torbit_backend_up{backend="claim"}: raises ServiceUnavailable while not held."""
        if not self.held:
            raise ServiceUnavailable("the node's claim on its database is not held")

    async def keep(self) -> str:
        """Keep the claim while the node runs: returns only once it is lost for good, with
        the line saying so (the node must then stop)."""
        raise NotImplementedError

    def _lose(self, line: str) -> str:
        self._lost = line
        self.health.failed(ServiceUnavailable(line))
        return line

    async def release(self) -> None:
        raise NotImplementedError


class Claimed(StartupError):
    """Another node holds the database's claim: it serves it on the local message log."""


def refusal(database: str, holder: str) -> Claimed:
    return Claimed(
        f"database {database} is already served by another torbit node{holder}: "
        f"the local message log allows one node per database; for several nodes set "
        f"message_log.url to kafka:// (docs/operations.md, 'Running on several machines')"
    )


def taken(database: str, holder: str, how: str) -> str:
    """The line of a node whose claim another node took while it was lost."""
    return (
        f"database {database} was claimed by another torbit node{holder} while this node's "
        f"{how}: this node stops so that it never serves beside it"
    )


class FileClaim(DatabaseClaim):
    """The flock, on a file of its own. It is not lost while the process lives, but its file
    can be removed or replaced (by hand, a restore): a second node would then lock a new file
    beside us. So the file is looked at every CHECK_SECONDS and, gone, locked again."""

    def __init__(self, fd: int, path: Path, database: str) -> None:
        super().__init__()
        self._fd: int | None = fd
        self._path = path
        self._database = database

    @classmethod
    def take(cls, dialect: SqliteDialect) -> FileClaim:
        path = lock_path(dialect.path)
        private_dir(path.parent)  # 0700, as the store would make it
        try:
            fd = _flock(path)
        except _Held as e:
            raise refusal(dialect.safe_url, e.holder) from None
        return cls(fd, path, dialect.safe_url)

    async def keep(self) -> str:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            fd = self._fd
            if fd is None or _is_file(fd, self._path):
                continue
            why = f"its lock file {self._path} was removed or replaced"
            log.warning(
                "the claim on database %s was lost (%s): taking it again", self._database, why
            )
            self.health.failed(ServiceUnavailable(f"database claim lost: {why}"))
            try:
                self._fd = _flock(self._path)
            except _Held as e:
                return self._lose(taken(self._database, e.holder, "lock file was replaced"))
            except OSError as e:  # the directory gone too: try again next time
                log.warning("locking %s again failed: %s", self._path, e)
                continue
            os.close(fd)
            self.generation += 1
            log.info("the claim on database %s is taken again: this node goes on", self._database)

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # the lock goes with the last descriptor; the file stays


class _Held(Exception):
    def __init__(self, holder: str) -> None:
        self.holder = holder  # " (pid N)", or ""


def _flock(path: Path) -> int:
    """An open descriptor of `path` holding its exclusive flock, our pid written in it; raises
    _Held (naming the holder's pid) when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    with contextlib.suppress(OSError):
        os.fchmod(fd, FILE_MODE)  # whatever the umask took away
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise _Held(f" (pid {holder})" if ascii_number(holder, 10) is not None else "") from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):  # only for the wording (a full disk: no pid)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _is_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open on `fd`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def lock_path(database: Path) -> Path:
    """The lock file of an SQLite database (startup.remove_new removes it with the file)."""
    return database.with_name(database.name + ".lock")


class AdvisoryClaim(DatabaseClaim):
    """The advisory lock, held by a session of its own and watched while the node runs."""

    def __init__(
        self, dialect: PostgresDialect, args: dict[str, Any], conn: Connection, session: Session
    ) -> None:
        super().__init__()
        self._dialect = dialect
        self._args = args  # asyncpg.connect's, from the storage URL
        self._conn: Connection | None = None
        self._session = session  # (pid, backend_start): the session holding the lock
        self._dropped = asyncio.Event()  # the server closed the claim's connection
        self._settled = asyncio.Event()  # held, or lost for good
        self._settled.set()
        self._held = True
        self._outage: str | None = None  # the database unreachable: what its senders are told
        self._adopt(conn, session)

    @property
    def held(self) -> bool:
        return self._held

    @classmethod
    async def take(cls, dialect: PostgresDialect) -> AdvisoryClaim:
        args = connect_args(dialect)
        try:
            conn = await _connect(args)
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + CLAIM_PATIENCE_S
                while (session := await _try_lock(conn)) is None:
                    if loop.time() > deadline:
                        raise refusal(dialect.safe_url, "")
                    await asyncio.sleep(0.1)
            except BaseException:
                conn.terminate()
                raise
        except Exception as e:
            if _unreachable(e):
                raise StartupError(f"{unavailable(e).message} ({dialect.safe_url})") from e
            raise
        return cls(dialect, args, conn, session)

    async def wait_held(self) -> None:
        if self._held:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), HELD_WAIT_S)
        if self._lost is not None:
            raise ServiceUnavailable(f"message log unavailable: {self._lost}")
        if not self._held:
            if self._outage is not None:  # an outage, as the store's own operations say it
                raise ServiceUnavailable(self._outage)
            raise ServiceUnavailable(
                "message log unavailable: the node's claim on the database was lost "
                "and is not yet taken again"
            )

    async def keep(self) -> str:
        while True:
            why = await self._watch()
            self._held = False
            self._settled.clear()
            url = self._dialect.safe_url
            log.warning("the claim on database %s was lost (%s): taking it again", url, why)
            self.health.failed(ServiceUnavailable(f"database claim lost: {why}"))
            lost = await self._take_again()
            if lost is not None:
                self._settled.set()
                return self._lose(lost)
            self.generation += 1
            self._held = True
            self._settled.set()
            log.info("the claim on database %s is taken again: this node goes on", url)

    async def _watch(self) -> str:
        """Return once the claim's connection is closed or no longer holds the lock: why."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dropped.wait(), CHECK_SECONDS)
            conn = self._conn
            if self._dropped.is_set() or conn is None:
                return "the server closed its connection"
            try:
                held = await conn.fetchval(_HOLDS, CLAIM_LOCK_CLASS, timeout=CHECK_TIMEOUT_S)
            except Exception as e:
                if self._dropped.is_set() or conn.is_closed():
                    return "the server closed its connection"
                self._outage = unavailable(e).message
                return f"checking it failed: {self._outage}"
            if not held:
                return "its session no longer holds the lock"

    async def _take_again(self) -> str | None:
        """Take the claim on a new connection: None once held, else (another node holds it)
        the line saying so. Tries until one or the other; the server may be restarting."""
        old = self._session
        self._drop()
        delay = RETRY_FIRST_S
        said_unreachable = False
        while True:
            conn: Connection | None = None
            try:
                conn = await _connect(self._args)
                session = await _try_lock(conn)
                if session is not None:
                    self._adopt(conn, session)
                    return None
                holder = await conn.fetchrow(_HOLDER, CLAIM_LOCK_CLASS, timeout=CHECK_TIMEOUT_S)
                if holder is not None and (holder["pid"], holder["backend_start"]) == old:
                    # our own session, not ended yet (terminated a moment ago, or cut off from
                    # us while the server still waits on its socket): end it
                    end = "SELECT pg_terminate_backend($1)"
                    await conn.fetchval(end, old[0], timeout=CHECK_TIMEOUT_S)
                    delay = RETRY_FIRST_S
                elif holder is not None:
                    where = f" from {holder['addr']}" if holder["addr"] else ""
                    by = f" (PostgreSQL session {holder['pid']}{where})"
                    return taken(self._dialect.safe_url, by, "claim was lost")
            except Exception as e:
                self._outage = unavailable(e).message
                if not said_unreachable:
                    said_unreachable = True
                    log.warning(
                        "taking the claim on database %s again failed (%s): trying on",
                        self._dialect.safe_url,
                        unavailable(e).message,
                    )
            finally:
                if conn is not None and conn is not self._conn:
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _adopt(self, conn: Connection, session: Session) -> None:
        self._conn, self._session = conn, session
        self._outage = None
        self._dropped.clear()

        def closed(c: object) -> None:
            if c is self._conn:  # not one given up on purpose
                self._dropped.set()

        conn.add_termination_listener(closed)

    def _drop(self) -> Connection | None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
        return conn

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        self._held = False
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=CHECK_TIMEOUT_S)
            except Exception:  # a dead session has let go already
                conn.terminate()


Session = tuple[int, datetime]  # a PostgreSQL session: (pid, backend_start)

# the claim's lock as pg_locks shows it: the first key in classid (an oid: unsigned), the
# second (0) in objid, objsubid 2 for the two-key form
CLAIM_LOCK_CLASS = CLAIM_LOCK_SPACE & 0xFFFFFFFF
_LOCK = "locktype = 'advisory' AND classid = $1 AND objid = 0 AND objsubid = 2 AND granted"
_HOLDS = f"SELECT EXISTS (SELECT FROM pg_locks WHERE pid = pg_backend_pid() AND {_LOCK})"
_HOLDER = f"""
    SELECT l.pid, a.backend_start, host(a.client_addr) AS addr
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.{_LOCK.replace(" AND ", " AND l.")}
"""


def connect_args(dialect: PostgresDialect) -> dict[str, Any]:
    """asyncpg.connect's arguments for the storage URL, as SQLAlchemy would pass them."""
    _, kwargs = dialect.url.get_dialect()().create_connect_args(dialect.url)
    return dict(kwargs)


async def _connect(args: dict[str, Any]) -> Connection:
    settings = {**args.get("server_settings", {}), "application_name": CLAIM_APPLICATION}
    conn: Connection = await asyncpg.connect(
        **{**args, "server_settings": settings}, timeout=CONNECT_TIMEOUT_S
    )
    return conn


async def _try_lock(conn: Connection) -> Session | None:
    """Take the lock on `conn`'s session if free: the session then, else None."""
    row = await conn.fetchrow(
        "SELECT pg_try_advisory_lock($1, 0) AS got, pg_backend_pid() AS pid,"
        " (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS started",
        CLAIM_LOCK_SPACE,
        timeout=CHECK_TIMEOUT_S,
    )
    if row is None or not row["got"]:
        return None
    return int(row["pid"]), row["started"]


def _unreachable(e: BaseException) -> bool:
    sqlstate = str(getattr(e, "sqlstate", "") or "")
    return (
        isinstance(e, OSError | asyncpg.InterfaceError)
        or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
        or is_unavailable(e)
    )


async def claimed_now(dialect: SqlDialect) -> bool:
    """Whether a node on the local message log serves the database now (holds its claim),
    for a node sharing Kafka at its start (backends/registry.py): the claim is taken and
    given back at once. Another node doing the same at that instant holds it for a moment:
    it is tried again for CLAIM_PATIENCE_S before the answer is yes."""
    deadline = asyncio.get_running_loop().time() + CLAIM_PATIENCE_S
    while True:
        try:
            held = await claim(dialect)
        except Claimed:
            if asyncio.get_running_loop().time() > deadline:
                return True
            await asyncio.sleep(0.1)
            continue
        await held.release()
        return False


async def claim(dialect: SqlDialect) -> DatabaseClaim:
    """Claim the database for this node, or raise StartupError naming it."""
    if isinstance(dialect, SqliteDialect):
        return FileClaim.take(dialect)
    if isinstance(dialect, PostgresDialect):
        return await AdvisoryClaim.take(dialect)
    raise TypeError(f"no claim for {type(dialect).__name__}")  # pragma: no cover
