"""The CQL connection under CassandraStore: the storage URL, the driver session, prepared
statements, batches, lightweight transactions, paging, and turning the driver's failures
into ServiceUnavailable. The only module that imports the driver.

    cassandra://127.0.0.1:9042/torbit             one contact point, keyspace "torbit"
    cassandra://db1:9042,db2:9042,db3:9042/chat   several (all on one port: the driver's rule)

The driver is acsylla (Cython over the ScyllaDB fork of the DataStax C++ driver; it speaks to
Apache Cassandra as to Scylla), chosen over the Apache `cassandra-driver` by measurement on
this 2-core machine against one Cassandra 5.0 node: a primary-key read costs 82-105 µs of
our process's CPU and answers 1,900-2,600/s with 50 in flight, where cassandra-driver, its
futures handed to asyncio with call_soon_threadsafe, costs 440-470 µs and answers 550-790/s;
a read-then-batch (the /receive cursor) 100-140 µs vs 740-770 µs. Its results arrive on the
event loop directly instead of through a driver thread and the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import acsylla

from torbit.core.health import Health
from torbit.core.numbers import ascii_number
from torbit.errors import ConfigError, ServiceUnavailable

DEFAULT_PORT = 9042
DEFAULT_CONSISTENCY = "LOCAL_QUORUM"
# Levels that make sense for both reads and writes (ANY and EACH_QUORUM do not).
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM")
CONNECT_TIMEOUT_S = 5.0
# As the SQL stores: a node that accepts connections but does not answer costs a request
# this long, then ServiceUnavailable. The default of storage.command_timeout, which the store
# is given and sets on each statement and batch (the Cluster's, shared by the stores of one
# event loop, bounds only the session's own requests, such as preparing a statement).
REQUEST_TIMEOUT_S = 5.0
RECONNECT_DELAY_MS = 500
PAGE_SIZE = 1000
_KEYSPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")

Row = dict[str, Any]
Params = Sequence[Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch, UTC (a naive datetime is taken to be UTC already): how
    times are stored, as CQL's timestamp keeps only milliseconds."""
    aware = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return (aware - EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class CassandraUrl:
    hosts: tuple[str, ...]
    port: int
    keyspace: str

    @classmethod
    def parse(cls, url: str) -> CassandraUrl:
        scheme, sep, rest = url.partition("://")
        if scheme.lower() != "cassandra" or not sep:
            raise ConfigError(f"storage url {url!r}: write cassandra://host:port/keyspace")
        where, _, keyspace = rest.partition("/")
        keyspace = keyspace.strip("/")
        if not _KEYSPACE.fullmatch(keyspace):
            raise ConfigError(
                f"storage url {url!r}: name the keyspace (letters, digits and _, "
                f"at most 48), e.g. cassandra://localhost:9042/torbit"
            )
        hosts: list[str] = []
        ports: set[int] = set()
        for point in filter(None, where.split(",")):
            host, _, port = point.rpartition(":") if ":" in point else (point, "", "")
            if port and ascii_number(port, 5) is None:
                raise ConfigError(f"storage url {url!r}: bad port in {point!r}")
            hosts.append(host.strip("[]"))
            ports.add(int(port) if port else DEFAULT_PORT)
        if not hosts or not all(hosts):
            raise ConfigError(
                f"storage url {url!r}: name at least one host, "
                f"e.g. cassandra://localhost:9042/{keyspace}"
            )
        if len(ports) > 1:
            raise ConfigError(f"storage url {url!r}: every contact point must use one port")
        return cls(tuple(hosts), ports.pop(), keyspace)


def check_consistency(level: str) -> str:
    upper = level.upper()
    if upper not in CONSISTENCY_LEVELS:
        raise ConfigError(
            f"storage consistency={level!r}: use one of {', '.join(CONSISTENCY_LEVELS)}"
        )
    return upper


# Failures that mean "the cluster cannot serve this now" rather than a bad query.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    acsylla.errors.CassErrorLibNoHostsAvailable,
    acsylla.errors.CassErrorLibRequestTimedOut,
    acsylla.errors.CassErrorLibUnableToConnect,
    acsylla.errors.CassErrorLibRequestQueueFull,
    acsylla.errors.CassErrorLibNoStreams,
    acsylla.errors.CassErrorLibUnableToDetermineProtocol,
    acsylla.errors.CassErrorLibWriteError,
    acsylla.errors.CassErrorServerUnavailable,
    acsylla.errors.CassErrorServerOverloaded,
    acsylla.errors.CassErrorServerIsBootstrapping,
    acsylla.errors.CassErrorServerReadTimeout,
    acsylla.errors.CassErrorServerWriteTimeout,
    acsylla.errors.CassErrorServerReadFailure,
    acsylla.errors.CassErrorServerWriteFailure,
    acsylla.errors.CassErrorServerTruncateError,
    acsylla.errors.CassErrorServerBadCredentials,
    acsylla.errors.CassExceptionConnectionError,
    acsylla.errors.KeyspaceNotFound,
    OSError,
)


def is_missing_table(e: BaseException) -> bool:
    """A table (or keyspace) the query names does not exist, or not yet on this node."""
    return isinstance(e, acsylla.errors.CassErrorServerInvalidQuery) and (
        "does not exist" in str(e) or "unconfigured table" in str(e)
    )


def unavailable(e: BaseException) -> ServiceUnavailable:
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return ServiceUnavailable(f"storage unavailable: {first_line}")


class _Clusters:
    """One driver Cluster per event loop and contact points, shared by the stores using them.

    Works around two habits of acsylla 1.2 that otherwise leak file descriptors (and fail a
    test run that turns ResourceWarning into errors): each Cluster makes a socket pair to wake
    the event loop and never closes it, and each new Cluster replaces the socket pair of the
    driver's one Logger without closing the old one. So Clusters are shared and, when their
    last session closes, their sockets are closed here; the Logger's with the last Cluster.
    The driver serves the event loops of one thread only (torbit runs one loop)."""

    def __init__(self) -> None:
        self._live: dict[
            tuple[int, tuple[str, ...], int], tuple[asyncio.AbstractEventLoop, Any, int]
        ] = {}

    def acquire(self, url: CassandraUrl) -> tuple[Any, Callable[[], None]]:
        loop = asyncio.get_running_loop()
        key = (id(loop), url.hosts, url.port)
        owner, cluster, users = self._live.get(key, (loop, None, 0))
        if cluster is None or owner is not loop:  # (an id reused by a newer loop)
            users = 0
            cluster = acsylla.create_cluster(
                list(url.hosts),
                port=url.port,
                connect_timeout=CONNECT_TIMEOUT_S,
                request_timeout=REQUEST_TIMEOUT_S,
                log_level="critical",  # e.g. "no shard info", said of every Apache Cassandra
                coalesce_delay_us=0,  # send each request at once: latency over fewer syscalls
                # a restarted node is used again within 0.5 s, however long it was away; the
                # exponential policy's defaults (2 s doubling to 60 s) must be unset, or acsylla
                # sets them after the constant one, which they replace (measured: 6-9 s to use a
                # node back after 7 s away, and over 30 s in a CI run where it took longer)
                constant_reconnect_delay_ms=RECONNECT_DELAY_MS,
                exponential_reconnect_base_delay_ms=None,
                exponential_reconnect_max_delay_ms=None,
                application_name="torbit",
            )
        self._live[key] = (loop, cluster, users + 1)

        def release() -> None:
            entry = self._live.get(key)
            if entry is not None and entry[1] is cluster:
                if entry[2] > 1:
                    self._live[key] = (loop, cluster, entry[2] - 1)
                    return
                del self._live[key]
            for ref in gc.get_referents(cluster):
                if isinstance(ref, socket.socket):
                    with contextlib.suppress(Exception):
                        loop.remove_reader(ref)
                    ref.close()
            if not self._live:
                cluster.get_logger().destroy()

        return cluster, release


_clusters = _Clusters()


class Cql:
    """One driver session with a cache of prepared statements. Every method raises
    ServiceUnavailable when the cluster cannot answer (or the session is closed)."""

    def __init__(
        self, url: CassandraUrl, consistency: str, request_timeout: float = REQUEST_TIMEOUT_S
    ) -> None:
        self.url = url
        self.consistency = consistency
        self.request_timeout = request_timeout  # seconds: storage.command_timeout
        # Lightweight transactions agree within the local data centre when the configured
        # level is a LOCAL_ one, across all of them otherwise.
        self.serial = "LOCAL_SERIAL" if consistency.startswith("LOCAL_") else "SERIAL"
        self._levels = (acsylla.Consistency[consistency], acsylla.Consistency[self.serial])
        self._session: Any = None
        self._release: Callable[[], None] | None = None
        self._prepared: dict[str, Any] = {}
        self.health = Health()

    async def connect(self) -> None:
        cluster, release = _clusters.acquire(self.url)
        try:
            self._session = await cluster.create_session()
        except Exception as e:
            release()
            raise unavailable(e) from e
        self._release = release

    async def close(self) -> None:
        session, self._session = self._session, None
        release, self._release = self._release, None
        self._prepared.clear()
        if session is not None:
            try:
                await session.close()
            finally:
                if release is not None:
                    release()

    @property
    def is_open(self) -> bool:
        return self._session is not None

    def _live(self) -> Any:
        if self._session is None:
            raise ServiceUnavailable("storage unavailable: the store is not open")
        return self._session

    async def _statement(
        self,
        cql: str,
        params: Params,
        page_state: bytes | None = None,
        page_size: int | None = None,
    ) -> Any:
        prepared = self._prepared.get(cql)
        if prepared is None:
            try:
                prepared = await self._live().create_prepared(cql)
            except Exception as e:
                raise self._mapped(e) from e
            self._prepared[cql] = prepared
        consistency, serial = self._levels
        return prepared.bind(
            list(params),
            page_size=page_size,
            page_state=page_state,
            timeout=self.request_timeout,
            consistency=consistency,
            serial_consistency=serial,
        )

    def _mapped(self, e: BaseException) -> BaseException:
        if isinstance(e, _UNAVAILABLE) or (isinstance(e, RuntimeError) and self._session is None):
            return self.health.failed(unavailable(e))
        if isinstance(e, RuntimeError) and "closed" in str(e).lower():
            return self.health.failed(unavailable(e))
        return e

    async def _execute(self, statement: Any) -> Any:
        try:
            return await self._live().execute(statement)
        except Exception as e:
            raise self._mapped(e) from e

    async def rows(self, cql: str, *params: Any) -> list[Row]:
        """Every row (all pages) of a query, as dicts."""
        out: list[Row] = []
        page_state: bytes | None = None
        while True:
            statement = await self._statement(cql, params, page_state, PAGE_SIZE)
            result = await self._execute(statement)
            out.extend(row.as_dict() for row in result.all())
            if not result.has_more_pages():
                return out
            page_state = result.page_state()

    async def one(self, cql: str, *params: Any) -> Row | None:
        """The first row of a query, or None."""
        result = await self._execute(await self._statement(cql, params))
        row = result.first()
        return None if row is None else dict(row.as_dict())

    async def run(self, cql: str, *params: Any) -> None:
        """A write (or DDL) whose result does not matter."""
        await self._execute(await self._statement(cql, params))

    async def lwt(self, cql: str, *params: Any) -> tuple[bool, Row]:
        """A lightweight transaction (IF ...): whether it applied, and the row as it is when
        it did not (for IF NOT EXISTS: the existing row)."""
        result = await self._execute(await self._statement(cql, params))
        row = result.first()
        found: Row = dict(row.as_dict()) if row is not None else {}
        applied = bool(found.pop("[applied]", False))
        return applied, found

    async def batch(self, statements: Sequence[tuple[str, Params]], *, logged: bool = True) -> None:
        """Apply the writes together. Logged (the default), the batch log makes them all
        happen eventually even if the coordinator dies half-way: the rule for the pairs of
        tables that mirror each other. Unlogged only for writes to one partition, which are
        atomic anyway."""
        if not statements:
            return
        batch = acsylla.create_batch_logged() if logged else acsylla.create_batch_unlogged()
        batch.set_consistency(self._levels[0])
        batch.set_request_timeout(max(1, round(self.request_timeout * 1000)))
        for cql, params in statements:
            batch.add_statement(await self._statement(cql, params))
        try:
            await self._live().execute_batch(batch)
        except Exception as e:
            raise self._mapped(e) from e

    async def batches(self, writes: Sequence[tuple[str, Params]], size: int = 50) -> None:
        """Long lists of writes (deleting a user, a room): logged batches of at most `size`
        statements, one after the other."""
        for start in range(0, len(writes), size):
            await self.batch(writes[start : start + size])

    async def ddl(self, cql: str) -> None:
        """A schema change, not prepared; the driver waits for the cluster to agree on it."""
        try:
            await self._live().execute(
                acsylla.create_statement(cql, timeout=60.0, consistency=self._levels[0])
            )
        except Exception as e:
            raise self._mapped(e) from e
